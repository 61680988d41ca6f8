/// One member of a Raft group as a pure state machine: messages, ticks, proposals and
/// read requests go in; a ``RaftReady`` of persistence, messages and applications comes out.
///
/// The node does no I/O, reads no clock and uses no global randomness: time is the number of
/// ``tick()`` calls and the randomized election timeouts come from a generator seeded by
/// ``RaftConfiguration/seed``. The same inputs therefore always give the same outputs, which
/// lets the simulator replay a whole cluster from one seed.
///
/// Implemented: leader election with randomized timeouts (Raft §5.2), pre-vote and leader
/// stickiness (thesis §9.6, §4.2.3), check-quorum step-down (thesis §6.2), log replication
/// with batching and pipelining (§5.3, thesis §10.2), commitment by counting only for
/// entries of the current term (§5.4.2, Figure 8), read-index reads (§8, thesis §6.4), and
/// log compaction with install-snapshot (§7). Membership is fixed (see ``RaftConfiguration``).
///
/// Driver loop: feed an input, then take ``ready()`` and carry it out in the order its
/// documentation gives, completely, before the next input.
public struct RaftNode: Sendable {
    /// The settings the node was started with.
    public let configuration: RaftConfiguration
    /// The other members, sorted (so every loop over them is deterministic).
    let peers: [NodeID]
    /// How many members make a majority.
    let quorum: Int

    /// The node's current role.
    public internal(set) var role: RaftRole = .follower
    /// The latest term the node has seen.
    public internal(set) var term: Term
    /// Whom the node voted for in ``term``.
    public internal(set) var votedFor: NodeID?
    /// The leader of ``term`` as far as this node knows.
    public internal(set) var leaderID: NodeID?
    /// The log (snapshot and entries).
    public internal(set) var log: RaftLog
    /// The highest index known to be committed.
    public internal(set) var commitIndex: LogIndex
    /// The highest index handed to the driver to apply (or covered by a snapshot it restored).
    public internal(set) var appliedIndex: LogIndex

    var random: SeededGenerator
    /// Ticks since the last word from the leader (followers, candidates) or since the last
    /// quorum check (leaders).
    var electionElapsed = 0
    /// Ticks since the leader last sent heartbeats.
    var heartbeatElapsed = 0
    /// This round's election timeout, drawn from the configured range.
    var randomizedElectionTimeout = 0
    /// Answers to this round's pre-vote or vote requests, by voter.
    var votes: [NodeID: Bool] = [:]
    /// The leader's view of each follower.
    var progress: [NodeID: Progress] = [:]
    /// Reads waiting for a quorum to confirm leadership, oldest first.
    var pendingReads: [PendingRead] = []
    /// Reads that arrived before the leader committed an entry of its own term.
    var readsAwaitingTermCommit: [UInt64] = []
    /// The last read context handed out; increases for the node's whole life.
    var readContext: UInt64 = 0
    /// Set by ``propose(_:)``; the appends go out in one batch when the Ready is taken.
    var replicationPending = false

    // What the next Ready will carry.
    var pending = RaftReady()
    /// The lowest log index changed since the last Ready.
    var unstableFrom: LogIndex?
    /// The hard state as last handed out for persistence.
    var durableHardState: HardState
    var snapshotToPersist: RaftSnapshot?
    var snapshotToApply: RaftSnapshot?

    /// A node that starts from `durable`, what earlier Readys asked its driver to persist
    /// (the default is a fresh node). It starts as a follower; its first Ready restores the
    /// state machine from the durable snapshot (if any) and applies the committed entries
    /// after it.
    public init(configuration: RaftConfiguration, restoring durable: RaftDurableState = RaftDurableState()) {
        configuration.validate()
        self.configuration = configuration
        peers = configuration.members.filter { $0 != configuration.id }.sorted()
        quorum = configuration.members.count / 2 + 1
        random = SeededGenerator(seed: configuration.seed)
        log = RaftLog(snapshot: durable.snapshot, entries: durable.entries)
        term = durable.hardState.term
        votedFor = durable.hardState.votedFor
        durableHardState = durable.hardState
        // The durable commit index may name entries lost in a crash before they were synced
        // (they were never acknowledged); it can only be trusted up to the log's end.
        commitIndex = min(max(durable.hardState.commitIndex, log.snapshotIndex), log.lastIndex)
        appliedIndex = log.snapshotIndex
        if let snapshot = durable.snapshot, snapshot.index > 0 { snapshotToApply = snapshot }
        becomeFollower(term: term, leader: nil)
    }

    /// This node's id.
    public var id: NodeID { configuration.id }

    /// Takes the work accumulated since the last call, in the order the driver must carry it
    /// out (see ``RaftReady``). Proposals made since the last call leave in one batch of
    /// appends per follower.
    public mutating func ready() -> RaftReady {
        if replicationPending {
            replicationPending = false
            broadcastAppend()
        }
        var ready = pending
        pending = RaftReady()
        if let snapshot = snapshotToPersist {
            ready.snapshot = snapshot
            ready.mustSync = true
            snapshotToPersist = nil
        }
        if let from = unstableFrom {
            let start = max(from, log.firstIndex)
            let entries = start <= log.lastIndex ? log.entries(in: start...log.lastIndex) : []
            ready.logWrite = RaftReady.LogWrite(truncateFrom: start, entries: entries)
            ready.mustSync = true
            unstableFrom = nil
        }
        let hardState = HardState(term: term, votedFor: votedFor, commitIndex: commitIndex)
        if hardState != durableHardState {
            ready.hardState = hardState
            if hardState.term != durableHardState.term || hardState.votedFor != durableHardState.votedFor {
                ready.mustSync = true
            }
            durableHardState = hardState
        }
        ready.snapshotToApply = snapshotToApply
        snapshotToApply = nil
        if commitIndex > appliedIndex {
            ready.committedEntries = log.entries(in: (appliedIndex + 1)...commitIndex)
            appliedIndex = commitIndex
        }
        return ready
    }

    /// True when ``ready()`` would return work.
    public var hasReady: Bool {
        replicationPending || !pending.isEmpty || snapshotToPersist != nil || unstableFrom != nil
            || snapshotToApply != nil || commitIndex > appliedIndex
            || HardState(term: term, votedFor: votedFor, commitIndex: commitIndex) != durableHardState
    }

    /// Advances the node's clock by one tick: followers and candidates may start an election;
    /// a leader sends heartbeats and checks that a majority still answers.
    public mutating func tick() {
        if role == .leader {
            tickLeader()
            return
        }
        electionElapsed += 1
        if electionElapsed >= randomizedElectionTimeout {
            startPreVote()
        }
    }

    /// Appends `payload` as a new entry when this node leads; see ``ProposeOutcome`` for how
    /// the driver learns whether it was committed.
    public mutating func propose(_ payload: [UInt8]) -> ProposeOutcome {
        guard role == .leader else { return .notLeader(leaderHint: leaderID) }
        let entry = LogEntry(term: term, index: log.lastIndex + 1, kind: .command, payload: payload)
        appendLocally(entry)
        replicationPending = true
        return .accepted(index: entry.index, term: term)
    }

    /// Asks for a linearizable read point. The answer arrives in a later Ready's
    /// ``RaftReady/readResults`` (possibly the very next): `.ready(index)` once a majority has
    /// confirmed this node still leads, `.notLeader` otherwise.
    public mutating func readIndex(requestID: UInt64) {
        guard role == .leader else {
            pending.readResults.append(.init(requestID: requestID, outcome: .notLeader(leaderHint: leaderID)))
            return
        }
        // Until an entry of its own term is committed, a new leader does not know the real
        // commit index (Raft §8); the no-op it appended settles that.
        guard log.term(at: commitIndex) == term else {
            readsAwaitingTermCommit.append(requestID)
            return
        }
        registerRead(requestID)
    }

    /// Replaces the log up to `index` with a snapshot of the state machine, `data`, taken
    /// after applying `index`. The next Ready asks the driver to persist it; afterwards the
    /// driver may drop the durable entries up to `index`.
    ///
    /// - Precondition: `index` was handed out for applying and is above the current snapshot.
    public mutating func compact(upTo index: LogIndex, snapshot data: [UInt8]) {
        precondition(index <= appliedIndex, "compacting up to \(index) beyond applied \(appliedIndex)")
        precondition(index > log.snapshotIndex, "compacting up to \(index), already compacted to \(log.snapshotIndex)")
        guard let entryTerm = log.term(at: index) else {
            preconditionFailure("no entry at \(index) to compact (log \(log.firstIndex)...\(log.lastIndex))")
        }
        let snapshot = RaftSnapshot(index: index, term: entryTerm, data: data)
        log.install(snapshot)
        snapshotToPersist = snapshot
    }

    /// Feeds one message from a peer. Messages from non-members, or addressed to another
    /// node, are ignored (the transport should not deliver them, but the node does not trust it).
    public mutating func step(_ message: RaftMessage) {
        guard message.to == id, message.from != id, peers.contains(message.from) else { return }
        if message.term > term {
            guard acceptsHigherTerm(message) else { return }
        } else if message.term < term {
            answerStaleTerm(message)
            return
        }
        switch message.body {
        case .preVote(let lastIndex, let lastTerm):
            // Pre-vote grants change no state: granting is free, so a node grants every
            // pre-vote it would grant a vote for (thesis §9.6).
            let granted = message.term > term && isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
            send(.preVoteResponse(granted: granted), to: message.from, term: granted ? message.term : term)
        case .requestVote(let lastIndex, let lastTerm):
            handleRequestVote(from: message.from, lastIndex: lastIndex, lastTerm: lastTerm)
        case .preVoteResponse(let granted):
            if role == .preCandidate && (!granted || message.term == term + 1) {
                record(vote: granted, from: message.from)
            }
        case .requestVoteResponse(let granted):
            if role == .candidate { record(vote: granted, from: message.from) }
        case .appendEntries(let previousIndex, let previousTerm, let entries, let leaderCommit):
            followLeader(message.from)
            handleAppendEntries(from: message.from, previousIndex: previousIndex, previousTerm: previousTerm,
                                entries: entries, leaderCommit: leaderCommit)
        case .heartbeat(let leaderCommit, let context):
            followLeader(message.from)
            // The leader sends at most what it knows this follower holds, so no log check.
            if leaderCommit > commitIndex { commitIndex = min(leaderCommit, log.lastIndex) }
            send(.heartbeatResponse(readContext: context), to: message.from)
        case .installSnapshot(let snapshot):
            followLeader(message.from)
            handleInstallSnapshot(from: message.from, snapshot)
        case .appendEntriesResponse(let success, let matchIndex, let rejectedIndex, let hintIndex):
            guard role == .leader else { return }
            handleAppendEntriesResponse(from: message.from, success: success, matchIndex: matchIndex,
                                        rejectedIndex: rejectedIndex, hintIndex: hintIndex)
        case .heartbeatResponse(let context):
            guard role == .leader else { return }
            handleHeartbeatResponse(from: message.from, readContext: context)
        case .installSnapshotResponse(let matchIndex):
            guard role == .leader else { return }
            handleInstallSnapshotResponse(from: message.from, matchIndex: matchIndex)
        }
    }

    /// Called for a message whose term is above ours; returns false when it is to be ignored.
    private mutating func acceptsHigherTerm(_ message: RaftMessage) -> Bool {
        switch message.body {
        case .preVote, .requestVote:
            // Leader stickiness (thesis §4.2.3): while this node has heard from a leader within
            // the minimum election timeout, it does not help anyone replace it. A leader is
            // always within its lease; check-quorum makes it step down when it is not.
            let inLease = leaderID != nil && (role == .leader || electionElapsed < configuration.electionTimeoutTicksMin)
            if inLease { return false }
            if case .requestVote = message.body { becomeFollower(term: message.term, leader: nil) }
            return true
        case .preVoteResponse(granted: true):
            // A granted pre-vote carries the term the pre-candidate would use: not a new term.
            return true
        case .appendEntries, .heartbeat, .installSnapshot:
            becomeFollower(term: message.term, leader: message.from)
            return true
        default:
            becomeFollower(term: message.term, leader: nil)
            return true
        }
    }

    /// Answers a message from an older term where that helps the sender catch up.
    private mutating func answerStaleTerm(_ message: RaftMessage) {
        switch message.body {
        case .appendEntries, .heartbeat, .installSnapshot:
            // A deposed leader (say, back from a partition). With pre-vote nobody else would
            // tell it the new term, so this reply makes it step down.
            send(.appendEntriesResponse(success: false, matchIndex: 0, rejectedIndex: 0, hintIndex: 0), to: message.from)
        case .preVote:
            send(.preVoteResponse(granted: false), to: message.from)
        default:
            break
        }
    }

    /// Queues `body` to `peer` in the given term (our own by default).
    mutating func send(_ body: RaftMessage.Body, to peer: NodeID, term messageTerm: Term? = nil) {
        pending.messages.append(RaftMessage(from: id, to: peer, term: messageTerm ?? term, body: body))
    }

    /// Notes that the log changed from `index` on, so the next Ready persists it.
    mutating func markUnstable(from index: LogIndex) {
        unstableFrom = min(unstableFrom ?? index, index)
    }

    /// Appends an entry of this leader's own making.
    mutating func appendLocally(_ entry: LogEntry) {
        log.append(entry)
        markUnstable(from: entry.index)
        if quorum == 1 { advanceCommitIndex() }
    }
}
