import TesseraPlatform
package import Documents
package import Server
package import VelocyPack
package import ArangoAPI
package import VelocyStream

/// `/_api/index` and `/_api/cursor`.
extension DocumentAPI {
    func registerIndexes(in router: inout Router) {
        let api = self
        router.add(.get, "/_api/index") { request throws(ArangoError) in
            try api.access.require(.readOnly, request)
            let collection = try api.indexCollection(request)
            let name = collection.name
            let indexes = collection.info.indexes
            return answer(200) { builder in
                builder.add(key: "indexes")
                builder.openArray()
                IndexInfo.writePrimary(into: &builder, collection: name)
                for index in indexes { index.write(into: &builder, collection: name) }
                builder.closeTrusted()
                builder.add(key: "identifiers")
                builder.openObject()
                builder.add(key: "\(name)/0")
                IndexInfo.writePrimary(into: &builder, collection: name)
                for index in indexes {
                    builder.add(key: "\(name)/\(index.id)")
                    index.write(into: &builder, collection: name)
                }
                builder.closeTrusted()
            }
        }
        router.addDeferrable(.post, "/_api/index") { request throws(ArangoError) in
            try api.access.require(.readWrite, request)
            let collection = try api.indexCollection(request)
            let definition = try IndexRequest(body: try request.requireBody())
            return .offload {
                responding { () throws(ArangoError) in
                    let (index, created) = try api.store.ensureIndex(definition, on: collection)
                    var builder = Builder()
                    index.write(into: &builder, collection: collection.name, isNewlyCreated: created)
                    let status = created ? 201 : 200
                    return answer(status) { out in
                        for member in builder.slice.objectMembers { out.add(key: member.key); out.add(member.value) }
                    }
                }
            }
        }
        router.add(.get, "/_api/index/:collection/:id") { request throws(ArangoError) in
            try api.access.require(.readOnly, request)
            let collection = try api.collection(request, parameter: "collection")
            let id = try Self.indexID(request)
            if id == 0 {
                var builder = Builder()
                IndexInfo.writePrimary(into: &builder, collection: collection.name)
                return answer(200) { out in for member in builder.slice.objectMembers { out.add(key: member.key); out.add(member.value) } }
            }
            guard let index = collection.info.indexes.first(where: { $0.id == id }) else {
                throw ArangoError(status: 404, .indexNotFound, "index not found: \(collection.name)/\(id)")
            }
            var builder = Builder()
            index.write(into: &builder, collection: collection.name)
            return answer(200) { out in for member in builder.slice.objectMembers { out.add(key: member.key); out.add(member.value) } }
        }
        router.addDeferrable(.delete, "/_api/index/:collection/:id") { request throws(ArangoError) in
            try api.access.require(.readWrite, request)
            let collection = try api.collection(request, parameter: "collection")
            let id = try Self.indexID(request)
            return .offload {
                responding { () throws(ArangoError) in
                    try api.store.dropIndex(id, on: collection)
                    return answer(200) { $0.add(key: "id", "\(collection.name)/\(id)") }
                }
            }
        }
    }

    func indexCollection(_ request: ServerRequest) throws(ArangoError) -> DocumentCollection {
        guard let name = request.parameter("collection") else {
            throw ArangoError.badParameter("query parameter 'collection' is required")
        }
        return try store.collection(name, in: request.database)
    }

    static func indexID(_ request: ServerRequest) throws(ArangoError) -> UInt64 {
        let text = request.pathSegment("id")
        guard let id = UInt64(text) else {
            throw ArangoError(status: 400, .indexHandleBad, "illegal index handle '\(text)': expected a number")
        }
        return id
    }

    // MARK: Cursors

    /// The most results per batch a client may ask for.
    static let batchSizeMax = 100_000

    func registerCursors(in router: inout Router) {
        let api = self
        router.addDeferrable(.post, "/_api/cursor") { request throws(ArangoError) in
            try api.access.require(.readOnly, request)
            let body = try request.requireBody()
            guard body.isObject else { throw ArangoError.badParameter("cursor request must be an object") }
            guard let query = body["query"]?.stringValue else {
                throw ArangoError(status: 400, .queryEmpty, "query is empty: 'query' must be a string")
            }
            let bindVars = body["bindVars"]
            var options = QueryExecution.Options()
            var batchSize = 1000
            if let value = body["batchSize"] {
                guard let number = value.intValue, number > 0, number <= Self.batchSizeMax else {
                    throw ArangoError.badParameter("batchSize must be an integer in 1...\(Self.batchSizeMax)")
                }
                batchSize = Int(number)
            }
            var ttl = CursorRegistry.ttlSecondsDefault
            if let value = body["ttl"] {
                guard let number = value.numberValue, number > 0, number <= CursorRegistry.ttlSecondsMax else {
                    throw ArangoError.badParameter("ttl must be a number of seconds in (0, \(Int(CursorRegistry.ttlSecondsMax))]")
                }
                ttl = number
            }
            let count = body["count"]?.boolValue ?? false
            if let extra = body["options"] {
                guard extra.isObject else { throw ArangoError.badParameter("options must be an object") }
                options.fullCount = extra["fullCount"]?.boolValue ?? false
                // From a coordinator to a DBServer: the shard the collection stands for here,
                // and whether to return documents for a gather instead of the projection.
                if let aliases = extra["shardAliases"] {
                    guard aliases.isObject else { throw ArangoError.badParameter("options.shardAliases must be an object") }
                    for member in aliases.objectMembers {
                        guard let name = member.key.keyName, let shard = member.value.stringValue else {
                            throw ArangoError.badParameter("options.shardAliases maps collection names to shard names")
                        }
                        options.collectionAliases[name] = shard
                    }
                }
                options.forGather = extra["forGather"]?.boolValue ?? false
                if let value = extra["maxRuntime"] {
                    guard let seconds = value.numberValue, seconds >= 0 else {
                        throw ArangoError.badParameter("options.maxRuntime must be a non-negative number")
                    }
                    options.maxRuntimeSeconds = seconds
                }
            }
            return .offload { [options, ttl, batchSize] in
                responding { () throws(ArangoError) in
                    let execution = try QueryExecution.run(query, bindVars: bindVars, database: request.database, store: api.store,
                                                           options: options, clock: { MonotonicClock.seconds() })
                    let batch = api.cursors.open(results: execution.results, batchSize: batchSize, ttlSeconds: ttl,
                                                 count: count ? execution.results.count : nil,
                                                 extra: Self.extra(execution.statistics),
                                                 user: request.user, database: request.database, now: MonotonicClock.seconds())
                    return Self.cursorAnswer(batch, status: 201)
                }
            }
        }
        for method in [RequestMethod.put, .post] {
            router.add(method, "/_api/cursor/:id") { request throws(ArangoError) in
                try api.access.require(.readOnly, request)
                let batch = try api.cursors.next(request.pathSegment("id"), user: request.user, database: request.database,
                                                 now: MonotonicClock.seconds())
                return Self.cursorAnswer(batch, status: 200)
            }
        }
        router.add(.delete, "/_api/cursor/:id") { request throws(ArangoError) in
            let id = request.pathSegment("id")
            try api.cursors.delete(id, user: request.user, database: request.database, now: MonotonicClock.seconds())
            return answer(202) { $0.add(key: "id", id) }
        }
    }

    package static func extra(_ statistics: QueryExecution.Statistics) -> [UInt8] {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "warnings")
        builder.openArray()
        builder.closeTrusted()
        builder.add(key: "stats")
        builder.openObject()
        builder.add(key: "writesExecuted", 0)
        builder.add(key: "writesIgnored", 0)
        builder.add(key: "scannedFull", statistics.scannedFull)
        builder.add(key: "scannedIndex", statistics.scannedIndex)
        builder.add(key: "filtered", statistics.filtered)
        builder.add(key: "executionTime", statistics.executionSeconds)
        if let fullCount = statistics.fullCount { builder.add(key: "fullCount", fullCount) }
        builder.add(key: "accessPath", statistics.accessPath)
        builder.closeTrusted()
        builder.closeTrusted()
        return builder.bytes
    }

    package static func cursorAnswer(_ batch: CursorRegistry.Batch, status: Int) -> ServerResponse {
        answer(status) { builder in
            builder.add(key: "result")
            builder.openArray()
            for value in batch.results { builder.add(value) }
            builder.closeTrusted()
            builder.add(key: "hasMore", batch.hasMore)
            if batch.hasMore { builder.add(key: "id", batch.id) }
            if let count = batch.count { builder.add(key: "count", count) }
            builder.add(key: "extra", Slice(trustedBytes: batch.extra))
            builder.add(key: "cached", false)
        }
    }
}
