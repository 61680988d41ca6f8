import ClusterLogic
import VelocyPack

/// One round of supervision's decisions, made from one view of the store: each decision is an
/// agency transaction with the preconditions that make it apply only in that state.
struct SupervisionRound {
    let view: SupervisionView
    let now: Int64
    let options: SupervisionOptions
    /// The health each server has after this round's health writes.
    var health: [String: ServerHealth] = [:]
    var writes: [AgencyWrite] = []
    var notes: [String] = []
    /// Job id → why it waits (logged when it changes).
    var waiting: [String: String] = [:]
    /// Top-level job ids taken this round (each creation moves `Sync/LatestID` by one).
    var idsTaken: UInt64 = 0
    /// Shards a transaction of this round changes: one decision per shard per round.
    var touched: Set<String> = []

    init(view: SupervisionView, now: Int64, options: SupervisionOptions) {
        self.view = view
        self.now = now
        self.options = options
        for (id, entry) in view.health { health[id] = entry.record.status }
    }

    var time: String { isoTime(milliseconds: now) }

    func status(_ server: String) -> ServerHealth? { health[server] }

    // MARK: Creating jobs

    /// A new top-level job: its id is the next value of `Sync/LatestID`, taken in the same
    /// transaction under the precondition that the counter has not moved.
    mutating func newJob(_ type: SupervisionJobType, _ fill: (inout SupervisionJob) -> Void) -> AgencyWrite {
        let previous = view.latestId + idsTaken
        idsTaken += 1
        var job = SupervisionJob(type: type, jobId: String(previous + 1), timeCreated: time)
        fill(&job)
        var write = AgencyWrite()
        write.increment(AgencyLayout.syncLatestID)
        write.require(AgencyLayout.syncLatestID, previous == 0 ? .oldEmpty(true) : .old(vpackBytes { $0.add(previous) }))
        write.set(AgencyLayout.job(job.jobId, in: AgencyLayout.targetToDo), job.vpack)
        return write
    }

    mutating func createFailedServer(_ server: String, silentMilliseconds: Int64) {
        var jobId = ""
        var write = newJob(.failedServer) { job in
            job.server = server
            jobId = job.jobId
        }
        write.set(AgencyLayout.targetFailedServer(server), vpackBytes { $0.openArray(); $0.closeTrusted() })
        write.require(AgencyLayout.targetFailedServer(server), .oldEmpty(true))
        write.requireHealth(server, .failed)
        writes.append(write)
        notes.append("job \(jobId) FailedServer: DBServer \(server) FAILED after \(silentMilliseconds) ms without a heartbeat")
    }

    // MARK: Running jobs

    /// Failure repairs in ToDo first; if one of them wrote, the other ToDo jobs wait for the
    /// next round. Then the Pending jobs, then the rest of ToDo, then the replication factor.
    mutating func runJobs() {
        let before = writes.count
        for (job, bytes) in view.toDo where job.type.repairsFailure { start(job, bytes) }
        let repaired = writes.count > before
        for (job, bytes) in view.pending { check(job, bytes) }
        if !repaired {
            for (job, bytes) in view.toDo where !job.type.repairsFailure { start(job, bytes) }
            enforceReplication()
        }
        cleanUpOldJobs()
    }

    mutating func start(_ job: SupervisionJob, _ bytes: [UInt8]) {
        switch job.type {
        case .failedServer: startFailedServer(job, bytes)
        case .failedLeader: startFailedLeader(job, bytes)
        case .failedFollower: startFailedFollower(job, bytes)
        case .addFollower: runAddFollower(job, bytes)
        case .removeFollower: runRemoveFollower(job, bytes)
        case .moveShard: startMoveShard(job, bytes)
        case .cleanOutServer, .resignLeadership: startServerJob(job, bytes)
        }
    }

    mutating func check(_ job: SupervisionJob, _ bytes: [UInt8]) {
        switch job.type {
        case .failedServer: checkFailedServer(job, bytes)
        case .failedLeader: checkFailedLeader(job, bytes)
        case .failedFollower, .addFollower, .removeFollower:
            // These go from ToDo to Finished in one step; one found in Pending is finished.
            finish(job, bytes, from: AgencyLayout.targetPending, reason: nil)
        case .moveShard: checkMoveShard(job, bytes)
        case .cleanOutServer, .resignLeadership: checkServerJob(job, bytes)
        }
    }

    // MARK: Life-cycle transactions

    /// ToDo → Pending: the write that starts `job`, requiring it still to be in ToDo as read.
    func starting(_ job: SupervisionJob, _ bytes: [UInt8], update: (inout SupervisionJob) -> Void = { _ in }) -> AgencyWrite {
        var started = job
        started.timeStarted = time
        update(&started)
        var write = AgencyWrite()
        write.delete(AgencyLayout.job(job.jobId, in: AgencyLayout.targetToDo))
        write.set(AgencyLayout.job(job.jobId, in: AgencyLayout.targetPending), started.vpack)
        write.require(AgencyLayout.job(job.jobId, in: AgencyLayout.targetToDo), .old(bytes))
        return write
    }

    /// ToDo or Pending → Finished (no `failure`) or Failed, requiring the job as read.
    func ending(_ job: SupervisionJob, _ bytes: [UInt8], from stage: String, failure: String? = nil,
                update: (inout SupervisionJob) -> Void = { _ in }) -> AgencyWrite {
        var ended = job
        ended.timeFinished = time
        if ended.timeStarted == nil { ended.timeStarted = time }
        if let failure { ended.reason = failure }
        update(&ended)
        var write = AgencyWrite()
        write.delete(AgencyLayout.job(job.jobId, in: stage))
        write.set(AgencyLayout.job(job.jobId, in: failure == nil ? AgencyLayout.targetFinished : AgencyLayout.targetFailed), ended.vpack)
        write.require(AgencyLayout.job(job.jobId, in: stage), .old(bytes))
        return write
    }

    mutating func finish(_ job: SupervisionJob, _ bytes: [UInt8], from stage: String, reason: String?) {
        writes.append(ending(job, bytes, from: stage) { $0.reason = reason })
    }

    mutating func wait(_ job: SupervisionJob, _ why: String) {
        waiting[job.jobId] = "job \(job.jobId) \(job.type.rawValue) waits: \(why)"
    }

    // MARK: FailedServer

    /// Creates a FailedLeader or FailedFollower sub-job for every replicated shard the server
    /// holds, locks the server and bumps its reboot id (its old leaderships are void), in one
    /// transaction that requires the server still FAILED and unlocked.
    mutating func startFailedServer(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let server = job.server else { return }
        guard status(server) == .failed else {
            writes.append(ending(job, bytes, from: AgencyLayout.targetToDo, failure: "server \(server) is no longer FAILED"))
            notes.append("job \(job.jobId) FailedServer failed: \(server) is \(status(server)?.rawValue ?? "unknown") again")
            return
        }
        if let holder = view.serverLocks[server] { return wait(job, "server \(server) is locked by job \(holder)") }
        var write = starting(job, bytes)
        var count = 0
        var summary: [String] = []
        for (database, collection, shard, servers) in view.plannedShards where servers.count > 1 {
            guard let position = servers.firstIndex(of: server) else { continue }
            count += 1
            var sub = SupervisionJob(type: position == 0 ? .failedLeader : .failedFollower, jobId: "\(job.jobId)-\(count)", timeCreated: time)
            sub.parentJob = job.jobId
            sub.database = database
            sub.collection = collection.id
            sub.shard = shard
            sub.fromServer = server
            write.set(AgencyLayout.job(sub.jobId, in: AgencyLayout.targetToDo), sub.vpack)
            summary.append("\(sub.type == .failedLeader ? "leader" : "follower") of \(shard)")
        }
        write.set(AgencyLayout.supervisionServerLock(server), vpackBytes { $0.add(job.jobId) })
        write.require(AgencyLayout.supervisionServerLock(server), .oldEmpty(true))
        write.requireHealth(server, .failed)
        write.increment(AgencyLayout.currentRebootId(server))
        write.increment(AgencyLayout.currentVersion)
        writes.append(write)
        notes.append("job \(job.jobId) FailedServer started for \(server): \(count) sub-jobs\(summary.isEmpty ? "" : " (" + summary.joined(separator: ", ") + ")"), reboot id bumped")
    }

    /// Finished when no sub-job is left; a server that is GOOD again cancels the sub-jobs
    /// that have not started.
    mutating func checkFailedServer(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let server = job.server else { return }
        let children = view.toDo.filter { $0.job.parentJob == job.jobId }
        let running = view.pending.filter { $0.job.parentJob == job.jobId }
        var write: AgencyWrite
        if status(server) == .good && !children.isEmpty {
            // The server is back: the sub-jobs that have not started are not needed.
            write = running.isEmpty ? ending(job, bytes, from: AgencyLayout.targetPending) { $0.reason = "server \(server) is GOOD again" }
                : AgencyWrite()
            for (child, childBytes) in children {
                write.delete(AgencyLayout.job(child.jobId, in: AgencyLayout.targetToDo))
                write.require(AgencyLayout.job(child.jobId, in: AgencyLayout.targetToDo), .old(childBytes))
            }
            notes.append("job \(job.jobId) FailedServer: \(server) is GOOD again, \(children.count) sub-jobs not started are cancelled")
        } else if children.isEmpty && running.isEmpty {
            write = ending(job, bytes, from: AgencyLayout.targetPending)
            notes.append("job \(job.jobId) FailedServer for \(server) finished")
        } else {
            return
        }
        if running.isEmpty {
            write.delete(AgencyLayout.supervisionServerLock(server))
        }
        writes.append(write)
    }

    // MARK: FailedLeader

    /// Promotes the first in-sync follower (Current's `failoverCandidates`) that is GOOD,
    /// planned and unlocked: Plan becomes `[new leader, other in-sync followers, old leader,
    /// the rest]` — the old leader stays a follower so it can resync when it returns. One
    /// transaction, requiring the old leader FAILED, the new one GOOD, Plan and Current as
    /// read, and the shard unlocked; it locks the shard until the new leader has taken over.
    mutating func startFailedLeader(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let database = job.database, let collectionId = job.collection, let shard = job.shard, let from = job.fromServer else { return }
        guard let collection = view.plan.collections[database]?[collectionId], let planned = collection.shards[shard] else {
            writes.append(ending(job, bytes, from: AgencyLayout.targetToDo) { $0.reason = "the collection is gone" })
            return
        }
        guard planned.first == from else {
            writes.append(ending(job, bytes, from: AgencyLayout.targetToDo) { $0.reason = "\(from) no longer leads \(shard)" })
            return
        }
        guard status(from) == .failed else { return wait(job, "\(from) is \(status(from)?.rawValue ?? "unknown"), not FAILED") }
        if let holder = view.shardLocks[shard] { return wait(job, "shard \(shard) is locked by job \(holder)") }
        guard !touched.contains(shard) else { return }
        let report = view.current.shard(database: database, collectionId: collectionId, shard: shard)
        let candidates = report?.failoverCandidates ?? []
        guard let to = candidates.first(where: { candidate in
            candidate != from && status(candidate) == .good && planned.contains(candidate) && view.serverLocks[candidate] == nil
        }) else {
            return wait(job, "no in-sync follower of \(shard) is GOOD (candidates \(candidates.filter { $0 != from })); the shard has no leader until one is")
        }
        let inSync = Set(report?.servers ?? [])
        let followersInSync = planned.filter { $0 != from && $0 != to && inSync.contains($0) }
        let rest = planned.filter { $0 != from && $0 != to && !inSync.contains($0) }
        let newPlan = [to] + followersInSync + [from] + rest
        var write = starting(job, bytes) { $0.toServer = to }
        let shardPath = AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard)
        write.set(shardPath, vpackBytes { $0.add(strings: newPlan) })
        write.increment(AgencyLayout.planVersion)
        write.set(AgencyLayout.supervisionShardLock(shard), vpackBytes { $0.add(job.jobId) })
        write.require(shardPath, planUnchanged(collection, shard))
        let currentPath = AgencyLayout.currentShard(database: database, collectionId: collectionId, shard: shard)
        write.require(currentPath + "/servers", .old(vpackBytes { $0.add(strings: report?.servers ?? []) }))
        write.require(currentPath + "/failoverCandidates", .old(vpackBytes { $0.add(strings: candidates) }))
        write.require(AgencyLayout.supervisionShardLock(shard), .oldEmpty(true))
        write.require(AgencyLayout.supervisionServerLock(to), .oldEmpty(true))
        write.requireHealth(from, .failed)
        write.requireHealth(to, .good)
        writes.append(write)
        touched.insert(shard)
        waiting[job.jobId] = nil
        notes.append("job \(job.jobId) FailedLeader promotes \(to) to leader of \(shard) (\(database)/\(collection.name)) in place of FAILED \(from); Plan \(newPlan)")
    }

    /// Finished once the new leader reports itself first in Current (it has taken over);
    /// Failed if the new leader failed too, or Plan moved elsewhere.
    mutating func checkFailedLeader(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let database = job.database, let collectionId = job.collection, let shard = job.shard, let to = job.toServer else { return }
        let planned = view.plan.collections[database]?[collectionId]?.shards[shard]
        let report = view.current.shard(database: database, collectionId: collectionId, shard: shard)
        var write: AgencyWrite
        if planned == nil {
            write = ending(job, bytes, from: AgencyLayout.targetPending) { $0.reason = "the collection is gone" }
        } else if planned?.first != to {
            write = ending(job, bytes, from: AgencyLayout.targetPending, failure: "Plan no longer names \(to) leader of \(shard)")
        } else if report?.servers.first == to {
            write = ending(job, bytes, from: AgencyLayout.targetPending)
            notes.append("job \(job.jobId) FailedLeader finished: \(to) leads \(shard), in sync \(report?.servers ?? [])")
        } else if status(to) == .failed {
            write = ending(job, bytes, from: AgencyLayout.targetPending, failure: "the new leader \(to) failed before it took over")
            notes.append("job \(job.jobId) FailedLeader failed: \(to) FAILED before taking over \(shard)")
        } else {
            return
        }
        if view.shardLocks[shard] == job.jobId { write.delete(AgencyLayout.supervisionShardLock(shard)) }
        writes.append(write)
    }

    // MARK: FailedFollower

    /// Replaces a FAILED follower by the spare GOOD server with the fewest copies, ToDo →
    /// Finished in one transaction; waits while there is no spare.
    mutating func startFailedFollower(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let database = job.database, let collectionId = job.collection, let shard = job.shard, let from = job.fromServer else { return }
        guard let collection = view.plan.collections[database]?[collectionId], let planned = collection.shards[shard], planned.contains(from) else {
            writes.append(ending(job, bytes, from: AgencyLayout.targetToDo) { $0.reason = "\(from) no longer holds \(shard)" })
            return
        }
        guard planned.first != from else { return wait(job, "\(from) leads \(shard) again; a FailedLeader handles it") }
        guard status(from) == .failed else { return wait(job, "\(from) is not FAILED") }
        if let holder = view.shardLocks[shard] { return wait(job, "shard \(shard) is locked by job \(holder)") }
        guard !touched.contains(shard) else { return }
        let report = view.current.shard(database: database, collectionId: collectionId, shard: shard)
        // Not a server Current still lists: its copy may be gone (`CurrentShard.listedServers`).
        let excluded = Set(planned).union(report?.listedServers ?? [])
        guard let to = view.spareServers(excluding: excluded).first(where: { status($0) == .good }) else {
            return wait(job, "no spare GOOD DBServer for a copy of \(shard)")
        }
        let newPlan = planned.map { $0 == from ? to : $0 }
        var write = ending(job, bytes, from: AgencyLayout.targetToDo) { $0.toServer = to }
        let shardPath = AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard)
        write.set(shardPath, vpackBytes { $0.add(strings: newPlan) })
        write.increment(AgencyLayout.planVersion)
        write.require(shardPath, planUnchanged(collection, shard))
        write.require(AgencyLayout.supervisionShardLock(shard), .oldEmpty(true))
        write.requireHealth(from, .failed)
        write.requireHealth(to, .good)
        writes.append(write)
        touched.insert(shard)
        notes.append("job \(job.jobId) FailedFollower replaces FAILED \(from) by \(to) as follower of \(shard); Plan \(newPlan)")
    }

    // MARK: Replication factor

    /// Creates AddFollower where a shard has fewer live copies (planned servers not FAILED)
    /// than its replication factor, and RemoveFollower where Plan lists more servers than the
    /// factor and at least the factor are in sync. Skips shards that are locked, have a job,
    /// or whose leader is FAILED (a FailedLeader comes first).
    mutating func enforceReplication() {
        let active = view.activeJobs
        var queued = view.toDo.filter { $0.job.type == .addFollower || $0.job.type == .removeFollower }.count
        let busy = Set(active.compactMap(\.shard))
        for (database, collection, shard, planned) in view.plannedShards where collection.replicationFactor > 1 && !collection.isBuilding {
            guard queued < options.replicationJobsMax else { return }
            guard let leader = planned.first, status(leader) != .failed, !busy.contains(shard), view.shardLocks[shard] == nil,
                  !touched.contains(shard) else { continue }
            let live = planned.filter { status($0) != .failed }
            if live.count < collection.replicationFactor {
                guard !view.spareServers(excluding: Set(planned)).isEmpty else { continue }
                createShardJob(.addFollower, database: database, collectionId: collection.id, shard: shard,
                               why: "\(shard) has \(live.count) live copies of \(collection.replicationFactor)")
                queued += 1
            } else if planned.count > collection.replicationFactor {
                let report = view.current.shard(database: database, collectionId: collection.id, shard: shard)
                let inSync = planned.filter { report?.servers.contains($0) == true }
                guard report?.servers.first == leader, inSync.count >= collection.replicationFactor else { continue }
                createShardJob(.removeFollower, database: database, collectionId: collection.id, shard: shard,
                               why: "\(shard) has \(planned.count) planned copies of \(collection.replicationFactor)")
                queued += 1
            }
        }
    }

    /// The planned shard a shard job is about, when the job may act on it now: a job whose
    /// collection is gone ends as done; one whose shard is locked by another job, or that this
    /// round already changed, waits.
    mutating func plannedShard(of job: SupervisionJob, _ bytes: [UInt8])
        -> (database: String, collectionId: String, shard: String, collection: PlanCollection, planned: [String])? {
        guard let database = job.database, let collectionId = job.collection, let shard = job.shard else { return nil }
        guard let collection = view.plan.collections[database]?[collectionId], let planned = collection.shards[shard] else {
            writes.append(ending(job, bytes, from: AgencyLayout.targetToDo) { $0.reason = "the collection is gone" })
            return nil
        }
        if let holder = view.shardLocks[shard] {
            wait(job, "shard \(shard) is locked by job \(holder)")
            return nil
        }
        guard !touched.contains(shard) else { return nil }
        return (database, collectionId, shard, collection, planned)
    }

    /// Creates a job for one shard (AddFollower, RemoveFollower) and notes why.
    mutating func createShardJob(_ type: SupervisionJobType, database: String, collectionId: String, shard: String, why: String) {
        var jobId = ""
        writes.append(newJob(type) { job in
            job.database = database
            job.collection = collectionId
            job.shard = shard
            jobId = job.jobId
        })
        touched.insert(shard)
        notes.append("job \(jobId) \(type == .addFollower ? "AddFollower" : "RemoveFollower"): \(why)")
    }

    /// Appends spare GOOD servers to the shard's Plan until it has the factor's live copies;
    /// the new followers resync on their own. ToDo → Finished in one transaction.
    mutating func runAddFollower(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let (database, collectionId, shard, collection, planned) = plannedShard(of: job, bytes) else { return }
        let needed = collection.replicationFactor - planned.filter { status($0) != .failed }.count
        guard needed > 0 else {
            writes.append(ending(job, bytes, from: AgencyLayout.targetToDo) { $0.reason = "the shard has enough copies" })
            return
        }
        let report = view.current.shard(database: database, collectionId: collectionId, shard: shard)
        // Not a server Current still lists: its copy may be gone (`CurrentShard.listedServers`).
        let chosen = Array(view.spareServers(excluding: Set(planned).union(report?.listedServers ?? [])).prefix(needed))
        guard !chosen.isEmpty else { return wait(job, "no spare GOOD DBServer for \(shard)") }
        var write = ending(job, bytes, from: AgencyLayout.targetToDo) { $0.newFollowers = chosen }
        let shardPath = AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard)
        write.set(shardPath, vpackBytes { $0.add(strings: planned + chosen) })
        write.increment(AgencyLayout.planVersion)
        write.require(shardPath, planUnchanged(collection, shard))
        write.require(AgencyLayout.supervisionShardLock(shard), .oldEmpty(true))
        for server in chosen {
            write.requireHealth(server, .good)
        }
        writes.append(write)
        touched.insert(shard)
        notes.append("job \(job.jobId) AddFollower adds \(chosen) to \(shard); Plan \(planned + chosen)")
    }

    /// Removes followers beyond the replication factor — FAILED ones first, then BAD, then
    /// those not in sync, then the last in-sync ones — while at least the factor stay in sync.
    mutating func runRemoveFollower(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let (database, collectionId, shard, collection, planned) = plannedShard(of: job, bytes) else { return }
        let excess = planned.count - collection.replicationFactor
        guard excess > 0 else {
            writes.append(ending(job, bytes, from: AgencyLayout.targetToDo) { $0.reason = "the shard has no excess copy" })
            return
        }
        let report = view.current.shard(database: database, collectionId: collectionId, shard: shard)
        let inSync = Set(report?.servers ?? [])
        guard report?.servers.first == planned.first, planned.filter(inSync.contains).count >= collection.replicationFactor else {
            return wait(job, "fewer than \(collection.replicationFactor) copies of \(shard) are in sync")
        }
        func rank(_ server: String) -> Int {
            switch status(server) {
            case .failed: 0
            case .bad: 1
            default: inSync.contains(server) ? 3 : 2
            }
        }
        let followers = Array(planned.dropFirst().enumerated())
        let removed = followers.sorted { (rank($0.element), -$0.offset) < (rank($1.element), -$1.offset) }.prefix(excess).map(\.element)
        // Keep at least the factor in sync after the removal.
        guard planned.filter({ inSync.contains($0) && !removed.contains($0) }).count >= collection.replicationFactor
                || removed.allSatisfy({ !inSync.contains($0) }) else {
            return wait(job, "removing \(removed) would leave fewer than \(collection.replicationFactor) copies of \(shard) in sync")
        }
        let newPlan = planned.filter { !removed.contains($0) }
        var write = ending(job, bytes, from: AgencyLayout.targetToDo) { $0.fromServer = removed.joined(separator: ",") }
        let shardPath = AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard)
        write.set(shardPath, vpackBytes { $0.add(strings: newPlan) })
        write.increment(AgencyLayout.planVersion)
        write.require(shardPath, planUnchanged(collection, shard))
        write.require(AgencyLayout.currentShard(database: database, collectionId: collectionId, shard: shard) + "/servers",
                      .old(vpackBytes { $0.add(strings: report?.servers ?? []) }))
        write.require(AgencyLayout.supervisionShardLock(shard), .oldEmpty(true))
        writes.append(write)
        touched.insert(shard)
        notes.append("job \(job.jobId) RemoveFollower removes \(removed) from \(shard); Plan \(newPlan)")
    }

    // MARK: Housekeeping

    /// Keeps the newest `finishedJobsKept` Finished and `failedJobsKept` Failed jobs.
    mutating func cleanUpOldJobs() {
        var write = AgencyWrite()
        for (ids, stage, kept) in [(view.finishedIds, AgencyLayout.targetFinished, options.finishedJobsKept),
                                   (view.failedIds, AgencyLayout.targetFailed, options.failedJobsKept)] where ids.count > kept {
            for id in ids.prefix(ids.count - kept) { write.delete(AgencyLayout.job(id, in: stage)) }
        }
        if !write.operations.isEmpty { writes.append(write) }
    }
}
