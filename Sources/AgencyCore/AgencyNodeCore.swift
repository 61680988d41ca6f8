public import AgencyStore
public import Raft
import VelocyPack

/// One member of the agency as a pure state machine: a ``RaftNode`` whose state machine is an
/// ``AgencyStore``, with the requests that wait on it (writes until their entry applies, reads
/// until their read index is confirmed and applied, long polls until the store passes an
/// index), TTL expiry, observer notifications, the snapshot policy and the slot for
/// supervision.
///
/// Pure: no I/O, no clock, no global randomness. Time comes in through
/// ``tick(wallMilliseconds:)``: request timeouts count ticks (``elapsedMilliseconds``), TTLs
/// and log entry stamps use the wall-clock value passed in. Randomness is the seed in the
/// ``RaftConfiguration``. Nothing iterates a `Dictionary` where order could leak.
///
/// The event/action contract (`Protocol/Agency.md` §14):
///
/// 1. Pass one input: ``tick(wallMilliseconds:)``, ``receive(_:)``, ``write(_:envelope:timeMilliseconds:)``,
///    ``read(_:_:)``, ``poll(_:from:timeoutMilliseconds:)``, ``stop()``.
/// 2. Take ``nextActions()`` and carry them out in order: `send`, `answer` and `notify` as
///    they come; a `persist` action is always last: make it durable, then call
///    ``persisted()`` (or ``persistenceFailed(_:)``), and take ``nextActions()`` again.
/// 3. Repeat step 2 until it returns nothing; only then pass the next input. (Several inputs
///    may be passed before step 2: their work then shares one Ready and one fsync.)
///
/// So every Ready is carried out completely — persist, then send, then apply and answer —
/// before the Raft node sees its next input (`Protocol/Raft.md` §3).
public struct AgencyNodeCore: Sendable {
    /// Settings of the core, apart from Raft's.
    public struct Options: Sendable, Equatable {
        /// Milliseconds per tick: the core's unit of time for request timeouts.
        public var tickMilliseconds: UInt64 = 50
        /// Applied entries between snapshots (log compaction).
        public var snapshotEveryEntries: UInt64 = 10_000
        /// How long a write or read waits for its answer before it is refused as unknown.
        public var requestTimeoutMilliseconds: UInt64 = 20_000
        /// The leader looks for expired TTLs every this many ticks.
        public var expiryIntervalTicks: UInt64 = 10

        /// The agent's defaults: 50 ms ticks, a snapshot every 10 000 entries, 20 s timeouts,
        /// TTL sweeps every 500 ms.
        public init() {}
    }

    struct PendingWrite: Sendable {
        let request: AgencyRequestID
        let term: Term
        let deadline: UInt64
    }
    struct PendingRead: Sendable {
        let request: AgencyRequestID
        let query: AgencyReadRequest
        let deadline: UInt64
    }
    struct PendingPoll: Sendable {
        let request: AgencyRequestID
        /// The index the client asked for (the answer is `store.poll(from: from)`).
        let from: UInt64
        /// Answered once the store's index is above this.
        let after: UInt64
        let deadline: UInt64
    }

    /// The core's settings.
    public let options: Options
    /// The Raft node (read-only for drivers and checkers).
    public internal(set) var node: RaftNode
    /// The store as applied up to ``appliedIndex``.
    public internal(set) var store = AgencyStore()
    /// The first failure to persist or restore: the core then ignores every input (a node
    /// that cannot write its log must not vote or acknowledge) and refuses every request.
    public internal(set) var failure: String?
    /// Set by ``stop()``.
    public internal(set) var isStopped = false
    /// Ticks since the core started.
    public internal(set) var ticks: UInt64 = 0
    /// The wall clock of the last tick (milliseconds since the epoch), 0 before any.
    public internal(set) var wallMilliseconds: Int64 = 0
    /// The supervision slot, stepped on the leader every tick.
    public var supervision: any AgencySupervision
    /// The last entry supervision proposed and the term it was proposed in: supervision is not
    /// stepped again until that entry has applied, so every round decides from a store that
    /// holds the previous round's decisions (or from a new leader's store).
    var supervisionAwaits: (index: LogIndex, term: Term)?
    /// What supervision decided, for the driver's log (``takeSupervisionNotes()``).
    var supervisionNotes: [String] = []

    /// Proposed entries waiting to be applied, by index (iterated in index order).
    var pendingWrites: [LogIndex: PendingWrite] = [:]
    /// Reads waiting for their read index, by the core's read-index request id.
    var pendingReads: [UInt64: PendingRead] = [:]
    /// Reads whose index is known, waiting for it to be applied, in arrival order.
    var readsWaitingForApply: [(index: LogIndex, read: PendingRead)] = []
    var nextReadID: UInt64 = 1
    /// Long polls waiting for the store to pass an index, in arrival order.
    var polls: [PendingPoll] = []
    /// The index of the last snapshot taken or restored.
    var lastSnapshotIndex: LogIndex = 0
    /// The Ready whose persistence the driver is carrying out.
    var readyAwaitingPersistence: RaftReady?
    /// A tick asked for the timeout sweep once the Readys are carried out.
    var sweepDue = false
    /// What the driver must do next, in order.
    var actions: [AgencyAction] = []

    /// A core that restarts from `durable` (what earlier `persist` actions made durable; the
    /// default is a fresh member). The first ``nextActions()`` restores the store from the
    /// snapshot and applies the committed entries after it.
    ///
    /// - Parameters:
    ///   - configuration: the Raft settings; give every member and every run its own seed.
    ///   - durable: the state loaded from the `RaftPersistence`.
    ///   - options: the core's own settings.
    ///   - supervision: the supervision step (none by default).
    public init(configuration: RaftConfiguration, restoring durable: RaftDurableState = RaftDurableState(),
                options: Options = Options(), supervision: any AgencySupervision = NoSupervision()) {
        self.options = options
        self.supervision = supervision
        node = RaftNode(configuration: configuration, restoring: durable)
        lastSnapshotIndex = durable.snapshot?.index ?? 0
    }

    // MARK: State for the API

    public var id: NodeID { node.id }
    public var role: RaftRole { node.role }
    public var term: Term { node.term }
    public var leaderID: NodeID? { node.leaderID }
    public var commitIndex: LogIndex { node.commitIndex }
    public var appliedIndex: LogIndex { node.appliedIndex }
    /// The core's clock for timeouts: ticks × ``Options/tickMilliseconds``.
    public var elapsedMilliseconds: UInt64 { ticks &* options.tickMilliseconds }
    /// Whether a `persist` action is outstanding (no input may come until ``persisted()``).
    public var isAwaitingPersistence: Bool { readyAwaitingPersistence != nil }
    /// How many requests wait for an answer (writes, reads, polls).
    public var pendingRequestCount: Int { pendingWrites.count + pendingReads.count + readsWaitingForApply.count + polls.count }

    /// Supervision's notes since the last call: what it decided and why.
    public mutating func takeSupervisionNotes() -> [String] {
        defer { supervisionNotes = [] }
        return supervisionNotes
    }

    // MARK: Inputs

    /// Time passes by one tick; `wallMilliseconds` is the wall clock now (for TTLs, the stamps
    /// of expiry entries and supervision).
    public mutating func tick(wallMilliseconds now: Int64) {
        guard acceptsInput("tick") else { return }
        ticks += 1
        wallMilliseconds = now
        node.tick()
        expireTTLs(now: now)
        supervise(now: now)
        // Timeouts are swept once this tick's Readys are carried out (see `advance`).
        sweepDue = true
    }

    /// A Raft message from a peer (the driver checked it is addressed to this member).
    public mutating func receive(_ message: RaftMessage) {
        guard acceptsInput("receive") else { return }
        node.step(message)
    }

    /// A `write` or `transact` request: proposes one log entry for the whole envelope, stamped
    /// `timeMilliseconds`, and answers ``AgencyAnswer/applied(_:)`` once it applies.
    ///
    /// - Parameters:
    ///   - id: the driver's name for the request.
    ///   - envelope: the body, validated with `AgencyEnvelope(validating:as:)` (the log never
    ///     holds garbage).
    ///   - timeMilliseconds: the leader's wall clock now (TTLs count from it).
    public mutating func write(_ id: AgencyRequestID, envelope: [UInt8], timeMilliseconds: Int64) {
        guard failure == nil, !isStopped else { return refuse(id, .failed(failure ?? "stopped")) }
        precondition(!isAwaitingPersistence, "write \(id) arrived while a persist action was outstanding")
        let payload = AgencyLogEntry.payload(timeMilliseconds: timeMilliseconds, envelope: Slice(trustedBytes: envelope))
        switch node.propose(payload) {
        case let .accepted(index, term):
            pendingWrites[index] = PendingWrite(
                request: id, term: term, deadline: elapsedMilliseconds + options.requestTimeoutMilliseconds)
        case .notLeader(let hint):
            refuse(id, .notLeader(hint))
        }
    }

    /// A linearizable `read` or `inquire`: served once the leader has confirmed with a majority
    /// that it still leads (read-index) and the store has applied up to that index.
    public mutating func read(_ id: AgencyRequestID, _ query: AgencyReadRequest) {
        guard failure == nil, !isStopped else { return refuse(id, .failed(failure ?? "stopped")) }
        precondition(!isAwaitingPersistence, "read \(id) arrived while a persist action was outstanding")
        guard node.role == .leader else { return refuse(id, .notLeader(node.leaderID)) }
        let readID = nextReadID
        nextReadID += 1
        pendingReads[readID] = PendingRead(
            request: id, query: query, deadline: elapsedMilliseconds + options.requestTimeoutMilliseconds)
        node.readIndex(requestID: readID)
    }

    /// A `poll` from `index`: answered at once when `index` is 0 or already applied, else
    /// when the store applies it or after `timeoutMilliseconds` (then with what there is).
    /// Served by the leader only.
    public mutating func poll(_ id: AgencyRequestID, from index: UInt64, timeoutMilliseconds: UInt64) {
        guard node.role == .leader else { return refuse(id, .notLeader(node.leaderID)) }
        if index == 0 || store.index >= index { return answer(id, .served(store.poll(from: index).encoded())) }
        polls.append(PendingPoll(request: id, from: index, after: index - 1,
                                 deadline: elapsedMilliseconds + timeoutMilliseconds))
    }

    /// The driver shuts down: every waiting request is refused (polls answered with what
    /// there is) and later inputs are ignored.
    public mutating func stop() {
        isStopped = true
        failAll(.failed("the agent is shutting down"))
    }

    /// The outstanding `persist` action is durable: the rest of its Ready (send, restore,
    /// apply, answer) follows in the next ``nextActions()``.
    public mutating func persisted() {
        guard let ready = readyAwaitingPersistence else {
            preconditionFailure("persisted() without an outstanding persist action")
        }
        readyAwaitingPersistence = nil
        carryOut(ready)
    }

    /// The outstanding `persist` action failed: the core stops taking part and refuses every
    /// waiting request.
    public mutating func persistenceFailed(_ reason: String) {
        precondition(isAwaitingPersistence, "persistenceFailed without an outstanding persist action")
        readyAwaitingPersistence = nil
        fail("persisting Raft state failed: \(reason)")
    }

    func acceptsInput(_ name: String) -> Bool {
        precondition(!isAwaitingPersistence, "\(name) arrived while a persist action was outstanding")
        return !isStopped && failure == nil
    }
}
