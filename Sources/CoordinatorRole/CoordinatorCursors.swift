package import Client
package import ClusterLogic
package import Documents
package import Query
package import Server
import TesseraPlatform
package import VelocyPack
package import ArangoAPI
package import VelocyStream
public import ClusterMember
public import RESTRoutes
public import Users

/// `/_api/cursor` on a coordinator: the query runs on every shard (filters and, without a
/// SORT, the limit pushed down); the coordinator gathers the documents, sorts them, applies
/// offset and limit, projects, and hands out batches like a single server.
extension Coordinator {
    func registerCursors(in router: inout Router) {
        let coordinator = self
        router.addAsync(.post, "/_api/cursor") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            return try await coordinator.query(request)
        }
        for method in [RequestMethod.put, .post] {
            router.add(method, "/_api/cursor/:id") { request throws(ArangoError) in
                let batch = try coordinator.cursors.next(request.pathSegment("id"), user: request.user, database: request.database,
                                                         now: MonotonicClock.seconds())
                return DocumentAPI.cursorAnswer(batch, status: 200)
            }
        }
        router.add(.delete, "/_api/cursor/:id") { request throws(ArangoError) in
            let id = request.pathSegment("id")
            try coordinator.cursors.delete(id, user: request.user, database: request.database, now: MonotonicClock.seconds())
            return answer(202) { $0.add(key: "id", id) }
        }
    }

    func query(_ request: ServerRequest) async throws(ArangoError) -> ServerResponse {
        let body = try request.requireBody()
        guard body.isObject, let text = body["query"]?.stringValue else {
            throw ArangoError(status: 400, .queryEmpty, "query is empty: 'query' must be a string")
        }
        let bound: BoundQuery
        do {
            let parsed = try QueryParser.parse(text)
            if parsed.distinct { throw QueryError(.notSupported, "RETURN DISTINCT is not supported by Tessera's query subset") }
            bound = try BoundQuery(parsed, parameters: body["bindVars"])
        } catch let error as QueryError {
            throw ArangoError(status: error.kind == .notSupported ? 501 : 400, ErrorNumber(rawValue: error.errorNumber), error.message)
        } catch {
            throw ArangoError.internalError("\(error)")
        }
        let collection = try collection(bound.collection, in: request.database)
        let fullCount = body["options"]?["fullCount"]?.boolValue ?? false
        let batchSize = Int(body["batchSize"]?.intValue ?? 1000)
        guard (1...100_000).contains(batchSize) else { throw ArangoError.badParameter("batchSize must be an integer in 1...100000") }
        let ttl = body["ttl"]?.numberValue ?? CursorRegistry.ttlSecondsDefault
        let started = MonotonicClock.seconds()

        var documents: [Slice] = []
        var totalMatches = 0
        var scannedFull = 0, scannedIndex = 0, filtered = 0
        for shard in collection.shards.keys.sorted() {
            var shardBody = Builder()
            shardBody.openObject()
            shardBody.add(key: "query", text)
            if let bindVars = body["bindVars"] { shardBody.add(key: "bindVars", bindVars) }
            shardBody.add(key: "batchSize", 10_000)
            shardBody.add(key: "options")
            shardBody.openObject()
            shardBody.add(key: "fullCount", fullCount)
            shardBody.add(key: "forGather", true)
            shardBody.add(key: "shardAliases")
            shardBody.openObject()
            shardBody.add(key: bound.collection, shard)
            shardBody.closeTrusted()
            shardBody.closeTrusted()
            shardBody.closeTrusted()
            var response = try await send(.post, "/_api/cursor", shard: shard, of: collection, database: request.database,
                                          body: shardBody.bytes)
            while true {
                guard response.status < 300, let answer = response.body else {
                    throw response.error ?? ArangoError.internalError("shard \(shard) answered \(response.status) to a query")
                }
                documents.append(contentsOf: answer["result"]?.arrayElements.map { Slice(trustedBytes: $0.copiedBytes) } ?? [])
                if let stats = answer["extra"]?["stats"] {
                    totalMatches += Int(stats["fullCount"]?.intValue ?? 0)
                    scannedFull += Int(stats["scannedFull"]?.intValue ?? 0)
                    scannedIndex += Int(stats["scannedIndex"]?.intValue ?? 0)
                    filtered += Int(stats["filtered"]?.intValue ?? 0)
                }
                guard answer["hasMore"]?.boolValue == true, let id = answer["id"]?.stringValue else { break }
                response = try await send(.put, "/_api/cursor/\(id)", shard: shard, of: collection, database: request.database)
            }
        }
        if !bound.query.sort.isEmpty {
            documents.sort { bound.sortsBefore($0, $1) }
        }
        let start = min(bound.query.offset, documents.count)
        let end = bound.query.limit.map { min(documents.count, start + $0) } ?? documents.count
        var results: [Slice] = []
        results.reserveCapacity(end - start)
        for document in documents[start..<end] {
            var builder = Builder()
            bound.project(document, into: &builder)
            results.append(builder.slice)
        }
        var statistics = QueryExecution.Statistics()
        statistics.scannedFull = scannedFull
        statistics.scannedIndex = scannedIndex
        statistics.filtered = filtered
        statistics.fullCount = fullCount ? totalMatches : nil
        statistics.executionSeconds = MonotonicClock.seconds() - started
        statistics.accessPath = "gather from \(collection.shards.count) shards"
        let batch = cursors.open(results: results, batchSize: batchSize, ttlSeconds: ttl,
                                 count: body["count"]?.boolValue == true ? results.count : nil,
                                 extra: DocumentAPI.extra(statistics), user: request.user, database: request.database,
                                 now: MonotonicClock.seconds())
        return DocumentAPI.cursorAnswer(batch, status: 201)
    }

    // MARK: Cluster API

    func registerClusterAPI(in router: inout Router) {
        let coordinator = self
        router.add(.get, "/_admin/server/id") { _ in answer(200) { $0.add(key: "id", coordinator.identity.id) } }
        router.add(.get, "/_admin/server/role") { _ in answer(200) { $0.add(key: "role", "COORDINATOR") } }
        // `/_admin/cluster/health` and the other administration routes: CoordinatorClusterAdmin.swift.
        router.addAsync(.get, "/_admin/cluster/shardDistribution") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            let plan = try coordinator.plan()
            let current = coordinator.current()
            let database = request.database
            let collections = (plan.collections[database] ?? [:]).values.sorted { $0.name < $1.name }
            let replication = await coordinator.replicationStatus()
            return answer(200) { builder in
                builder.add(key: "results")
                builder.openObject()
                for collection in collections {
                    builder.add(key: collection.name)
                    builder.openObject()
                    for (section, servers) in [("Plan", { (shard: String) in collection.shards[shard] ?? [] }),
                                               ("Current", { (shard: String) in current.shard(database: database, collectionId: collection.id, shard: shard)?.servers ?? [] })] {
                        builder.add(key: section)
                        builder.openObject()
                        for shard in ShardName.sorted(collection.shards.keys) {
                            let list = servers(shard)
                            builder.add(key: shard)
                            builder.openObject()
                            builder.add(key: "leader", list.first ?? "")
                            builder.add(key: "followers")
                            builder.openArray()
                            for follower in list.dropFirst() { builder.add(follower) }
                            builder.closeTrusted()
                            builder.closeTrusted()
                        }
                        builder.closeTrusted()
                    }
                    // Tessera's addition: each shard's in-sync set and what every copy's
                    // replication says (stream positions, resync progress).
                    builder.add(key: "Replication")
                    builder.openObject()
                    for shard in ShardName.sorted(collection.shards.keys) {
                        let report = current.shard(database: database, collectionId: collection.id, shard: shard)
                        builder.add(key: shard)
                        builder.openObject()
                        builder.add(key: "failoverCandidates", strings: report?.failoverCandidates ?? [])
                        builder.add(key: "inSync", strings: report?.servers ?? [])
                        builder.add(key: "servers")
                        builder.openObject()
                        for server in collection.shards[shard] ?? [] {
                            builder.add(key: server)
                            if let status = replication[ReplicationStatusKey(server: server, database: database, shard: shard)] {
                                builder.add(status)
                            } else {
                                builder.openObject()
                                builder.add(key: "role", server == collection.shards[shard]?.first ? "leader" : "follower")
                                builder.add(key: "reachable", replication.reachable.contains(server))
                                builder.closeTrusted()
                            }
                        }
                        builder.closeTrusted()
                        builder.closeTrusted()
                    }
                    builder.closeTrusted()
                    builder.closeTrusted()
                }
                builder.closeTrusted()
                builder.add(key: "totals")
                builder.openObject()
                for (server, totals) in replication.totals.sorted(by: { $0.key < $1.key }) {
                    builder.add(key: server, totals)
                }
                builder.closeTrusted()
            }
        }
    }
}
