import Raft
import RaftSimulation
import Replication

/// A deterministic simulation of one shard's synchronous replication: a leader, followers,
/// an agency holding the in-sync list, clients writing, and a network that loses, delays,
/// duplicates and reorders messages — all driven by one seed, with the real
/// ``LeaderReplication`` and ``FollowerReplication`` cores and a model of the shard engine.
///
/// Faults (drawn from the seed, during the fault window): follower crashes (the session is
/// lost, the data kept — or wiped), follower pauses, leader restarts (a new epoch), agency
/// outages, and a stale leader that keeps sending batches under an older epoch or another
/// name. After the window the network heals and the run settles.
///
/// Checkers (``ReplicationSimulationReport/violations``):
/// - **acknowledged writes**: when a write is answered, every follower the agency lists in
///   sync holds the stream up to it, and at least `writeConcern` copies do;
/// - **fencing**: a follower only ever applies the current leader's operation for a
///   sequence (never a stale leader's);
/// - **convergence**: after the settle period every follower is listed in sync and holds
///   the leader's documents byte for byte (keys, revisions, bodies);
/// - **no lost acknowledged write**: every acknowledged version still current on the
///   leader is on every copy.
public struct ReplicationSimulation {
    public let settings: ReplicationSimulationSettings
    var random: SeededGenerator
    var now: UInt64 = 0
    var events = EventQueue<EventKind>()
    var leader: SimulatedLeader
    var followers: [String: SimulatedFollower] = [:]
    var agency: SimulatedAgency
    var nextEpoch: UInt64 = 1
    var report = ReplicationSimulationReport()
    var trace: [String] = []
    var nextToken: UInt64 = 1
    var writes: [UInt64: PendingWrite] = [:]
    var revisionClock: UInt64 = 1_000
    /// Acknowledged versions: key → revision (a removal's too).
    var acknowledged: [String: UInt64] = [:]

    struct PendingWrite {
        let sequence: UInt64
        let key: String
        let revision: UInt64
        let body: [UInt8]?
    }

    public init(seed: UInt64, settings: ReplicationSimulationSettings? = nil) {
        var random = SeededGenerator(seed: seed)
        let settings = settings ?? ReplicationSimulationSettings.drawn(from: &random)
        self.settings = settings
        self.random = random
        let ids = (1..<settings.copies).map { "F\($0)" }
        agency = SimulatedAgency(inSync: ["L"])
        leader = SimulatedLeader(core: LeaderReplication(leader: "L", epoch: 1, writeConcern: settings.writeConcern, head: 0,
                                                         inSyncServers: ["L"], settings: settings.leaderSettings))
        nextEpoch = 2
        for id in ids { followers[id] = SimulatedFollower(id: id) }
    }

    // MARK: Running

    /// Runs the whole simulation and returns the report.
    public mutating func run(tracing: Bool = false) -> ReplicationSimulationReport {
        schedule(at: 0, .tick)
        schedule(at: 0, .clientWrite)
        schedule(at: 0, .staleLeader)
        for id in followers.keys.sorted() { schedule(at: 0, .maintenance(id)) }
        schedule(at: random.next(below: settings.faultMilliseconds / 2 + 1), .fault)
        let end = settings.faultMilliseconds + settings.settleMilliseconds
        while let (time, event) = events.popFirst(), UInt64(time) <= end {
            now = UInt64(time)
            if tracing { trace.append("\(now) \(event)") }
            handle(event)
            if report.violations.count > 20 { break }
        }
        now = end
        checkConvergence()
        report.trace = trace
        return report
    }

    mutating func schedule(at time: UInt64, _ kind: EventKind) {
        events.schedule(kind, at: Int(time))
    }

    var faultsActive: Bool { now < settings.faultMilliseconds }
    var writesActive: Bool { now < settings.faultMilliseconds + settings.settleMilliseconds / 3 }

    // MARK: Events

    mutating func handle(_ kind: EventKind) {
        switch kind {
        case .tick:
            runLeader(leader.core.tick(now: now))
            schedule(at: now + 50, .tick)
        case .clientWrite:
            clientWrite()
            if writesActive { schedule(at: now + 1 + random.next(below: 15), .clientWrite) }
        case .staleLeader:
            if faultsActive {
                staleLeaderSends()
                schedule(at: now + 50 + random.next(below: 300), .staleLeader)
            }
        case .maintenance(let id):
            maintenance(id)
            schedule(at: now + 100, .maintenance(id))
        case .fault:
            fault()
            if faultsActive { schedule(at: now + 100 + random.next(below: settings.faultGapMilliseconds), .fault) }
        case .restartFollower(let id):
            followers[id]?.down = false
            report.restarts += 1
        case .unpause(let id):
            followers[id]?.pausedUntil = 0
        case .agencyBack:
            agency.available = true
        case .deliver(let message):
            deliver(message)
        case .resyncTimeout(let id, let attempt):
            guard var follower = followers[id], follower.resyncAttempt == attempt, follower.resyncing else { return }
            follower.resyncing = false
            if case .resyncing = follower.core.state { follower.core.end("resync timed out") }
            followers[id] = follower
        case .agencyTimeout(let epoch, let request):
            guard leader.core.epoch == epoch, let pending = leader.agencyRequest, pending.id == request else { return }
            // The answer is lost: fail what a dropped follower holds up, then fence the change
            // and read the agency (both at once here; retried while the agency is down).
            runLeader(leader.core.changeUncertain(now: now))
            guard agency.available else {
                schedule(at: now + 200, .agencyTimeout(epoch: epoch, request: request))
                return
            }
            leader.agencyRequest = nil
            let applied: Bool
            if agency.version == pending.version {
                agency.version += 1
                applied = false
            } else {
                applied = agency.version == pending.version + 1 && agency.inSync == pending.new
            }
            var actions = leader.core.inSyncChangeFinished(applied: applied, now: now)
            if !applied { actions += leader.core.agencyLists(agency.inSync, version: agency.version, now: now) }
            runLeader(actions)
        }
    }

    mutating func fault() {
        guard faultsActive else { return }
        let roll = random.next(below: 100)
        let ids = followers.keys.sorted()
        let id = ids[Int(random.next(below: UInt64(ids.count)))]
        switch roll {
        case 0..<30:
            // A follower crashes (process: data kept; sometimes the disk too).
            guard var follower = followers[id], !follower.down else { return }
            let wipe = random.next(below: 4) == 0
            follower.crash(wipe: wipe)
            followers[id] = follower
            report.crashes += 1
            if wipe { report.wipes += 1 }
            schedule(at: now + 50 + random.next(below: 800), .restartFollower(id))
            note("crash \(id)\(wipe ? " (wiped)" : "")")
        case 30..<45:
            followers[id]?.pausedUntil = now + 200 + random.next(below: 2 * settings.leaderSettings.followerTimeoutMilliseconds)
            schedule(at: followers[id]!.pausedUntil, .unpause(id))
            report.pauses += 1
            note("pause \(id)")
        case 45..<55:
            restartLeader()
        case 55..<65:
            agency.available = false
            schedule(at: now + 100 + random.next(below: 700), .agencyBack)
            report.agencyOutages += 1
            note("agency down")
        default:
            break  // quiet
        }
    }

    mutating func note(_ text: String) {
        trace.append("\(now) FAULT \(text)")
    }

    // MARK: The leader

    mutating func restartLeader() {
        // Waiting writes are never answered (the process died); the log and documents stay.
        for (token, _) in writes { report.unanswered += 1; writes[token] = nil }
        let epoch = nextEpoch
        nextEpoch += 1
        leader.core = LeaderReplication(leader: "L", epoch: epoch, writeConcern: settings.writeConcern, head: leader.shard.lastSequence,
                                        inSyncServers: agency.inSync, agencyVersion: agency.version, settings: settings.leaderSettings)
        leader.agencyRequest = nil
        report.leaderRestarts += 1
        note("leader restart, epoch \(epoch)")
    }

    mutating func clientWrite() {
        if let refusal = leader.core.admission() {
            report.refused += 1
            if case .readOnly = refusal { report.readOnlyRefusals += 1 }
            return
        }
        let key = "k\(random.next(below: 24))"
        let roll = random.next(below: 100)
        revisionClock += 1 + random.next(below: 3)
        let sequence = leader.shard.lastSequence + 1 + (random.next(below: 10) == 0 ? random.next(below: 3) : 0)
        let operation: ReplicatedOperation
        var body: [UInt8]?
        if roll < 70 || leader.shard.documents[key] == nil {
            let length = 1 + Int(random.next(below: 40))
            body = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            operation = ReplicatedOperation(kind: .document, sequence: sequence, revision: revisionClock, key: Array(key.utf8),
                                            flags: 0, documentByteCount: UInt32(length), payload: body!)
        } else if roll < 99 {
            operation = ReplicatedOperation(kind: .removal, sequence: sequence, revision: revisionClock, key: Array(key.utf8))
        } else {
            operation = ReplicatedOperation(kind: .truncation, sequence: sequence, revision: revisionClock, key: [])
        }
        leader.shard.apply(operation)
        leader.log.append(operation)
        let token = nextToken
        nextToken += 1
        writes[token] = PendingWrite(sequence: sequence, key: operation.kind == .truncation ? "" : key, revision: revisionClock, body: body)
        report.writes += 1
        var actions = leader.core.wrote(upTo: sequence, token: token, durable: random.next(below: 4) == 0)
        if settings.sabotage == .answerBeforeFollowers { actions.append(.complete(token: token)) }
        runLeader(actions)
    }

    mutating func runLeader(_ actions: [LeaderReplication.Action]) {
        for action in actions {
            switch action {
            case let .send(follower, after, waitForSync):
                let operations = leader.operations(after: after, limit: 1 + Int(random.next(below: 8)))
                guard !operations.isEmpty else {
                    leader.core.nothingToSend(to: follower)
                    continue
                }
                let batch = ApplyBatch(stream: leader.stream, previous: after, waitForSync: waitForSync, operations: operations)
                send(.batch(batch, to: follower))
                runLeader(leader.core.batchSent(to: follower, last: batch.last, now: now))
            case .complete(let token):
                guard let write = writes.removeValue(forKey: token) else { continue }
                checkAcknowledged(write)
                report.acknowledged += 1
                if write.key.isEmpty {
                    for key in acknowledged.keys { acknowledged[key] = nil }
                } else {
                    acknowledged[write.key] = write.revision
                }
            case .fail(let token, _):
                if writes.removeValue(forKey: token) != nil { report.failed += 1 }
            case let .changeInSync(old, new, version, _):
                let request = nextToken
                nextToken += 1
                leader.agencyRequest = (request, old, new, version)
                send(.agencyChange(epoch: leader.core.epoch, request: request, old: old, new: new, version: version))
                schedule(at: now + 300, .agencyTimeout(epoch: leader.core.epoch, request: request))
            case let .stopStream(follower, session):
                send(.streamStopped(leader.stream, session: session, to: follower))
            }
        }
    }

    // MARK: Followers

    mutating func maintenance(_ id: String) {
        guard var follower = followers[id], !follower.down, now >= follower.pausedUntil else { return }
        let listed = agency.inSync.contains(id)
        if follower.core.isFollowing {
            if listed {
                follower.unlistedSince = nil
            } else {
                let since = follower.unlistedSince ?? now
                follower.unlistedSince = since
                if now - since > 3_000 { follower.core.end("not listed for 3 s") ; follower.unlistedSince = nil }
            }
        }
        if case .resyncing = follower.core.state, !follower.resyncing { follower.core.end("no resync running") }
        if follower.core.stream == nil, !follower.resyncing {
            follower.resyncing = true
            follower.resyncStep = 1
            follower.resyncAttempt += 1
            schedule(at: now + 1_500, .resyncTimeout(id, attempt: follower.resyncAttempt))
            send(.resyncBegin(from: id, attempt: follower.resyncAttempt))
            report.resyncs += 1
        }
        followers[id] = follower
    }

    // MARK: The network

    mutating func send(_ message: Message) {
        let lossy = faultsActive
        if lossy, random.next(below: 100) < settings.lossPercent {
            report.lost += 1
            return
        }
        var delay = 1 + random.next(below: 10)
        if lossy, random.next(below: 100) < settings.slowPercent { delay += random.next(below: 400) }
        schedule(at: now + delay, .deliver(message))
        if lossy, random.next(below: 100) < settings.duplicatePercent {
            schedule(at: now + delay + random.next(below: 50), .deliver(message))
        }
    }

    mutating func deliver(_ message: Message) {
        switch message {
        case let .batch(batch, id):
            guard var follower = followers[id], follower.reachable(at: now) else {
                if followers[id]?.pausedUntil ?? 0 > now { schedule(at: followers[id]!.pausedUntil + 1, .deliver(message)) }
                return
            }
            let answer: Result<UInt64, ReplicationError>
            do {
                let decision: FollowerReplication.Decision = if settings.sabotage == .acceptAnyLeader { .apply }
                    else { try follower.core.check(batch, planLeader: "L") }
                switch decision {
                case .alreadyApplied(let position):
                    answer = .success(position)
                case .apply:
                    for operation in batch.operations {
                        checkFenced(operation, stream: batch.stream, follower: id)
                        follower.shard.apply(operation)
                    }
                    follower.core.applied(through: batch.last)
                    follower.dataPosition = batch.last
                    answer = .success(batch.last)
                }
            } catch {
                answer = .failure(error)
            }
            followers[id] = follower
            send(.batchAnswer(from: id, incarnation: follower.incarnation, epoch: batch.stream.epoch, answer))
        case let .batchAnswer(id, incarnation, epoch, answer):
            guard epoch == leader.core.epoch, followers[id].map({ $0.wipedIncarnation < incarnation }) ?? false else { return }
            switch answer {
            case .success(let applied): runLeader(leader.core.batchAnswered(by: id, applied: applied, now: now))
            case .failure(let error): runLeader(leader.core.batchFailed(for: id, reason: "\(error)", now: now))
            }
        case let .resyncBegin(id, attempt):
            // The leader's snapshot: tree and sequence at once.
            let snapshot = ResyncSnapshot(stream: leader.stream, sequence: leader.shard.lastSequence,
                                          documentCount: UInt64(leader.shard.documents.count), tree: leader.shard.tree.serialized())
            send(.snapshot(snapshot, to: id, attempt: attempt))
        case let .snapshot(snapshot, id, attempt):
            guard var follower = followers[id], follower.reachable(at: now), follower.resyncing, follower.resyncAttempt == attempt,
                  follower.resyncStep == 1 else { return }
            follower.resyncStep = 2
            follower.core.beginResync(snapshot.stream)
            guard let tree = try? MerkleTree(serialized: snapshot.tree) else {
                report.violations.append("seed tree did not deserialize")
                return
            }
            let ranges = follower.shard.tree.diff(tree)
            followers[id] = follower
            send(.rangeFetch(from: id, attempt: attempt, stream: snapshot.stream, ranges: ranges, sequence: snapshot.sequence))
        case let .rangeFetch(id, attempt, stream, ranges, sequence):
            // Step 1: the leader's revisions in the differing ranges.
            let revisions: [UInt64]? = stream.epoch == leader.core.epoch ? leader.shard.revisions(in: ranges) : nil
            send(.revisionList(to: id, attempt: attempt, stream: stream, revisions, ranges: ranges, sequence: sequence))
        case let .revisionList(id, attempt, stream, revisions, ranges, sequence):
            guard var follower = followers[id], follower.reachable(at: now), follower.resyncing, follower.resyncAttempt == attempt,
                  follower.resyncStep == 2, follower.core.stream == stream else { return }
            guard let revisions else {
                follower.resyncing = false
                follower.core.end("the leader refused the fetch")
                followers[id] = follower
                return
            }
            // Step 2: fetch only what this copy lacks.
            let local = Set(follower.shard.revisions(in: ranges))
            let missing = revisions.filter { !local.contains($0) }
            follower.resyncStep = 3
            followers[id] = follower
            send(.documentFetch(from: id, attempt: attempt, stream: stream, revisions: missing, leaderRevisions: revisions,
                                ranges: ranges, sequence: sequence))
        case let .documentFetch(id, attempt, stream, revisions, leaderRevisions, ranges, sequence):
            // Step 3: the current documents with those revisions (one may be gone by now).
            let documents = stream.epoch == leader.core.epoch ? leader.shard.documents(withRevisions: Set(revisions)) : nil
            report.resyncDocuments += documents?.count ?? 0
            send(.rangeDocuments(to: id, attempt: attempt, stream: stream, documents, leaderRevisions: leaderRevisions,
                                 ranges: ranges, sequence: sequence))
        case let .rangeDocuments(id, attempt, stream, documents, leaderRevisions, ranges, sequence):
            guard var follower = followers[id], follower.reachable(at: now), follower.resyncing, follower.resyncAttempt == attempt,
                  follower.resyncStep == 3, follower.core.stream == stream else { return }
            follower.resyncStep = 4
            guard let documents else {
                follower.resyncing = false
                follower.core.end("the leader refused the fetch")
                followers[id] = follower
                return
            }
            for document in documents { follower.shard.apply(document) }
            // Step 4: remove what the leader did not list.
            if settings.sabotage != .keepExtrasOnResync { follower.shard.removeAbsent(in: ranges, keeping: Set(leaderRevisions)) }
            follower.core.startFollowing(after: sequence)
            follower.sessionStart = sequence
            // The copy holds every write up to the snapshot's sequence.
            follower.dataPosition = max(follower.dataPosition, sequence)
            followers[id] = follower
            send(.streamStart(from: id, attempt: attempt, stream: stream, after: sequence))
        case let .streamStart(id, attempt, stream, after):
            guard stream.epoch == leader.core.epoch else {
                send(.streamStartAnswer(to: id, attempt: attempt, accepted: false))
                return
            }
            let (accepted, actions) = leader.core.startStream(to: id, after: after, now: now)
            runLeader(actions)
            send(.streamStartAnswer(to: id, attempt: attempt, accepted: accepted))
        case let .streamStartAnswer(id, attempt, accepted):
            guard var follower = followers[id], follower.resyncAttempt == attempt, follower.resyncing, follower.resyncStep == 4 else { return }
            follower.resyncing = false
            if accepted {
                if case let .following(_, position) = follower.core.state { follower.dataPosition = position }
            } else {
                follower.core.end("the leader refused the stream")
            }
            followers[id] = follower
        case let .streamStopped(stream, session, id):
            guard var follower = followers[id], follower.reachable(at: now),
                  let current = follower.core.stream, current.leader == stream.leader, stream.epoch >= current.epoch else { return }
            if stream.epoch == current.epoch {
                guard case .following = follower.core.state, follower.sessionStart == session else { return }
            }
            follower.core.end("stream stopped")
            followers[id] = follower
        case let .agencyChange(epoch, request, old, new, version):
            guard agency.available else { return }  // no answer: the leader times out
            let applied = agency.inSync == old && agency.version == version
            if applied {
                agency.inSync = new
                agency.version += 1
                agency.epoch = epoch
                agency.changes += 1
            }
            send(.agencyAnswer(epoch: epoch, request: request, applied: applied, actual: agency.inSync, version: agency.version))
        case let .agencyAnswer(epoch, request, applied, actual, version):
            guard epoch == leader.core.epoch, let pending = leader.agencyRequest, pending.id == request else { return }
            leader.agencyRequest = nil
            if applied {
                // As the driver does: servers listed that this leadership never streamed to
                // hear of its epoch.
                for id in pending.old where !pending.new.contains(id) && id != "L" && leader.core.followers[id] == nil {
                    send(.streamStopped(leader.stream, session: 0, to: id))
                }
            }
            var actions = leader.core.inSyncChangeFinished(applied: applied, now: now)
            if !applied { actions += leader.core.agencyLists(actual, version: version, now: now) }
            runLeader(actions)
        }
    }

    // MARK: The stale leader

    mutating func staleLeaderSends() {
        let ids = followers.keys.sorted()
        let id = ids[Int(random.next(below: UInt64(ids.count)))]
        let follower = followers[id]!
        let position: UInt64 = if case let .following(_, position) = follower.core.state { position } else { 0 }
        // Either the old leader "Z", which Plan no longer names (any epoch, even a newer
        // one), or "L" under an epoch older than the follower's session (a leadership that
        // was superseded), with an operation the current leader never wrote.
        let stream: StreamIdentity
        if random.next(below: 2) == 0 {
            stream = StreamIdentity(database: "db", shard: "s1", leader: "Z", epoch: leader.core.epoch + random.next(below: 3))
        } else {
            guard let session = follower.core.stream, session.epoch > 1 else { return }
            stream = StreamIdentity(database: "db", shard: "s1", leader: "L", epoch: session.epoch - 1 - random.next(below: session.epoch - 1))
        }
        let operation = ReplicatedOperation(kind: .document, sequence: position + 1, revision: 7, key: Array("stale".utf8),
                                            flags: 0, documentByteCount: 1, payload: [0x42])
        send(.batch(ApplyBatch(stream: stream, previous: position, waitForSync: false, operations: [operation]), to: id))
        report.staleBatches += 1
    }

    // MARK: Checkers

    /// Every follower the agency lists holds the stream up to the write, and writeConcern
    /// copies do.
    mutating func checkAcknowledged(_ write: PendingWrite) {
        var copies = 1
        for id in agency.inSync where id != "L" {
            guard let follower = followers[id] else { continue }
            if max(follower.dataPosition, follower.lostPosition) >= write.sequence {
                copies += 1
            } else {
                report.violations.append("t=\(now): write \(write.sequence) acknowledged while \(id) is listed in sync at \(follower.dataPosition)")
            }
        }
        if copies < settings.writeConcern {
            report.violations.append("t=\(now): write \(write.sequence) acknowledged on \(copies) copies, writeConcern \(settings.writeConcern)")
        }
    }

    /// A follower applies only the current leader's operation for a sequence.
    mutating func checkFenced(_ operation: ReplicatedOperation, stream: StreamIdentity, follower: String) {
        guard stream.leader == "L", let original = leader.operation(at: operation.sequence), original == operation else {
            report.violations.append("t=\(now): \(follower) applied an operation the leader never wrote (from \(stream.leader) epoch \(stream.epoch), sequence \(operation.sequence))")
            return
        }
    }

    mutating func checkConvergence() {
        for id in followers.keys.sorted() {
            let follower = followers[id]!
            if !agency.inSync.contains(id) {
                report.violations.append("\(id) is not back in sync after the settle period (\(follower.core.state), " +
                                         "resync \(follower.resyncing ? "running" : "idle") attempt \(follower.resyncAttempt) step \(follower.resyncStep), " +
                                         "\(follower.down ? "down" : "up"), agency \(agency.inSync))")
                continue
            }
            if follower.shard.documents != leader.shard.documents {
                let missing = leader.shard.documents.keys.filter { follower.shard.documents[$0] == nil }.count
                let differing = leader.shard.documents.keys.filter { follower.shard.documents[$0] != nil && follower.shard.documents[$0] != leader.shard.documents[$0] }.count
                let extra = follower.shard.documents.keys.filter { leader.shard.documents[$0] == nil }.count
                report.violations.append("\(id) differs from the leader: \(missing) missing, \(differing) differing, \(extra) extra")
            }
        }
        for (key, revision) in acknowledged {
            guard let current = leader.shard.documents[key], current.revision == revision else { continue }
            for (id, follower) in followers where follower.shard.documents[key]?.revision != revision {
                report.violations.append("acknowledged \(key)@\(revision) missing on \(id)")
            }
        }
        report.finalDocuments = leader.shard.documents.count
    }
}
