import ClusterLogic
import VelocyPack

/// The jobs that move copies on purpose (`Protocol/Cluster.md` §8): MoveShard, and the two
/// jobs made of MoveShards, CleanOutServer and ResignLeadership. ArangoDB's layout and life
/// cycle; every step one transaction that requires the state it was decided from.
///
/// A leader move hands the shard over without losing or doubling a write:
/// 1. `to` joins as a follower (Plan `[from, to, …]`) and resyncs;
/// 2. once Current lists `to` in sync, Plan asks `from` to resign (`"_from"` first);
/// 3. `from` refuses new writes, lets the writes under way finish on its in-sync followers
///    (`to` among them), stops acknowledging, and reports `"_from"` first in Current;
/// 4. Plan becomes `[to, others…, from]`: `to` claims the shard with a new epoch, `from`
///    follows it and resyncs;
/// 5. once `to` leads with every live follower in sync, `from` leaves Plan (unless it stays a
///    follower).
/// A FAILED `to` aborts the move (Plan as before, `to` out again); a FAILED `from` before the
/// switch hands the shard to `to` when Current lists it in sync (as a FailedLeader would),
/// and aborts otherwise, so that the failure jobs the move's lock holds back can run.
extension AgencyWrite {
    /// Requires supervision's health verdict of `server` to be `health` still.
    mutating func requireHealth(_ server: String, _ health: ServerHealth) {
        require(AgencyLayout.supervisionHealth(server) + "/Status", .old(vpackBytes { $0.add(health.rawValue) }))
    }
}

extension SupervisionRound {
    /// The precondition that a shard's Plan entry is still as read (stored form, with a
    /// resign marker when there is one).
    func planUnchanged(_ collection: PlanCollection, _ shard: String) -> AgencyWrite.Condition {
        .old(vpackBytes { $0.add(strings: collection.storedServers(of: shard)) })
    }

    func currentUnchanged(_ report: CurrentShard?) -> AgencyWrite.Condition {
        report.map { report in .old(vpackBytes { $0.add(strings: report.servers) }) } ?? .oldEmpty(true)
    }


    func isRegisteredDBServer(_ server: String) -> Bool {
        view.servers.contains { $0.id == server && $0.role == .dbServer }
    }

    /// The planned shards a CleanOutServer moves off `server` (every copy) or a
    /// ResignLeadership hands on (the ones it leads).
    func shardsToMove(off server: String, cleaning: Bool) -> [(database: String, collection: PlanCollection, shard: String, servers: [String])] {
        view.plannedShards.filter { $0.servers.contains(server) && (cleaning || $0.servers.first == server) }
    }

    /// Whether `server` may receive a copy: a registered DBServer that is not failed, cleaned
    /// out or being cleaned out. nil when it may; else why not.
    func refusesCopies(_ server: String) -> String? {
        guard isRegisteredDBServer(server) else { return "\(server) is not a registered DBServer" }
        if view.failedServers.contains(server) { return "\(server) is a failed server" }
        if view.cleanedServers.contains(server) || view.toBeCleanedList.contains(server) { return "\(server) is cleaned out or being cleaned out" }
        return nil
    }

    // MARK: MoveShard

    mutating func startMoveShard(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let database = job.database, let collectionId = job.collection, let shard = job.shard,
              let from = job.fromServer, let to = job.toServer else { return }
        func fail(_ reason: String) {
            writes.append(ending(job, bytes, from: AgencyLayout.targetToDo, failure: reason))
            notes.append("job \(job.jobId) MoveShard of \(shard) failed: \(reason)")
        }
        guard let collection = view.plan.collections[database]?[collectionId], let planned = collection.shards[shard] else {
            return fail("the collection is gone")
        }
        guard from != to else { return fail("fromServer and toServer are the same server") }
        guard let position = planned.firstIndex(of: from) else { return fail("\(from) holds no copy of \(shard) (Plan \(planned))") }
        let isLeader = position == 0
        if let claimed = job.isLeader, claimed != isLeader {
            return fail("\(from) is \(isLeader ? "the leader" : "a follower") of \(shard), not \(claimed ? "the leader" : "a follower")")
        }
        if let reason = refusesCopies(to) { return fail(reason) }
        switch status(to) {
        case .good: break
        case .failed: return fail("\(to) is FAILED")
        default: return wait(job, "\(to) is \(status(to)?.rawValue ?? "without a health record yet"), not GOOD")
        }
        if planned.contains(to) && !isLeader { return fail("\(to) already holds a copy of \(shard)") }
        if !planned.contains(to),
           view.current.shard(database: database, collectionId: collectionId, shard: shard)?.listedServers.contains(to) == true {
            // Plan dropped `to` earlier and its leader has not struck it from Current yet:
            // planned again now, that stale entry would count as an in-sync copy, though
            // `to` may have dropped its copy (`CurrentShard.listedServers`).
            return wait(job, "Current still lists \(to) for \(shard), which Plan dropped; its copy may be gone")
        }
        if collection.resigningLeaders.contains(shard) { return wait(job, "the leader of \(shard) is resigning") }
        if let holder = view.shardLocks[shard] { return wait(job, "shard \(shard) is locked by job \(holder)") }
        for server in [from, to] {
            if let holder = view.serverLocks[server], holder != job.parentJob { return wait(job, "server \(server) is locked by job \(holder)") }
        }
        guard !touched.contains(shard) else { return }
        let adds = !planned.contains(to)
        var newPlan = planned
        if adds {
            // A leader move puts `to` right after the leader (the first follower), a follower
            // move at the end.
            if isLeader { newPlan.insert(to, at: 1) } else { newPlan.append(to) }
        }
        var write = starting(job, bytes) { started in
            started.isLeader = isLeader
            if adds { started.newFollowers = [to] }
            if started.remainsFollower == nil { started.remainsFollower = isLeader && !adds }
        }
        let shardPath = AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard)
        if adds {
            write.set(shardPath, vpackBytes { $0.add(strings: newPlan) })
            write.increment(AgencyLayout.planVersion)
        }
        write.set(AgencyLayout.supervisionShardLock(shard), vpackBytes { $0.add(job.jobId) })
        write.require(shardPath, planUnchanged(collection, shard))
        write.require(AgencyLayout.supervisionShardLock(shard), .oldEmpty(true))
        write.requireHealth(to, .good)
        if let parent = job.parentJob {
            write.require(AgencyLayout.supervisionServerLock(from), .old(vpackBytes { $0.add(parent) }))
        }
        writes.append(write)
        touched.insert(shard)
        waiting[job.jobId] = nil
        notes.append("job \(job.jobId) MoveShard started: \(isLeader ? "leader" : "follower") copy of \(shard) (\(database)/\(collection.name)) \(from) → \(to); Plan \(newPlan)")
    }

    mutating func checkMoveShard(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let database = job.database, let collectionId = job.collection, let shard = job.shard,
              let from = job.fromServer, let to = job.toServer, !touched.contains(shard) else { return }
        /// Fails the job and frees the shard, leaving Plan as it is.
        func failInPlace(_ reason: String) {
            var write = ending(job, bytes, from: AgencyLayout.targetPending, failure: reason)
            releaseShardLock(&write, shard: shard, job: job)
            writes.append(write)
        }
        guard let collection = view.plan.collections[database]?[collectionId], let planned = collection.shards[shard] else {
            return failInPlace("the collection is gone")
        }
        let report = view.current.shard(database: database, collectionId: collectionId, shard: shard)
        let inSync = report?.servers ?? []
        let shardPath = AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard)
        let resigning = collection.resigningLeaders.contains(shard)

        /// A Plan change for this shard, requiring Plan (and optionally Current) as read.
        func planWrite(_ newPlan: [String], requireCurrent: Bool, ending: Bool, failure: String? = nil) -> AgencyWrite {
            var write = ending ? self.ending(job, bytes, from: AgencyLayout.targetPending, failure: failure) : AgencyWrite()
            if newPlan != collection.storedServers(of: shard) {
                write.set(shardPath, vpackBytes { $0.add(strings: newPlan) })
                write.increment(AgencyLayout.planVersion)
            }
            write.require(shardPath, planUnchanged(collection, shard))
            if requireCurrent {
                write.require(AgencyLayout.currentShard(database: database, collectionId: collectionId, shard: shard) + "/servers",
                              currentUnchanged(report))
            }
            if ending { releaseShardLock(&write, shard: shard, job: job) }
            return write
        }
        /// Undo: Plan as before the move (no resign marker, `to` out again when the job added it).
        func abort(_ reason: String) {
            let added = job.newFollowers?.contains(to) == true
            let restored = planned.filter { !(added && $0 == to) }
            writes.append(planWrite(restored, requireCurrent: false, ending: true, failure: reason))
            touched.insert(shard)
            notes.append("job \(job.jobId) MoveShard of \(shard) aborted: \(reason); Plan back to \(restored)")
        }
        /// Hands the leadership to `to`: Plan `[to, other followers…, from]`.
        func switchLeader(_ why: String, fromFailed: Bool = false) {
            let newPlan = [to] + planned.filter { $0 != from && $0 != to } + [from]
            var write = planWrite(newPlan, requireCurrent: true, ending: false)
            write.requireHealth(to, .good)
            if fromFailed {
                write.requireHealth(from, .failed)
            }
            writes.append(write)
            touched.insert(shard)
            notes.append("job \(job.jobId) MoveShard: \(to) takes over \(shard) from \(from) (\(why)); Plan \(newPlan)")
        }

        guard job.isLeader == true else {
            // A follower move: `to` joins; once it is in sync, `from` leaves.
            guard planned.contains(to) else { return abort("\(to) is no longer planned for \(shard)") }
            if status(to) == .failed { return abort("\(to) FAILED during the move") }
            if let leader = planned.first, leader != to, status(leader) == .failed {
                return abort("the leader \(leader) of \(shard) FAILED; its failover goes first")
            }
            guard inSync.first == planned.first, inSync.contains(to) else {
                return wait(job, "\(to) is resyncing \(shard) (in sync: \(inSync))")
            }
            writes.append(planWrite(planned.filter { $0 != from }, requireCurrent: true, ending: true))
            touched.insert(shard)
            notes.append("job \(job.jobId) MoveShard finished: \(to) holds \(shard) in sync, \(from) dropped")
            return
        }

        if planned.first == from {
            guard planned.contains(to) else { return abort("\(to) is no longer planned for \(shard)") }
            if status(to) == .failed { return abort("\(to) FAILED during the move") }
            if status(from) == .failed {
                // The leader died mid-move: its in-sync follower `to` takes over now, as a
                // FailedLeader would have it (Current lists `to` in sync, so it holds every
                // acknowledged write); otherwise the failover jobs decide.
                guard inSync.contains(to), status(to) == .good else { return abort("the leader \(from) FAILED before \(to) was in sync") }
                return switchLeader("\(from) FAILED, \(to) is in sync", fromFailed: true)
            }
            if !resigning {
                guard inSync.first == from, inSync.contains(to) else {
                    return wait(job, "\(to) is resyncing \(shard) (in sync: \(inSync))")
                }
                // Ask the leader to resign.
                var newPlan = collection.storedServers(of: shard)
                newPlan[0] = PlanCollection.resignMarker + from
                writes.append(planWrite(newPlan, requireCurrent: true, ending: false))
                touched.insert(shard)
                notes.append("job \(job.jobId) MoveShard: \(to) is in sync; asking \(from) to hand \(shard) over")
                return
            }
            guard report?.resignedLeader == from else { return wait(job, "\(from) is handing \(shard) over") }
            guard inSync.contains(to) else { return abort("\(to) left the in-sync set of \(shard) during the hand-over") }
            return switchLeader("\(from) resigned")
        }

        guard planned.first == to else { return failInPlace("Plan moved \(shard) elsewhere: \(planned)") }
        // `to` leads in Plan: done once it has taken over and every live follower but `from`
        // is back in sync with it.
        let followers = planned.filter { $0 != to && $0 != from && status($0) != .failed }
        guard inSync.first == to, followers.allSatisfy(inSync.contains) else {
            if status(to) == .failed {
                // Too late to go back: the failover jobs take it from here.
                return failInPlace("the new leader \(to) FAILED after the switch")
            }
            return wait(job, "\(to) is taking over \(shard) (in sync: \(inSync))")
        }
        let remains = job.remainsFollower ?? false
        writes.append(planWrite(remains ? planned : planned.filter { $0 != from }, requireCurrent: true, ending: true))
        touched.insert(shard)
        notes.append("job \(job.jobId) MoveShard finished: \(to) leads \(shard)\(remains ? ", \(from) follows" : ", \(from) dropped")")
    }

    func releaseShardLock(_ write: inout AgencyWrite, shard: String, job: SupervisionJob) {
        if view.shardLocks[shard] == job.jobId {
            write.delete(AgencyLayout.supervisionShardLock(shard))
            write.require(AgencyLayout.supervisionShardLock(shard), .old(vpackBytes { $0.add(job.jobId) }))
        }
    }

    // MARK: CleanOutServer and ResignLeadership

    /// CleanOutServer: one MoveShard per copy the server holds, each to the usable DBServer
    /// with the fewest copies that holds none of that shard; the server is locked and listed
    /// in `Target/ToBeCleanedServers` (no new copies go there) until the moves are done.
    /// ResignLeadership: one leader MoveShard per shard the server leads, to an in-sync
    /// follower that is GOOD, keeping the server as follower; shards without one are skipped.
    mutating func startServerJob(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let server = job.server else { return }
        let cleaning = job.type == .cleanOutServer
        let name = cleaning ? "CleanOutServer" : "ResignLeadership"
        func fail(_ reason: String) {
            writes.append(ending(job, bytes, from: AgencyLayout.targetToDo, failure: reason))
            notes.append("job \(job.jobId) \(name) of \(server) failed: \(reason)")
        }
        guard isRegisteredDBServer(server) else { return fail("\(server) is not a registered DBServer") }
        if cleaning, view.cleanedServers.contains(server) { return fail("\(server) is cleaned out already") }
        if cleaning, view.toBeCleanedList.contains(server) { return fail("\(server) is being cleaned out by another job") }
        switch status(server) {
        case .good: break
        case .failed: return fail("\(server) is FAILED")
        default: return wait(job, "\(server) is \(status(server)?.rawValue ?? "without a health record yet"), not GOOD")
        }
        if let holder = view.serverLocks[server] { return wait(job, "server \(server) is locked by job \(holder)") }
        let shards = shardsToMove(off: server, cleaning: cleaning)
        if let busy = shards.first(where: { view.shardLocks[$0.shard] != nil || touched.contains($0.shard) }) {
            return wait(job, "shard \(busy.shard) is locked by job \(view.shardLocks[busy.shard] ?? "of this round")")
        }
        // Choose the targets, counting the copies each target receives.
        var copies: [String: Int] = [:]
        for planned in view.plannedShards { for id in planned.servers { copies[id, default: 0] += 1 } }
        var moves: [(database: String, collection: PlanCollection, shard: String, to: String, isLeader: Bool)] = []
        var skipped: [String] = []
        for (database, collection, shard, planned) in shards {
            let isLeader = planned.first == server
            let to: String?
            let report = view.current.shard(database: database, collectionId: collection.id, shard: shard)
            if cleaning {
                // Not a server Current still lists: its copy may be gone (`CurrentShard.listedServers`).
                to = view.spareServers(excluding: Set(planned).union([server]).union(report?.listedServers ?? []))
                    .min { (copies[$0] ?? 0, $0) < (copies[$1] ?? 0, $1) }
            } else {
                to = report?.servers.first(where: { id in
                    id != server && planned.contains(id) && status(id) == .good && view.serverLocks[id] == nil
                })
            }
            guard let to else {
                if cleaning { return fail("no DBServer can take \(shard) (it has \(planned.count) copies; every usable server holds one or none is left)") }
                skipped.append(shard)
                continue
            }
            copies[to, default: 0] += 1
            moves.append((database, collection, shard, to, isLeader))
        }
        var write = starting(job, bytes)
        for (number, move) in moves.enumerated() {
            var sub = SupervisionJob(type: .moveShard, jobId: "\(job.jobId)-\(number + 1)", timeCreated: time)
            sub.creator = job.creator
            sub.parentJob = job.jobId
            sub.describeMove(database: move.database, collection: move.collection.id, shard: move.shard,
                             from: server, to: move.to, isLeader: move.isLeader, remainsFollower: !cleaning)
            write.set(AgencyLayout.job(sub.jobId, in: AgencyLayout.targetToDo), sub.vpack)
        }
        write.set(AgencyLayout.supervisionServerLock(server), vpackBytes { $0.add(job.jobId) })
        write.require(AgencyLayout.supervisionServerLock(server), .oldEmpty(true))
        write.requireHealth(server, .good)
        // The targets were chosen from this Plan.
        write.require(AgencyLayout.planVersion, .old(vpackBytes { $0.add(view.plan.version) }))
        if cleaning {
            write.set(AgencyLayout.targetToBeCleanedServers, vpackBytes { $0.add(strings: view.toBeCleanedList + [server]) })
            write.require(AgencyLayout.targetToBeCleanedServers, view.toBeCleanedBytes.map { .old($0) } ?? .oldEmpty(true))
        }
        writes.append(write)
        for move in moves { touched.insert(move.shard) }
        waiting[job.jobId] = nil
        notes.append("job \(job.jobId) \(name) of \(server) started: \(moves.count) moves (\(moves.map { "\($0.shard) → \($0.to)" }.joined(separator: ", ")))"
                     + (skipped.isEmpty ? "" : "; no in-sync follower for \(skipped.joined(separator: ", "))"))
    }

    /// Finished once no sub-job is left; Failed (with the sub-jobs not started cancelled) as
    /// soon as one failed. A finished CleanOutServer lists the server in
    /// `Target/CleanedServers` when Plan gives it no copy any more.
    mutating func checkServerJob(_ job: SupervisionJob, _ bytes: [UInt8]) {
        guard let server = job.server else { return }
        let cleaning = job.type == .cleanOutServer
        let name = cleaning ? "CleanOutServer" : "ResignLeadership"
        let children = view.toDo.filter { $0.job.parentJob == job.jobId }
        let running = view.pending.filter { $0.job.parentJob == job.jobId }
        // A failed sub-job, or the server itself FAILED (its failover must not wait for this
        // job's lock): the moves not started are cancelled, the job fails once the running ones ended.
        let failure = view.failedIds.first { $0.hasPrefix(job.jobId + "-") }.map { "sub-job \($0) failed" }
            ?? (status(server) == .failed ? "\(server) FAILED" : nil)
        var write: AgencyWrite
        if let failure {
            guard running.isEmpty else { return wait(job, "\(failure); waiting for the moves under way") }
            write = ending(job, bytes, from: AgencyLayout.targetPending, failure: failure)
            for (child, childBytes) in children {
                write.delete(AgencyLayout.job(child.jobId, in: AgencyLayout.targetToDo))
                write.require(AgencyLayout.job(child.jobId, in: AgencyLayout.targetToDo), .old(childBytes))
            }
            notes.append("job \(job.jobId) \(name) of \(server) failed: \(failure); \(children.count) moves not started are cancelled")
        } else if children.isEmpty && running.isEmpty {
            let left = shardsToMove(off: server, cleaning: cleaning).map(\.shard)
            if cleaning && !left.isEmpty {
                write = ending(job, bytes, from: AgencyLayout.targetPending, failure: "\(server) still holds \(left.joined(separator: ", "))")
                notes.append("job \(job.jobId) CleanOutServer of \(server) failed: it still holds \(left)")
            } else {
                write = ending(job, bytes, from: AgencyLayout.targetPending)
                if cleaning {
                    write.set(AgencyLayout.targetCleanedServers, vpackBytes { $0.add(strings: view.cleanedList + [server]) })
                    write.require(AgencyLayout.targetCleanedServers, view.cleanedBytes.map { .old($0) } ?? .oldEmpty(true))
                }
                notes.append("job \(job.jobId) \(name) of \(server) finished" + (cleaning ? ": it holds no copy and gets none" : "")
                             + (!cleaning && !left.isEmpty ? "; it still leads \(left) (no in-sync follower)" : ""))
            }
        } else {
            return
        }
        if cleaning {
            write.set(AgencyLayout.targetToBeCleanedServers, vpackBytes { $0.add(strings: view.toBeCleanedList.filter { $0 != server }) })
            write.require(AgencyLayout.targetToBeCleanedServers, view.toBeCleanedBytes.map { .old($0) } ?? .oldEmpty(true))
        }
        if view.serverLocks[server] == job.jobId {
            write.delete(AgencyLayout.supervisionServerLock(server))
            write.require(AgencyLayout.supervisionServerLock(server), .old(vpackBytes { $0.add(job.jobId) }))
        }
        writes.append(write)
    }
}
