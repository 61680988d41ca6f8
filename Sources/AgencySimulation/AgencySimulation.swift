import AgencyCore
import AgencyStore
import Raft
import RaftSimulation

// A whole agency in one thread: complete agency node cores (Raft, store, TTL, observers,
// snapshots) under seeded faults, with clients and checkers. Everything comes from one seed.

/// Which process of the simulated cluster an event is for. Agents today; DBServer shard cores
/// take their place next to them later (`case shard(server: Int, shard: Int)`), driven by the
/// same event loop, network and disks.
enum SimulatedProcessID: Hashable, Sendable, CustomStringConvertible {
    case agent(Int)

    var description: String {
        switch self {
        case .agent(let index): "n\(index + 1)"
        }
    }
}

/// What the event loop needs of a simulated process: a disk that survives it, and a way to
/// crash it. ``SimulatedAgent`` conforms; a DBServer shard core will too.
protocol SimulatedProcess {
    /// Whether the process runs (not crashed).
    var isUp: Bool { get }
    /// What survives a crash.
    var disk: SimulatedDisk { get set }
    /// How often it was started.
    var incarnation: Int { get }
    /// The process dies: everything but the disk's synced bytes (and maybe a torn piece) is lost.
    mutating func crash(random: inout SeededGenerator, tornProbability: Double)
}

/// One agent: an agency node core over a simulated disk, with its own skewed wall clock.
struct SimulatedAgent: SimulatedProcess {
    let id: NodeID
    var core: AgencyNodeCore?
    var disk = SimulatedDisk()
    var incarnation = 0
    /// Offset of this agent's wall clock from simulated time.
    var clockSkew: Int
    /// Committed entries up to here were checked against the global record.
    var checkedCommitIndex: LogIndex = 0

    var isUp: Bool { core != nil }

    mutating func crash(random: inout SeededGenerator, tornProbability: Double) {
        core = nil
        disk.crash(random: &random, tornProbability: tornProbability)
    }
}

/// Runs an agency of ``AgencyNodeCore``s in one thread with a simulated network (delays,
/// loss, duplicates, reordering, partitions), simulated disks (crashes, unsynced data lost,
/// torn writes, failed writes) and clients that write with client ids, run transactions with
/// preconditions, read, set TTL keys, observe and poll; checkers run after every step and at
/// the end (see `Protocol/Agency.md` §15).
public final class AgencySimulation {
    /// A client's request as it travels to an agent.
    enum ClientRequest {
        case write([UInt8])
        case read(AgencyReadRequest)
        case poll(from: UInt64, timeoutMilliseconds: UInt64)
    }

    enum Event {
        case tick(SimulatedProcessID)
        case deliver(RaftMessage)
        case request(agent: Int, AgencyRequestID, ClientRequest)
        case answer(AgencyRequestID, AgencyAnswer)
        case clientStep(Int)
        case clientTimeout(Int, AgencyRequestID)
        case crash
        case crashFailed(SimulatedProcessID)
        case restart(SimulatedProcessID)
        case partitionStart
        case partitionEnd
        case heal
        /// The cluster's events (`ClusterSimulation.swift`).
        case cluster(ClusterEvent)
    }

    let settings: AgencySimulationSettings
    let members: [NodeID]
    let recordsTrace: Bool
    var random: SeededGenerator
    var now = 0
    var queue = EventQueue<Event>()
    var agents: [SimulatedAgent]
    /// Which side of the current partition each agent is on (all 0: none).
    var partitionSide: [Int]
    var faultsActive = true
    var healedAt: Int?
    var report: AgencySimulationReport
    var recentTrace: [String] = []
    var fullTrace: [String] = []

    // Checker state.
    var leaderOfTerm: [Term: NodeID] = [:]
    /// The (term, payload hash) of every index some agent committed.
    var committed: [LogIndex: (Term, UInt64)] = [:]
    /// The hash of the store snapshot persisted at each index (every agent's must agree).
    var snapshotHashAt: [LogIndex: UInt64] = [:]
    /// The notification each (url, index) got first (a later leader may send it again).
    var notificationsSeen: [String: AgencyNotification] = [:]

    // Client state (AgencySimulation+Clients.swift).
    var clients: [SimulatedClient] = []
    var attempts: [AgencyRequestID: Attempt] = [:]
    var nextRequestID: UInt64 = 1
    var nextOperationID: UInt64 = 1
    /// Data writes acknowledged, by write id: the index they applied at.
    var acknowledgedWrites: [UInt64: UInt64] = [:]
    var issuedWriteIDs: [UInt64] = []
    /// Compare-and-swap transactions issued and those acknowledged as applied.
    var issuedSwapIDs: [UInt64] = []
    var acknowledgedSwapIDs: Set<UInt64> = []

    /// The cluster of a cluster run (nil for an agency run).
    var cluster: ClusterState?

    /// Wall clock of the simulation's epoch (agents add simulated time and their skew).
    static let epochMilliseconds: Int64 = 1_700_000_000_000

    /// Prepares a run; `recordsTrace` keeps every event as text (for `--trace`).
    public init(settings: AgencySimulationSettings, recordsTrace: Bool = false) {
        self.settings = settings
        self.recordsTrace = recordsTrace
        members = (1...settings.nodeCount).map { NodeID(UInt64($0)) }
        var random = SeededGenerator(seed: settings.seed ^ 0x5151_5151_5151_5151)
        let skewMax = settings.clockSkewMillisecondsMax
        agents = members.map { id in
            SimulatedAgent(id: id, clockSkew: Int(random.next(upperBound: UInt64(2 * skewMax + 1))) - skewMax)
        }
        self.random = random
        partitionSide = Array(repeating: 0, count: settings.nodeCount)
        report = AgencySimulationReport(settings: settings)
        clients = (0..<settings.clientCount).map { _ in SimulatedClient() }
        if let clusterSettings = settings.cluster { cluster = ClusterState(settings: clusterSettings, servers: []) }
    }

    /// The events of the run as text (only with `recordsTrace`).
    public var trace: [String] { fullTrace }

    /// Runs to convergence or failure.
    public func run() -> AgencySimulationReport {
        for index in agents.indices {
            start(index)
            queue.schedule(.tick(.agent(index)), at: draw(0...(settings.tickMilliseconds - 1)))
        }
        for client in clients.indices { queue.schedule(.clientStep(client), at: draw(0...50)) }
        if settings.partitionIntervalMilliseconds > 0 {
            queue.schedule(.partitionStart, at: draw(0...(2 * settings.partitionIntervalMilliseconds)))
        }
        if settings.crashIntervalMilliseconds > 0 {
            queue.schedule(.crash, at: draw(0...(2 * settings.crashIntervalMilliseconds)))
        }
        if cluster != nil {
            // The fault window starts once the cluster stands (bootstrap can take a while
            // when the agency is already under faults).
            startCluster()
        } else {
            queue.schedule(.heal, at: settings.faultMilliseconds)
        }
        do {
            for index in agents.indices { try drain(index) }
            while let (time, event) = queue.popFirst() {
                now = time
                report.eventCount += 1
                try handle(event)
                try checkLeaders()
                if let healedAt {
                    if try converged() {
                        report.convergenceMilliseconds = now - healedAt
                        break
                    }
                    if now - healedAt > settings.convergenceMillisecondsMax {
                        throw failure("no convergence \(settings.convergenceMillisecondsMax) ms after the faults stopped: "
                                      + convergenceState())
                    }
                }
            }
        } catch let failure as AgencySimulationFailure {
            report.failure = failure
        } catch {
            report.failure = self.failure("unexpected error \(error)")
        }
        report.simulatedMilliseconds = now
        if let stats = cluster?.stats {
            report.cluster = "\(stats.writes) writes (\(stats.acknowledged) acknowledged, \(stats.refused) refused), \(stats.failovers) failovers, "
                + "\(stats.resyncs) followers joined, \(stats.drops) dropped, \(stats.staleRefusals) stale batches refused, "
                + "\(stats.crashes) DBServer crashes, \(stats.pauses) pauses, \(stats.isolations) cuts from the agency, "
                + "\(cluster!.jobStarts.count) jobs started; operator: \(stats.operatorJobs) jobs, "
                + "moves \(stats.movesFinished) finished / \(stats.movesFailed) failed, "
                + "CleanOutServer/ResignLeadership \(stats.serverJobsFinished) finished / \(stats.serverJobsFailed) failed, \(stats.handOvers) hand-overs"
        }
        report.tornWrites = agents.map(\.disk.tornWriteCount).reduce(0, +)
        report.termMax = agents.compactMap { $0.core?.term }.max() ?? 0
        report.finalIndex = agents.compactMap { $0.core?.commitIndex }.max() ?? 0
        return report
    }

    // MARK: - Events

    func handle(_ event: Event) throws {
        switch event {
        case .tick(.agent(let index)):
            queue.schedule(.tick(.agent(index)), at: now + settings.tickMilliseconds)
            guard agents[index].core != nil else { return }
            agents[index].core!.tick(wallMilliseconds: wallClock(of: index))
            for note in agents[index].core!.takeSupervisionNotes() { record("\(members[index]) supervision: \(note)") }
            try drain(index)
        case .deliver(let message):
            let index = Int(message.to.rawValue) - 1
            let sender = Int(message.from.rawValue) - 1
            guard agents[index].core != nil, partitionSide[index] == partitionSide[sender] else {
                record("drop \(describe(message)) (down or partitioned)")
                return
            }
            record("deliver \(describe(message))")
            agents[index].core!.receive(message)
            try drain(index)
        case let .request(index, id, request):
            try serve(request, id: id, at: index)
        case let .answer(id, answer):
            try receiveAnswer(answer, for: id)
        case .clientStep(let client):
            try step(client: client)
        case let .clientTimeout(client, id):
            try timeOut(client: client, attempt: id)
        case .crash:
            guard faultsActive else { return }
            queue.schedule(.crash, at: now + draw(1...(2 * settings.crashIntervalMilliseconds)))
            let live = agents.indices.filter { agents[$0].isUp }
            guard !live.isEmpty else { return }
            crash(live[draw(0...(live.count - 1))], reason: "crash")
        case .crashFailed(.agent(let index)):
            // An agent whose disk failed stops taking part; its operator restarts it.
            guard agents[index].core?.failure != nil else { return }
            crash(index, reason: "restart after disk failure")
        case .restart(.agent(let index)):
            guard !agents[index].isUp else { return }
            start(index)
            try drain(index)
        case .partitionStart:
            guard faultsActive else { return }
            report.partitions += 1
            // Either one agent alone or a random split; both sides may be a minority.
            if random.chance(0.5) {
                let alone = draw(0...(settings.nodeCount - 1))
                partitionSide = agents.indices.map { $0 == alone ? 1 : 0 }
            } else {
                partitionSide = agents.indices.map { _ in random.chance(0.5) ? 1 : 0 }
            }
            record("partition \(partitionSide)")
            queue.schedule(.partitionEnd, at: now + draw(50...settings.partitionMillisecondsMax))
        case .partitionEnd:
            partitionSide = Array(repeating: 0, count: settings.nodeCount)
            record("partition healed")
            if faultsActive {
                queue.schedule(.partitionStart, at: now + draw(1...(2 * settings.partitionIntervalMilliseconds)))
            }
        case .cluster(let event):
            try handleCluster(event)
        case .heal:
            faultsActive = false
            healedAt = now
            partitionSide = Array(repeating: 0, count: settings.nodeCount)
            record("faults stop: network healed, every agent up, clients finish")
            if cluster != nil { healCluster() }
            for index in agents.indices {
                if agents[index].core?.failure != nil { crash(index, reason: "restart after disk failure") }
                if !agents[index].isUp {
                    start(index)
                    try drain(index)
                }
            }
        }
    }

    /// A client's request arrives at an agent (lost when the agent is down).
    func serve(_ request: ClientRequest, id: AgencyRequestID, at index: Int) throws {
        guard agents[index].core != nil else {
            record("request \(id) lost: \(members[index]) down")
            return
        }
        switch request {
        case .write(let envelope):
            // The agent's edge validation (AgentRoutes): a transact body admits every shape sent.
            do throws(AgencyError) {
                _ = try AgencyEnvelope(validating: envelope, as: .transact)
            } catch {
                throw failure("client request \(id) is not a valid envelope: \(error)")
            }
            agents[index].core!.write(id, envelope: envelope, timeMilliseconds: wallClock(of: index))
        case .read(let query):
            agents[index].core!.read(id, query)
        case let .poll(from, timeout):
            agents[index].core!.poll(id, from: from, timeoutMilliseconds: timeout)
        }
        try drain(index)
    }

    func start(_ index: Int) {
        let durable = agents[index].disk.recover()
        agents[index].incarnation += 1
        let configuration = settings.configuration(for: members[index], members: members,
                                                   incarnation: agents[index].incarnation)
        var options = AgencyNodeCore.Options()
        options.tickMilliseconds = UInt64(settings.tickMilliseconds)
        options.snapshotEveryEntries = settings.snapshotEveryEntries
        options.requestTimeoutMilliseconds = settings.requestTimeoutMilliseconds
        if let supervision = clusterSupervision() {
            agents[index].core = AgencyNodeCore(configuration: configuration, restoring: durable, options: options, supervision: supervision)
        } else {
            agents[index].core = AgencyNodeCore(configuration: configuration, restoring: durable, options: options)
        }
        agents[index].checkedCommitIndex = 0
        record("start \(members[index]) (incarnation \(agents[index].incarnation)): term \(durable.hardState.term), "
               + "snapshot \(durable.snapshot?.index ?? 0), \(durable.entries.count) entries")
    }

    func crash(_ index: Int, reason: String) {
        agents[index].crash(random: &random, tornProbability: settings.tornWriteProbability)
        report.crashes += 1
        record("\(reason) \(members[index])")
        let delay = faultsActive ? draw(1...settings.downMillisecondsMax) : 1
        queue.schedule(.restart(.agent(index)), at: now + delay)
    }

    /// The agent's wall clock: simulated time from the epoch plus its skew.
    func wallClock(of index: Int) -> Int64 {
        Self.epochMilliseconds + Int64(now + agents[index].clockSkew)
    }

    // MARK: - The driver

    /// Carries out the core's actions in order until it has none, as the agent process does:
    /// persist (then report it), send, answer, notify.
    func drain(_ index: Int) throws {
        while agents[index].core != nil {
            let actions = agents[index].core!.nextActions()
            guard !actions.isEmpty else { break }
            for action in actions {
                switch action {
                case let .persist(snapshot, logWrite, hardState, sync):
                    guard try persist(index, snapshot: snapshot, logWrite: logWrite, hardState: hardState, sync: sync) else {
                        return
                    }
                case .send(let message):
                    try send(message)
                case let .answer(id, answer):
                    answerClient(id, answer, from: index)
                case let .notify(notification, term):
                    try observe(notification, term: term, from: index)
                }
            }
        }
        try checkAgent(index)
    }

    /// Writes and syncs one Ready's durable part; false when the agent crashed meanwhile.
    func persist(_ index: Int, snapshot: RaftSnapshot?, logWrite: RaftReady.LogWrite?, hardState: HardState?,
                 sync: Bool) throws -> Bool {
        agents[index].disk.write(snapshot: snapshot, logWrite: logWrite, hardState: hardState)
        if faultsActive && random.chance(settings.diskFailureProbability) {
            report.diskFailures += 1
            record("\(members[index]) disk write fails")
            agents[index].core!.persistenceFailed("simulated disk failure")
            queue.schedule(.crashFailed(.agent(index)), at: now + draw(10...500))
            return true
        }
        if sync {
            if faultsActive && random.chance(settings.crashBeforeSyncProbability) {
                report.crashesBeforeSync += 1
                crash(index, reason: "crash before sync")
                return false
            }
            agents[index].disk.sync()
        }
        if let snapshot {
            agents[index].disk.rewrite()
            report.snapshotsPersisted += 1
            try expectSnapshot(snapshot, on: index)
        }
        agents[index].core!.persisted()
        return true
    }

    func send(_ message: RaftMessage) throws {
        report.messagesSent += 1
        // Every message crosses the wire format, as it does between real agents.
        let decoded: RaftMessage
        do {
            decoded = try RaftCodec.decodeMessage(RaftCodec.encode(message))
        } catch {
            throw failure("\(describe(message)) does not decode: \(error)")
        }
        guard decoded == message else { throw failure("\(describe(message)) decodes as \(describe(decoded))") }
        if faultsActive && random.chance(settings.dropProbability) {
            report.messagesDropped += 1
            record("lose \(describe(message))")
            return
        }
        let copies = faultsActive && random.chance(settings.duplicateProbability) ? 2 : 1
        for _ in 0..<copies { queue.schedule(.deliver(message), at: now + networkDelay()) }
    }

    /// A delay for one message: usually short, sometimes long (so messages overtake).
    func networkDelay() -> Int {
        if faultsActive && random.chance(settings.longDelayProbability) {
            return draw(settings.delayMillisecondsMin...settings.longDelayMillisecondsMax)
        }
        return draw(settings.delayMillisecondsMin...settings.delayMillisecondsMax)
    }

    // MARK: - Helpers

    func failure(_ message: String) -> AgencySimulationFailure {
        AgencySimulationFailure(message: message, settings: settings, time: now, recentTrace: recentTrace)
    }

    func record(_ line: @autoclosure () -> String) {
        let text = "\(now) \(line())"
        report.traceHash = mix(report.traceHash, fnv1a(text.utf8))
        recentTrace.append(text)
        if recentTrace.count > 60 { recentTrace.removeFirst(recentTrace.count - 60) }
        if recordsTrace { fullTrace.append(text) }
    }

    func describe(_ message: RaftMessage) -> String { SimulationTrace.describe(message) }

    func draw(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(random.next(upperBound: UInt64(range.upperBound - range.lowerBound + 1)))
    }
}

func mix(_ state: UInt64, _ value: UInt64) -> UInt64 {
    var generator = SeededGenerator(seed: state ^ value)
    return generator.next()
}

func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
    var value: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return value
}
