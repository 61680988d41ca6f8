import AgencyCore
import AgencyStore
import ClusterLogic
import Raft
import Supervision
import VelocyPack

// The cluster on top of the simulated agency (`raft-simulate --mode cluster`): the agents run
// supervision; DBServers register, heartbeat, read Plan and Current, draw leadership epochs,
// claim their shards and change the in-sync lists with the agency transactions the real
// DBServers send (`AgencyTransactions`), and replicate documents to each other by the rules
// of `Protocol/Replication.md`; clients write documents to the leader Plan names. Faults:
// DBServer crashes, pauses (SIGSTOP: it hears nothing and does nothing, then wakes with its
// old view) and cuts from the agency (its heartbeats stop while it still serves), on top of
// the agency's own faults.
//
// The DBServer's replication here is a model of those rules (a resync copies the leader's
// documents whole); the replication cores themselves are proven by `--mode replication`. What
// this run proves is failover: supervision's verdicts and jobs, and the fencing by epochs,
// Plan preconditions and reboot ids, under the agency's leader changes.
//
// Checkers: at most one server accepts writes for a shard under one epoch; every job starts
// once and a finished job never comes back; after the faults every shard is back to its
// replication factor with every copy in sync, and every acknowledged write is on every copy.

/// The cluster's simulated processes and their state (see above).
struct ClusterState {
    var settings: ClusterSimulationSettings
    var servers: [SimulatedDBServer]
    /// Agency requests of DBServers (and of the bootstrap), by request id.
    var requests: [AgencyRequestID: DBRequest] = [:]
    var bootstrapped = false
    /// The Plan the clients route by (the freshest any DBServer read: a coordinator's cache).
    var routingPlan: ClusterPlan?
    var nextWriteID: UInt64 = 1
    /// Acknowledged writes: key → shard.
    var acknowledged: [String: String] = [:]
    /// (shard, epoch) → the server that accepted writes under it.
    var epochOwners: [String: String] = [:]
    /// Job id → its start time as first seen; job ids seen finished or failed.
    var jobStarts: [String: String] = [:]
    var jobsEnded: Set<String> = []
    var convergenceCheckedAt = 0
    /// The applied index the job checker last looked at.
    var jobsCheckedAt: UInt64 = 0
    /// The last delivery time of each DBServer-to-DBServer link (the links are FIFO, as TCP).
    var linkClock: [String: Int] = [:]
    /// The operator's jobs whose creation the agency confirmed, and whether it asked for a
    /// CleanOutServer yet (one per run: a second would leave too few servers for the shards).
    var operatorJobs: Set<String> = []
    var cleanOutRequested = false
    /// The agent the operator believes leads (as a coordinator follows the leader's hints).
    var operatorLeaderGuess = 0
    var stats = ClusterStatistics()
}

struct ClusterStatistics {
    var writes = 0, acknowledged = 0, refused = 0, crashes = 0, pauses = 0, isolations = 0
    /// FailedLeader jobs that promoted a follower and finished.
    var failovers = 0, resyncs = 0, drops = 0, staleRefusals = 0
    /// The operator's jobs: created, and how MoveShards (the operator's own and those its
    /// CleanOutServer and ResignLeadership made) and the server jobs ended.
    var operatorJobs = 0, movesFinished = 0, movesFailed = 0, serverJobsFinished = 0, serverJobsFailed = 0
    /// Leaders that handed a shard over (reported themselves resigned).
    var handOvers = 0
}

/// One DBServer.
struct SimulatedDBServer {
    let id: String
    let index: Int
    var up = true
    var pausedUntil = 0
    var isolatedUntil = 0
    var incarnation = 1
    var registered = false
    var leaderGuess = 0
    /// Its reboot id as of its registration; a higher one in Current means supervision
    /// declared it FAILED.
    var rebootId: Int64?
    var plan: ClusterPlan?
    var current: ClusterCurrent?
    /// When the read behind `plan` and `current` was sent.
    var viewIssuedAt = -1
    /// Documents per shard (kept across crashes: the disk).
    var data: [String: ShardData] = [:]
    /// What it does for each shard (lost in a crash).
    var roles: [String: ShardRole] = [:]

    func reachable(at now: Int) -> Bool { up && now >= pausedUntil }
}

struct ShardData {
    var documents: [String: UInt64] = [:]
    var sequence: UInt64 = 0
}

enum ShardRole {
    case drawingEpoch
    case leader(LeaderShard)
    case follower(FollowerShard)
}

struct LeaderShard {
    var epoch: UInt64
    var claimed = false
    /// The agency's in-sync list and version as this leader knows them.
    var inSync: [String]
    var version: UInt64
    /// Plan's servers for the shard (ids, without a resign marker).
    var plan: [String]
    /// The same as the agency stores them (with the resign marker when Plan asks this leader
    /// to resign): every change's precondition.
    var storedPlan: [String]
    /// Since when Plan asks this leader to resign (a leader move's hand-over): it takes no new
    /// write, lets the waiting ones finish for a while, then reports itself resigned.
    var resigningSince: Int?
    var links: [String: FollowerLink] = [:]
    var change: PendingChange?
    /// A change's answer was lost or refused: no change and no write until a view read
    /// after `uncertainSince` says what the agency holds.
    var uncertainSince: Int?
    var waiting: [PendingWrite] = []
}

struct FollowerLink {
    var joining: Bool
    var dropping = false
    /// The sequence the follower's copy started at (its snapshot) and what it acknowledged.
    var joinedAt: UInt64
    var acked: UInt64
    /// Sequences sent and not acknowledged, with when they were sent.
    var unacked: [(sequence: UInt64, sentAt: Int)] = []
    var snapshotSentAt = 0
}

struct PendingWrite {
    let key: String
    let sequence: UInt64
    var waitingFor: Set<String>
    var copies: Int
}

struct PendingChange {
    let request: AgencyRequestID
    let old: [String]
    let new: [String]
    let version: UInt64
    let isFence: Bool
}

struct FollowerShard {
    var leader: String
    /// The session's epoch (nil: none; a resync begins one).
    var epoch: UInt64?
    var position: UInt64 = 0
    var lastResyncRequest = -1_000_000
    /// Since when Current has not listed this copy while it has a session.
    var unlistedSince: Int?
}

/// Why a DBServer sent an agency request.
enum DBRequest {
    case bootstrap(step: Int)
    case register(server: Int)
    case heartbeat(server: Int)
    case view(server: Int, issuedAt: Int)
    case drawEpoch(server: Int, shard: String, incarnation: Int)
    case change(server: Int, shard: String, epoch: UInt64)
    /// The operator's read of the agency, then its job's creation.
    case operatorRead
    case operatorCreate(jobId: String)

    var isOperator: Bool {
        switch self {
        case .operatorRead, .operatorCreate: true
        default: false
        }
    }

    var server: Int? {
        switch self {
        case .bootstrap, .operatorRead, .operatorCreate: nil
        case .register(let server), .heartbeat(let server), .view(let server, _), .drawEpoch(let server, _, _), .change(let server, _, _): server
        }
    }
}

/// A message between DBServers (or from a client).
enum ShardMessage {
    case write(to: Int, shard: String, key: String, id: UInt64)
    case apply(to: Int, from: String, shard: String, epoch: UInt64, sequence: UInt64, key: String, value: UInt64)
    case applied(to: Int, from: String, shard: String, epoch: UInt64, sequence: UInt64, accepted: Bool)
    case resyncRequest(to: Int, from: String, shard: String)
    case snapshot(to: Int, from: String, shard: String, epoch: UInt64, data: ShardData)
    case snapshotTaken(to: Int, from: String, shard: String, epoch: UInt64, sequence: UInt64, accepted: Bool)

    var destination: Int {
        switch self {
        case .write(let to, _, _, _), .apply(let to, _, _, _, _, _, _), .applied(let to, _, _, _, _, _),
             .resyncRequest(let to, _, _), .snapshot(let to, _, _, _, _), .snapshotTaken(let to, _, _, _, _, _): to
        }
    }
}

enum ClusterEvent {
    case bootstrap
    case heartbeat(Int)
    case maintenance(Int)
    case replicationTick(Int)
    case deliver(ShardMessage)
    case requestTimeout(AgencyRequestID)
    case fault
    case restart(Int)
    case clientWrite
    case jobCheck
    /// The operator's next job (a MoveShard, CleanOutServer or ResignLeadership).
    case operate
}

extension AgencySimulation {
    var clusterSettings: ClusterSimulationSettings { cluster!.settings }

    static func dbServerID(_ index: Int) -> String { "PRMR-\(index + 1)" }

    /// Sets up the cluster's processes and first events (called by `run()` in cluster mode).
    func startCluster() {
        let settings = clusterSettings
        cluster!.servers = (0..<settings.dbServerCount).map { SimulatedDBServer(id: Self.dbServerID($0), index: $0) }
        queue.schedule(.cluster(.bootstrap), at: 1)
        for index in 0..<settings.dbServerCount {
            queue.schedule(.cluster(.heartbeat(index)), at: draw(1...settings.heartbeatMilliseconds))
            queue.schedule(.cluster(.maintenance(index)), at: draw(1...settings.maintenanceMilliseconds))
            queue.schedule(.cluster(.replicationTick(index)), at: draw(1...50))
        }

        queue.schedule(.cluster(.jobCheck), at: 100)
    }

    /// The supervision the agents run in cluster mode.
    func clusterSupervision() -> (any AgencySupervision)? {
        guard let cluster else { return nil }
        return ClusterSupervision(options: cluster.settings.supervision)
    }

    // MARK: - Events

    func handleCluster(_ event: ClusterEvent) throws {
        let settings = clusterSettings
        switch event {
        case .bootstrap:
            if !cluster!.bootstrapped { bootstrap(step: 0) }
        case .heartbeat(let index):
            queue.schedule(.cluster(.heartbeat(index)), at: now + settings.heartbeatMilliseconds)
            guard serverActs(index), cluster!.servers[index].registered else { return }
            agencyRequest(.heartbeat(server: index), .write(AgencyTransactions.heartbeat(serverId: Self.dbServerID(index), timeMilliseconds: Int64(now))))
        case .maintenance(let index):
            queue.schedule(.cluster(.maintenance(index)), at: now + settings.maintenanceMilliseconds)
            guard serverActs(index), cluster!.bootstrapped else { return }
            if !cluster!.servers[index].registered {
                // One registration at a time (the real server's start waits for it).
                if !cluster!.requests.values.contains(where: { if case .register(index) = $0 { true } else { false } }) { register(index) }
                return
            }
            agencyRequest(.view(server: index, issuedAt: now), .read(.read(body: envelope { builder in
                builder.add(strings: [AgencyLayout.plan, AgencyLayout.current])
            })))
            requestResyncs(index)
        case .replicationTick(let index):
            queue.schedule(.cluster(.replicationTick(index)), at: now + 50)
            guard serverActs(index) else { return }
            timeOutFollowers(index)
        case .deliver(let message):
            try deliverShard(message)
        case .requestTimeout(let id):
            guard let request = cluster!.requests[id] else { return }
            if let server = request.server, !serverActs(server) {
                // A paused server notices its timeouts when it wakes.
                queue.schedule(.cluster(.requestTimeout(id)), at: now + 100)
                return
            }
            cluster!.requests[id] = nil
            try requestLost(request, id: id)
        case .fault:
            guard faultsActive else { return }
            queue.schedule(.cluster(.fault), at: now + draw(settings.faultIntervalMilliseconds / 2...settings.faultIntervalMilliseconds * 3 / 2))
            dbServerFault()
        case .restart(let index):
            guard !cluster!.servers[index].up else { return }
            cluster!.servers[index].up = true
            cluster!.servers[index].incarnation += 1
            cluster!.servers[index].registered = false
            record("restart \(Self.dbServerID(index))")
        case .clientWrite:
            if faultsActive || now < (healedAt ?? now) + 3_000 {
                queue.schedule(.cluster(.clientWrite), at: now + draw(1...(2 * settings.writeIntervalMilliseconds)))
            }
            clientWrite()
        case .jobCheck:
            queue.schedule(.cluster(.jobCheck), at: now + 100)
            try checkJobs()
        case .operate:
            // Jobs only while the faults last: the settle phase must see them all end.
            guard faultsActive, let interval = settings.operatorIntervalMilliseconds else { return }
            queue.schedule(.cluster(.operate), at: now + draw(interval / 2...interval * 3 / 2))
            agencyRequest(.operatorRead, .read(.read(body: envelope { builder in
                builder.add(strings: [AgencyLayout.plan, AgencyLayout.current, AgencyLayout.syncLatestID,
                                      AgencyLayout.targetCleanedServers, AgencyLayout.targetToBeCleanedServers])
            })))
        }
    }

    /// Whether the DBServer runs and is not paused.
    func serverActs(_ index: Int) -> Bool { cluster!.servers[index].reachable(at: now) }

    // MARK: - Faults

    func dbServerFault() {
        let settings = clusterSettings
        let index = draw(0...(settings.dbServerCount - 1))
        guard cluster!.servers[index].up, now >= cluster!.servers[index].pausedUntil else { return }
        let length = draw(100...settings.faultMillisecondsMax)
        switch draw(0...9) {
        case 0...4:
            crashDBServer(index)
            queue.schedule(.cluster(.restart(index)), at: now + length)
        case 5...7:
            cluster!.servers[index].pausedUntil = now + length
            cluster!.stats.pauses += 1
            record("pause \(Self.dbServerID(index)) for \(length) ms")
        default:
            cluster!.servers[index].isolatedUntil = now + length
            cluster!.stats.isolations += 1
            record("cut \(Self.dbServerID(index)) off from the agency for \(length) ms")
        }
    }

    func crashDBServer(_ index: Int) {
        cluster!.servers[index].up = false
        cluster!.servers[index].roles = [:]
        cluster!.servers[index].plan = nil
        cluster!.servers[index].current = nil
        cluster!.servers[index].viewIssuedAt = -1
        cluster!.servers[index].rebootId = nil
        cluster!.stats.crashes += 1
        for (id, request) in cluster!.requests where request.server == index { cluster!.requests[id] = nil }
        record("crash \(Self.dbServerID(index))")
    }

    /// After the faults: every DBServer runs, nothing paused or cut off.
    func healCluster() {
        for index in cluster!.servers.indices {
            cluster!.servers[index].pausedUntil = 0
            cluster!.servers[index].isolatedUntil = 0
            if !cluster!.servers[index].up { queue.schedule(.cluster(.restart(index)), at: now + 1) }
        }
    }

    // MARK: - Agency requests

    func agencyRequest(_ purpose: DBRequest, _ request: ClientRequest) {
        let id = AgencyRequestID(nextRequestID)
        nextRequestID += 1
        cluster!.requests[id] = purpose
        let server = purpose.server
        let agent = server.map { cluster!.servers[$0].leaderGuess } ?? (purpose.isOperator ? cluster!.operatorLeaderGuess : draw(0...(settings.nodeCount - 1)))
        let cut = server.map { now < cluster!.servers[$0].isolatedUntil } ?? false
        if cut || (faultsActive && random.chance(settings.dropProbability)) {
            record("lose agency request \(id) \(purpose)")
        } else {
            queue.schedule(.request(agent: agent, id, request), at: now + networkDelay())
        }
        queue.schedule(.cluster(.requestTimeout(id)), at: now + 1_000)
    }

    /// An agent's answer to a cluster request; false when the request is not the cluster's.
    func clusterAnswer(_ answer: AgencyAnswer, for id: AgencyRequestID) throws -> Bool {
        guard cluster != nil, let request = cluster!.requests.removeValue(forKey: id) else { return false }
        if let server = request.server {
            // A paused server hears nothing, nor one cut off from the agency: for it the request
            // times out (when it wakes).
            guard serverActs(server), now >= cluster!.servers[server].isolatedUntil else {
                cluster!.requests[id] = request
                return true
            }
        }
        switch answer {
        case .refused(.notLeader(let hint)):
            if let server = request.server {
                cluster!.servers[server].leaderGuess = hint.map { Int($0.rawValue) - 1 } ?? draw(0...(settings.nodeCount - 1))
            } else if request.isOperator {
                cluster!.operatorLeaderGuess = hint.map { Int($0.rawValue) - 1 } ?? draw(0...(settings.nodeCount - 1))
            }
            try requestLost(request, id: id)
        case .refused(.invalid(let error)):
            throw failure("the agency refused a cluster request \(request) as invalid: \(error)")
        case .refused:
            if let server = request.server { cluster!.servers[server].leaderGuess = draw(0...(settings.nodeCount - 1)) }
            if request.isOperator { cluster!.operatorLeaderGuess = draw(0...(settings.nodeCount - 1)) }
            try requestLost(request, id: id)
        case .applied(let outcome):
            try applied(request, outcome)
        case .served(let body):
            if case let .view(server, issuedAt) = request { try view(server, Slice(trustedBytes: body), issuedAt: issuedAt) }
            if case .operatorRead = request { try operate(Slice(trustedBytes: body)) }
        }
        return true
    }

    /// No answer (lost, timed out, or not the leader): what each request does then.
    func requestLost(_ request: DBRequest, id: AgencyRequestID) throws {
        switch request {
        case .bootstrap(let step):
            bootstrap(step: step)
        case .register(let server):
            if serverActs(server) { register(server) }
        case .heartbeat, .view, .operatorRead, .operatorCreate:
            break  // the next one follows on its own
        case let .drawEpoch(server, shard, _):
            if case .drawingEpoch? = cluster!.servers[server].roles[shard] { cluster!.servers[server].roles[shard] = nil }
        case let .change(server, shard, epoch):
            changeUncertain(server, shard: shard, epoch: epoch, request: id)
        }
    }

    func applied(_ request: DBRequest, _ outcome: AgencyApplyOutcome) throws {
        switch request {
        case .bootstrap(let step):
            bootstrap(step: step + 1)
        case .register(let server):
            // The registration's last-but-one transaction bumped the reboot id; read it with the next view.
            cluster!.servers[server].registered = true
            cluster!.servers[server].rebootId = nil
            record("\(Self.dbServerID(server)) registered")
        case .heartbeat, .view, .operatorRead:
            break
        case .operatorCreate(let jobId):
            // A creation refused (LatestID moved) is simply not retried: the next one follows.
            if outcome.allWritesApplied {
                cluster!.operatorJobs.insert(jobId)
                cluster!.stats.operatorJobs += 1
            }
        case let .drawEpoch(server, shard, incarnation):
            guard cluster!.servers[server].incarnation == incarnation, case .drawingEpoch? = cluster!.servers[server].roles[shard] else { return }
            guard let range = try? AgencyTransactions.reservedIds(fromAnswer: Slice(trustedBytes: outcome.transactAnswer()), count: 1) else {
                throw failure("an epoch reservation answered \(outcome.results)")
            }
            becomeLeader(server, shard: shard, epoch: range.lowerBound)
        case let .change(server, shard, epoch):
            changeAnswered(server, shard: shard, epoch: epoch, applied: outcome.allWritesApplied)
        }
    }

    // MARK: - Bootstrap and registration

    /// The first coordinator's work: the layout, the database, the collection with its shards
    /// placed round-robin. Each step is resent until it applied.
    func bootstrap(step: Int) {
        let settings = clusterSettings
        switch step {
        case 0:
            agencyRequest(.bootstrap(step: 0), .write(AgencyTransactions.initializeLayout(clusterId: "sim")))
        case 1:
            agencyRequest(.bootstrap(step: 1), .write(AgencyTransactions.createDatabase(PlanDatabase(id: "1", name: "_system"))))
        case 2:
            var shards: [String: [String]] = [:]
            for shard in 0..<settings.shardCount {
                shards["s\(101 + shard)"] = (0..<settings.replicationFactor).map { Self.dbServerID((shard + $0) % settings.dbServerCount) }
            }
            let collection = PlanCollection(id: "100", name: "c", numberOfShards: settings.shardCount, replicationFactor: settings.replicationFactor,
                                            writeConcern: settings.writeConcern, shards: shards)
            agencyRequest(.bootstrap(step: 2), .write(AgencyTransactions.createCollection(collection, database: "_system")))
        default:
            guard !cluster!.bootstrapped else { return }
            cluster!.bootstrapped = true
            record("cluster bootstrapped: faults on DBServers for \(self.settings.faultMilliseconds) ms from now")
            queue.schedule(.heal, at: now + self.settings.faultMilliseconds)
            queue.schedule(.cluster(.fault), at: now + 1_000 + draw(0...settings.faultIntervalMilliseconds))
            queue.schedule(.cluster(.clientWrite), at: now + 300)
            if let interval = settings.operatorIntervalMilliseconds { queue.schedule(.cluster(.operate), at: now + 500 + draw(0...interval)) }
        }
    }

    func register(_ server: Int) {
        let registration = ServerRegistration(id: Self.dbServerID(server), shortName: ServerRole.dbServer.shortName(number: UInt64(server + 1)),
                                              endpoint: "sim://\(server)", role: .dbServer, version: "sim")
        agencyRequest(.register(server: server), .write(AgencyTransactions.registerServer(registration, shortNameIsNew: false)))
    }

    // MARK: - Maintenance: following Plan

    /// A view of Plan and Current arrived: follow it.
    func view(_ server: Int, _ answer: Slice, issuedAt: Int) throws {
        guard let object = answer[0], let planSlice = AgencyLayout.value(at: AgencyLayout.plan, inReadAnswer: object) else { return }
        let plan: ClusterPlan, current: ClusterCurrent
        do {
            plan = try ClusterPlan(decoding: planSlice)
            current = try AgencyLayout.value(at: AgencyLayout.current, inReadAnswer: object).map { (slice) throws(ClusterError) in try ClusterCurrent(decoding: slice) } ?? ClusterCurrent()
        } catch {
            throw failure("the agency holds a Plan or Current that does not decode: \(error)")
        }
        let id = Self.dbServerID(server)
        // The agency cache only moves forward: an answer to an older read changes nothing.
        guard issuedAt >= cluster!.servers[server].viewIssuedAt else { return }
        cluster!.servers[server].viewIssuedAt = issuedAt
        cluster!.servers[server].plan = plan
        cluster!.servers[server].current = current
        if (cluster!.routingPlan?.version ?? 0) < plan.version { cluster!.routingPlan = plan }
        // The reboot id: supervision bumped it, so every leadership here is void.
        let reboot = AgencyLayout.value(at: AgencyLayout.currentRebootId(id), inReadAnswer: object)?.intValue
        if let reboot {
            if let known = cluster!.servers[server].rebootId, reboot > known {
                record("\(id) sees its reboot id moved \(known) → \(reboot): resigns every leadership")
                for shard in cluster!.servers[server].roles.keys.sorted() {
                    if case .leader = cluster!.servers[server].roles[shard] { resign(server, shard: shard, "declared FAILED") }
                }
            }
            cluster!.servers[server].rebootId = reboot
        }
        let collection = plan.collections["_system"]?["100"]
        let planned = collection?.shards ?? [:]
        for shard in planned.keys.sorted() {
            let servers = planned[shard]!
            let stored = collection!.storedServers(of: shard)
            let resigning = collection!.resigningLeaders.contains(shard)
            guard servers.contains(id) else {
                if cluster!.servers[server].data[shard] != nil || cluster!.servers[server].roles[shard] != nil {
                    if case .leader = cluster!.servers[server].roles[shard] { resign(server, shard: shard, "no longer planned") }
                    cluster!.servers[server].roles[shard] = nil
                    cluster!.servers[server].data[shard] = nil
                    record("\(id) drops its copy of \(shard)")
                }
                continue
            }
            let report = current.shard(database: "_system", collectionId: "100", shard: shard)
            if servers[0] == id {
                switch cluster!.servers[server].roles[shard] {
                case .leader(var leader)?:
                    leader.plan = servers
                    leader.storedPlan = stored
                    if resigning, leader.resigningSince == nil {
                        leader.resigningSince = now
                        record("\(id) is asked to resign \(shard): takes no new write, lets \(leader.waiting.count) finish")
                    } else if !resigning, leader.resigningSince != nil {
                        // The move was aborted before the hand-over: lead on.
                        leader.resigningSince = nil
                        record("\(id) leads \(shard) on: Plan no longer asks it to resign")
                    }
                    if let since = leader.uncertainSince, issuedAt > since, leader.change == nil {
                        // What the agency holds now, read after the uncertainty began.
                        leader.inSync = report?.servers ?? leader.inSync
                        leader.version = report?.syncVersion ?? 0
                        leader.uncertainSince = nil
                    }
                    // Followers Plan dropped are no longer streamed to.
                    for follower in leader.links.keys where !servers.contains(follower) { leader.links[follower]!.dropping = true }
                    cluster!.servers[server].roles[shard] = .leader(leader)
                    nextChange(server, shard: shard)
                case .drawingEpoch?:
                    break
                case .follower? where resigning, nil where resigning:
                    // Marked while it does not lead (it restarted, or resigned and the answer
                    // was lost): nothing to hand over; report Current's list as it is, marked.
                    cluster!.servers[server].roles[shard] = nil
                    reportResignedWithoutLeading(server, shard: shard, report: report, planServers: stored)
                case .follower?, nil:
                    cluster!.servers[server].roles[shard] = .drawingEpoch
                    if cluster!.servers[server].data[shard] == nil { cluster!.servers[server].data[shard] = ShardData() }
                    agencyRequest(.drawEpoch(server: server, shard: shard, incarnation: cluster!.servers[server].incarnation),
                                  .write(AgencyTransactions.reserveIds(count: 1)))
                }
            } else {
                if case .leader = cluster!.servers[server].roles[shard] { resign(server, shard: shard, "Plan names \(servers[0])") }
                if case .drawingEpoch? = cluster!.servers[server].roles[shard] { cluster!.servers[server].roles[shard] = nil }
                if cluster!.servers[server].data[shard] == nil { cluster!.servers[server].data[shard] = ShardData() }
                if case .follower(var follower)? = cluster!.servers[server].roles[shard], follower.leader == servers[0] {
                    // A session the leader's leadership does not list (it restarted under a new
                    // epoch, or dropped this copy) ends after a while: resync.
                    if follower.epoch != nil, report?.servers.contains(id) != true {
                        if let since = follower.unlistedSince {
                            if now - since >= 1_000 {
                                follower.epoch = nil
                                follower.unlistedSince = nil
                            }
                        } else {
                            follower.unlistedSince = now
                        }
                    } else {
                        follower.unlistedSince = nil
                    }
                    cluster!.servers[server].roles[shard] = .follower(follower)
                    continue
                }
                cluster!.servers[server].roles[shard] = .follower(FollowerShard(leader: servers[0]))
            }
        }
    }

    /// The epoch arrived: lead, and claim the shard in Current before taking any write.
    func becomeLeader(_ server: Int, shard: String, epoch: UInt64) {
        let id = Self.dbServerID(server)
        guard let collection = cluster!.servers[server].plan?.collections["_system"]?["100"], let plan = collection.shards[shard],
              plan.first == id, !collection.resigningLeaders.contains(shard) else {
            cluster!.servers[server].roles[shard] = nil
            return
        }
        let report = cluster!.servers[server].current?.shard(database: "_system", collectionId: "100", shard: shard)
        let leader = LeaderShard(epoch: epoch, inSync: report?.servers ?? [], version: report?.syncVersion ?? 0, plan: plan,
                                 storedPlan: collection.storedServers(of: shard))
        cluster!.servers[server].roles[shard] = .leader(leader)
        record("\(id) leads \(shard) at epoch \(epoch) (Current \(leader.inSync), version \(leader.version))")
        nextChange(server, shard: shard)
    }

    func resign(_ server: Int, shard: String, _ why: String) {
        guard case .leader(let leader)? = cluster!.servers[server].roles[shard] else { return }
        cluster!.stats.refused += leader.waiting.count
        cluster!.servers[server].roles[shard] = nil
        record("\(Self.dbServerID(server)) resigns \(shard) (epoch \(leader.epoch)): \(why); \(leader.waiting.count) writes fail")
    }

    // MARK: - The leader's in-sync changes

    /// The in-sync list the leader wants: itself, then the followers it streams to that are
    /// in sync; joining ones are added once they caught up.
    func desiredInSync(_ leader: LeaderShard, me: String) -> [String] {
        var desired = [me]
        for follower in leader.inSync where follower != me {
            if let link = leader.links[follower], !link.joining, !link.dropping, leader.plan.contains(follower) { desired.append(follower) }
        }
        for (follower, link) in leader.links.sorted(by: { $0.key < $1.key })
        where link.joining && !link.dropping && link.acked >= link.joinedAt && leader.plan.contains(follower) && !desired.contains(follower) {
            desired.append(follower)
        }
        return desired
    }

    /// Starts the next change of the in-sync list, when one is due and none is under way.
    func nextChange(_ server: Int, shard: String) {
        guard case .leader(var leader)? = cluster!.servers[server].roles[shard], leader.change == nil, leader.uncertainSince == nil else { return }
        let me = Self.dbServerID(server)
        if leader.claimed, leader.inSync.first == PlanCollection.resignMarker + me {
            // The agency holds this leader's resignation: it no longer leads under this epoch.
            // (A leader that has not claimed yet — Plan gave the shard back after an aborted
            // move — claims over its old resignation with a new epoch.)
            cluster!.stats.handOvers += 1
            resign(server, shard: shard, "reported itself resigned")
            return
        }
        // Followers being dropped that the agency does not list are gone at once.
        for (follower, link) in leader.links where link.dropping && !leader.inSync.contains(follower) {
            leader.links[follower] = nil
            release(&leader, follower)
        }
        let desired = desiredInSync(leader, me: me)
        guard desired != leader.inSync || !leader.claimed else {
            cluster!.servers[server].roles[shard] = .leader(leader)
            answerWrites(server, shard: shard)
            handOver(server, shard: shard)
            return
        }
        let id = AgencyRequestID(nextRequestID)
        let body: [UInt8]
        if leader.inSync.isEmpty && leader.version == 0 {
            // No report yet: Maintenance's first report, then the claim, in one request.
            body = mergedEnvelope([
                AgencyTransactions.reportShard(database: "_system", collectionId: "100", shard: shard,
                                               report: CurrentShard(servers: [me], indexes: []), planServers: leader.storedPlan),
                AgencyTransactions.changeInSyncServers(database: "_system", collectionId: "100", shard: shard, planServers: leader.storedPlan,
                                                       oldServers: [me], newServers: desired, version: 0, epoch: leader.epoch),
            ])
        } else {
            body = AgencyTransactions.changeInSyncServers(database: "_system", collectionId: "100", shard: shard, planServers: leader.storedPlan,
                                                          oldServers: leader.inSync, newServers: desired, version: leader.version, epoch: leader.epoch)
        }
        leader.change = PendingChange(request: id, old: leader.inSync, new: desired, version: leader.version, isFence: false)
        cluster!.servers[server].roles[shard] = .leader(leader)
        record("\(me) changes in-sync of \(shard): \(leader.inSync) → \(desired) at version \(leader.version) (epoch \(leader.epoch))")
        agencyRequest(.change(server: server, shard: shard, epoch: leader.epoch), .write(body))
    }

    func changeAnswered(_ server: Int, shard: String, epoch: UInt64, applied: Bool) {
        guard case .leader(var leader)? = cluster!.servers[server].roles[shard], leader.epoch == epoch, let change = leader.change else { return }
        leader.change = nil
        if change.isFence {
            // Whether the lost change applied is now settled: read the agency.
            leader.uncertainSince = now
        } else if applied {
            leader.inSync = change.new
            leader.version = change.version + 1
            leader.claimed = true
            for follower in change.new where leader.links[follower]?.joining == true {
                leader.links[follower]!.joining = false
                cluster!.stats.resyncs += 1
            }
            for follower in change.old where !change.new.contains(follower) && !change.new.contains(PlanCollection.resignMarker + follower) {
                if leader.links[follower]?.dropping == true { leader.links[follower] = nil }
                release(&leader, follower)
                cluster!.stats.drops += 1
            }
        } else {
            // Refused: the list or Plan moved. Writes held by a follower being dropped fail.
            failHeld(&leader, server: server)
            leader.uncertainSince = now
        }
        cluster!.servers[server].roles[shard] = .leader(leader)
        answerWrites(server, shard: shard)
        nextChange(server, shard: shard)
    }

    /// The change's answer was lost: the writes it holds fail, and the leader fences it (moves
    /// the version past it) before it reads what the agency holds.
    func changeUncertain(_ server: Int, shard: String, epoch: UInt64, request: AgencyRequestID) {
        guard case .leader(var leader)? = cluster!.servers[server].roles[shard], leader.epoch == epoch,
              let change = leader.change, change.request == request else { return }
        failHeld(&leader, server: server)
        let id = AgencyRequestID(nextRequestID)
        leader.change = PendingChange(request: id, old: change.old, new: change.new, version: change.version, isFence: true)
        cluster!.servers[server].roles[shard] = .leader(leader)
        record("\(Self.dbServerID(server)) fences its lost in-sync change of \(shard) at version \(change.version)")
        agencyRequest(.change(server: server, shard: shard, epoch: epoch),
                      .write(AgencyTransactions.fenceInSyncChange(database: "_system", collectionId: "100", shard: shard, version: change.version)))
    }

    /// A leader Plan asks to resign, with its in-sync list as it wants it and no change under
    /// way: once the writes under way finished (or after `resignDrainMilliseconds`, when the
    /// rest fail unacknowledged) it reports itself resigned — `"_" + itself` first in Current,
    /// by the in-sync change with the stored Plan (marked) as precondition, so that a Plan that
    /// moved on meanwhile refuses it. Its in-sync followers hold every write it acknowledged.
    func handOver(_ server: Int, shard: String) {
        guard case .leader(var leader)? = cluster!.servers[server].roles[shard], let since = leader.resigningSince, leader.claimed,
              leader.change == nil, leader.uncertainSince == nil else { return }
        let me = Self.dbServerID(server)
        guard leader.waiting.isEmpty || now - since >= Self.resignDrainMilliseconds else { return }
        cluster!.stats.refused += leader.waiting.count
        leader.waiting = []
        let marked = [PlanCollection.resignMarker + me] + leader.inSync.filter { $0 != me }
        let id = AgencyRequestID(nextRequestID)
        leader.change = PendingChange(request: id, old: leader.inSync, new: marked, version: leader.version, isFence: false)
        cluster!.servers[server].roles[shard] = .leader(leader)
        record("\(me) reports itself resigned from \(shard): \(leader.inSync) → \(marked) at version \(leader.version)")
        agencyRequest(.change(server: server, shard: shard, epoch: leader.epoch),
                      .write(AgencyTransactions.changeInSyncServers(database: "_system", collectionId: "100", shard: shard, planServers: leader.storedPlan,
                                                                    oldServers: leader.inSync, newServers: marked, version: leader.version, epoch: leader.epoch)))
    }

    /// How long a resigning leader waits for the writes under way (they finish or their
    /// followers time out well before).
    static let resignDrainMilliseconds = 2_000

    /// A server Plan asks to resign that does not lead the shard (it restarted): it holds no
    /// write under way, so it reports Current's list as it is with itself marked — when Current
    /// names it leader and does not yet show it resigned. Same transaction, same preconditions.
    func reportResignedWithoutLeading(_ server: Int, shard: String, report: CurrentShard?, planServers: [String]) {
        let me = Self.dbServerID(server)
        guard let report, report.servers.first == me else { return }
        // One report at a time.
        guard !cluster!.requests.values.contains(where: { if case .change(server, shard, _) = $0 { true } else { false } }) else { return }
        let marked = [PlanCollection.resignMarker + me] + report.servers.dropFirst()
        record("\(me) (not leading) reports itself resigned from \(shard): \(report.servers) → \(marked)")
        agencyRequest(.change(server: server, shard: shard, epoch: report.leaderEpoch ?? 0),
                      .write(AgencyTransactions.changeInSyncServers(database: "_system", collectionId: "100", shard: shard, planServers: planServers,
                                                                    oldServers: report.servers, newServers: marked,
                                                                    version: report.syncVersion ?? 0, epoch: report.leaderEpoch ?? 0)))
    }

    /// A follower no longer counts for the waiting writes.
    func release(_ leader: inout LeaderShard, _ follower: String) {
        for index in leader.waiting.indices { leader.waiting[index].waitingFor.remove(follower) }
    }

    /// Writes waiting for a follower being dropped fail (never acknowledged while the agency
    /// may still list a copy without them).
    func failHeld(_ leader: inout LeaderShard, server: Int) {
        let dropping = Set(leader.links.filter { $0.value.dropping }.keys)
        let failed = leader.waiting.filter { !$0.waitingFor.isDisjoint(with: dropping) }
        leader.waiting.removeAll { !$0.waitingFor.isDisjoint(with: dropping) }
        cluster!.stats.refused += failed.count
    }

    /// Acknowledges the waiting writes every counted copy has.
    func answerWrites(_ server: Int, shard: String) {
        guard case .leader(var leader)? = cluster!.servers[server].roles[shard] else { return }
        let writeConcern = clusterSettings.writeConcern
        var kept: [PendingWrite] = []
        for write in leader.waiting {
            if write.waitingFor.isEmpty && write.copies >= writeConcern {
                acknowledge(write.key, shard: shard, by: server, epoch: leader.epoch)
            } else {
                kept.append(write)
            }
        }
        leader.waiting = kept
        cluster!.servers[server].roles[shard] = .leader(leader)
    }

    func acknowledge(_ key: String, shard: String, by server: Int, epoch: UInt64) {
        cluster!.acknowledged[key] = shard
        cluster!.stats.acknowledged += 1
        record("ack \(key) on \(shard) by \(Self.dbServerID(server)) at epoch \(epoch)")
    }

    // MARK: - Writes and the stream

    func clientWrite() {
        guard let plan = cluster!.routingPlan, let shards = plan.collections["_system"]?["100"]?.shards, !shards.isEmpty else { return }
        let names = shards.keys.sorted()
        let shard = names[draw(0...(names.count - 1))]
        guard let leader = shards[shard]?.first, let index = cluster!.servers.firstIndex(where: { $0.id == leader }) else { return }
        let id = cluster!.nextWriteID
        cluster!.nextWriteID += 1
        cluster!.stats.writes += 1
        sendShard(.write(to: index, shard: shard, key: "k\(id)", id: id), from: nil)
    }

    /// A client write reaches a DBServer: it applies it if it leads the shard and may take
    /// writes, and streams it to its followers.
    func leaderWrite(_ server: Int, shard: String, key: String, value: UInt64) throws {
        // A leader asked to resign takes no new write (the client retries on the next leader).
        guard case .leader(var leader)? = cluster!.servers[server].roles[shard], leader.claimed, leader.uncertainSince == nil,
              leader.resigningSince == nil else {
            cluster!.stats.refused += 1
            return
        }
        let me = Self.dbServerID(server)
        // Admission: enough copies in sync, and every listed copy streamed to.
        let streamed = leader.links.filter { !$0.value.dropping }
        let unaccounted = leader.inSync.contains { $0 != me && streamed[$0] == nil }
        guard 1 + streamed.count >= clusterSettings.writeConcern, !unaccounted, !leader.links.values.contains(where: { $0.dropping }) else {
            cluster!.stats.refused += 1
            return
        }
        let owner = "\(shard)@\(leader.epoch)"
        if let known = cluster!.epochOwners[owner], known != me {
            throw failure("two servers accept writes for \(shard) at epoch \(leader.epoch): \(known) and \(me)")
        }
        cluster!.epochOwners[owner] = me
        var data = cluster!.servers[server].data[shard] ?? ShardData()
        data.sequence += 1
        data.documents[key] = value
        cluster!.servers[server].data[shard] = data
        let targets = Set(streamed.keys)
        if clusterSettings.sabotage == .acknowledgeWithoutFollowers {
            leader.waiting.append(PendingWrite(key: key, sequence: data.sequence, waitingFor: [], copies: clusterSettings.writeConcern))
        } else {
            leader.waiting.append(PendingWrite(key: key, sequence: data.sequence, waitingFor: targets, copies: 1))
        }
        for follower in targets.sorted() {
            leader.links[follower]!.unacked.append((data.sequence, now))
            guard let index = cluster!.servers.firstIndex(where: { $0.id == follower }) else { continue }
            sendShard(.apply(to: index, from: me, shard: shard, epoch: leader.epoch, sequence: data.sequence, key: key, value: value), from: server)
        }
        cluster!.servers[server].roles[shard] = .leader(leader)
        answerWrites(server, shard: shard)
    }

    func deliverShard(_ message: ShardMessage) throws {
        let to = message.destination
        guard serverActs(to) else { return }
        let me = Self.dbServerID(to)
        switch message {
        case let .write(_, shard, key, id):
            try leaderWrite(to, shard: shard, key: key, value: id)
        case let .apply(_, from, shard, epoch, sequence, key, value):
            var accepted = false
            if case .follower(var follower)? = cluster!.servers[to].roles[shard], follower.leader == from, follower.epoch == epoch,
               cluster!.servers[to].plan?.collections["_system"]?["100"]?.shards[shard]?.first == from {
                if sequence == follower.position + 1 {
                    cluster!.servers[to].data[shard, default: ShardData()].documents[key] = value
                    cluster!.servers[to].data[shard]!.sequence = sequence
                    follower.position = sequence
                    accepted = true
                } else if sequence <= follower.position {
                    accepted = true  // a resend
                } else {
                    follower.epoch = nil  // a gap: resync
                }
                cluster!.servers[to].roles[shard] = .follower(follower)
            } else {
                cluster!.stats.staleRefusals += 1
            }
            if let index = cluster!.servers.firstIndex(where: { $0.id == from }) {
                sendShard(.applied(to: index, from: me, shard: shard, epoch: epoch, sequence: sequence, accepted: accepted), from: to)
            }
        case let .applied(_, from, shard, epoch, sequence, accepted):
            guard case .leader(var leader)? = cluster!.servers[to].roles[shard], leader.epoch == epoch, var link = leader.links[from] else { return }
            if accepted {
                link.acked = max(link.acked, sequence)
                link.unacked.removeAll { $0.sequence <= sequence }
                leader.links[from] = link
                for index in leader.waiting.indices where leader.waiting[index].sequence <= sequence && leader.waiting[index].waitingFor.contains(from) {
                    leader.waiting[index].waitingFor.remove(from)
                    leader.waiting[index].copies += 1
                }
                cluster!.servers[to].roles[shard] = .leader(leader)
                answerWrites(to, shard: shard)
                nextChange(to, shard: shard)
            } else {
                cluster!.servers[to].roles[shard] = .leader(leader)
                drop(to, shard: shard, follower: from, "refused the stream")
            }
        case let .resyncRequest(_, from, shard):
            guard case .leader(var leader)? = cluster!.servers[to].roles[shard], leader.claimed, leader.plan.dropFirst().contains(from),
                  leader.links[from] == nil || leader.links[from]!.joining else { return }
            leader.links[from] = nil
            cluster!.servers[to].roles[shard] = .leader(leader)
            sendSnapshot(to, shard: shard, to: cluster!.servers.firstIndex { $0.id == from }!)
        case let .snapshot(_, from, shard, epoch, data):
            var accepted = false
            if case .follower(var follower)? = cluster!.servers[to].roles[shard], follower.leader == from,
               cluster!.servers[to].plan?.collections["_system"]?["100"]?.shards[shard]?.first == from {
                cluster!.servers[to].data[shard] = data
                follower.epoch = epoch
                follower.position = data.sequence
                cluster!.servers[to].roles[shard] = .follower(follower)
                accepted = true
            }
            if let index = cluster!.servers.firstIndex(where: { $0.id == from }) {
                sendShard(.snapshotTaken(to: index, from: me, shard: shard, epoch: epoch, sequence: data.sequence, accepted: accepted), from: to)
            }
        case let .snapshotTaken(_, from, shard, epoch, sequence, accepted):
            guard case .leader(var leader)? = cluster!.servers[to].roles[shard], leader.epoch == epoch, var link = leader.links[from], link.joining else { return }
            guard accepted else {
                leader.links[from] = nil
                cluster!.servers[to].roles[shard] = .leader(leader)
                return
            }
            link.acked = max(link.acked, sequence)
            leader.links[from] = link
            cluster!.servers[to].roles[shard] = .leader(leader)
            nextChange(to, shard: shard)
        }
    }

    /// Sends a follower the shard as it is now; the follower joins from there (writes after
    /// it are streamed and awaited).
    func sendSnapshot(_ server: Int, shard: String, to follower: Int) {
        guard case .leader(var leader)? = cluster!.servers[server].roles[shard] else { return }
        let data = cluster!.servers[server].data[shard] ?? ShardData()
        let id = Self.dbServerID(follower)
        var link = FollowerLink(joining: true, joinedAt: data.sequence, acked: 0)
        link.snapshotSentAt = now
        // Writes already waiting do not wait for a joining follower's copy of them.
        leader.links[id] = link
        cluster!.servers[server].roles[shard] = .leader(leader)
        sendShard(.snapshot(to: follower, from: Self.dbServerID(server), shard: shard, epoch: leader.epoch, data: data), from: server)
    }

    /// Followers without a session ask the leader Plan names for a copy (every 300 ms).
    func requestResyncs(_ server: Int) {
        let me = Self.dbServerID(server)
        for shard in cluster!.servers[server].roles.keys.sorted() {
            guard case .follower(var follower)? = cluster!.servers[server].roles[shard], follower.epoch == nil,
                  now - follower.lastResyncRequest >= 300, let index = cluster!.servers.firstIndex(where: { $0.id == follower.leader }) else { continue }
            follower.lastResyncRequest = now
            cluster!.servers[server].roles[shard] = .follower(follower)
            sendShard(.resyncRequest(to: index, from: me, shard: shard), from: server)
        }
    }

    /// Drops followers that left a batch unanswered for the follower timeout.
    func timeOutFollowers(_ server: Int) {
        for shard in cluster!.servers[server].roles.keys.sorted() {
            guard case .leader(let leader)? = cluster!.servers[server].roles[shard] else { continue }
            for (follower, link) in leader.links.sorted(by: { $0.key < $1.key }) where !link.dropping {
                if let oldest = link.unacked.first, now - oldest.sentAt >= clusterSettings.followerTimeoutMilliseconds {
                    drop(server, shard: shard, follower: follower, "no answer for \(now - oldest.sentAt) ms")
                } else if link.joining, link.acked < link.joinedAt, now - link.snapshotSentAt >= 500,
                          let index = cluster!.servers.firstIndex(where: { $0.id == follower }) {
                    // The copy or its answer was lost: send a fresh one.
                    sendSnapshot(server, shard: shard, to: index)
                }
            }
        }
    }

    func drop(_ server: Int, shard: String, follower: String, _ why: String) {
        guard case .leader(var leader)? = cluster!.servers[server].roles[shard], leader.links[follower] != nil else { return }
        record("\(Self.dbServerID(server)) drops follower \(follower) of \(shard): \(why)")
        // A copy the agency lists — or may list: a change adding it is under way, or a change
        // was in doubt and the agency has not been read since — holds its writes until the
        // agency took it off.
        if leader.inSync.contains(follower) || leader.change?.new.contains(follower) == true || leader.uncertainSince != nil {
            leader.links[follower]!.dropping = true
        } else {
            leader.links[follower] = nil
            release(&leader, follower)
        }
        cluster!.servers[server].roles[shard] = .leader(leader)
        answerWrites(server, shard: shard)
        nextChange(server, shard: shard)
    }

    /// Sends a message between DBServers (or from a client when `from` is nil): lost with the
    /// run's probability, else delivered after the network's delay, in order per link.
    func sendShard(_ message: ShardMessage, from: Int?) {
        if faultsActive && random.chance(clusterSettings.dropProbability) {
            record("lose shard message to \(Self.dbServerID(message.destination))")
            return
        }
        let link = "\(from ?? -1)>\(message.destination)"
        let at = max(now + networkDelay(), (cluster!.linkClock[link] ?? 0) + 1)
        cluster!.linkClock[link] = at
        queue.schedule(.cluster(.deliver(message)), at: at)
    }

    // MARK: - The operator

    /// The operator read Plan, Current, the job counter and the cleaned-out servers: it creates
    /// a job the way a coordinator does (`SupervisionJob.creation`, which requires LatestID as
    /// read). Mostly MoveShards — a leader or a follower copy, to a server without a copy or
    /// (a leader) to an in-sync follower — now and then a ResignLeadership, and at most one
    /// CleanOutServer per run, only when the servers left still hold every copy.
    func operate(_ answer: Slice) throws {
        guard let object = answer[0], let planSlice = AgencyLayout.value(at: AgencyLayout.plan, inReadAnswer: object),
              let plan = try? ClusterPlan(decoding: planSlice), let collection = plan.collections["_system"]?["100"],
              !collection.shards.isEmpty else { return }
        let current = AgencyLayout.value(at: AgencyLayout.current, inReadAnswer: object).flatMap { try? ClusterCurrent(decoding: $0) }
        let latest = AgencyLayout.value(at: AgencyLayout.syncLatestID, inReadAnswer: object)?.uintValue ?? 0
        var cleaned: Set<String> = []
        for path in [AgencyLayout.targetCleanedServers, AgencyLayout.targetToBeCleanedServers] {
            if let list = AgencyLayout.value(at: path, inReadAnswer: object), list.isArray {
                cleaned.formUnion(list.arrayElements.compactMap(\.stringValue))
            }
        }
        let settings = clusterSettings
        let usable = cluster!.servers.map(\.id).filter { !cleaned.contains($0) }
        let names = collection.sortedShardNames
        let type: SupervisionJobType
        var fill: (inout SupervisionJob) -> Void
        let choice = draw(0...19)
        if choice == 0, !cluster!.cleanOutRequested, usable.count - 1 >= settings.replicationFactor {
            let server = usable[draw(0...(usable.count - 1))]
            cluster!.cleanOutRequested = true
            type = .cleanOutServer
            fill = { $0.server = server }
        } else if choice == 1 {
            let server = usable[draw(0...(usable.count - 1))]
            type = .resignLeadership
            fill = { $0.server = server }
        } else {
            let shard = names[draw(0...(names.count - 1))]
            let planned = collection.shards[shard] ?? []
            guard !planned.isEmpty else { return }
            let isLeader = planned.count == 1 || draw(0...1) == 0
            let from = isLeader ? planned[0] : planned[draw(1...(planned.count - 1))]
            var targets = usable.filter { !planned.contains($0) }
            if isLeader {
                // A leadership switch: to a follower Current lists in sync.
                let inSync = current?.shard(database: "_system", collectionId: "100", shard: shard)?.servers ?? []
                targets += planned.dropFirst().filter { inSync.contains($0) }
            }
            guard !targets.isEmpty else { return }
            let to = targets[draw(0...(targets.count - 1))]
            type = .moveShard
            fill = { job in
                job.describeMove(database: "_system", collection: "100", shard: shard, from: from, to: to, isLeader: isLeader)
            }
        }
        let (job, body) = SupervisionJob.creation(type, latestId: latest, creator: "CRDN-sim", time: isoTime(milliseconds: Int64(now)), fill: fill)
        record("operator creates job \(job.jobId): \(type.rawValue) \(job.shard.map { "\($0) \(job.fromServer ?? "") → \(job.toServer ?? "")" } ?? job.server ?? "")")
        agencyRequest(.operatorCreate(jobId: job.jobId), .write(body))
    }

    func mergedEnvelope(_ envelopes: [[UInt8]]) -> [UInt8] {
        envelope { builder in
            for bytes in envelopes {
                for element in Slice(trustedBytes: bytes).arrayElements { builder.add(element) }
            }
        }
    }

    /// What the cluster looks like, for a convergence failure.
    func clusterState() -> String {
        guard let leader = agents.compactMap({ $0.core }).max(by: { $0.appliedIndex < $1.appliedIndex }) else { return "no agent" }
        let store = leader.store
        let plan = store.value(at: path(AgencyLayout.plan)).flatMap { try? ClusterPlan(decoding: $0) }
        let current = store.value(at: path(AgencyLayout.current)).flatMap { try? ClusterCurrent(decoding: $0) }
        var lines: [String] = []
        for (shard, servers) in (plan?.collections["_system"]?["100"]?.shards ?? [:]).sorted(by: { $0.key < $1.key }) {
            let report = current?.shard(database: "_system", collectionId: "100", shard: shard)
            let roles = cluster!.servers.map { server -> String in
                switch server.roles[shard] {
                case .leader(let role)?: "\(server.id) leader e\(role.epoch)\(role.resigningSince.map { " resigning since \($0)" } ?? "") claimed \(role.claimed) inSync \(role.inSync) v\(role.version) links \(role.links.map { "\($0.key)\($0.value.joining ? "(joining \($0.value.acked)/\($0.value.joinedAt))" : "")\($0.value.dropping ? "(dropping)" : "")" }) change \(role.change.map { "\($0.old)→\($0.new)\($0.isFence ? " fence" : "")" } ?? "-") uncertain \(role.uncertainSince.map(String.init) ?? "-")"
                case .follower(let role)?: "\(server.id) follows \(role.leader) e\(role.epoch.map(String.init) ?? "-") at \(role.position)"
                case .drawingEpoch?: "\(server.id) drawing an epoch"
                case nil: "\(server.id) -"
                }
            }
            let stored = plan?.collections["_system"]?["100"]?.storedServers(of: shard) ?? servers
            lines.append("\(shard): Plan \(stored) Current \(report?.servers ?? []) v\(report?.syncVersion ?? 0); " + roles.joined(separator: "; "))
        }
        for stage in [AgencyLayout.targetToDo, AgencyLayout.targetPending] {
            if let list = store.value(at: path(stage)), list.isObject, list.count > 0 {
                lines.append("\(stage): " + list.objectMembers.compactMap { SupervisionJob(decoding: $0.value).map { "\($0.jobId) \($0.type.rawValue) \($0.shard ?? $0.server ?? "")" } }.joined(separator: ", "))
            }
        }
        for locks in [AgencyLayout.supervisionShards, AgencyLayout.supervisionDBServers, AgencyLayout.targetCleanedServers] {
            if let value = store.value(at: path(locks)), value.count > 0 {
                let names = value.isObject ? value.objectMembers.compactMap { $0.key.keyName } : value.arrayElements.compactMap(\.stringValue)
                lines.append("\(locks): \(names)")
            }
        }
        if let health = store.value(at: path(AgencyLayout.supervisionHealth)), health.isObject {
            lines.append("health: " + health.objectMembers.map { "\($0.key.keyName ?? "?") \($0.value["Status"]?.stringValue ?? "?")" }.joined(separator: ", "))
        }
        lines.append("servers: " + cluster!.servers.map { "\($0.id) up \($0.up) registered \($0.registered) reboot \($0.rebootId.map(String.init) ?? "-")" }.joined(separator: ", "))
        return lines.joined(separator: "\n    ")
    }

    // MARK: - Checkers

    /// Every job starts once, and a job that ended never comes back (checked on the agent
    /// that applied the most).
    func checkJobs() throws {
        // Only forward: the agent whose store applied the most may have crashed, leaving one
        // behind; an agent whose disk failed keeps a store that stopped where the failure hit.
        guard let core = agents.compactMap({ $0.core }).filter({ $0.failure == nil }).max(by: { $0.store.index < $1.store.index }),
              core.store.index >= cluster!.jobsCheckedAt else { return }
        cluster!.jobsCheckedAt = core.store.index
        let store = core.store
        func jobs(_ stage: String) -> [SupervisionJob] {
            guard let list = store.value(at: path(stage)), list.isObject else { return [] }
            return list.objectMembers.compactMap { SupervisionJob(decoding: $0.value) }
        }
        for job in jobs(AgencyLayout.targetToDo) + jobs(AgencyLayout.targetPending) {
            if cluster!.jobsEnded.contains(job.jobId) { throw failure("job \(job.jobId) (\(job.type.rawValue)) runs again after it ended") }
            guard let started = job.timeStarted else { continue }
            if let known = cluster!.jobStarts[job.jobId], known != started {
                throw failure("job \(job.jobId) (\(job.type.rawValue)) started twice: at \(known) and at \(started)")
            }
            cluster!.jobStarts[job.jobId] = started
        }
        for (stage, failed) in [(AgencyLayout.targetFinished, false), (AgencyLayout.targetFailed, true)] {
            for job in jobs(stage) where cluster!.jobsEnded.insert(job.jobId).inserted {
                switch job.type {
                case .failedLeader where job.timeStarted != nil && job.reason == nil: cluster!.stats.failovers += 1
                case .moveShard: if failed { cluster!.stats.movesFailed += 1 } else { cluster!.stats.movesFinished += 1 }
                case .cleanOutServer, .resignLeadership: if failed { cluster!.stats.serverJobsFailed += 1 } else { cluster!.stats.serverJobsFinished += 1 }
                default: break
                }
            }
        }
    }

    /// After the faults: supervision brought every shard back to its replication factor with
    /// every planned copy in sync under the planned leader, no job is left, and every
    /// acknowledged write is on every copy.
    func clusterConverged(leader: AgencyNodeCore) throws -> Bool {
        guard cluster!.bootstrapped, cluster!.servers.allSatisfy({ $0.reachable(at: now) && $0.registered }) else { return false }
        let store = leader.store
        guard let planSlice = store.value(at: path(AgencyLayout.plan)), let plan = try? ClusterPlan(decoding: planSlice),
              let currentSlice = store.value(at: path(AgencyLayout.current)), let current = try? ClusterCurrent(decoding: currentSlice),
              let shards = plan.collections["_system"]?["100"]?.shards else { return false }
        for stage in [AgencyLayout.targetToDo, AgencyLayout.targetPending] {
            if let list = store.value(at: path(stage)), list.isObject, list.count > 0 { return false }
        }
        // The moves are over: no leader asked to resign, no lock left, every job the operator
        // created ended (Finished or Failed), and a cleaned-out server holds no copy.
        if !(plan.collections["_system"]?["100"]?.resigningLeaders.isEmpty ?? true) { return false }
        for locks in [AgencyLayout.supervisionShards, AgencyLayout.supervisionDBServers] {
            if let value = store.value(at: path(locks)), value.isObject, value.count > 0 { return false }
        }
        var ended: Set<String> = []
        for stage in [AgencyLayout.targetFinished, AgencyLayout.targetFailed] {
            if let list = store.value(at: path(stage)), list.isObject { ended.formUnion(list.objectMembers.compactMap { $0.key.keyName }) }
        }
        if !cluster!.operatorJobs.isSubset(of: ended) { return false }
        if let list = store.value(at: path(AgencyLayout.targetCleanedServers)), list.isArray {
            for server in list.arrayElements.compactMap(\.stringValue) {
                if shards.values.contains(where: { $0.contains(server) }) { return false }
                if let index = cluster!.servers.firstIndex(where: { $0.id == server }), !cluster!.servers[index].data.isEmpty { return false }
            }
        }
        for (shard, servers) in shards {
            guard servers.count == clusterSettings.replicationFactor,
                  let report = current.shard(database: "_system", collectionId: "100", shard: shard),
                  report.servers.first == servers.first, Set(report.servers) == Set(servers) else { return false }
            for server in servers {
                guard let index = cluster!.servers.firstIndex(where: { $0.id == server }) else { return false }
                switch cluster!.servers[index].roles[shard] {
                case .leader(let role)?: if !role.claimed || role.change != nil { return false }
                case .follower(let role)?: if role.epoch == nil { return false }
                default: return false
                }
            }
        }
        // Every acknowledged write on every copy.
        for (key, shard) in cluster!.acknowledged.sorted(by: { $0.key < $1.key }) {
            for server in shards[shard] ?? [] {
                let index = cluster!.servers.firstIndex { $0.id == server }!
                if cluster!.servers[index].data[shard]?.documents[key] == nil {
                    // A write still in flight to a follower may be about to arrive: not yet converged,
                    // unless the leader lacks it too (then it is lost).
                    if server == shards[shard]?.first { throw failure("acknowledged write \(key) of \(shard) is not on its leader \(server)") }
                    return false
                }
            }
        }
        record("cluster converged: \(cluster!.stats)")
        return true
    }
}
