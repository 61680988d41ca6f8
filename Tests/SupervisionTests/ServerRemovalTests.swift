import AgencyStore
import ClusterLogic
import Supervision
import Testing
import VelocyPack

/// `removeServer` (`AgencyTransactions.serverRemoval` and the transaction it builds) against
/// a store that supervision runs over: the decision follows supervision's verdicts, and the
/// preconditions refuse a removal whose state changed between the read and the write.
@Suite struct ServerRemovalTests {
    let servers = ["PRMR-a", "PRMR-b", "PRMR-c"]

    /// Every path the removal deletes, for `id` (a DBServer's database report in `_system`).
    static func traces(of id: String, role: ServerRole) -> [String] {
        [AgencyLayout.planServer(id, role: role), AgencyLayout.currentServerRegistered(id), AgencyLayout.currentServersKnown + "/" + id,
         AgencyLayout.supervisionHealth(id), AgencyLayout.syncServerState(id), AgencyLayout.targetShortName(id),
         AgencyLayout.targetFailedServer(id)]
    }

    static func decide(_ id: String, in cluster: SupervisedCluster) -> ServerRemoval {
        let paths = AgencyTransactions.serverRemovalReadPaths(id).map { try! AgencyPath($0) }
        let answer = cluster.store.read([paths])[0]
        return AgencyTransactions.serverRemoval(serverId: id, readAnswer: Slice(trustedBytes: answer))
    }

    static func envelope(_ removal: ServerRemoval) -> [UInt8]? {
        if case .ready(_, let envelope) = removal { return envelope }
        return nil
    }

    @Test func aCoordinatorIsRefusedWhileGoodOrBadAndRemovedEverywhereOnceFailed() {
        var cluster = SupervisedCluster(dbServers: servers, coordinators: ["CRDN-1", "CRDN-2"])
        let all = servers + ["CRDN-1", "CRDN-2"]
        cluster.run(for: 500, alive: all)
        #expect(Self.decide("CRDN-2", in: cluster) == .notFailed(status: "GOOD"))
        cluster.run(for: 900, alive: all.filter { $0 != "CRDN-2" })
        #expect(Self.decide("CRDN-2", in: cluster) == .notFailed(status: "BAD"))
        cluster.run(for: 500, alive: all.filter { $0 != "CRDN-2" })
        let removal = Self.decide("CRDN-2", in: cluster)
        guard case .ready(let role, let envelope) = removal else {
            Issue.record("a FAILED coordinator can be removed, got \(removal)")
            return
        }
        #expect(role == .coordinator)
        let planVersion = cluster.value(AgencyLayout.planVersion)?.uintValue ?? 0
        #expect(cluster.apply(envelope).allWritesApplied)
        for path in Self.traces(of: "CRDN-2", role: .coordinator) { #expect(cluster.value(path) == nil, "\(path) is gone") }
        #expect(cluster.value(AgencyLayout.planVersion)?.uintValue == planVersion + 1)
        // Supervision goes on without it and brings nothing back; the other coordinator stays.
        cluster.run(for: 2_000, alive: all.filter { $0 != "CRDN-2" })
        #expect(cluster.value(AgencyLayout.supervisionHealth("CRDN-2")) == nil)
        #expect(cluster.health("CRDN-1") == "GOOD")
        #expect(Self.decide("CRDN-2", in: cluster) == .unknownServer)
        #expect(cluster.applied == cluster.proposed)
    }

    @Test func aServerThatHeartbeatsAgainBeforeTheWriteIsKept() {
        var cluster = SupervisedCluster(dbServers: servers, coordinators: ["CRDN-1", "CRDN-2"])
        let all = servers + ["CRDN-1", "CRDN-2"]
        cluster.run(for: 500, alive: all)
        cluster.run(for: 1_500, alive: all.filter { $0 != "CRDN-2" })
        let envelope = Self.envelope(Self.decide("CRDN-2", in: cluster))
        #expect(envelope != nil)
        // It comes back between the decision and the write: supervision marks it GOOD.
        cluster.run(for: 300, alive: all)
        #expect(cluster.health("CRDN-2") == "GOOD")
        if let envelope { #expect(!cluster.apply(envelope).allWritesApplied) }
        #expect(cluster.value(AgencyLayout.currentServerRegistered("CRDN-2")) != nil)
    }

    @Test func aFailedDBServerGoesOnlyOnceNoShardAndNoJobHoldsIt() {
        var cluster = SupervisedCluster(dbServers: servers + ["PRMR-d"])
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"], "s102": ["PRMR-c", "PRMR-a"]])
        let all = servers + ["PRMR-d", "CRDN-1"]
        cluster.run(for: 500, alive: all)
        #expect(Self.decide("PRMR-a", in: cluster) == .notFailed(status: "GOOD"))
        let alive = all.filter { $0 != "PRMR-a" }
        var refusals: Set<String> = []
        // Until the failover has moved both shards away, the removal is refused.
        cluster.run(for: 4_000, alive: alive) { cluster in
            switch Self.decide("PRMR-a", in: cluster) {
            case .stillResponsible(let shards): refusals.insert("responsible"); #expect(!shards.isEmpty)
            case .lockedByJob: refusals.insert("locked")
            case .notFailed: refusals.insert("not failed")
            case .ready: break
            case .unknownServer: Issue.record("PRMR-a is registered")
            }
            cluster.followPlan(alive: Set(alive), shards: ["s101", "s102"])
        }
        #expect(refusals.contains("responsible") || refusals.contains("locked"), "refused while its shards moved: \(refusals)")
        #expect(!cluster.plan("s101").contains("PRMR-a") && !cluster.plan("s102").contains("PRMR-a"))
        let removal = Self.decide("PRMR-a", in: cluster)
        guard let envelope = Self.envelope(removal) else {
            Issue.record("PRMR-a can be removed after the failover, got \(removal)")
            return
        }
        #expect(cluster.apply(envelope).allWritesApplied)
        for path in Self.traces(of: "PRMR-a", role: .dbServer) { #expect(cluster.value(path) == nil, "\(path) is gone") }
        #expect(cluster.value(AgencyLayout.currentDatabase("_system", server: "PRMR-a")) == nil)
        #expect(cluster.value(AgencyLayout.currentServerRegistered("PRMR-b")) != nil)
    }

    @Test func aPlanChangeBetweenTheCheckAndTheWriteFailsTheRemoval() {
        var cluster = SupervisedCluster(dbServers: servers)
        let all = servers + ["CRDN-1"]
        cluster.run(for: 500, alive: all)
        cluster.run(for: 1_500, alive: all.filter { $0 != "PRMR-c" })
        #expect(cluster.health("PRMR-c") == "FAILED")
        // Nothing is planned on c: ready at this Plan version.
        cluster.run(for: 500, alive: all.filter { $0 != "PRMR-c" })
        let envelope = Self.envelope(Self.decide("PRMR-c", in: cluster))
        #expect(envelope != nil)
        // A collection planned on c in between (a coordinator with an older list of servers).
        let collection = PlanCollection(id: "100", name: "late", numberOfShards: 1, replicationFactor: 1, shards: ["s101": ["PRMR-c"]])
        #expect(cluster.apply(AgencyTransactions.createCollection(collection, database: "_system")).allWritesApplied)
        if let envelope { #expect(!cluster.apply(envelope).allWritesApplied) }
        #expect(cluster.value(AgencyLayout.currentServerRegistered("PRMR-c")) != nil)
        #expect(Self.decide("PRMR-c", in: cluster) == .stillResponsible(shards: ["_system/100/s101"]))
    }

    @Test func aResignedLeaderStillCountsAndUnknownServersAreUnknown() {
        var cluster = SupervisedCluster(dbServers: servers)
        #expect(Self.decide("PRMR-x", in: cluster) == .unknownServer)
        // c was asked to resign (`_PRMR-c`) and then died: Plan still names it.
        let collection = PlanCollection(id: "100", name: "c", numberOfShards: 1, replicationFactor: 2, shards: ["s101": ["_PRMR-c", "PRMR-a"]])
        #expect(cluster.apply(AgencyTransactions.createCollection(collection, database: "_system")).allWritesApplied)
        let all = servers + ["CRDN-1"]
        cluster.run(for: 500, alive: all)
        cluster.run(for: 2_000, alive: all.filter { $0 != "PRMR-c" })
        #expect(cluster.health("PRMR-c") == "FAILED")
        #expect(Self.decide("PRMR-c", in: cluster) == .stillResponsible(shards: ["_system/100/s101"]))
    }

    @Test func aFailedServerJobThatHasNotStartedHoldsTheServer() {
        var cluster = SupervisedCluster(dbServers: servers)
        let all = servers + ["CRDN-1"]
        cluster.run(for: 500, alive: all)
        cluster.run(for: 2_000, alive: all.filter { $0 != "PRMR-c" })
        #expect(cluster.health("PRMR-c") == "FAILED")
        #expect(Self.envelope(Self.decide("PRMR-c", in: cluster)) != nil)
        // A FailedServer job as supervision creates it, before a round starts it.
        var job = SupervisionJob(type: .failedServer, jobId: "999", timeCreated: "2026-12-06T00:00:00Z")
        job.server = "PRMR-c"
        var write = AgencyWrite()
        write.set(AgencyLayout.job("999", in: AgencyLayout.targetToDo), job.vpack)
        #expect(cluster.apply(agencyEnvelope([.write(write)])).allWritesApplied)
        #expect(Self.decide("PRMR-c", in: cluster) == .lockedByJob("999"))
    }
}
