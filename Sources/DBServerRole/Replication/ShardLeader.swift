import ArangoAPI
import ClusterLogic
import Documents
import Replication
import Storage
import TesseraPlatform
import Transport
import VelocyPack

/// The driver of one led shard's replication: owns the ``LeaderReplication`` core on the
/// event loop and carries out its actions — reads the shard's log and sends batches to the
/// followers, answers the writes waiting for them, changes the in-sync set in the agency.
///
/// It is the shard's ``WriteReplication``: the document layer asks it to admit writes (from
/// any thread, answered from a lock-protected copy of the core's verdict) and hands it each
/// write's acknowledgement (hopping onto the loop).
///
/// `@unchecked Sendable`: `core`, `waiting` and `nextToken` are touched only on the loop
/// thread; `admissionRefusal` is behind its lock.
final class ShardLeader: WriteReplication, @unchecked Sendable {
    let service: ReplicationService
    let database: String
    let collectionId: String
    let shard: String
    let collection: DocumentCollection
    var core: LeaderReplication
    /// Plan's servers for the shard as stored, leader first (the agency changes' precondition;
    /// the leader carries the resign marker while Plan asks it to hand the shard over).
    var planServers: [String]
    /// A planned leader move (`Protocol/Replication.md`, "Handing a shard over").
    enum HandOver: Equatable {
        case none
        /// New writes are refused; the writes under way finish. Since (loop ms).
        case draining(since: UInt64)
        /// Nothing more is acknowledged here; Current is being told.
        case reporting
        /// Current names this server resigned; supervision hands the shard on.
        case reported
    }
    var handOver = HandOver.none
    /// The longest the hand-over lets writes under way finish before it fails them.
    static let handOverDrainMilliseconds: UInt64 = 1_000
    var waiting: [UInt64: @Sendable (DocumentError?) -> Void] = [:]
    var nextToken: UInt64 = 1
    var resigned = false
    let admissionRefusal = Locked<DocumentError?>(nil)
    /// When each follower joined (for the hold measurement): loop milliseconds.
    var joinStarted: [String: UInt64] = [:]
    /// Batches the core asked for in this loop turn, sent at its end so that every write of
    /// the turn travels in one batch per follower.
    var queuedSends: [(follower: String, after: UInt64, waitForSync: Bool)] = []
    var sendsScheduled = false

    var stream: StreamIdentity {
        StreamIdentity(database: database, shard: shard, leader: core.leader, epoch: core.epoch)
    }

    init(service: ReplicationService, database: String, collectionId: String, shard: String, collection: DocumentCollection,
         epoch: UInt64, writeConcern: Int, planServers: [String], agencyInSync: [String], agencyVersion: UInt64) {
        self.service = service
        self.database = database
        self.collectionId = collectionId
        self.shard = shard
        self.collection = collection
        self.planServers = planServers
        core = LeaderReplication(leader: service.serverId, epoch: epoch, writeConcern: writeConcern,
                                 head: collection.engine.merkleTreeAndSequence().sequence,
                                 // The agency's list as it is, even when it names the previous
                                 // leader first (a failover): the first change then replaces it
                                 // with the right precondition at once.
                                 inSyncServers: agencyInSync.isEmpty ? [service.serverId] : agencyInSync,
                                 agencyVersion: agencyVersion,
                                 settings: service.leaderSettings)
        collection.engine.enableReplicationTail()
        updateAdmission()
    }

    // MARK: WriteReplication

    func refusal() -> DocumentError? { admissionRefusal.withLock { $0 } }

    func replicate(upTo sequence: UInt64, durable: Bool, _ completion: @escaping @Sendable (DocumentError?) -> Void) {
        service.onLoop { [self] in
            guard !resigned else {
                completion(ReplicationError.resigned("this server no longer leads \(shard)").arangoError)
                return
            }
            let token = nextToken
            nextToken += 1
            waiting[token] = completion
            run(core.wrote(upTo: sequence, token: token, durable: durable))
        }
    }

    // MARK: Driving the core (loop thread)

    func run(_ actions: [LeaderReplication.Action]) {
        for action in actions {
            switch action {
            case let .send(follower, after, waitForSync):
                queuedSends.append((follower, after, waitForSync))
                if !sendsScheduled {
                    sendsScheduled = true
                    service.loop.beforeOutputLeaves { [self] in sendQueued() }
                }
            case .complete(let token):
                waiting.removeValue(forKey: token)?(nil)
            case let .fail(token, error):
                waiting.removeValue(forKey: token)?(error.arangoError)
            case let .changeInSync(old, new, version, reason):
                changeInSync(old: old, new: new, version: version, reason: reason)
            case let .stopStream(follower, session):
                joinStarted[follower] = nil
                service.notifyStreamStopped(stream, follower: follower, session: session)
            }
        }
        updateAdmission()
        if case .draining = handOver { continueHandOver() }
    }

    func updateAdmission() {
        let refusal = handOver != .none ? ReplicationError.handingOver("\(shard) is being handed to its next leader").arangoError
            : resigned ? ReplicationError.resigned("this server no longer leads \(shard)").arangoError
            : core.admission()?.arangoError
        admissionRefusal.withLock { $0 = refusal }
    }

    /// Sends the batches queued in this turn (each reads the log up to its end).
    func sendQueued() {
        sendsScheduled = false
        guard !resigned else { return queuedSends.removeAll() }
        let sends = queuedSends
        queuedSends.removeAll(keepingCapacity: true)
        for send in sends { sendBatch(to: send.follower, after: send.after, waitForSync: send.waitForSync) }
    }

    func sendBatch(to follower: String, after: UInt64, waitForSync: Bool) {
        let records: [LogRecord]
        do {
            records = try collection.engine.records(after: after, limit: service.batchOperationCountMax,
                                                    byteLimit: service.batchByteCountMax)
        } catch {
            run(core.batchFailed(for: follower, reason: "cannot read the log after \(after): \(error)", now: service.now))
            return
        }
        guard !records.isEmpty else {
            core.nothingToSend(to: follower)
            return
        }
        let batch = ApplyBatch(stream: stream, previous: after, waitForSync: waitForSync,
                               operations: records.map(ReplicatedOperation.init(record:)))
        let bytes = batch.vpack
        service.statistics.withLock {
            $0.batchesSent += 1
            $0.operationsSent += UInt64(records.count)
            $0.bytesSent += UInt64(bytes.count)
        }
        let epoch = core.epoch
        service.links.send(to: follower, database: database, path: ReplicationRoutes.applyPath, body: bytes,
                           timeoutSeconds: Double(core.settings.followerTimeoutMilliseconds) / 1000) { [self] result in
            guard !resigned, core.epoch == epoch else { return }
            switch result {
            case .success(let body):
                do throws(ReplicationError) {
                    let answer = try ApplyAnswer(decoding: body)
                    run(core.batchAnswered(by: follower, applied: answer.applied, now: service.now))
                } catch {
                    run(core.batchFailed(for: follower, reason: "unreadable answer: \(error)", now: service.now))
                }
            case .failure(let error):
                service.log.warning("replication: \(follower) failed a batch of \(shard): \(error.message)")
                run(core.batchFailed(for: follower, reason: error.message, now: service.now))
            }
        }
        run(core.batchSent(to: follower, last: batch.last, now: service.now))
    }

    func changeInSync(old: [String], new: [String], version: UInt64, reason: String) {
        for id in new where !old.contains(id) { joinStarted[id] = joinStarted[id] ?? service.now }
        let body = AgencyTransactions.changeInSyncServers(database: database, collectionId: collectionId, shard: shard,
                                                          planServers: planServers, oldServers: old, newServers: new,
                                                          version: version, epoch: core.epoch)
        let epoch = core.epoch
        let service = self.service
        service.log.info("replication: \(shard) in-sync servers \(old) → \(new) at version \(version) (\(reason))")
        Task {
            let outcome = await resolveChange(body, old: old, new: new, version: version)
            service.onLoop { [self] in
                guard !resigned, core.epoch == epoch else { return }
                if outcome.applied {
                    // Servers the agency listed that this leadership never streamed to (it
                    // restarted): their sessions belong to an older epoch; tell them to resync.
                    for name in old where !new.contains(name) {
                        // A resigned leader is listed under its marker; it gets the notice by its id.
                        let id = PlanCollection.unmarked(name).id
                        guard id != service.serverId, core.followers[id] == nil else { continue }
                        service.notifyStreamStopped(stream, follower: id, session: 0)
                    }
                    let now = service.now
                    for id in new where !old.contains(id) {
                        if let started = joinStarted.removeValue(forKey: id) {
                            service.statistics.withLock { $0.recordJoin(milliseconds: now - started) }
                        }
                    }
                }
                var actions = core.inSyncChangeFinished(applied: outcome.applied, now: service.now)
                if let actual = outcome.actual { actions += core.agencyLists(actual.servers, version: actual.version, now: service.now) }
                run(actions)
            }
        }
    }

    /// Sends an in-sync change and finds out for certain whether it applied. A lost answer
    /// (the agency unreachable, a timeout) fails the writes a dropped follower holds up at
    /// once, then fences the change (moving the version on, so it can never apply later)
    /// and reads the agency, retrying until it can.
    func resolveChange(_ body: [UInt8], old: [String], new: [String], version: UInt64) async
        -> (applied: Bool, actual: (servers: [String], version: UInt64)?) {
        let service = self.service
        do {
            if try await service.agency.write(envelope: body, clientID: nil).applied { return (true, nil) }
            // Refused: something moved; read what.
            return (false, await service.readInSync(database: database, collectionId: collectionId, shard: shard))
        } catch {
            service.log.warning("replication: no answer from the agency to the change of \(shard)'s in-sync servers: \(error)")
        }
        service.onLoop { [self] in run(core.changeUncertain(now: service.now)) }
        let fence = AgencyTransactions.fenceInSyncChange(database: database, collectionId: collectionId, shard: shard, version: version)
        while !Task.isCancelled {
            do {
                if try await service.agency.write(envelope: fence, clientID: nil).applied {
                    return (false, (old, version + 1))
                }
                guard let actual = await service.readInSync(database: database, collectionId: collectionId, shard: shard) else {
                    throw ArangoError(status: 503, .clusterBackendUnavailable, "cannot read Current")
                }
                if actual.version == version + 1 && actual.servers == new { return (true, nil) }
                return (false, actual)
            } catch {
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        return (false, nil)
    }

    /// A follower resynced up to `after`: stream from there.
    func startStream(to follower: String, after: UInt64) throws(ReplicationError) {
        guard planServers.dropFirst().contains(follower) else {
            throw .notTheLeader("Plan does not list \(follower) as a follower of \(shard)")
        }
        let (accepted, actions) = core.startStream(to: follower, after: after, now: service.now)
        run(actions)
        guard accepted else {
            throw .noSession("\(follower) still counts as in sync under its previous stream; it is being dropped, resync again")
        }
    }

    /// The follower began a resync: whatever stream this leader had to it is dead.
    func followerRestarted(_ follower: String) {
        guard core.followers[follower] != nil else { return }
        run(core.batchFailed(for: follower, reason: "it began a resync", now: service.now))
    }

    func tick() {
        guard !resigned else { return }
        run(core.tick(now: service.now))
    }

    /// Plan changed the shard's servers (`servers` as ids, `stored` as the agency holds them)
    /// or write concern.
    func planChanged(servers: [String], stored: [String], writeConcern: Int) {
        planServers = stored
        guard !resigned else { return }
        var actions = core.setWriteConcern(writeConcern)
        for follower in core.followers.keys.sorted() where !servers.contains(follower) {
            actions += core.removeFollower(follower, now: service.now)
        }
        run(actions)
    }

    // MARK: Handing the shard over

    /// Plan asks this leader to resign so that an in-sync follower can take over (a leader
    /// move). New writes are refused at once (1496, before anything is applied, so
    /// coordinators send them to the next leader); the writes already applied here finish on
    /// the followers, for at most ``handOverDrainMilliseconds``; then the leadership ends and
    /// Current lists this server as resigned, which is what supervision waits for.
    func beginHandOver() {
        guard handOver == .none, !resigned else { return }
        handOver = .draining(since: service.now)
        updateAdmission()
        service.log.info("replication: handing \(shard) over: new writes refused, \(waiting.count) under way finish first")
        continueHandOver()
    }

    func continueHandOver() {
        guard case .draining(let since) = handOver else { return }
        let elapsed = service.now - since
        // A change of the in-sync set under way must settle first: the report continues its
        // version chain.
        guard core.pendingChange == nil, waiting.isEmpty || elapsed >= Self.handOverDrainMilliseconds else { return }
        handOver = .reporting
        let failed = waiting.count
        resign("the shard was handed over")
        service.statistics.withLock { $0.recordHandOverHold(milliseconds: elapsed) }
        service.log.info("replication: \(shard) drained in \(elapsed) ms\(failed > 0 ? ", \(failed) writes not acknowledged" : ""); reporting the resignation")
        let old = core.inSyncServers, version = core.agencyVersion, epoch = core.epoch
        Task { [self] in
            let reported = await service.reportResigned(database: database, collectionId: collectionId, shard: shard,
                                                        planServers: planServers, old: old, version: version, epoch: epoch)
            // Not reported (Plan stopped asking, or the agency kept refusing): the next
            // Maintenance step reports over Current's list if Plan still asks.
            if !reported { service.log.warning("replication: \(shard): the resignation is not in Current yet") }
            service.onLoop { [self] in handOver = .reported }
        }
    }

    /// This server stops leading the shard: waiting writes fail, streams stop.
    func resign(_ reason: String) {
        guard !resigned else { return }
        let actions = core.resign(reason: reason)
        resigned = true
        run(actions)
        collection.engine.disableReplicationTail()
    }

    /// The shard distribution's view of this leader.
    func status() -> ShardReplicationStatus {
        ShardReplicationStatus(
            database: database, shard: shard, role: "leader", epoch: core.epoch, leader: core.leader,
            inSync: core.inSyncServers,
            followers: core.followers.keys.sorted().map { id in
                let state = core.followers[id]!
                return ShardReplicationStatus.Follower(id: id, phase: state.phase.rawValue, acked: state.acked, sent: state.sent,
                                                       unanswered: state.unanswered)
            },
            head: core.head, resync: nil)
    }
}

extension ReplicatedOperation {
    init(record: LogRecord) {
        let kind: Kind = switch record.kind {
        case .document: .document
        case .removal: .removal
        case .truncation: .truncation
        }
        self.init(kind: kind, sequence: record.sequence, revision: record.revision, key: record.key, flags: record.flags,
                  documentByteCount: record.documentByteCount, payload: record.payload)
    }
}

extension LogRecord {
    init(operation: ReplicatedOperation) {
        let kind: Kind = switch operation.kind {
        case .document: .document
        case .removal: .removal
        case .truncation: .truncation
        }
        self.init(kind: kind, flags: operation.flags, revision: operation.revision, sequence: operation.sequence,
                  documentByteCount: operation.documentByteCount, key: operation.key, payload: operation.payload)
    }
}
