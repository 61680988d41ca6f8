import ArangoAPI
import Client
import ClusterLogic
import Documents
import Replication
import Server
import Storage
import TesseraPlatform
import Transport
import VelocyPack

/// The driver of one followed shard: refuses client writes, applies its leader's batches
/// (fenced by the ``FollowerReplication`` core), and resyncs with the leader by comparing
/// Merkle trees when it has no stream.
///
/// `@unchecked Sendable`: `core`, `planLeader`, `resyncing` and `nextResyncAt` are touched
/// only on the loop thread; `progress` is behind its lock. The resync itself runs in a Swift
/// task; the engine it writes to is thread-safe, and it changes the core only on the loop.
final class ShardFollower: WriteReplication, @unchecked Sendable {
    let service: ReplicationService
    let database: String
    let collectionId: String
    let shard: String
    let collection: DocumentCollection
    var core = FollowerReplication()
    var planLeader: String
    var resyncing = false
    var nextResyncAt: UInt64 = 0
    var stopped = false
    /// The snapshot sequence the current stream started after (names the session).
    var sessionStart: UInt64?
    /// Since when (loop ms) this follower follows without Current listing it in sync.
    var notListedSince: UInt64?
    static let unlistedGraceMilliseconds: UInt64 = 30_000
    let progress = Locked<ResyncProgress?>(nil)

    init(service: ReplicationService, database: String, collectionId: String, shard: String, collection: DocumentCollection,
         planLeader: String) {
        self.service = service
        self.database = database
        self.collectionId = collectionId
        self.shard = shard
        self.collection = collection
        self.planLeader = planLeader
    }

    // MARK: WriteReplication

    func refusal() -> DocumentError? {
        ArangoError(status: 406, .clusterShardFollowerRefusesOperation,
                    "shard \(shard) is a follower here; its writes go to its leader")
    }

    func replicate(upTo sequence: UInt64, durable: Bool, _ completion: @escaping @Sendable (DocumentError?) -> Void) {
        completion(refusal())
    }

    // MARK: The stream (loop thread)

    /// Applies a batch from the leader and answers once it is applied — in the operating
    /// system (with the other writes of this loop turn, one `pwrite`, before the answer
    /// leaves) or durable when the batch asks for it.
    func apply(_ batch: ApplyBatch, gate: AnswerGate?) -> Reply {
        let decision: FollowerReplication.Decision
        do {
            decision = try core.check(batch, planLeader: planLeader)
        } catch {
            if !core.isFollowing, progress.withLock({ $0?.phase }) == ResyncProgress.Phase.following.rawValue {
                progress.withLock { $0?.phase = ResyncProgress.Phase.waiting.rawValue }
            }
            return .now(ServerResponse(error.arangoError))
        }
        if case .alreadyApplied(let position) = decision {
            return .now(ServerResponse(status: 200, body: ApplyAnswer(applied: position).vpack))
        }
        var localSequence: UInt64 = 0
        var bytes = 0
        for operation in batch.operations {
            do {
                let written = try collection.engine.applyReplicated(LogRecord(operation: operation),
                                                                    options: WriteOptions(defersFileWrite: true))
                localSequence = max(localSequence, written)
                bytes += operation.byteCount
            } catch {
                // Partly applied: the position did not move, the session ends, a resync repairs.
                core.end("applying an operation of the stream failed: \(error)")
                try? collection.engine.writeOut()
                return .now(ServerResponse(ArangoError(error, collection: shard)))
            }
        }
        core.applied(through: batch.last)
        service.statistics.withLock {
            $0.batchesApplied += 1
            $0.operationsApplied += UInt64(batch.operations.count)
            $0.bytesApplied += UInt64(bytes)
        }
        let answer = ServerResponse(status: 200, body: ApplyAnswer(applied: batch.last).vpack)
        let collection = self.collection, name = shard, written = localSequence
        guard batch.waitForSync, written > 0 else {
            if let gate {
                gate.beforeAnswerLeaves { collection.writtenOut(upTo: written) }
                return .now(answer)
            }
            do { try collection.engine.writeOut() } catch {
                core.end("writing the stream's operations failed: \(error)")
                return .now(ServerResponse(ArangoError(error, collection: shard)))
            }
            return .now(answer)
        }
        return .later { respond in
            collection.engine.whenDurable(written) { failure in
                respond(failure.map { ServerResponse(ArangoError($0, collection: name)) } ?? answer)
            }
        }
    }

    /// The leader stopped streaming to this follower (it dropped it) — the stream that
    /// started after `session` — or a newer leadership of the shard says this follower's
    /// session is from an older epoch. A notice about an older stream of the same leadership
    /// (this follower resynced since) changes nothing.
    func streamStopped(_ stream: StreamIdentity, session: UInt64) {
        guard let current = core.stream, current.leader == stream.leader, stream.epoch >= current.epoch else { return }
        if stream.epoch == current.epoch {
            guard case .following = core.state, sessionStart == session else { return }
            core.end("the leader stopped the stream")
        } else {
            core.end("the leader started a new epoch, \(stream.epoch)")
        }
        progress.withLock { $0?.phase = ResyncProgress.Phase.waiting.rawValue }
    }

    /// Plan names `leader`; Current lists `inSync`. Starts a resync when there is no stream.
    func planned(leader: String, inSync: [String]) {
        if leader != planLeader {
            planLeader = leader
            if core.stream != nil { core.end("Plan names another leader, \(leader)") }
        }
        if core.isFollowing, inSync.first == leader, inSync.contains(service.serverId) {
            progress.withLock { if $0?.phase == ResyncProgress.Phase.following.rawValue { $0?.phase = ResyncProgress.Phase.inSync.rawValue } }
            notListedSince = nil
        } else if core.isFollowing {
            // Following but not listed in sync: normal while catching up; for longer than
            // the grace, the stream is lost (a missed stop notice): resync.
            let since = notListedSince ?? service.now
            notListedSince = since
            if service.now - since > Self.unlistedGraceMilliseconds {
                core.end("not listed in sync for \(Self.unlistedGraceMilliseconds / 1000) s while following")
                notListedSince = nil
            }
        }
        guard !stopped, !resyncing, core.stream == nil, service.now >= nextResyncAt else { return }
        // The leader must have reported the shard first (it answers resyncs once it leads).
        guard inSync.first == leader else { return }
        resyncing = true
        nextResyncAt = service.now + 1000
        Task { await resync(from: leader) }
    }

    func stop() {
        stopped = true
        core.end("the shard is no longer followed here")
    }

    // MARK: Resync (a task)

    func resync(from leader: String) async {
        let started = MonotonicClock.seconds()
        progress.withLock { $0 = ResyncProgress(leader: leader, startedAt: started) }
        var outcome = "done"
        do throws(ArangoError) {
            try await runResync(from: leader)
        } catch {
            outcome = error.message
            service.log.warning("replication: resync of \(shard) from \(leader) failed: \(error.message)")
            progress.withLock { $0?.phase = ResyncProgress.Phase.failed.rawValue; $0?.error = error.message }
        }
        let finished = outcome
        service.onLoop { [self] in
            resyncing = false
            if finished != "done", case .resyncing = core.state { core.end("resync failed: \(finished)") }
        }
    }

    func runResync(from leader: String) async throws(ArangoError) {
        let client = try service.client(for: leader)
        // 1. The leader's tree at a sequence, under its epoch.
        let begin = ResyncBegin(database: database, shard: shard, follower: service.serverId)
        let snapshotBody = try await ReplicationService.post(client, ReplicationRoutes.resyncBeginPath, database: database, body: begin.vpack)
        let snapshot: ResyncSnapshot
        do throws(ReplicationError) { snapshot = try ResyncSnapshot(decoding: snapshotBody) } catch { throw error.arangoError }
        let leaderTree: MerkleTree
        do { leaderTree = try MerkleTree(serialized: snapshot.tree) } catch {
            throw ArangoError(status: 500, .internalError, "the leader's Merkle tree is unreadable: \(error)")
        }
        await service.onLoopAsync { [self] in core.beginResync(snapshot.stream) }
        // 2. Only the revision ranges whose hashes differ.
        let local = collection.engine.merkleTree
        let ranges = local.diff(leaderTree)
        progress.withLock {
            $0?.phase = ResyncProgress.Phase.copying.rawValue
            $0?.rangesTotal = ranges.count
            $0?.leaderDocuments = snapshot.documentCount
        }
        // 3. Fetch them in parallel groups; apply; remove what the leader does not have.
        let groups = stride(from: 0, to: ranges.count, by: service.rangesPerFetch).map {
            Array(ranges[$0..<min($0 + service.rangesPerFetch, ranges.count)])
        }
        let parallel = service.parallelFetches
        var failure: ArangoError?
        await withTaskGroup(of: ArangoError?.self) { group in
            var next = 0
            func add() {
                guard next < groups.count else { return }
                let ranges = groups[next]
                next += 1
                group.addTask { [self] in
                    do throws(ArangoError) {
                        try await copy(ranges, stream: snapshot.stream, client: client)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            for _ in 0..<parallel { add() }
            for await result in group {
                if let result, failure == nil { failure = result; group.cancelAll() }
                if failure == nil { add() }
            }
        }
        if let failure { throw failure }
        do { try collection.engine.sync() } catch { throw ArangoError(error, collection: shard) }
        // 4. Follow the stream from the snapshot's sequence.
        await service.onLoopAsync { [self] in
            core.startFollowing(after: snapshot.sequence)
            sessionStart = snapshot.sequence
        }
        progress.withLock { $0?.phase = ResyncProgress.Phase.following.rawValue; $0?.copiedAt = MonotonicClock.seconds() }
        let start = StreamStart(stream: snapshot.stream, follower: service.serverId, after: snapshot.sequence)
        do {
            _ = try await ReplicationService.post(client, ReplicationRoutes.streamStartPath, database: database, body: start.vpack)
        } catch {
            await service.onLoopAsync { [self] in core.end("the leader did not start the stream: \(error.message)") }
            throw error
        }
        service.statistics.withLock { $0.resyncsDone += 1 }
        service.log.info("replication: \(shard) copied from \(leader) (\(ranges.count) ranges differed); following from sequence \(snapshot.sequence)")
    }

    /// Brings `ranges` to the leader's state: compares the leader's revisions in them with
    /// the local ones, fetches only the documents whose revisions are missing here (as stored),
    /// and removes the local documents whose revisions the leader does not have.
    func copy(_ ranges: [ClosedRange<UInt64>], stream: StreamIdentity, client: VSTClient) async throws(ArangoError) {
        // Nothing here in these ranges (an empty or wiped copy): every document is missing, so
        // the documents come by range, without revision lists or lookups one by one.
        if ranges.allSatisfy({ collection.engine.revisions(in: $0, limit: 1).isEmpty }) {
            return try await copyWhole(ranges, stream: stream, client: client)
        }
        // 1. The leader's revisions in the ranges (8 bytes each).
        var leaderRevisions: [UInt64] = []
        var after: UInt64? = nil
        repeat {
            let fetch = RangeFetch(stream: stream, ranges: ranges, after: after, byteLimit: service.fetchByteLimit, revisionsOnly: true)
            let pageBody = try await ReplicationService.post(client, ReplicationRoutes.resyncRangesPath, database: database, body: fetch.vpack)
            let page: RevisionList
            do throws(ReplicationError) { page = try RevisionList(decoding: pageBody) } catch { throw error.arangoError }
            guard page.revisions.allSatisfy({ revision in ranges.contains { $0.contains(revision) } }),
                  page.revisions.first.map({ $0 > (leaderRevisions.last ?? 0) || leaderRevisions.isEmpty }) ?? true else {
                throw ArangoError(status: 500, .internalError, "the leader's revision list is outside the asked ranges or out of order")
            }
            leaderRevisions.append(contentsOf: page.revisions)
            let listed = page.revisions.count * 8
            progress.withLock { $0?.bytesCopied += UInt64(listed) }
            service.statistics.withLock { $0.resyncBytes += UInt64(listed) }
            after = page.resumeAfter
        } while after != nil
        // 2. What this copy has in the ranges.
        var local: [(revision: UInt64, key: String)] = []
        for range in ranges {
            var low = range.lowerBound
            while true {
                let page = collection.engine.revisions(in: low...range.upperBound, limit: 8192)
                local.append(contentsOf: page)
                guard page.count == 8192, let last = page.last?.revision, last < range.upperBound else { break }
                low = last + 1
            }
        }
        let leaderSet = Set(leaderRevisions)
        let localSet = Set(local.map(\.revision))
        let missing = leaderRevisions.filter { !localSet.contains($0) }
        // 3. Fetch the missing documents, in chunks, resuming where a byte limit cut an answer.
        var start = 0
        while start < missing.count {
            let chunk = Array(missing[start..<min(missing.count, start + 10_000)])
            let asked = Set(chunk)
            var remaining = chunk[...]
            while !remaining.isEmpty {
                let fetch = DocumentFetch(stream: stream, revisions: Array(remaining), byteLimit: service.fetchByteLimit)
                let pageBody = try await ReplicationService.post(client, ReplicationRoutes.resyncDocumentsPath, database: database, body: fetch.vpack)
                let page: RangeDocuments
                do throws(ReplicationError) { page = try RangeDocuments(decoding: pageBody) } catch { throw error.arangoError }
                try store(page.documents) { asked.contains($0) ? nil : "which was not asked for" }
                guard let resume = page.resumeAfter else { break }
                remaining = remaining.drop { $0 <= resume }
            }
            start += chunk.count
        }
        // 4. Remove what the leader does not have (never a newer version that arrived since).
        var removed = 0
        for (revision, key) in local where !leaderSet.contains(revision) {
            do {
                if try collection.engine.removeIfCurrent(key, revision: revision, options: WriteOptions(defersFileWrite: true)) { removed += 1 }
            } catch {
                throw ArangoError(error, collection: shard)
            }
        }
        do { try collection.engine.writeOut() } catch { throw ArangoError(error, collection: shard) }
        let done = ranges.count
        progress.withLock {
            $0?.rangesDone += done
            $0?.documentsRemoved += UInt64(removed)
        }
    }

    /// Copies every document of `ranges` (this copy holds none there), page by page.
    func copyWhole(_ ranges: [ClosedRange<UInt64>], stream: StreamIdentity, client: VSTClient) async throws(ArangoError) {
        var after: UInt64? = nil
        repeat {
            let fetch = RangeFetch(stream: stream, ranges: ranges, after: after, byteLimit: service.fetchByteLimit)
            let pageBody = try await ReplicationService.post(client, ReplicationRoutes.resyncRangesPath, database: database, body: fetch.vpack)
            let page: RangeDocuments
            do throws(ReplicationError) { page = try RangeDocuments(decoding: pageBody) } catch { throw error.arangoError }
            try store(page.documents) { revision in ranges.contains { $0.contains(revision) } ? nil : "outside the asked ranges" }
            after = page.resumeAfter
        } while after != nil
        let done = ranges.count
        progress.withLock { $0?.rangesDone += done }
    }

    /// Stores a page of the leader's documents (as stored, under their revisions) and counts
    /// them; `unexpected` names why a revision should not have come (nil: it may).
    func store(_ documents: [ReplicatedOperation], unexpected: (UInt64) -> String?) throws(ArangoError) {
        var bytes = 0
        for document in documents {
            if let reason = unexpected(document.revision) {
                throw ArangoError(status: 500, .internalError, "the leader sent revision \(document.revision), \(reason)")
            }
            do {
                try collection.engine.applyReplicated(LogRecord(operation: document), options: WriteOptions(defersFileWrite: true))
            } catch {
                throw ArangoError(error, collection: shard)
            }
            bytes += document.byteCount
        }
        do { try collection.engine.writeOut() } catch { throw ArangoError(error, collection: shard) }
        let count = documents.count
        progress.withLock {
            $0?.documentsCopied += UInt64(count)
            $0?.bytesCopied += UInt64(bytes)
        }
        service.statistics.withLock {
            $0.resyncDocuments += UInt64(count)
            $0.resyncBytes += UInt64(bytes)
        }
    }

    func status() -> ShardReplicationStatus {
        let position: UInt64? = if case let .following(_, position) = core.state { position } else { nil }
        return ShardReplicationStatus(database: database, shard: shard, role: "follower", epoch: core.stream?.epoch ?? 0,
                                      leader: planLeader, inSync: [], followers: [], head: position ?? 0,
                                      resync: progress.withLock { $0 })
    }
}
