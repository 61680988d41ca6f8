import AgencyStore
import TesseraPlatform
import Client
public import Raft
import Server
public import Transport
import VelocyPack
public import VelocyStream
import ClusterMember

/// Where an agent keeps what Raft needs across restarts (term, vote, log, snapshot). The
/// agent calls it on its loop thread in the order a `RaftReady` prescribes.
public protocol RaftPersistence: AnyObject, Sendable {
    func load() throws -> RaftDurableState
    func persist(snapshot: RaftSnapshot?, logWrite: RaftReady.LogWrite?, hardState: HardState?, sync: Bool) throws
}

/// One member of the agency: a Raft node whose state machine is the agency store, driven by
/// the event loop (ticks from a timer, messages from peers over VelocyStream, proposals from
/// the agency API).
///
/// Every input (a tick, a peer's message, a proposal, a read) is followed by `drive()`, which
/// carries out each `RaftReady` completely — persist, send, apply, answer — before the node
/// sees its next input, as the core's contract requires.
///
/// `@unchecked Sendable`: all state is touched on the loop thread only (handlers and timers
/// run there; the few callers from elsewhere go through `eventLoop.execute`).
public final class Agent: @unchecked Sendable {
    public struct Member: Sendable {
        public let id: NodeID
        public let endpoint: Endpoint
        public init(id: NodeID, endpoint: Endpoint) {
            self.id = id
            self.endpoint = endpoint
        }
    }

    public struct Options: Sendable {
        public var id: NodeID
        public var members: [Member]
        /// Milliseconds per Raft tick (the core's timeouts are counted in ticks).
        public var tickMilliseconds: UInt64 = 50
        /// Applied entries between snapshots (log compaction).
        public var snapshotEveryEntries: UInt64 = 10_000
        /// How long a write or read waits for its answer before the client hears 503.
        public var requestTimeoutMilliseconds: UInt64 = 20_000
        /// The cluster token this agent presents to its peers.
        public var peerCredentials: Authentication?

        public init(id: NodeID, members: [Member]) {
            self.id = id
            self.members = members
        }
    }

    public let eventLoop: EventLoop
    public let options: Options
    let persistence: any RaftPersistence
    var node: RaftNode
    var store = AgencyStore()
    var peers: [NodeID: Peer] = [:]
    var timer: LoopTimer?
    var ticks: UInt64 = 0
    var stopped = false
    /// The first failure to persist: the agent stops taking part (a node that cannot write
    /// its log must not vote or acknowledge).
    public private(set) var failure: String?

    /// Proposed entries waiting to be applied: index → the term they were proposed in and
    /// who waits.
    var pendingWrites: [LogIndex: PendingWrite] = [:]
    /// Linearizable reads waiting for their read index (by request id), then for that index
    /// to be applied.
    var pendingReads: [UInt64: PendingRead] = [:]
    var readsWaitingForApply: [(index: LogIndex, read: PendingRead)] = []
    var nextReadID: UInt64 = 1
    /// Long polls waiting for the store to pass an index.
    var polls: [PendingPoll] = []
    var lastSnapshotIndex: LogIndex = 0
    var driveScheduled = false
    /// Connections to observers' endpoints, by endpoint.
    var callbacks: [String: Peer] = [:]

    struct PendingWrite {
        let term: Term
        let deadline: UInt64
        let complete: (Result<AgencyApplyOutcome, AgentError>) -> Void
    }
    struct PendingRead {
        let deadline: UInt64
        let complete: (Result<Void, AgentError>) -> Void
    }
    struct PendingPoll {
        let after: UInt64
        let deadline: UInt64
        let complete: () -> Void
    }

    /// Why a request could not be served here.
    public enum AgentError: Error, Sendable {
        /// Another agent leads (its id, if known): the client should go there.
        case notLeader(NodeID?)
        /// The entry was lost in a leadership change, or no answer came in time: the outcome
        /// is unknown; a client with a client id asks `inquire`.
        case unknownOutcome(String)
        case failed(String)
    }

    public init(on eventLoop: EventLoop, options: Options, persistence: any RaftPersistence) throws {
        self.eventLoop = eventLoop
        self.options = options
        self.persistence = persistence
        let durable = try persistence.load()
        // Election timeouts must differ between agents and between runs of one agent.
        let configuration = RaftConfiguration(
            id: options.id, members: options.members.map(\.id),
            seed: options.id.rawValue &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: Self.wallMilliseconds()))
        node = RaftNode(configuration: configuration, restoring: durable)
        lastSnapshotIndex = durable.snapshot?.index ?? 0
        for member in options.members where member.id != options.id {
            peers[member.id] = Peer(endpoint: member.endpoint, agent: self)
        }
    }

    /// Starts ticking (call on the loop thread).
    public func start() {
        eventLoop.assertInLoopThread("Agent.start")
        let timer = LoopTimer(on: eventLoop)
        timer.start(after: options.tickMilliseconds, repeatEvery: options.tickMilliseconds) { [self] in tick() }
        self.timer = timer
        drive()
    }

    /// Stops ticking and closes peer connections (call on the loop thread).
    public func stop() {
        stopped = true
        timer?.close()
        timer = nil
        for peer in peers.values { peer.close() }
        for callback in callbacks.values { callback.close() }
        failAll(.failed("the agent is shutting down"))
    }

    // MARK: Inputs

    func tick() {
        guard !stopped, failure == nil else { return }
        ticks += 1
        node.tick()
        expireTTLs()
        drive()
        sweepTimeouts()
    }

    /// A message from a peer.
    func receive(_ message: RaftMessage) {
        guard !stopped, failure == nil else { return }
        node.step(message)
        scheduleDrive()
    }

    /// Drives once after the inputs that arrive in this turn of the loop: every proposal and
    /// message read from the sockets in one turn share one Ready, so one fsync covers them
    /// all (group commit for the agency's log).
    func scheduleDrive() {
        guard !driveScheduled else { return }
        driveScheduled = true
        eventLoop.execute { [self] in
            driveScheduled = false
            drive()
        }
    }

    /// Proposes a log entry; `complete` runs on the loop thread with the apply outcome.
    func propose(_ payload: [UInt8], complete: @escaping (Result<AgencyApplyOutcome, AgentError>) -> Void) {
        guard failure == nil, !stopped else { return complete(.failure(.failed(failure ?? "stopped"))) }
        switch node.propose(payload) {
        case let .accepted(index, term):
            pendingWrites[index] = PendingWrite(term: term, deadline: eventLoop.nowMilliseconds + options.requestTimeoutMilliseconds,
                                                complete: complete)
            scheduleDrive()
        case .notLeader(let hint):
            complete(.failure(.notLeader(hint)))
        }
    }

    /// Waits until a linearizable read may be served here (the store is at least as new as
    /// every write acknowledged before the call), then runs `complete` on the loop thread.
    func linearizableRead(_ complete: @escaping (Result<Void, AgentError>) -> Void) {
        guard failure == nil, !stopped else { return complete(.failure(.failed(failure ?? "stopped"))) }
        guard node.role == .leader else { return complete(.failure(.notLeader(node.leaderID))) }
        let id = nextReadID
        nextReadID += 1
        pendingReads[id] = PendingRead(deadline: eventLoop.nowMilliseconds + options.requestTimeoutMilliseconds, complete: complete)
        node.readIndex(requestID: id)
        scheduleDrive()
    }

    /// Runs `complete` once the store has applied an index above `index` or the timeout passed.
    func waitForChange(after index: UInt64, timeoutMilliseconds: UInt64, _ complete: @escaping () -> Void) {
        if store.index > index { return complete() }
        polls.append(PendingPoll(after: index, deadline: eventLoop.nowMilliseconds + timeoutMilliseconds, complete: complete))
    }

    // MARK: The driver

    /// Carries out every pending Ready of the node in the contract's order.
    func drive() {
        while node.hasReady, failure == nil {
            let ready = node.ready()
            // 1. Durable state first: nothing may be sent that depends on unwritten state.
            do {
                try persistence.persist(snapshot: ready.snapshot, logWrite: ready.logWrite, hardState: ready.hardState,
                                        sync: ready.mustSync)
            } catch {
                failure = "persisting Raft state failed: \(error)"
                failAll(.failed(failure!))
                return
            }
            // 2. Messages.
            for message in ready.messages { peers[message.to]?.send(message) }
            // 3. A snapshot from the leader replaces the store.
            if let snapshot = ready.snapshotToApply {
                do {
                    store = try AgencyStore(restoring: snapshot.data)
                    lastSnapshotIndex = snapshot.index
                } catch {
                    failure = "the snapshot at index \(snapshot.index) does not restore: \(error)"
                    failAll(.failed(failure!))
                    return
                }
            }
            // 4. Committed entries, in order.
            for entry in ready.committedEntries { apply(entry) }
            // 5. Reads whose index is known.
            for result in ready.readResults {
                guard let read = pendingReads.removeValue(forKey: result.requestID) else { continue }
                switch result.outcome {
                case .ready(let index):
                    if store.index >= index || node.appliedIndex >= index {
                        read.complete(.success(()))
                    } else {
                        readsWaitingForApply.append((index, read))
                    }
                case .notLeader(let hint):
                    read.complete(.failure(.notLeader(hint)))
                }
            }
        }
        answerAppliedReads()
        if node.role != .leader && !pendingWrites.isEmpty {
            // Entries proposed as leader may still commit under the next leader, or not: the
            // outcome is unknown to this agent now.
            let lost = pendingWrites
            pendingWrites = [:]
            for (_, write) in lost { write.complete(.failure(.unknownOutcome("leadership was lost before the entry committed"))) }
        }
        maybeSnapshot()
    }

    func apply(_ entry: LogEntry) {
        var outcome: AgencyApplyOutcome?
        if entry.kind == .command {
            outcome = store.apply(index: entry.index, payload: entry.payload)
            if let notifications = outcome?.notifications, !notifications.isEmpty { notify(notifications) }
        }
        if let pending = pendingWrites.removeValue(forKey: entry.index) {
            if pending.term == entry.term, let outcome {
                pending.complete(.success(outcome))
            } else {
                pending.complete(.failure(.unknownOutcome("another leader's entry took index \(entry.index)")))
            }
        }
        if !polls.isEmpty {
            let ready = polls.filter { store.index > $0.after }
            polls.removeAll { store.index > $0.after }
            for poll in ready { poll.complete() }
        }
    }

    /// Observers hear of changes from the leader only (every agent applies the entry; one
    /// notification per observer is enough). URLs look like `tcp://host:port/path?query`;
    /// the POST carries the cluster token. Delivery is best effort, as in ArangoDB: an
    /// observer that was away reads the tree (or polls) when it comes back.
    func notify(_ notifications: [AgencyNotification]) {
        guard node.role == .leader else { return }
        for notification in notifications {
            guard let target = Self.parseCallback(notification.url) else { continue }
            let key = target.endpoint.description
            let connection = callbacks[key] ?? Peer(endpoint: target.endpoint, agent: self)
            callbacks[key] = connection
            connection.post(target.path, parameters: target.parameters, body: notification.body(term: node.term))
        }
    }

    /// `tcp://host:port/path?a=b&c=d` → endpoint, path, parameters.
    static func parseCallback(_ url: String) -> (endpoint: Endpoint, path: String, parameters: [String: [String]])? {
        guard url.hasPrefix("tcp://") else { return nil }
        let rest = url.dropFirst("tcp://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let endpoint = Endpoint("tcp://" + rest[..<slash]) else { return nil }
        let target = rest[slash...]
        let pathPart = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = pathPart.first.map { $0.isEmpty ? "/" : String($0) } ?? "/"
        var parameters: [String: [String]] = [:]
        if pathPart.count == 2 {
            for pair in pathPart[1].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                parameters[String(parts[0]), default: []].append(parts.count == 2 ? String(parts[1]) : "")
            }
        }
        return (endpoint, path, parameters)
    }

    func answerAppliedReads() {
        guard !readsWaitingForApply.isEmpty else { return }
        let applied = node.appliedIndex
        let ready = readsWaitingForApply.filter { $0.index <= applied }
        readsWaitingForApply.removeAll { $0.index <= applied }
        for waiting in ready { waiting.read.complete(.success(())) }
    }

    /// Compacts the log behind a snapshot of the store every `snapshotEveryEntries`.
    func maybeSnapshot() {
        let applied = node.appliedIndex
        guard applied >= lastSnapshotIndex + options.snapshotEveryEntries else { return }
        node.compact(upTo: applied, snapshot: store.snapshot())
        lastSnapshotIndex = applied
        drive()
    }

    /// The leader turns expired TTLs into a log entry (every replica then deletes the same
    /// keys at the same index).
    func expireTTLs() {
        guard node.role == .leader, ticks % 10 == 0 else { return }
        let now = Self.wallMilliseconds()
        let expired = store.expiredKeys(now: now)
        guard !expired.isEmpty else { return }
        _ = node.propose(AgencyLogEntry.expiryPayload(timeMilliseconds: now, paths: expired))
    }

    func sweepTimeouts() {
        let now = eventLoop.nowMilliseconds
        let late = pendingWrites.filter { $0.value.deadline < now }
        for (index, write) in late {
            pendingWrites[index] = nil
            write.complete(.failure(.unknownOutcome("no commit within \(options.requestTimeoutMilliseconds) ms")))
        }
        let lateReads = pendingReads.filter { $0.value.deadline < now }
        for (id, read) in lateReads {
            pendingReads[id] = nil
            read.complete(.failure(.unknownOutcome("no read index within \(options.requestTimeoutMilliseconds) ms")))
        }
        let latePolls = polls.filter { $0.deadline < now }
        polls.removeAll { $0.deadline < now }
        for poll in latePolls { poll.complete() }
    }

    func failAll(_ error: AgentError) {
        let writes = pendingWrites, reads = pendingReads, waiting = readsWaitingForApply, waitingPolls = polls
        pendingWrites = [:]
        pendingReads = [:]
        readsWaitingForApply = []
        polls = []
        for (_, write) in writes { write.complete(.failure(error)) }
        for (_, read) in reads { read.complete(.failure(error)) }
        for entry in waiting { entry.read.complete(.failure(error)) }
        for poll in waitingPolls { poll.complete() }
    }

    // MARK: State for the API

    public var role: RaftRole { node.role }
    public var term: Term { node.term }
    public var leaderID: NodeID? { node.leaderID }
    public var commitIndex: LogIndex { node.commitIndex }
    public var appliedIndex: LogIndex { node.appliedIndex }

    func endpoint(of id: NodeID) -> Endpoint? { options.members.first { $0.id == id }?.endpoint }

    static func wallMilliseconds() -> Int64 { WallClock.milliseconds() }
}

/// The connection to one peer (or observer): Raft messages go out as `POST /_api/agency_priv/raft`
/// requests whose answers carry nothing. A message that cannot be sent now is dropped (Raft
/// retries by itself); the connection is re-opened at most every 200 ms.
final class Peer: @unchecked Sendable {
    let endpoint: Endpoint
    unowned let agent: Agent
    var connection: VSTConnection?
    var connecting = false
    var lastAttempt: UInt64 = 0
    var waiting: [(RequestHeader, [UInt8])] = []
    static let reconnectMilliseconds: UInt64 = 200
    static let waitingCountMax = 64

    init(endpoint: Endpoint, agent: Agent) {
        self.endpoint = endpoint
        self.agent = agent
    }

    func send(_ message: RaftMessage) {
        post("/_api/agency_priv/raft", parameters: [:], body: RaftCodec.encode(message))
    }

    /// Sends a POST without waiting for its answer; dropped when not connected (a reconnect
    /// starts).
    func post(_ path: String, parameters: [String: [String]], body: [UInt8]) {
        let header = RequestHeader(database: "_system", method: .post, path: path, parameters: parameters)
        guard let connection, connection.isConnected else {
            // Kept for the connection being opened (a few: Raft resends anyway, and an
            // observer's first notification must not be lost to the connect).
            if waiting.count < Self.waitingCountMax { waiting.append((header, body)) }
            connect()
            return
        }
        connection.send(header, body: body, timeoutSeconds: 5) { _ in }
    }

    func connect() {
        let now = agent.eventLoop.nowMilliseconds
        guard !connecting, now >= lastAttempt + Self.reconnectMilliseconds, !agent.stopped else { return }
        connecting = true
        lastAttempt = now
        var options = VSTConnection.Options(credentials: agent.options.peerCredentials)
        options.connectTimeoutSeconds = 1
        VSTConnection.connect(on: agent.eventLoop, to: endpoint, options: options) { [self] result in
            connecting = false
            if case .success(let opened) = result {
                if agent.stopped { opened.close(); return }
                connection?.close()
                connection = opened
                let queued = waiting
                waiting = []
                for (header, body) in queued { opened.send(header, body: body, timeoutSeconds: 5) { _ in } }
            } else if !connecting {
                // Unreachable: what waited is dropped; the next post tries again.
                waiting = []
            }
        }
    }

    func close() {
        connection?.close()
        connection = nil
    }
}
