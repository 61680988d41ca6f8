import ArangoAPI
import ClusterLogic
import Documents
import Replication
import Server
import Storage
import TesseraPlatform
import VelocyPack

/// The replication routes between DBServers (cluster tokens only, like every DBServer
/// route). `Protocol/Replication.md` describes each message.
enum ReplicationRoutes {
    static let applyPath = "/_api/tessera/replication/apply"
    static let resyncBeginPath = "/_api/tessera/replication/resync/begin"
    static let resyncRangesPath = "/_api/tessera/replication/resync/ranges"
    static let resyncDocumentsPath = "/_api/tessera/replication/resync/documents"
    static let streamStartPath = "/_api/tessera/replication/stream/start"
    static let streamStoppedPath = "/_api/tessera/replication/stream/stopped"
    static let statusPath = "/_api/tessera/replication/status"

    static func register(in router: inout Router, service: ReplicationService) {
        // Leader → follower: the stream.
        router.addDeferrable(.post, applyPath) { request throws(ArangoError) in
            let body = try request.requireBody()
            let batch: ApplyBatch
            do throws(ReplicationError) { batch = try ApplyBatch(decoding: body) } catch { throw error.arangoError }
            let key = ShardKey(database: batch.stream.database, shard: batch.stream.shard)
            // Routes run on the loop that owns the replication state: applied right here.
            service.loop.assertInLoopThread("replication apply")
            if service.leaders[key] != nil {
                throw ReplicationError.leaderRefusesReplication("this server leads \(key.shard)").arangoError
            }
            guard let follower = service.followers[key] else {
                throw ReplicationError.noSession("this server does not follow \(key.shard) in \(key.database)").arangoError
            }
            return follower.apply(batch, gate: request.answerGate)
        }
        // Follower → leader: begin a resync (tree and sequence under the leader's epoch).
        router.addDeferrable(.post, resyncBeginPath) { request throws(ArangoError) in
            let body = try request.requireBody()
            let begin: ResyncBegin
            do throws(ReplicationError) { begin = try ResyncBegin(decoding: body) } catch { throw error.arangoError }
            return .later { respond in
                service.onLoop {
                    do throws(ArangoError) {
                        let leader = try Self.leader(service, begin.database, begin.shard)
                        guard leader.planServers.dropFirst().contains(begin.follower) else {
                            throw ReplicationError.notTheLeader("Plan does not list \(begin.follower) as a follower of \(begin.shard)").arangoError
                        }
                        // A follower that resyncs lost its stream: if this leader still counts
                        // it, the drop starts now, so it is done when the copy is.
                        leader.followerRestarted(begin.follower)
                        let (tree, sequence) = leader.collection.engine.merkleTreeAndSequence()
                        let snapshot = ResyncSnapshot(stream: leader.stream, sequence: sequence, documentCount: tree.count,
                                                      tree: tree.serialized())
                        respond(ServerResponse(status: 200, body: snapshot.vpack))
                    } catch {
                        respond(ServerResponse(error))
                    }
                }
            }
        }
        // Follower → leader: documents (or their revisions) in revision ranges, as stored.
        router.addDeferrable(.post, resyncRangesPath) { request throws(ArangoError) in
            let body = try request.requireBody()
            let fetch: RangeFetch
            do throws(ReplicationError) { fetch = try RangeFetch(decoding: body) } catch { throw error.arangoError }
            return Self.serveCopy(service, fetch.stream) { collection, respond in
                if fetch.revisionsOnly {
                    let list = Self.revisionList(collection, fetch)
                    service.statistics.withLock { $0.resyncBytesServed += UInt64(list.revisions.count * 8) }
                    return respond(ServerResponse(status: 200, body: list.vpack))
                }
                Self.offloaded(service, respond) { Self.rangeDocuments(collection, fetch) }
            }
        }
        // Follower → leader: documents by revision, as stored.
        router.addDeferrable(.post, resyncDocumentsPath) { request throws(ArangoError) in
            let body = try request.requireBody()
            let fetch: DocumentFetch
            do throws(ReplicationError) { fetch = try DocumentFetch(decoding: body) } catch { throw error.arangoError }
            return Self.serveCopy(service, fetch.stream) { collection, respond in
                Self.offloaded(service, respond) { Self.documents(collection, fetch) }
            }
        }
        // Follower → leader: stream from here on.
        router.addDeferrable(.post, streamStartPath) { request throws(ArangoError) in
            let body = try request.requireBody()
            let start: StreamStart
            do throws(ReplicationError) { start = try StreamStart(decoding: body) } catch { throw error.arangoError }
            return .later { respond in
                service.onLoop {
                    do throws(ArangoError) {
                        let leader = try Self.leader(service, start.stream.database, start.stream.shard)
                        guard leader.core.epoch == start.stream.epoch else {
                            throw ReplicationError.notTheLeader("epoch \(start.stream.epoch) is not this leadership's \(leader.core.epoch)").arangoError
                        }
                        do throws(ReplicationError) { try leader.startStream(to: start.follower, after: start.after) } catch {
                            throw error.arangoError
                        }
                        respond(answer(200) { $0.add(key: "streaming", true) })
                    } catch {
                        respond(ServerResponse(error))
                    }
                }
            }
        }
        // Leader → follower: the leader stopped streaming to it.
        router.addDeferrable(.post, streamStoppedPath) { request throws(ArangoError) in
            let body = try request.requireBody()
            let notice: StreamStart
            do throws(ReplicationError) { notice = try StreamStart(decoding: body) } catch { throw error.arangoError }
            return .later { respond in
                service.onLoop {
                    service.followers[ShardKey(database: notice.stream.database, shard: notice.stream.shard)]?
                        .streamStopped(notice.stream, session: notice.after)
                    respond(answer(200) { $0.add(key: "stopped", true) })
                }
            }
        }
        router.addDeferrable(.get, statusPath) { _ throws(ArangoError) in
            .later { respond in
                service.onLoop {
                    let now = MonotonicClock.seconds()
                    let shards = (service.leaders.values.map { $0.status() } + service.followers.values.map { $0.status() })
                        .sorted { ($0.database, $0.shard) < ($1.database, $1.shard) }
                    let totals = service.statistics.withLock { $0 }
                    respond(answer(200) { builder in
                        builder.add(key: "server", service.serverId)
                        builder.add(key: "shards")
                        builder.openArray()
                        for shard in shards { shard.encode(into: &builder, now: now) }
                        builder.closeTrusted()
                        builder.add(key: "totals")
                        totals.encode(into: &builder)
                    })
                }
            }
        }
    }

    /// Answers a resync copy request on the loop: with the shard's collection when this server
    /// leads it under the request's epoch, else with the refusal.
    static func serveCopy(_ service: ReplicationService, _ stream: StreamIdentity,
                          _ serve: @escaping @Sendable (DocumentCollection, @escaping @Sendable (ServerResponse) -> Void) -> Void) -> Reply {
        .later { respond in
            service.onLoop {
                do throws(ArangoError) {
                    let leader = try Self.leader(service, stream.database, stream.shard)
                    guard leader.core.epoch == stream.epoch else {
                        throw ReplicationError.notTheLeader("epoch \(stream.epoch) is not this leadership's \(leader.core.epoch)").arangoError
                    }
                    serve(leader.collection, respond)
                } catch {
                    respond(ServerResponse(error))
                }
            }
        }
    }

    /// Reads documents off the loop (they may come from the disk) and answers with them.
    static func offloaded(_ service: ReplicationService, _ respond: @escaping @Sendable (ServerResponse) -> Void,
                          _ read: @escaping @Sendable () -> Result<RangeDocuments, ArangoError>) {
        service.loop.offload(read) { result in
            switch result {
            case .success(let documents):
                let bytes = documents.documents.reduce(0) { $0 + $1.byteCount }
                service.statistics.withLock { $0.resyncBytesServed += UInt64(bytes) }
                respond(ServerResponse(status: 200, body: documents.vpack))
            case .failure(let error):
                respond(ServerResponse(error))
            }
        }
    }

    static func leader(_ service: ReplicationService, _ database: String, _ shard: String) throws(ArangoError) -> ShardLeader {
        guard let leader = service.leaders[ShardKey(database: database, shard: shard)] else {
            throw ArangoError(status: 503, .clusterNotLeader, "this server does not lead \(shard) in \(database) (yet)")
        }
        return leader
    }

    /// The revisions of the current documents in the ranges after `fetch.after`, at most
    /// 100,000 per answer (the index only: no document is read).
    static func revisionList(_ collection: DocumentCollection, _ fetch: RangeFetch) -> RevisionList {
        let pageMax = 100_000
        var revisions: [UInt64] = []
        for range in fetch.ranges {
            if let after = fetch.after, range.upperBound <= after { continue }
            var low = fetch.after.map { max(range.lowerBound, $0 + 1) } ?? range.lowerBound
            while low <= range.upperBound {
                let page = collection.engine.revisions(in: low...range.upperBound, limit: min(8192, pageMax - revisions.count))
                revisions.append(contentsOf: page.map(\.revision))
                if revisions.count >= pageMax { return RevisionList(revisions: revisions, resumeAfter: revisions.last) }
                guard page.count == 8192, let last = page.last?.revision, last < range.upperBound else { break }
                low = last + 1
            }
        }
        return RevisionList(revisions: revisions, resumeAfter: nil)
    }

    /// The current documents with the fetch's revisions, up to the byte limit; `resumeAfter`
    /// is the last revision looked at when the limit cut the answer short.
    static func documents(_ collection: DocumentCollection, _ fetch: DocumentFetch) -> Result<RangeDocuments, ArangoError> {
        var documents: [ReplicatedOperation] = []
        var bytes = 0
        for (index, revision) in fetch.revisions.enumerated() {
            let records: [LogRecord]
            do {
                records = try collection.engine.storedRecords(revisionsIn: revision...revision, limit: 1, byteLimit: max(1, fetch.byteLimit - bytes))
            } catch {
                return .failure(ArangoError(error, collection: collection.name))
            }
            for record in records {
                documents.append(ReplicatedOperation(record: record))
                bytes += record.payload.count + record.key.count
            }
            if bytes >= fetch.byteLimit, index + 1 < fetch.revisions.count {
                return .success(RangeDocuments(documents: documents, resumeAfter: revision))
            }
        }
        return .success(RangeDocuments(documents: documents, resumeAfter: nil))
    }

    /// The current documents of the ranges after `fetch.after`, up to the byte limit, with
    /// `resumeAfter` set when more remain.
    static func rangeDocuments(_ collection: DocumentCollection, _ fetch: RangeFetch) -> Result<RangeDocuments, ArangoError> {
        var documents: [ReplicatedOperation] = []
        var bytes = 0
        for range in fetch.ranges {
            if let after = fetch.after, range.upperBound <= after { continue }
            let low = fetch.after.map { max(range.lowerBound, $0 + 1) } ?? range.lowerBound
            guard low <= range.upperBound else { continue }
            let records: [LogRecord]
            do {
                // The answer as a whole stays within the count a follower decodes.
                records = try collection.engine.storedRecords(revisionsIn: low...range.upperBound,
                                                              limit: ReplicationLimits.default.operationCountMax - documents.count,
                                                              byteLimit: max(1, fetch.byteLimit - bytes))
            } catch {
                return .failure(ArangoError(error, collection: collection.name))
            }
            for record in records {
                documents.append(ReplicatedOperation(record: record))
                bytes += record.payload.count + record.key.count
            }
            // The engine stops at the record count or the byte limit; whether this range holds
            // more is asked of its index.
            if let last = records.last, last.revision < range.upperBound,
               !collection.engine.revisions(in: (last.revision + 1)...range.upperBound, limit: 1).isEmpty {
                return .success(RangeDocuments(documents: documents, resumeAfter: last.revision))
            }
            if bytes >= fetch.byteLimit || documents.count >= ReplicationLimits.default.operationCountMax, let last = documents.last {
                return .success(RangeDocuments(documents: documents, resumeAfter: last.revision))
            }
        }
        return .success(RangeDocuments(documents: documents, resumeAfter: nil))
    }
}
