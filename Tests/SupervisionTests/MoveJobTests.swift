import AgencyStore
import ClusterLogic
import Supervision
import Testing
import VelocyPack

extension SupervisedCluster {
    func current(_ shard: String) -> [String] {
        value(AgencyLayout.currentShard(database: "_system", collectionId: "100", shard: shard) + "/servers")?
            .arrayElements.compactMap(\.stringValue) ?? []
    }

    /// Plays the DBServers of a move as `Protocol/Replication.md` has them: a leader Plan asks
    /// to resign reports itself resigned (`"_" + id` first in Current) over its in-sync list;
    /// otherwise the planned leader, when alive, takes over with every alive planned follower
    /// in sync (they resync at once here) unless `lagging` holds them back.
    mutating func playDBServers(alive: Set<String>, shards: [String], lagging: Set<String> = []) {
        for shard in shards {
            let stored = plan(shard)
            guard let first = stored.first else { continue }
            let (leader, resigning) = PlanCollection.unmarked(first)
            let current = current(shard)
            if resigning {
                guard alive.contains(leader), current.first == leader else { continue }
                let path = AgencyLayout.currentShard(database: "_system", collectionId: "100", shard: shard)
                let version = value(path + "/syncVersion")?.uintValue ?? 0
                apply(AgencyTransactions.changeInSyncServers(database: "_system", collectionId: "100", shard: shard, planServers: stored,
                                                            oldServers: current, newServers: [first] + current.dropFirst(),
                                                            version: version, epoch: index))
                continue
            }
            guard alive.contains(leader) else { continue }
            let wanted = [leader] + stored.dropFirst().filter { alive.contains($0) && !lagging.contains($0) }
            if current != wanted { takeOver(shard, leader: leader, inSync: wanted) }
        }
    }

    /// Puts an operator's job into ToDo as a coordinator does.
    @discardableResult
    mutating func createJob(_ type: SupervisionJobType, fill: (inout SupervisionJob) -> Void) -> String {
        let latest = value(AgencyLayout.syncLatestID)?.uintValue ?? 0
        let (job, envelope) = SupervisionJob.creation(type, latestId: latest, creator: "CRDN-1", time: isoTime(milliseconds: now), fill: fill)
        precondition(apply(envelope).allWritesApplied)
        return job.jobId
    }

    func job(_ id: String) -> (stage: String, job: SupervisionJob)? {
        for stage in [AgencyLayout.targetToDo, AgencyLayout.targetPending, AgencyLayout.targetFinished, AgencyLayout.targetFailed] {
            if let found = jobs(stage).first(where: { $0.jobId == id }) { return (String(stage.split(separator: "/").last!), found) }
        }
        return nil
    }

    var noLocksLeft: Bool {
        (value(AgencyLayout.supervisionShards).map { $0.isObject && $0.count == 0 } ?? true)
            && (value(AgencyLayout.supervisionDBServers).map { $0.isObject && $0.count == 0 } ?? true)
    }
}

@Suite struct MoveJobTests {
    let servers = ["PRMR-a", "PRMR-b", "PRMR-c", "PRMR-d"]
    var everyone: [String] { servers + ["CRDN-1"] }

    func move(_ cluster: inout SupervisedCluster, _ shard: String, from: String, to: String, isLeader: Bool? = nil) -> String {
        cluster.createJob(.moveShard) { job in
            job.describeMove(database: "_system", collection: "100", shard: shard, from: from, to: to, isLeader: isLeader)
        }
    }

    @Test func aLeaderMovesToANewServerThroughTheResignMarker() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        cluster.run(for: 500, alive: everyone)
        let id = move(&cluster, "s101", from: "PRMR-a", to: "PRMR-c", isLeader: true)
        // Every Plan the shard goes through, in order.
        var plans: [[String]] = [cluster.plan("s101")]
        var currents: [[String]] = []
        cluster.run(for: 3_000, alive: everyone) { cluster in
            if cluster.plan("s101") != plans.last { plans.append(cluster.plan("s101")) }
            if cluster.current("s101") != currents.last { currents.append(cluster.current("s101")) }
            cluster.playDBServers(alive: Set(everyone), shards: ["s101"])
        }
        #expect(plans == [["PRMR-a", "PRMR-b"], ["PRMR-a", "PRMR-c", "PRMR-b"], ["_PRMR-a", "PRMR-c", "PRMR-b"],
                          ["PRMR-c", "PRMR-b", "PRMR-a"], ["PRMR-c", "PRMR-b"]])
        #expect(currents.contains(["_PRMR-a", "PRMR-c", "PRMR-b"]))
        let done = cluster.job(id)
        #expect(done?.stage == "Finished")
        #expect(done?.job.isLeader == true && done?.job.remainsFollower == false && done?.job.newFollowers == ["PRMR-c"])
        #expect(cluster.noLocksLeft)
        #expect(cluster.applied == cluster.proposed)
        #expect(cluster.notes.contains { $0.contains("asking PRMR-a to hand s101 over") })
    }

    @Test func aLeadershipSwitchToAFollowerKeepsTheOldLeaderAsFollower() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        cluster.run(for: 500, alive: everyone)
        // Back and forth, three times, each move finished before the next.
        var leader = "PRMR-a", other = "PRMR-b"
        for _ in 0..<3 {
            let id = move(&cluster, "s101", from: leader, to: other)
            cluster.run(for: 2_000, alive: everyone) { $0.playDBServers(alive: Set(everyone), shards: ["s101"]) }
            #expect(cluster.job(id)?.stage == "Finished")
            #expect(cluster.plan("s101") == [other, leader])
            #expect(cluster.current("s101") == [other, leader])
            swap(&leader, &other)
        }
        #expect(cluster.noLocksLeft)
        #expect(cluster.applied == cluster.proposed)
    }

    @Test func aFollowerMoveAddsThenDrops() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        cluster.run(for: 500, alive: everyone)
        let id = move(&cluster, "s101", from: "PRMR-b", to: "PRMR-d")
        // d lags (resyncing) for a while: the job waits with b still planned.
        cluster.run(for: 1_000, alive: everyone) { $0.playDBServers(alive: Set(everyone), shards: ["s101"], lagging: ["PRMR-d"]) }
        #expect(cluster.plan("s101") == ["PRMR-a", "PRMR-b", "PRMR-d"])
        #expect(cluster.job(id)?.stage == "Pending")
        cluster.run(for: 1_000, alive: everyone) { $0.playDBServers(alive: Set(everyone), shards: ["s101"]) }
        #expect(cluster.plan("s101") == ["PRMR-a", "PRMR-d"])
        #expect(cluster.job(id)?.stage == "Finished")
        #expect(cluster.noLocksLeft)
    }

    @Test func badMovesFailWithTheReason() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        cluster.run(for: 500, alive: everyone)
        let notHeld = move(&cluster, "s101", from: "PRMR-c", to: "PRMR-d")
        let alreadyThere = move(&cluster, "s101", from: "PRMR-b", to: "PRMR-a")
        let wrongRole = move(&cluster, "s101", from: "PRMR-b", to: "PRMR-c", isLeader: true)
        let unknown = move(&cluster, "s101", from: "PRMR-a", to: "PRMR-x")
        cluster.run(for: 500, alive: everyone)
        for (id, reason) in [(notHeld, "holds no copy"), (alreadyThere, "already holds a copy"), (wrongRole, "is a follower"),
                             (unknown, "not a registered DBServer")] {
            let found = cluster.job(id)
            #expect(found?.stage == "Failed")
            #expect(found?.job.reason?.contains(reason) == true, "\(id): \(found?.job.reason ?? "no reason")")
        }
        #expect(cluster.plan("s101") == ["PRMR-a", "PRMR-b"])
        #expect(cluster.noLocksLeft)
    }

    @Test func aTargetThatDiesAbortsTheMoveAndRestoresPlan() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        cluster.run(for: 500, alive: everyone)
        let id = move(&cluster, "s101", from: "PRMR-a", to: "PRMR-c")
        // c never catches up, then dies.
        cluster.run(for: 500, alive: everyone) { $0.playDBServers(alive: Set(everyone), shards: ["s101"], lagging: ["PRMR-c"]) }
        #expect(cluster.plan("s101") == ["PRMR-a", "PRMR-c", "PRMR-b"])
        let alive = everyone.filter { $0 != "PRMR-c" }
        cluster.run(for: 3_000, alive: alive) { $0.playDBServers(alive: Set(alive), shards: ["s101"]) }
        let found = cluster.job(id)
        #expect(found?.stage == "Failed")
        #expect(found?.job.reason?.contains("PRMR-c FAILED") == true)
        // Plan as before the move; the shard keeps its replication factor, no lock is left
        // except the failed server's own job's (it holds no copy of s101).
        #expect(cluster.plan("s101") == ["PRMR-a", "PRMR-b"])
        #expect(cluster.current("s101") == ["PRMR-a", "PRMR-b"])
        #expect(cluster.value(AgencyLayout.supervisionShardLock("s101")) == nil)
    }

    @Test func aSourceLeaderThatDiesHandsTheShardToTheInSyncTarget() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        cluster.run(for: 500, alive: everyone)
        let id = move(&cluster, "s101", from: "PRMR-a", to: "PRMR-c")
        // c is in sync, but a dies before the resign marker is written (the DBServers are
        // frozen for a round so the job sees c in sync first).
        cluster.run(for: 60, alive: everyone) { $0.playDBServers(alive: Set(everyone), shards: ["s101"]) }
        let alive = everyone.filter { $0 != "PRMR-a" }
        cluster.run(for: 4_000, alive: alive) { $0.playDBServers(alive: Set(alive), shards: ["s101"]) }
        #expect(cluster.health("PRMR-a") == "FAILED")
        #expect(cluster.plan("s101").first == "PRMR-c")
        #expect(!cluster.plan("s101").contains("PRMR-a") || cluster.plan("s101").last == "PRMR-a")
        #expect(cluster.job(id)?.stage == "Finished" || cluster.job(id)?.stage == "Failed")
        // Exactly one leader change away from a; the shard is back at two live copies in sync.
        let live = cluster.plan("s101").filter { $0 != "PRMR-a" }
        #expect(live.count >= 2 && cluster.current("s101").starts(with: live))
        #expect(cluster.jobs(AgencyLayout.targetToDo).isEmpty && cluster.jobs(AgencyLayout.targetPending).isEmpty)
        #expect(cluster.value(AgencyLayout.supervisionShardLock("s101")) == nil)
    }

    /// Seed 14016201904992040795 of the cluster simulator: Plan dropped a follower whose
    /// leader could not strike it from Current; the follower dropped its copy; a move planned
    /// it again and finished on the stale entry at once, dropping the real in-sync copy, and a
    /// failover then promoted the empty server.
    @Test func aMoveWaitsWhileCurrentStillListsATargetPlanDropped() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        cluster.run(for: 500, alive: everyone)
        // b fails and FailedFollower puts another server in its place; a's change that
        // strikes b from Current has not reached the agency (a is cut off from it).
        let withoutB = everyone.filter { $0 != "PRMR-b" }
        cluster.run(for: 3_000, alive: withoutB)
        #expect(cluster.health("PRMR-b") == "FAILED")
        let replaced = cluster.plan("s101")
        #expect(replaced.count == 2 && replaced.first == "PRMR-a" && !replaced.contains("PRMR-b"))
        #expect(cluster.current("s101") == ["PRMR-a", "PRMR-b"])
        // b returns without its copy (Plan dropped it); an operator moves the new copy to b.
        cluster.run(for: 1_000, alive: everyone)
        #expect(cluster.health("PRMR-b") == "GOOD")
        let id = move(&cluster, "s101", from: replaced[1], to: "PRMR-b")
        cluster.run(for: 1_000, alive: everyone)
        // The stale entry is not taken for an in-sync copy: the move waits, Plan unchanged.
        #expect(cluster.job(id)?.stage == "ToDo")
        #expect(cluster.plan("s101") == replaced)
        #expect(cluster.notes.contains { $0.contains("Current still lists PRMR-b for s101") })
        // a strikes b; the move goes ahead and finishes once b resynced.
        cluster.takeOver("s101", leader: "PRMR-a", inSync: ["PRMR-a", replaced[1]])
        cluster.run(for: 3_000, alive: everyone) { $0.playDBServers(alive: Set(everyone), shards: ["s101"]) }
        #expect(cluster.job(id)?.stage == "Finished")
        #expect(cluster.plan("s101") == ["PRMR-a", "PRMR-b"])
        #expect(cluster.noLocksLeft)
    }

    @Test func aCleanOutPassesOverAServerCurrentStillLists() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        cluster.run(for: 500, alive: everyone)
        // As above: b is replaced while Current keeps listing it; b returns.
        let withoutB = everyone.filter { $0 != "PRMR-b" }
        cluster.run(for: 3_000, alive: withoutB)
        let replaced = cluster.plan("s101")
        cluster.run(for: 1_000, alive: everyone)
        #expect(cluster.health("PRMR-b") == "GOOD" && cluster.current("s101") == ["PRMR-a", "PRMR-b"])
        // Cleaning out the new follower moves its copy to the one server left that neither
        // holds the shard nor is listed in Current — never to b.
        let spare = servers.first { !replaced.contains($0) && $0 != "PRMR-b" }!
        let id = cluster.createJob(.cleanOutServer) { $0.server = replaced[1] }
        cluster.run(for: 3_000, alive: everyone) { cluster in
            // a still cannot reach the agency with b struck; it streams to the planned copies.
            let planned = cluster.plan("s101").filter { !$0.hasPrefix("_") }
            if cluster.current("s101").contains("PRMR-b") && !planned.contains(spare) { return }
            cluster.playDBServers(alive: Set(everyone), shards: ["s101"])
        }
        #expect(cluster.job(id)?.stage == "Finished", "\(cluster.notes.suffix(5))")
        #expect(cluster.plan("s101") == ["PRMR-a", spare])
    }

    @Test func cleanOutServerMovesEveryCopyAndListsTheServer() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-d"], "s102": ["PRMR-d", "PRMR-b"],
                                                               "s103": ["PRMR-b", "PRMR-c"], "s104": ["PRMR-d", "PRMR-c"]])
        let shards = ["s101", "s102", "s103", "s104"]
        cluster.run(for: 500, alive: everyone)
        let id = cluster.createJob(.cleanOutServer) { $0.server = "PRMR-d" }
        var sawToBeCleaned = false
        cluster.run(for: 5_000, alive: everyone) { cluster in
            if cluster.value(AgencyLayout.targetToBeCleanedServers)?.arrayElements.contains(where: { $0.stringValue == "PRMR-d" }) == true {
                sawToBeCleaned = true
            }
            cluster.playDBServers(alive: Set(everyone), shards: shards)
        }
        #expect(sawToBeCleaned)
        #expect(cluster.job(id)?.stage == "Finished")
        for shard in shards {
            #expect(!cluster.plan(shard).contains("PRMR-d"), "\(shard): \(cluster.plan(shard))")
            #expect(cluster.plan(shard).count == 2 && Set(cluster.plan(shard)).count == 2)
            #expect(cluster.current(shard) == cluster.plan(shard))
        }
        let subJobs = cluster.jobs(AgencyLayout.targetFinished).filter { $0.parentJob == id }
        #expect(subJobs.count == 3 && subJobs.allSatisfy { $0.type == .moveShard && $0.remainsFollower == false })
        #expect(cluster.value(AgencyLayout.targetCleanedServers)?.arrayElements.map(\.stringValue) == ["PRMR-d"])
        #expect(cluster.value(AgencyLayout.targetToBeCleanedServers)?.arrayElements.map(\.stringValue) == [])
        #expect(cluster.noLocksLeft)
        #expect(cluster.applied == cluster.proposed)
        // A cleaned-out server gets no copy from supervision: a's failure is repaired on b or c.
        let alive = everyone.filter { $0 != "PRMR-a" }
        cluster.run(for: 4_000, alive: alive) { $0.playDBServers(alive: Set(alive), shards: shards) }
        for shard in shards { #expect(!cluster.plan(shard).contains("PRMR-d")) }
        // Cleaning out again is refused.
        let again = cluster.createJob(.cleanOutServer) { $0.server = "PRMR-d" }
        cluster.run(for: 200, alive: alive)
        #expect(cluster.job(again)?.stage == "Failed")
    }

    @Test func cleanOutFailsCleanlyWhenNoServerCanTakeACopy() {
        var cluster = SupervisedCluster(dbServers: ["PRMR-a", "PRMR-b"])
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"]])
        cluster.run(for: 500, alive: ["PRMR-a", "PRMR-b", "CRDN-1"])
        let id = cluster.createJob(.cleanOutServer) { $0.server = "PRMR-b" }
        cluster.run(for: 300, alive: ["PRMR-a", "PRMR-b", "CRDN-1"])
        #expect(cluster.job(id)?.stage == "Failed")
        #expect(cluster.job(id)?.job.reason?.contains("no DBServer can take s101") == true)
        #expect(cluster.plan("s101") == ["PRMR-a", "PRMR-b"])
        #expect(cluster.noLocksLeft)
    }

    @Test func resignLeadershipHandsEveryLeadershipToAnInSyncFollower() {
        var cluster = SupervisedCluster(dbServers: servers)
        cluster.createCollection(replicationFactor: 2, shards: ["s101": ["PRMR-a", "PRMR-b"], "s102": ["PRMR-a", "PRMR-c"],
                                                               "s103": ["PRMR-b", "PRMR-a"]])
        let shards = ["s101", "s102", "s103"]
        cluster.run(for: 500, alive: everyone)
        let id = cluster.createJob(.resignLeadership) { $0.server = "PRMR-a" }
        cluster.run(for: 4_000, alive: everyone) { $0.playDBServers(alive: Set(everyone), shards: shards) }
        #expect(cluster.job(id)?.stage == "Finished")
        #expect(cluster.plan("s101") == ["PRMR-b", "PRMR-a"])
        #expect(cluster.plan("s102") == ["PRMR-c", "PRMR-a"])
        #expect(cluster.plan("s103") == ["PRMR-b", "PRMR-a"])
        #expect(cluster.noLocksLeft)
    }

    @Test func theResignMarkerRoundTripsThroughThePlanModel() throws {
        let collection = PlanCollection(id: "100", name: "c", numberOfShards: 1, replicationFactor: 2,
                                        shards: ["s101": ["PRMR-a", "PRMR-b"]])
        var marked = collection
        marked.resigningLeaders = ["s101"]
        let decoded = try PlanCollection(database: "_system", id: "100", decoding: Slice(trustedBytes: marked.vpack))
        #expect(decoded.shards["s101"] == ["PRMR-a", "PRMR-b"])
        #expect(decoded.resigningLeaders == ["s101"])
        #expect(decoded.storedServers(of: "s101") == ["_PRMR-a", "PRMR-b"])
        #expect(decoded.leader(of: "s101") == "PRMR-a")
        #expect(decoded == marked)
        // Only the leader may carry the marker.
        var bad = collection
        bad.shards["s101"] = ["PRMR-a", "_PRMR-b"]
        #expect(throws: ClusterError.self) { try PlanCollection(database: "_system", id: "100", decoding: Slice(trustedBytes: bad.vpack)) }
        #expect(CurrentShard(servers: ["_PRMR-a", "PRMR-b"], indexes: []).resignedLeader == "PRMR-a")
        #expect(CurrentShard(servers: ["PRMR-a", "PRMR-b"], indexes: []).resignedLeader == nil)
    }
}
