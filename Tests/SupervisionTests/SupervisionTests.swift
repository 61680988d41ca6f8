import AgencyStore
import ClusterLogic
import Raft
import Supervision
import Testing
import VelocyPack

/// An agency store with a cluster in it, and supervision stepped over it as the agency
/// leader would: every envelope a round returns is applied before the next round.
struct SupervisedCluster {
    var store = AgencyStore()
    var supervision: ClusterSupervision
    var index: UInt64 = 0
    var now: Int64 = 1_000_000
    var term: Term = 1
    var notes: [String] = []
    /// How many envelopes supervision proposed, and how many of their transactions applied.
    var proposed = 0
    var applied = 0

    init(dbServers: [String], coordinators: [String] = ["CRDN-1"], options: SupervisionOptions = SupervisionOptions()) {
        supervision = ClusterSupervision(options: options)
        apply(AgencyTransactions.initializeLayout(clusterId: "test"))
        for (number, id) in dbServers.enumerated() {
            apply(AgencyTransactions.registerServer(ServerRegistration(id: id, shortName: ServerRole.dbServer.shortName(number: UInt64(number + 1)),
                                                                       endpoint: "tcp://127.0.0.1:\(9000 + number)", role: .dbServer, version: "t"),
                                                    shortNameIsNew: true))
        }
        for (number, id) in coordinators.enumerated() {
            apply(AgencyTransactions.registerServer(ServerRegistration(id: id, shortName: ServerRole.coordinator.shortName(number: UInt64(number + 1)),
                                                                       endpoint: "tcp://127.0.0.1:\(9100 + number)", role: .coordinator, version: "t"),
                                                    shortNameIsNew: true))
        }
        apply(AgencyTransactions.createDatabase(PlanDatabase(id: "1", name: "_system")))
    }

    @discardableResult
    mutating func apply(_ envelope: [UInt8]) -> AgencyApplyOutcome {
        index += 1
        return store.apply(index: index, payload: AgencyLogEntry.payload(timeMilliseconds: now, envelope: Slice(trustedBytes: envelope)))
    }

    mutating func beat(_ servers: [String]) {
        for server in servers { apply(AgencyTransactions.heartbeat(serverId: server, timeMilliseconds: now)) }
    }

    /// Runs supervision for `milliseconds`, in 50 ms ticks, with `alive` heartbeating every
    /// 250 ms; `react` plays the DBServers (it sees the store after every tick).
    mutating func run(for milliseconds: Int64, alive: [String], react: (inout SupervisedCluster) -> Void = { _ in }) {
        let end = now + milliseconds
        while now < end {
            now += 50
            if now % 250 == 0 { beat(alive) }
            let envelopes = supervision.step(store: store, term: term, nowMilliseconds: now)
            for envelope in envelopes {
                proposed += 1
                if apply(envelope).allWritesApplied { applied += 1 }
            }
            notes += supervision.takeNotes()
            react(&self)
        }
    }

    func value(_ path: String) -> Slice? { store.value(at: try! AgencyPath(path)) }

    func health(_ server: String) -> String? { value(AgencyLayout.supervisionHealth(server) + "/Status")?.stringValue }

    func plan(_ shard: String, collection: String = "100") -> [String] {
        value(AgencyLayout.planShard(database: "_system", collectionId: collection, shard: shard))?.arrayElements.compactMap(\.stringValue) ?? []
    }

    func jobs(_ stage: String) -> [SupervisionJob] {
        guard let list = value(stage), list.isObject else { return [] }
        return list.objectMembers.compactMap { SupervisionJob(decoding: $0.value) }
    }

    /// Creates collection 100 with the given shards and reports each shard's copies in sync.
    mutating func createCollection(replicationFactor: Int, shards: [String: [String]]) {
        let collection = PlanCollection(id: "100", name: "c", numberOfShards: shards.count, replicationFactor: replicationFactor, shards: shards)
        apply(AgencyTransactions.createCollection(collection, database: "_system"))
        for (shard, servers) in shards { takeOver(shard, leader: servers[0], inSync: servers) }
    }

    /// What a new leader's replication does: reports itself first, with its in-sync followers.
    mutating func takeOver(_ shard: String, leader: String, inSync: [String]) {
        let path = AgencyLayout.currentShard(database: "_system", collectionId: "100", shard: shard)
        guard let old = value(path + "/servers")?.arrayElements.compactMap(\.stringValue) else {
            let outcome = apply(AgencyTransactions.reportShard(database: "_system", collectionId: "100", shard: shard,
                                                              report: CurrentShard(servers: [leader] + inSync.filter { $0 != leader }, indexes: []),
                                                              planServers: plan(shard)))
            precondition(outcome.allWritesApplied, "the first report of \(shard) did not apply")
            return
        }
        let version = value(path + "/syncVersion")?.uintValue ?? 0
        let outcome = apply(AgencyTransactions.changeInSyncServers(database: "_system", collectionId: "100", shard: shard, planServers: plan(shard),
                                                                  oldServers: old, newServers: [leader] + inSync.filter { $0 != leader },
                                                                  version: version, epoch: index))
        precondition(outcome.allWritesApplied, "takeOver \(shard) did not apply")
    }

    /// Plays the DBServers: the planned leader of every shard takes over when Current does not
    /// name it first, with the planned followers that are alive (after they resynced).
    mutating func followPlan(alive: Set<String>, shards: [String]) {
        for shard in shards {
            let planned = plan(shard)
            guard let leader = planned.first, alive.contains(leader) else { continue }
            let current = value(AgencyLayout.currentShard(database: "_system", collectionId: "100", shard: shard) + "/servers")?
                .arrayElements.compactMap(\.stringValue) ?? []
            let wanted = [leader] + planned.dropFirst().filter { alive.contains($0) }
            if current != wanted { takeOver(shard, leader: leader, inSync: wanted) }
        }
    }
}

@Suite struct SupervisionTests {
    let servers = ["PRMR-a", "PRMR-b", "PRMR-c"]

    @Test func healthGoesGoodBadFailedAndACoordinatorRebootIdMoves() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.run(for: 500, alive: servers + ["CRDN-1"])
        for server in servers + ["CRDN-1"] { #expect(cluster.health(server) == "GOOD") }
        let reboot = cluster.value(AgencyLayout.currentRebootId("CRDN-1"))?.intValue
        // The coordinator stops: BAD after 750 ms, FAILED after 1 250 ms, never straight to FAILED.
        cluster.run(for: 900, alive: servers)
        #expect(cluster.health("CRDN-1") == "BAD")
        cluster.run(for: 500, alive: servers)
        #expect(cluster.health("CRDN-1") == "FAILED")
        #expect(cluster.value(AgencyLayout.currentRebootId("CRDN-1"))?.intValue == reboot.map { $0 + 1 })
        // No job for a coordinator.
        #expect(cluster.jobs(AgencyLayout.targetToDo).isEmpty && cluster.jobs(AgencyLayout.targetPending).isEmpty)
        cluster.run(for: 300, alive: servers + ["CRDN-1"])
        #expect(cluster.health("CRDN-1") == "GOOD")
        #expect(cluster.notes.contains { $0.contains("CRDN-1") && $0.contains("FAILED") && $0.contains("without a new heartbeat") })
    }

    @Test func aFailedLeaderIsReplacedByAnInSyncFollowerAndTheFactorIsRestored() {
        var cluster = SupervisedCluster(dbServers: servers + ["PRMR-d"])
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"], "s102": ["PRMR-c", "PRMR-a"],
                                                               "s103": ["PRMR-b", "PRMR-c"]])
        let all = servers + ["PRMR-d", "CRDN-1"]
        cluster.run(for: 500, alive: all)
        let alive = all.filter { $0 != "PRMR-a" }
        var failedAt: Int64?
        var promotedAt: Int64?
        let killedAt = cluster.now
        cluster.run(for: 4_000, alive: alive) { cluster in
            if failedAt == nil, cluster.health("PRMR-a") == "FAILED" { failedAt = cluster.now }
            if promotedAt == nil, cluster.plan("s101").first == "PRMR-b" { promotedAt = cluster.now }
            cluster.followPlan(alive: Set(alive), shards: ["s101", "s102", "s103"])
        }
        // Failure seen after the grace period, the follower promoted a few rounds later.
        #expect(failedAt.map { $0 - killedAt } ?? 0 >= 1_250)
        #expect(promotedAt.map { $0 - killedAt } ?? .max <= 1_750)
        // s101: b leads, and a spare (d) replaced the failed copy; s102: a was a follower, replaced.
        #expect(cluster.plan("s101") == ["PRMR-b", "PRMR-d"])
        #expect(cluster.plan("s102").count == 2 && cluster.plan("s102")[0] == "PRMR-c" && !cluster.plan("s102").contains("PRMR-a"))
        #expect(cluster.plan("s103") == ["PRMR-b", "PRMR-c"])
        // Jobs: one FailedServer with a FailedLeader and a FailedFollower, all finished; no lock left.
        let finished = cluster.jobs(AgencyLayout.targetFinished)
        #expect(finished.filter { $0.type == .failedServer && $0.server == "PRMR-a" }.count == 1)
        #expect(finished.filter { $0.type == .failedLeader && $0.shard == "s101" && $0.toServer == "PRMR-b" }.count == 1)
        #expect(finished.contains { $0.type == .failedFollower && $0.shard == "s102" } )
        #expect(cluster.jobs(AgencyLayout.targetToDo).isEmpty && cluster.jobs(AgencyLayout.targetPending).isEmpty)
        #expect(cluster.value(AgencyLayout.supervisionShards).map { $0.isObject && $0.count == 0 } ?? true)
        #expect(cluster.value(AgencyLayout.supervisionServerLock("PRMR-a")) == nil)
        #expect((cluster.value(AgencyLayout.currentRebootId("PRMR-a"))?.intValue ?? 0) >= 2)
        #expect(cluster.notes.contains { $0.contains("FailedLeader promotes PRMR-b") })
        // Every transaction supervision proposed applied (no decision was made twice).
        #expect(cluster.applied == cluster.proposed)
    }

    @Test func withoutAnInSyncFollowerTheShardWaitsAndAReturningServerCancelsTheJobs() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        // b dropped out of sync earlier: Current lists only a.
        cluster.takeOver("s101", leader: "PRMR-a", inSync: [])
        let all = servers + ["CRDN-1"]
        cluster.run(for: 500, alive: all)
        cluster.run(for: 3_000, alive: all.filter { $0 != "PRMR-a" })
        #expect(cluster.health("PRMR-a") == "FAILED")
        #expect(cluster.plan("s101") == ["PRMR-a", "PRMR-b"])
        let waiting = cluster.jobs(AgencyLayout.targetToDo)
        #expect(waiting.count == 1 && waiting[0].type == .failedLeader)
        #expect(cluster.notes.contains { $0.contains("no in-sync follower of s101") })
        // a comes back: its sub-job is cancelled, the FailedServer job finishes.
        cluster.run(for: 1_000, alive: all)
        #expect(cluster.health("PRMR-a") == "GOOD")
        #expect(cluster.jobs(AgencyLayout.targetToDo).isEmpty && cluster.jobs(AgencyLayout.targetPending).isEmpty)
        #expect(cluster.plan("s101") == ["PRMR-a", "PRMR-b"])
        #expect(cluster.value(AgencyLayout.targetFailedServer("PRMR-a")) == nil)
    }

    @Test func aNewAgencyLeaderGivesEveryServerAFreshGracePeriod() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        let all = servers + ["CRDN-1"]
        cluster.run(for: 500, alive: all)
        // a goes silent; 1 000 ms later the agency leader changes: a fresh supervision.
        cluster.run(for: 1_000, alive: all.filter { $0 != "PRMR-a" })
        #expect(cluster.health("PRMR-a") == "BAD")
        cluster.term = 2
        cluster.supervision = ClusterSupervision()
        cluster.run(for: 1_000, alive: all.filter { $0 != "PRMR-a" })
        #expect(cluster.health("PRMR-a") == "BAD")  // counted again from the new leader's first sight
        cluster.run(for: 500, alive: all.filter { $0 != "PRMR-a" }) { $0.followPlan(alive: Set(all.filter { $0 != "PRMR-a" }), shards: ["s101"]) }
        #expect(cluster.health("PRMR-a") == "FAILED")
        #expect(cluster.plan("s101").first == "PRMR-b")
    }

    @Test func aDecisionMadeTwiceAppliesOnce() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        let all = servers + ["CRDN-1"]
        cluster.run(for: 500, alive: all)
        let alive = all.filter { $0 != "PRMR-a" }
        // Two supervisions (an old and a new agency leader) decide from the same stores; every
        // envelope of either is applied, the second copy always after the first.
        var other = cluster.supervision
        var started: [String: String] = [:]
        var finishedIds: Set<String> = []
        var restarts = 0
        for _ in 0..<60 {
            cluster.now += 50
            if cluster.now % 250 == 0 { cluster.beat(alive) }
            let first = cluster.supervision.step(store: cluster.store, term: 1, nowMilliseconds: cluster.now)
            let second = other.step(store: cluster.store, term: 1, nowMilliseconds: cluster.now)
            for envelope in first + second {
                cluster.apply(envelope)
                // A job starts once: its start time never changes, and a finished job never
                // comes back.
                for job in cluster.jobs(AgencyLayout.targetPending) + cluster.jobs(AgencyLayout.targetToDo) {
                    if finishedIds.contains(job.jobId) { restarts += 1 }
                    if let time = job.timeStarted {
                        if let seen = started[job.jobId], seen != time { restarts += 1 }
                        started[job.jobId] = time
                    }
                }
                for job in cluster.jobs(AgencyLayout.targetFinished) { finishedIds.insert(job.jobId) }
            }
            cluster.followPlan(alive: Set(alive), shards: ["s101"])
        }
        #expect(cluster.plan("s101").first == "PRMR-b")
        let finished = cluster.jobs(AgencyLayout.targetFinished)
        #expect(finished.filter { $0.type == .failedServer }.count == 1)
        #expect(finished.filter { $0.type == .failedLeader }.count == 1)
        #expect(restarts == 0)
        #expect(started.count == 2)  // FailedServer and FailedLeader went through Pending
    }

    @Test func jobRecordsRoundTripAndOrderById() {
        var job = SupervisionJob(type: .failedLeader, jobId: "105-2", timeCreated: isoTime(milliseconds: 1_733_450_000_123))
        job.parentJob = "105"
        job.database = "_system"
        job.collection = "100"
        job.shard = "s101"
        job.fromServer = "PRMR-a"
        #expect(SupervisionJob(decoding: Slice(trustedBytes: job.vpack)) == job)
        #expect(job.timeCreated == "2024-12-06T01:53:20Z")
        #expect(isoTime(milliseconds: 0) == "1970-01-01T00:00:00Z")
        #expect(isoTime(milliseconds: 951_782_400_000) == "2000-02-29T00:00:00Z")
        #expect(["106", "105-10", "105", "105-2", "99"].sorted(by: SupervisionJob.idPrecedes) == ["99", "105", "105-2", "105-10", "106"])
        // A job missing what its type needs is not run.
        #expect(SupervisionJob(decoding: Slice(trustedBytes: SupervisionJob(type: .failedServer, jobId: "1", timeCreated: "").vpack)) == nil)
    }
}
