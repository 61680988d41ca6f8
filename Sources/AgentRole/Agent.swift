public import AgencyCore
import AgencyStore
import TesseraPlatform
import Client
public import Raft
public import Server
public import Transport
import VelocyPack
public import VelocyStream
import ClusterMember

/// One member of the agency: the driver of an ``AgencyNodeCore`` (Raft node, agency store,
/// waiting requests, TTL, observers, snapshot policy) on the event loop. The driver owns what
/// the core must not touch: the timer and the wall clock, the disk (a `RaftPersistence`), the
/// connections to peers and observers, and the callbacks of waiting requests.
///
/// Every input (a tick, a peer's message, a request) goes to the core; then `drive()` carries
/// out the core's actions in order — persist (and report it done), send, answer, notify —
/// until it has none, as the core's contract requires (`Protocol/Agency.md` §14).
///
/// Concurrency: everything runs on the event loop — no tasks, no locks.
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
        /// Supervision (health checks and failover jobs), run while this agent leads.
        public var supervision: any AgencySupervision = NoSupervision()

        public init(id: NodeID, members: [Member]) {
            self.id = id
            self.members = members
        }
    }

    public let eventLoop: EventLoop
    public let options: Options
    let persistence: any RaftPersistence
    var core: AgencyNodeCore
    var peers: [NodeID: Peer] = [:]
    var timer: LoopTimer?
    var stopped = false
    var driveScheduled = false
    /// Connections to observers' endpoints, by endpoint.
    var callbacks: [String: Peer] = [:]
    let log = ProcessLog.logger("agent")
    let supervisionLog = ProcessLog.logger("supervision")
    /// What the log last said about Raft: a change of role, term or leader is logged once.
    var loggedRaftState: (role: RaftRole, term: Term, leader: NodeID?)?
    /// Who waits for the answer to each request handed to the core.
    var waiting: [AgencyRequestID: (AgencyAnswer) -> Void] = [:]
    var nextRequestID: UInt64 = 1

    /// The first failure to persist: the agent stops taking part (a node that cannot write
    /// its log must not vote or acknowledge).
    public var failure: String? { core.failure }

    /// Loads the Raft state from `persistence` and prepares the core (call `start()` next).
    public init(on eventLoop: EventLoop, options: Options, persistence: any RaftPersistence) throws {
        self.eventLoop = eventLoop
        self.options = options
        self.persistence = persistence
        let durable = try persistence.load()
        // Election timeouts must differ between agents and between runs of one agent.
        let configuration = RaftConfiguration(
            id: options.id, members: options.members.map(\.id),
            seed: options.id.rawValue &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: Self.wallMilliseconds()))
        var coreOptions = AgencyNodeCore.Options()
        coreOptions.tickMilliseconds = options.tickMilliseconds
        coreOptions.snapshotEveryEntries = options.snapshotEveryEntries
        coreOptions.requestTimeoutMilliseconds = options.requestTimeoutMilliseconds
        core = AgencyNodeCore(configuration: configuration, restoring: durable, options: coreOptions,
                              supervision: options.supervision)
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

    /// Stops ticking, closes peer connections and refuses what still waits (call on the loop
    /// thread).
    public func stop() {
        stopped = true
        timer?.close()
        timer = nil
        for peer in peers.values { peer.close() }
        for callback in callbacks.values { callback.close() }
        core.stop()
        drive()
    }

    // MARK: Inputs

    func tick() {
        guard !stopped, core.failure == nil else { return }
        core.tick(wallMilliseconds: Self.wallMilliseconds())
        for note in core.takeSupervisionNotes() { supervisionLog.notice("\(note)") }
        drive()
    }

    /// A message from a peer.
    func receive(_ message: RaftMessage) {
        guard !stopped, core.failure == nil else { return }
        core.receive(message)
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

    /// A validated `write` or `transact` body, stamped with the wall clock now; `complete`
    /// runs on the loop thread with `.applied` or `.refused`.
    func write(envelope: [UInt8], complete: @escaping (AgencyAnswer) -> Void) {
        core.write(register(complete), envelope: envelope, timeMilliseconds: Self.wallMilliseconds())
        scheduleDrive()
    }

    /// A linearizable `read` or `inquire`; `complete` runs on the loop thread with `.served`
    /// or `.refused`.
    func read(_ query: AgencyReadRequest, complete: @escaping (AgencyAnswer) -> Void) {
        core.read(register(complete), query)
        scheduleDrive()
    }

    /// A long poll from `index`; `complete` runs on the loop thread with `.served` (or
    /// `.refused` when this agent does not lead).
    func poll(from index: UInt64, timeoutMilliseconds: UInt64, complete: @escaping (AgencyAnswer) -> Void) {
        core.poll(register(complete), from: index, timeoutMilliseconds: timeoutMilliseconds)
        scheduleDrive()
    }

    func register(_ complete: @escaping (AgencyAnswer) -> Void) -> AgencyRequestID {
        let id = AgencyRequestID(nextRequestID)
        nextRequestID += 1
        waiting[id] = complete
        return id
    }

    // MARK: The driver

    /// Carries out the core's actions in order until it has none.
    func drive() {
        while true {
            let actions = core.nextActions()
            guard !actions.isEmpty else { break }
            for action in actions { carryOut(action) }
        }
        logRaftChanges()
    }

    /// Logs elections, term changes and who leads the agency, once per change.
    func logRaftChanges() {
        let now = (role: core.role, term: core.term, leader: core.leaderID)
        if let last = loggedRaftState, last.role == now.role, last.term == now.term, last.leader == now.leader { return }
        let previous = loggedRaftState
        loggedRaftState = now
        switch now.role {
        case .leader:
            log.notice("term \(now.term): this agent leads the agency")
        case .candidate:
            log.info("term \(now.term): election started (candidate)")
        case .preCandidate:
            if previous?.role != .preCandidate { log.info("term \(now.term): no leader heard from, asking for pre-votes") }
        case .follower:
            if let leader = now.leader {
                log.info("term \(now.term): following agent \(leader)")
            } else if previous?.term != now.term {
                log.info("term \(now.term): follower, no leader known yet")
            }
        }
    }

    func carryOut(_ action: AgencyAction) {
        switch action {
        case let .persist(snapshot, logWrite, hardState, sync):
            do {
                try persistence.persist(snapshot: snapshot, logWrite: logWrite, hardState: hardState, sync: sync)
                core.persisted()
            } catch {
                log.critical("cannot persist the Raft state; this agent stops taking part: \(error)")
                core.persistenceFailed("\(error)")
            }
        case .send(let message):
            peers[message.to]?.send(message)
        case let .answer(id, answer):
            waiting.removeValue(forKey: id)?(answer)
        case let .notify(notification, term):
            notify(notification, term: term)
        }
    }

    /// Sends an observer its notification. URLs look like `tcp://host:port/path?query`; the
    /// POST carries the cluster token. Delivery is best effort, as in ArangoDB: an observer
    /// that was away reads the tree (or polls) when it comes back.
    func notify(_ notification: AgencyNotification, term: Term) {
        guard let target = Self.parseCallback(notification.url) else { return }
        let key = target.endpoint.description
        let connection = callbacks[key] ?? Peer(endpoint: target.endpoint, agent: self)
        callbacks[key] = connection
        connection.post(target.path, parameters: target.parameters, body: notification.body(term: term))
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

    // MARK: State for the API

    public var role: RaftRole { core.role }
    public var term: Term { core.term }
    public var leaderID: NodeID? { core.leaderID }
    public var commitIndex: LogIndex { core.commitIndex }
    public var appliedIndex: LogIndex { core.appliedIndex }

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
    /// Loop time of the first failed connect of the current outage (nil: reachable).
    var unreachableSince: UInt64?
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
                if unreachableSince != nil {
                    agent.log.info("\(endpoint) is reachable again")
                    unreachableSince = nil
                }
                connection?.close()
                connection = opened
                let queued = waiting
                waiting = []
                for (header, body) in queued { opened.send(header, body: body, timeoutSeconds: 5) { _ in } }
            } else if !connecting {
                // Unreachable: what waited is dropped; the next post tries again. Logged once
                // per outage, not once per 200 ms attempt.
                if unreachableSince == nil {
                    unreachableSince = now
                    if case .failure(let error) = result { agent.log.warning("cannot connect to \(endpoint): \(error)") }
                }
                waiting = []
            }
        }
    }

    func close() {
        connection?.close()
        connection = nil
    }
}

extension Agent {
    /// Adds the agent's Raft figures to `metrics`: the term (ArangoDB's `arangodb_agency_term`),
    /// the commit index, and whether this agent leads. Read at each scrape, on the loop thread
    /// (the metrics route answers there).
    public func registerMetrics(in metrics: Metrics) {
        metrics.register("agency") { [self] text in
            guard eventLoop.inLoopThread else { return }  // the core belongs to the loop
            text.gauge("arangodb_agency_term", "Agency's Raft term", Double(core.term))
            text.gauge("tessera_agency_commit_index", "Highest Raft log index known committed", Double(core.commitIndex))
            text.gauge("tessera_agency_leading", "1 while this agent leads the agency", core.role == .leader ? 1 : 0)
        }
    }
}
