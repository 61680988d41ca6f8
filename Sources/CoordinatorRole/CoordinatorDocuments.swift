package import Client
package import ClusterLogic
package import Documents
package import Server
package import VelocyPack
package import ArangoAPI
package import VelocyStream
public import ClusterMember
public import RESTRoutes
public import Users

/// `/_api/document` on a coordinator: each document goes to the shard its shard-key values
/// hash to; arrays are split per shard and the answers put back in the caller's order.
extension Coordinator {
    func registerDocuments(in router: inout Router) {
        let coordinator = self
        // Single documents are forwarded from the loop thread and answered from the DBServer
        // connection's callback (`Reply.later`): no task and no thread change on the hot path.
        router.addDeferrable(.post, "/_api/document/:collection") { request throws(ArangoError) in
            try coordinator.users.require(.readWrite, request)
            return try coordinator.insert(request, id: nil)
        }
        for method in [RequestMethod.get, .head] {
            router.addDeferrable(method, "/_api/document/:collection/:key") { request throws(ArangoError) in
                try coordinator.users.require(.readOnly, request)
                return try coordinator.single(request, key: request.pathSegment("key"))
            }
        }
        for method in [RequestMethod.put, .patch, .delete] {
            router.addDeferrable(method, "/_api/document/:collection/:key") { request throws(ArangoError) in
                try coordinator.users.require(.readWrite, request)
                return try coordinator.single(request, key: request.pathSegment("key"))
            }
            router.addAsync(method, "/_api/document/:collection") { request throws(ArangoError) in
                // `PUT …?onlyget=true` reads documents by key.
                let onlyGet = try request.flag("onlyget") == true && method == .put
                try coordinator.users.require(onlyGet ? .readOnly : .readWrite, request)
                return try await coordinator.many(request, operation: .modify)
            }
        }
    }

    func routing(_ request: ServerRequest) throws(ArangoError) -> (PlanCollection, ShardRouter) {
        try routedCollection(request.pathSegment("collection"), in: request.database)
    }

    /// Forwards a request to one shard with the caller's parameters and preconditions;
    /// `completion` gets the shard's answer (or the error of an unreachable shard), on the
    /// loop thread when called there. A leader that died or resigned is replaced by the next
    /// one Plan names, as `CoordinatorFailover.swift` describes.
    func forward(_ request: ServerRequest, to shard: String, of collection: PlanCollection, key: String?,
                 body: [UInt8], completion: @escaping @Sendable (ServerResponse) -> Void) {
        send(shardCall(request, shard: shard, collection: collection, key: key, body: body), retried: false, completion: completion)
    }

    /// ArangoDB's request header that lets a read go to a follower, and the answer header
    /// that says it may have.
    static let dirtyReadRequestHeader = "x-arango-allow-dirty-read"
    static let dirtyReadAnswerHeader = "x-arango-potential-dirty-read"

    /// Whether the request is a read that allows a follower to answer.
    static func allowsDirtyRead(_ request: ServerRequest) -> Bool {
        guard request.header.meta[dirtyReadRequestHeader]?.lowercased() == "true" else { return false }
        return request.method == .get || request.method == .head
            || (request.method == .put && request.parameter("onlyget") == "true")
    }

    /// A server holding an in-sync copy of `shard` (leader or follower, at random, so dirty
    /// reads spread); the leader when Current lists no other.
    func readServer(of shard: String, in collection: PlanCollection, database: String) throws(ArangoError) -> String {
        let leader = try self.leader(of: shard, in: collection)
        let inSync = current().shard(database: database, collectionId: collection.id, shard: shard)?.servers ?? []
        let candidates = inSync.filter { collection.shards[shard]?.contains($0) == true }
        return candidates.randomElement() ?? leader
    }

    /// ``forward(_:to:of:key:body:completion:)`` as the answer of a deferrable route.
    func forwardReply(_ request: ServerRequest, to shard: String, of collection: PlanCollection, key: String?,
                      body: [UInt8]) -> Reply {
        .later { respond in self.forward(request, to: shard, of: collection, key: key, body: body, completion: respond) }
    }

    /// ``forward(_:to:of:key:body:completion:)`` for async callers.
    func forward(_ request: ServerRequest, to shard: String, of collection: PlanCollection, key: String?,
                 body: [UInt8]) async -> ServerResponse {
        await withCheckedContinuation { continuation in
            forward(request, to: shard, of: collection, key: key, body: body) { continuation.resume(returning: $0) }
        }
    }

    /// A deferrable route's answer computed by async work (the uncommon paths).
    static func inTask(_ work: @escaping @Sendable () async throws(ArangoError) -> ServerResponse) -> Reply {
        .later { respond in
            Task {
                do throws(ArangoError) { respond(try await work()) } catch { respond(ServerResponse(error)) }
            }
        }
    }

    /// A document with `_key` set to `key` (first), the rest kept.
    static func withKey(_ document: Slice, _ key: String) -> Slice {
        var builder = Builder(capacity: document.byteSize + key.utf8.count + 8)
        builder.openObject()
        builder.add(key: "_key", key)
        for member in document.objectMembers where member.key.keyName != "_key" {
            builder.add(key: member.key)
            builder.add(member.value)
        }
        builder.closeTrusted()
        return builder.slice
    }

    /// `POST /_api/document/<collection>`: an array goes to ``many(_:operation:)``; a
    /// document to the shard its shard-key values (or its new key) hash to. `id` is a key
    /// reserved by the slow path when the batch of reserved ids ran out.
    func insert(_ request: ServerRequest, id: UInt64?) throws(ArangoError) -> Reply {
        let body = try request.requireBody()
        if body.isArray { return Self.inTask { () async throws(ArangoError) in try await self.many(request, operation: .insert) } }
        guard body.isObject else { throw ArangoError(status: 400, .documentTypeInvalid, "invalid document type: expecting an object or an array") }
        let (collection, router) = try routing(request)
        var document = body
        var generated: String?
        if body["_key"] == nil {
            // Keys are made here, cluster-unique, so the shard (by `_key`) is known.
            guard let id = id ?? takeReservedId() else {
                return .later { respond in
                    Task {
                        do throws(ArangoError) {
                            let id = try await self.newIds(1).lowerBound
                            Self.deliver(try self.insert(request, id: id), to: respond)
                        } catch {
                            respond(ServerResponse(error))
                        }
                    }
                }
            }
            generated = String(id)
            document = Self.withKey(body, generated!)
        }
        let index: Int
        // Routed as the user sent it: the generated key is not the user's `_key`.
        do { index = try router.shardForInsert(body, generatedKey: generated) } catch { throw ArangoError(error) }
        return forwardReply(request, to: router.shards[index], of: collection, key: nil, body: Array(document.bytes))
    }

    /// Hands a reply made off the route's own call to `respond`.
    static func deliver(_ reply: Reply, to respond: @escaping @Sendable (ServerResponse) -> Void) {
        switch reply {
        case .now(let response): respond(response)
        case .offload(let work): respond(work())
        case .later(let start): start(respond)
        }
    }

    /// One document by key: read, replace, update or remove.
    func single(_ request: ServerRequest, key: String) throws(ArangoError) -> Reply {
        let (collection, router) = try routing(request)
        if router.usesDefaultShardKeys {
            let shard = router.shard(of: Slice(trustedBytes: [0x0a]), key: key)
            return forwardReply(request, to: shard, of: collection, key: key, body: request.body.map { Array($0.bytes) } ?? [])
        }
        var index: Int?
        if request.method != .get && request.method != .head {
            do { index = try router.shardForModification(request.body ?? Slice(trustedBytes: [0x0a]), key: key) } catch {
                // A remove by key alone (the usual DELETE, without a body) is asked of the
                // shards in turn like a read: keys are unique across the collection. An update
                // or replace must carry the shard-key values, as in ArangoDB.
                guard request.method == .delete && error.code == .notAllShardingAttributesGiven else { throw ArangoError(error) }
            }
        }
        guard let index else {
            // Custom shard keys: a read (or a remove) by key asks the shards in turn.
            return Self.inTask {
                var last = ServerResponse(ArangoError.documentNotFound("\(collection.name)/\(key)"))
                for shard in router.shards {
                    last = await self.forward(request, to: shard, of: collection, key: key, body: request.body.map { Array($0.bytes) } ?? [])
                    if last.status != 404 { return last }
                }
                return last
            }
        }
        return forwardReply(request, to: router.shards[index], of: collection, key: key, body: request.body.map { Array($0.bytes) } ?? [])
    }

    /// Array operations: split per shard, one request per shard, answers in the caller's order.
    func many(_ request: ServerRequest, operation: DocumentOperation) async throws(ArangoError) -> ServerResponse {
        let body = try request.requireBody()
        guard body.isArray else { throw ArangoError(status: 400, .documentTypeInvalid, "invalid document type: expecting an array") }
        let (collection, router) = try routing(request)
        var documents = body.arrayElements.map { $0 }
        var generated: [String?]?
        if operation == .insert {
            let missing = documents.filter { $0.isObject && $0["_key"] == nil }.count
            let ids: [UInt64] = missing > 0 ? Array(try await newIds(UInt64(missing))) : []
            var next = 0
            generated = documents.map { document in
                guard document.isObject, document["_key"] == nil, next < ids.count else { return nil }
                defer { next += 1 }
                return String(ids[next])
            }
        }
        // Routed as the user sent them (a generated key is not a user `_key`), sent with
        // the generated keys in place.
        let split = router.split(documents, operation: operation, generatedKeys: generated)
        if let generated {
            documents = zip(documents, generated).map { document, key in key.map { Self.withKey(document, $0) } ?? document }
        }
        var answers: [[Slice]] = []
        var errorCounts = ErrorCodeCounts()
        var status = 0
        for batch in split.batches {
            var builder = Builder()
            builder.openArray()
            for position in batch.positions { builder.add(documents[position]) }
            builder.closeTrusted()
            let response = await forward(request, to: batch.shard, of: collection, key: nil, body: builder.bytes)
            let answer = Slice(trustedBytes: response.body.isEmpty ? [0x01] : response.body)
            guard answer.isArray, answer.count == batch.positions.count || request.parameter("silent") == "true" else {
                if response.status >= 400, let error = ArangoError(status: response.status, body: Slice(trustedBytes: response.body)) { throw error }
                throw ArangoError.internalError("shard \(batch.shard) answered \(response.status) with an unexpected body")
            }
            status = max(status, response.status)
            answers.append(answer.count == batch.positions.count ? answer.arrayElements.map { $0 } : [])
            for item in answer.arrayElements { if let number = item["errorNum"]?.intValue { errorCounts.count(ErrorNumber(rawValue: Int(number))) } }
        }
        for failure in split.failures { errorCounts.count(ArangoError(failure.error).number) }
        var builder = Builder()
        builder.openArray()
        if answers.allSatisfy({ !$0.isEmpty }) || split.batches.isEmpty {
            let merged = split.merge(answers: answers.isEmpty ? [] : answers) { error -> Slice in
                var item = Builder()
                ArangoError(error).addBatchEntry(to: &item)
                return item.slice
            }
            for item in merged { builder.add(item) }
        }
        builder.closeTrusted()
        return ServerResponse(status: status == 0 ? 202 : status, meta: errorCounts.meta, body: builder.bytes)
    }
}
