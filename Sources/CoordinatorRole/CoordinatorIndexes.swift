package import Client
package import ClusterLogic
package import Documents
package import Server
import TesseraPlatform
package import VelocyPack
package import ArangoAPI
package import VelocyStream
public import ClusterMember
public import RESTRoutes
public import Users

/// `/_api/index` on a coordinator: indexes are part of the collection's Plan entry; an index
/// is ready when every shard's leader reports it in Current.
extension Coordinator {
    func registerIndexes(in router: inout Router) {
        let coordinator = self
        router.add(.get, "/_api/index") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            let collection = try coordinator.indexCollection(request)
            return answer(200) { builder in
                builder.add(key: "indexes")
                builder.openArray()
                for index in collection.indexes { Self.write(index, collection: collection.name, into: &builder) }
                builder.closeTrusted()
                builder.add(key: "identifiers")
                builder.openObject()
                for index in collection.indexes {
                    builder.add(key: "\(collection.name)/\(index.id)")
                    Self.write(index, collection: collection.name, into: &builder)
                }
                builder.closeTrusted()
            }
        }
        router.addAsync(.post, "/_api/index") { request throws(ArangoError) in
            try coordinator.users.require(.readWrite, request)
            let collection = try coordinator.indexCollection(request)
            let definition = try IndexRequest(body: try request.requireBody())
            do throws(ClusterError) { try ShardRouter(collection: collection).checkIndex(fields: definition.fields, unique: definition.unique) } catch {
                throw ArangoError(error)
            }
            if let same = collection.indexes.first(where: {
                $0.fields == definition.fields && $0.unique == definition.unique && $0.sparse == definition.sparse && !$0.isBuiltIn
            }) {
                return Self.indexAnswer(same, collection: collection.name, status: 200, created: false)
            }
            if let name = definition.name, collection.indexes.contains(where: { $0.name == name }) {
                throw ArangoError(status: 409, .duplicateName, "duplicate name: an index named '\(name)' exists with another definition")
            }
            let id = String(try await coordinator.newIds(1).lowerBound)
            let index = PlannedIndex(id: id, type: "persistent", name: definition.name ?? "idx_\(id)",
                                                     fields: definition.fields, unique: definition.unique, sparse: definition.sparse)
            var updated = collection
            updated.indexes.append(index)
            try await coordinator.changePlan(updated, previous: collection, database: request.database)
            // Ready when every shard reports it (or one reports an error, e.g. duplicates).
            let deadline = MonotonicClock.seconds() + coordinator.options.creationTimeoutSeconds
            while MonotonicClock.seconds() < deadline {
                let current = coordinator.current()
                let reports = updated.shards.keys.map { current.shard(database: request.database, collectionId: updated.id, shard: $0) }
                if let failed = reports.compactMap({ $0 }).first(where: { $0.error }) {
                    await coordinator.undoIndex(collection, previous: updated, database: request.database)
                    throw ArangoError(status: 409, ErrorNumber(rawValue: failed.errorNum), failed.errorMessage)
                }
                if let failure = reports.lazy.compactMap({ $0?.indexErrors.first(where: { $0.id == id }) }).first {
                    // A shard could not build it (say, duplicates for a unique index): undo it.
                    await coordinator.undoIndex(collection, previous: updated, database: request.database)
                    let number = ErrorNumber(rawValue: failure.errorNum)
                    throw ArangoError(status: number.code == .uniqueConstraintViolated ? 409 : 400, number, failure.errorMessage)
                }
                if reports.allSatisfy({ $0?.indexes.contains(where: { $0.id == id }) == true }) {
                    return Self.indexAnswer(index, collection: collection.name, status: 201, created: true)
                }
                _ = await coordinator.cache.waitFor(index: coordinator.cache.index + 1, timeoutSeconds: 1)
            }
            throw ArangoError(status: 503, .clusterTimeout, "the index did not appear on every shard in time")
        }
        router.add(.get, "/_api/index/:collection/:id") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            let collection = try coordinator.collection(request.pathSegment("collection"), in: request.database)
            let id = request.pathSegment("id")
            guard let index = collection.indexes.first(where: { $0.id == id || $0.name == id }) else {
                throw ArangoError(status: 404, .indexNotFound, "index not found: \(collection.name)/\(id)")
            }
            var builder = Builder()
            Self.write(index, collection: collection.name, into: &builder)
            return answer(200) { out in for member in builder.slice.objectMembers { out.add(key: member.key); out.add(member.value) } }
        }
        router.addAsync(.delete, "/_api/index/:collection/:id") { request throws(ArangoError) in
            try coordinator.users.require(.readWrite, request)
            let collection = try coordinator.collection(request.pathSegment("collection"), in: request.database)
            let id = request.pathSegment("id")
            guard let index = collection.indexes.first(where: { $0.id == id }) else {
                throw ArangoError(status: 404, .indexNotFound, "index not found: \(collection.name)/\(id)")
            }
            guard !index.isBuiltIn else { throw ArangoError(status: 403, .forbidden, "the primary index cannot be dropped") }
            var updated = collection
            updated.indexes.removeAll { $0.id == id }
            try await coordinator.changePlan(updated, previous: collection, database: request.database)
            return answer(200) { $0.add(key: "id", "\(collection.name)/\(id)") }
        }
    }

    func indexCollection(_ request: ServerRequest) throws(ArangoError) -> PlanCollection {
        guard let name = request.parameter("collection") else { throw ArangoError.badParameter("query parameter 'collection' is required") }
        return try collection(name, in: request.database)
    }

    /// Writes a changed collection entry to Plan and waits until the cache has it.
    static let changedConcurrently = ArangoError(status: 409, .conflict, "the collection was changed concurrently; try again")

    func changePlan(_ collection: PlanCollection, previous: PlanCollection, database: String) async throws(ArangoError) {
        try await changePlan(AgencyTransactions.updateCollection(collection, previous: previous, database: database))
    }

    /// Sends a Plan change whose preconditions guard against concurrent changes and waits
    /// until the cache has it; `refused` says which error a failed precondition is (asked
    /// only then).
    func changePlan(_ envelope: [UInt8],
                    refused: @Sendable () async -> ArangoError = { Coordinator.changedConcurrently }) async throws(ArangoError) {
        do {
            let result = try await agency.write(envelope: envelope, clientID: nil)
            guard result.applied else { throw await refused() }
            _ = await cache.waitFor(index: result.index, timeoutSeconds: 10)
        } catch let error as ArangoError {
            throw error
        } catch {
            throw ArangoError(status: 503, .clusterTimeout, "the agency did not take the change: \(error)")
        }
    }

    static func write(_ index: PlannedIndex, collection: String, into builder: inout Builder, created: Bool? = nil) {
        builder.openObject()
        builder.add(key: "id", "\(collection)/\(index.id)")
        builder.add(key: "name", index.name)
        builder.add(key: "type", index.type)
        builder.add(key: "fields", strings: index.fields)
        builder.add(key: "unique", index.unique)
        builder.add(key: "sparse", index.sparse)
        if let created { builder.add(key: "isNewlyCreated", created) }
        builder.closeTrusted()
    }

    static func indexAnswer(_ index: PlannedIndex, collection: String, status: Int, created: Bool) -> ServerResponse {
        var builder = Builder()
        write(index, collection: collection, into: &builder, created: created)
        return answer(status) { out in for member in builder.slice.objectMembers { out.add(key: member.key); out.add(member.value) } }
    }
}

extension Coordinator {
    /// Puts the collection's Plan back as it was before an index that cannot be built; a
    /// failure is logged (the index then stays planned, and its error stays in Current).
    func undoIndex(_ collection: PlanCollection, previous updated: PlanCollection, database: String) async {
        do throws(ArangoError) {
            try await changePlan(collection, previous: updated, database: database)
        } catch {
            ProcessLog.logger("coordinator").error("cannot undo a failed index on \(database)/\(collection.name): \(error.message)")
        }
    }
}
