/// The work a node hands to its driver, in the order the driver must carry it out.
///
/// The contract, step by step (`Protocol/Raft.md` §3):
///
/// 1. **Persist** (``snapshot``, then ``logWrite``, then ``hardState``), then, when
///    ``mustSync`` is true, make all of it durable (fsync) *before step 2*. A vote or an
///    appendEntries acknowledgement among the messages promises that this state survives a
///    crash; sending it first would let a crash break the promise.
/// 2. **Send** ``messages``, in order. Any may be lost; Raft retries.
/// 3. **Restore** the state machine from ``snapshotToApply`` when set, replacing its state.
/// 4. **Apply** ``committedEntries`` in order (skip ``LogEntry/Kind/noop`` entries).
/// 5. **Answer** ``readResults``: a read with index *i* may be served once step 4 has applied
///    everything up to *i* (true after this Ready for every result in it).
///
/// The driver carries out one Ready completely before it passes the node its next input
/// (``RaftNode/step(_:)``, ``RaftNode/tick()``, ``RaftNode/propose(_:)`` …). The leader counts
/// its own log as durable when it counts a majority, which is only true under this rule.
public struct RaftReady: Sendable, Equatable {
    /// A snapshot to make durable; afterwards every durable log entry with an index at or
    /// below `snapshot.index` may be discarded.
    public var snapshot: RaftSnapshot?
    /// The log change to make durable, if any.
    public var logWrite: LogWrite?
    /// The hard state to make durable, when it changed.
    public var hardState: HardState?
    /// True when the persisted data must be fsynced before the messages go out (a new term,
    /// vote, entries or snapshot). A change of the commit index alone needs no sync.
    public var mustSync: Bool
    /// Messages to send, in order.
    public var messages: [RaftMessage]
    /// A snapshot the state machine must restore before applying ``committedEntries``.
    public var snapshotToApply: RaftSnapshot?
    /// Committed entries to apply, in log order, each exactly once over the node's life
    /// (after a restart, from the snapshot's index on: the state machine is rebuilt from the
    /// snapshot and the log, never persisted separately).
    public var committedEntries: [LogEntry]
    /// Answers to read-index requests.
    public var readResults: [ReadResult]

    /// An empty Ready.
    public init() {
        snapshot = nil
        logWrite = nil
        hardState = nil
        mustSync = false
        messages = []
        snapshotToApply = nil
        committedEntries = []
        readResults = []
    }

    /// True when there is nothing to do.
    public var isEmpty: Bool {
        snapshot == nil && logWrite == nil && hardState == nil && messages.isEmpty
            && snapshotToApply == nil && committedEntries.isEmpty && readResults.isEmpty
    }

    /// A change to the durable log: remove every entry with an index at or above
    /// `truncateFrom`, then append `entries` (which, when not empty, start at `truncateFrom`).
    public struct LogWrite: Sendable, Equatable {
        /// The first index that is replaced.
        public var truncateFrom: LogIndex
        /// The new entries from `truncateFrom` on.
        public var entries: [LogEntry]

        /// Creates a log write.
        public init(truncateFrom: LogIndex, entries: [LogEntry]) {
            self.truncateFrom = truncateFrom
            self.entries = entries
        }
    }

    /// The outcome of a ``RaftNode/readIndex(requestID:)`` request that was not answered at once.
    public struct ReadResult: Sendable, Equatable {
        /// The driver's id of the request.
        public var requestID: UInt64
        /// What happened.
        public var outcome: ReadOutcome

        /// Creates a result.
        public init(requestID: UInt64, outcome: ReadOutcome) {
            self.requestID = requestID
            self.outcome = outcome
        }
    }
}

/// How a read-index request ended.
public enum ReadOutcome: Sendable, Equatable {
    /// Serve the read from the state machine once it has applied `index` (Raft §8: the
    /// leader's commit index when the read arrived, confirmed by a quorum afterwards).
    case ready(index: LogIndex)
    /// This node is not (or no longer) the leader; ask `leaderHint` if known.
    case notLeader(leaderHint: NodeID?)
}

/// The answer to ``RaftNode/propose(_:)``.
public enum ProposeOutcome: Sendable, Equatable {
    /// Appended at `index` in `term`. The write succeeded when an entry with this index *and*
    /// term is applied; if a different entry is applied at `index`, it was lost with a
    /// leader change and the client should retry.
    case accepted(index: LogIndex, term: Term)
    /// This node is not the leader; ask `leaderHint` if known.
    case notLeader(leaderHint: NodeID?)
}

/// Everything the driver restores from disk to restart a node: exactly what earlier Readys
/// asked it to make durable.
public struct RaftDurableState: Sendable, Equatable {
    /// The last durable hard state.
    public var hardState: HardState
    /// The last durable snapshot, if any.
    public var snapshot: RaftSnapshot?
    /// The durable log entries, in index order. Entries at or below the snapshot's index are
    /// ignored; the rest must be contiguous and start at most one after the snapshot.
    public var entries: [LogEntry]

    /// Creates durable state; the default is that of a node that never ran.
    public init(hardState: HardState = HardState(), snapshot: RaftSnapshot? = nil, entries: [LogEntry] = []) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
    }
}
