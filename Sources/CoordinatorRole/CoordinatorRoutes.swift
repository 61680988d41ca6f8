package import Client
package import ClusterLogic
package import Documents
package import Query
public import Server
import TesseraPlatform
package import VelocyPack
package import ArangoAPI
package import VelocyStream
public import ClusterMember
public import RESTRoutes
public import Users

extension ArangoError {
    /// A routing or placement rule of the cluster, with ArangoDB's number.
    init(_ error: ClusterError) {
        let number = ErrorNumber(rawValue: error.errorNumber)
        self.init(status: number.code == .clusterInsufficientDBServers ? 503 : 400, number, error.message)
    }
}

extension Coordinator {
    /// The client API of a coordinator: the same paths as a single server, cluster-wide.
    public func router() -> Router {
        var router = Router()
        AdminHandlers.register(in: &router, version: AdminHandlers.VersionInfo(version: options.version))
        registerDatabases(in: &router)
        registerCollections(in: &router)
        registerIndexes(in: &router)
        registerDocuments(in: &router)
        registerCursors(in: &router)
        registerClusterAPI(in: &router)
        registerClusterAdmin(in: &router)
        registerMoves(in: &router)
        UserRoutes(users: users).register(in: &router)
        return router
    }

    // MARK: Collections

    func registerCollections(in router: inout Router) {
        let coordinator = self
        router.addAsync(.post, "/_api/collection") { request throws(ArangoError) in
            try coordinator.users.require(.readWrite, request)
            return try await coordinator.createCollection(request)
        }
        router.add(.get, "/_api/collection") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            let plan = try coordinator.plan()
            let collections = (plan.collections[request.database] ?? [:]).values.sorted { $0.name < $1.name }
            return answer(200) { builder in
                builder.add(key: "result")
                builder.openArray()
                for collection in collections { Self.writeBasics(collection, into: &builder, close: true) }
                builder.closeTrusted()
            }
        }
        for (method, suffix) in [(RequestMethod.get, ""), (.get, "/properties"), (.put, "/load"), (.put, "/unload")] {
            router.add(method, "/_api/collection/:name" + suffix) { request throws(ArangoError) in
                try coordinator.users.require(.readOnly, request)
                let collection = try coordinator.collection(request.pathSegment("name"), in: request.database)
                return Self.properties(collection)
            }
        }
        router.addAsync(.put, "/_api/collection/:name/properties") { request throws(ArangoError) in
            try coordinator.users.require(.readWrite, request)
            let collection = try coordinator.collection(request.pathSegment("name"), in: request.database)
            let body = try request.requireBody()
            guard body.isObject else { throw ArangoError.badParameter("properties must be an object") }
            var updated = collection
            if let value = body["waitForSync"] {
                guard let flag = value.boolValue else { throw ArangoError.badParameter("waitForSync must be a boolean") }
                updated.waitForSync = flag
            }
            func count(_ key: String) throws(ArangoError) -> Int? {
                guard let value = body[key] else { return nil }
                guard let number = value.intValue else { throw ArangoError.badParameter("\(key) must be an integer") }
                return Int(clamping: number)
            }
            let replicationFactor = try count("replicationFactor") ?? collection.replicationFactor
            let newer = try count("writeConcern"), older = try count("minReplicationFactor")
            let writeConcern = newer ?? older ?? min(collection.writeConcern, replicationFactor)
            let holdings = ShardPlacement.copiesPerServer(try coordinator.plan())
            // Current read after Plan (the Plan change below requires the collection as read):
            // a server Current lists for a shard Plan does not give it may have dropped its
            // copy; it is not made a follower again (`CurrentShard.listedServers`).
            let current = coordinator.current()
            var listed: [String: Set<String>] = [:]
            for shard in collection.shards.keys {
                listed[shard] = current.shard(database: request.database, collectionId: collection.id, shard: shard)?.listedServers
            }
            do throws(ClusterError) {
                try PlanCollection.validateProperties(numberOfShards: collection.numberOfShards, shardKeys: collection.shardKeys,
                                                      replicationFactor: replicationFactor, writeConcern: writeConcern)
                updated.writeConcern = writeConcern
                if replicationFactor != collection.replicationFactor {
                    // New followers get their copies by resync; removed ones drop their shard.
                    updated.replicationFactor = replicationFactor
                    updated.shards = try ShardPlacement.changeReplicationFactor(
                        of: collection.shards, to: replicationFactor, servers: coordinator.placementServers(),
                        holdings: holdings, listed: listed)
                }
            } catch {
                throw ArangoError(error)
            }
            if updated != collection {
                // DBServers' Maintenance gives every shard the new setting.
                try await coordinator.changePlan(updated, previous: collection, database: request.database)
            }
            return Self.properties(updated)
        }
        router.addAsync(.put, "/_api/collection/:name/rename") { request throws(ArangoError) in
            try coordinator.users.require(.readWrite, request)
            let collection = try coordinator.collection(request.pathSegment("name"), in: request.database)
            let body = try request.requireBody()
            guard body.isObject, let newName = body["name"]?.stringValue else {
                throw ArangoError.badParameter("rename needs a string 'name'")
            }
            if let fault = Names.collectionFault(newName, allowSystem: false) {
                throw ArangoError(status: 400, .illegalName, "illegal name: \(fault)")
            }
            if newName == collection.name { return Self.properties(collection) }
            var renamed = collection
            renamed.name = newName
            // Shards keep their names; DBServers' Maintenance changes the name in `_id`s.
            let database = request.database
            try await coordinator.changePlan(AgencyTransactions.renameCollection(renamed, previous: collection, database: database)) {
                // Which precondition failed: asked of the agency, as this cache may be behind.
                let path = AgencyLayout.planCollectionName(database: database, name: newName)
                let answer = try? await coordinator.agency.read([[path]])
                if let first = answer?[0], AgencyLayout.value(at: path, inReadAnswer: first) != nil {
                    return ArangoError(status: 409, .duplicateName, "duplicate name: a collection '\(newName)' exists")
                }
                return Coordinator.changedConcurrently
            }
            return Self.properties(renamed)
        }
        router.addAsync(.get, "/_api/collection/:name/figures") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            let collection = try coordinator.collection(request.pathSegment("name"), in: request.database)
            var count: Int64 = 0
            var sums: [String: Int64] = [:]
            for shard in collection.sortedShardNames {
                let response = try await coordinator.send(.get, "/_api/collection/\(shard)/figures", shard: shard, of: collection,
                                                          database: request.database)
                guard response.status == 200, let body = response.body else {
                    throw response.error ?? ArangoError.internalError("shard \(shard) answered \(response.status)")
                }
                count += body["count"]?.intValue ?? 0
                for member in body["figures"]?.objectMembers ?? Slice(trustedBytes: [0x0a]).objectMembers {
                    if let key = member.key.keyName, let value = member.value.intValue { sums[key, default: 0] += value }
                }
            }
            return Self.properties(collection) { builder in
                builder.add(key: "count", count)
                builder.add(key: "figures")
                builder.openObject()
                // Each figure is the sum over the shards (the index count: per collection).
                for (key, value) in sums.sorted(by: { $0.key < $1.key }) { builder.add(key: key, value) }
                builder.add(key: "indexes")
                builder.openObject()
                builder.add(key: "count", collection.indexes.count)
                builder.closeTrusted()
                builder.closeTrusted()
            }
        }
        router.addAsync(.get, "/_api/collection/:name/count") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            let collection = try coordinator.collection(request.pathSegment("name"), in: request.database)
            var total: Int64 = 0
            for shard in collection.shards.keys {
                let response = try await coordinator.send(.get, "/_api/collection/\(shard)/count", shard: shard, of: collection,
                                                          database: request.database)
                guard response.status == 200, let count = response.body?["count"]?.intValue else {
                    throw response.error ?? ArangoError.internalError("shard \(shard) answered \(response.status)")
                }
                total += count
            }
            return Self.properties(collection) { $0.add(key: "count", total) }
        }
        router.addAsync(.put, "/_api/collection/:name/truncate") { request throws(ArangoError) in
            try coordinator.users.require(.readWrite, request)
            let collection = try coordinator.collection(request.pathSegment("name"), in: request.database)
            for shard in collection.shards.keys {
                let response = try await coordinator.send(.put, "/_api/collection/\(shard)/truncate", shard: shard, of: collection,
                                                          database: request.database)
                if let error = response.error { throw error }
            }
            return Self.properties(collection)
        }
        router.addAsync(.delete, "/_api/collection/:name") { request throws(ArangoError) in
            try coordinator.users.require(.readWrite, request)
            let collection = try coordinator.collection(request.pathSegment("name"), in: request.database)
            do {
                let result = try await coordinator.agency.write(
                    envelope: AgencyTransactions.dropCollection(database: request.database, id: collection.id, name: collection.name),
                    clientID: nil)
                guard result.applied else { throw ArangoError.collectionNotFound(collection.name) }
                _ = await coordinator.cache.waitFor(index: result.index, timeoutSeconds: 10)
                let database = request.database
                await coordinator.clearCurrent(AgencyTransactions.clearCollectionFromCurrent(database: database, collectionId: collection.id)) {
                    $0.collections[database]?[collection.id]?.count ?? 0
                }
            } catch let error as ClientError {
                throw ArangoError(status: 503, .clusterTimeout, "the agency did not take the drop: \(error)")
            } catch let error as ArangoError {
                throw error
            } catch {
                throw ArangoError.internalError("\(error)")
            }
            return answer(200) { $0.add(key: "id", collection.id) }
        }
    }

    func createCollection(_ request: ServerRequest) async throws(ArangoError) -> ServerResponse {
        let body = try request.requireBody()
        guard body.isObject, let name = body["name"]?.stringValue else {
            throw ArangoError(status: 400, .illegalName, "illegal name: 'name' must be a string")
        }
        if let fault = Names.collectionFault(name, allowSystem: false) {
            throw ArangoError(status: 400, .illegalName, "illegal name: \(fault)")
        }
        let numberOfShards = Int(body["numberOfShards"]?.intValue ?? 1)
        let replicationFactor = Int(body["replicationFactor"]?.intValue ?? 1)
        let writeConcern = Int(body["writeConcern"]?.intValue ?? body["minReplicationFactor"]?.intValue ?? 1)
        var shardKeys = ["_key"]
        if let keys = body["shardKeys"] {
            guard keys.isArray, keys.arrayElements.allSatisfy(\.isString) else {
                throw ArangoError.badParameter("shardKeys must be an array of attribute names")
            }
            shardKeys = keys.arrayElements.compactMap(\.stringValue)
        }
        do {
            try PlanCollection.validateProperties(numberOfShards: numberOfShards, shardKeys: shardKeys,
                                                  replicationFactor: replicationFactor, writeConcern: writeConcern)
        } catch {
            throw ArangoError(error)
        }
        let type: CollectionType = (body["type"]?.intValue == 3 || body["type"]?.stringValue == "edge") ? .edge : .document
        var keyOptions = KeyOptions()
        if let options = body["keyOptions"], options.isObject {
            keyOptions = try KeyOptions(slice: options)
        }
        let servers = placementServers()
        let placement: [[String]]
        do {
            placement = try ShardPlacement.distributeShards(numberOfShards: numberOfShards, replicationFactor: replicationFactor,
                                                            servers: servers, seed: UInt64.random(in: 0...UInt64.max))
        } catch {
            throw ArangoError(error)
        }
        let ids = try await newIds(UInt64(numberOfShards + 1))
        let collection = PlanCollection(
            id: String(ids.lowerBound), name: name, type: type, numberOfShards: numberOfShards, shardKeys: shardKeys,
            replicationFactor: replicationFactor, writeConcern: writeConcern,
            waitForSync: body["waitForSync"]?.boolValue ?? false, keyOptions: keyOptions,
            shards: ShardPlacement.shardMap(firstShardId: ids.lowerBound + 1, placement: placement), isBuilding: true)
        let database = request.database
        do {
            let answer = try await agency.transact(AgencyTransactions.createCollection(collection, database: database))
            if let failure = AgencyTransactions.createCollectionFailure(answer: answer.body, database: database, name: name) {
                let number = ErrorNumber(rawValue: failure.errorNum)
                throw ArangoError(status: number.code == .duplicateName ? 409 : 404, number, failure.message)
            }
            // Wait until every shard is in Current (or one reports an error).
            let deadline = MonotonicClock.seconds() + options.creationTimeoutSeconds
            while true {
                let current = current()
                if let failed = current.firstError(collection, database: database) {
                    do {
                        _ = try await agency.write(envelope: AgencyTransactions.dropCollection(database: database, id: collection.id, name: name),
                                                   clientID: nil)
                    } catch {
                        ProcessLog.logger("coordinator").error("cannot undo collection \(database)/\(name) after a shard failed: \(error)")
                    }
                    throw ArangoError(status: 500, ErrorNumber(rawValue: failed.report.errorNum),
                                      "creating shard \(failed.shard) failed: \(failed.report.errorMessage)")
                }
                if current.isComplete(collection, database: database) { break }
                guard MonotonicClock.seconds() < deadline else {
                    throw ArangoError(status: 503, .clusterTimeout,
                                      "the shards of \(name) did not all appear in Current within \(Int(options.creationTimeoutSeconds)) s")
                }
                _ = await cache.waitFor(index: cache.index + 1, timeoutSeconds: 1)
            }
            let finished = try await agency.write(envelope: AgencyTransactions.finishCollectionCreation(database: database, collectionId: collection.id),
                                                  clientID: nil)
            _ = await cache.waitFor(index: finished.index, timeoutSeconds: 10)
        } catch let error as ArangoError {
            throw error
        } catch {
            throw ArangoError(status: 503, .clusterTimeout, "the agency did not take the collection: \(error)")
        }
        var built = collection
        built.isBuilding = false
        return Self.properties(built)
    }

    static func writeBasics(_ collection: PlanCollection, into builder: inout Builder, close: Bool) {
        if close { builder.openObject() }
        builder.add(key: "id", collection.id)
        builder.add(key: "name", collection.name)
        builder.add(key: "status", 3)
        builder.add(key: "type", collection.type.rawValue)
        builder.add(key: "isSystem", collection.name.hasPrefix("_"))
        builder.add(key: "globallyUniqueId", "c\(collection.id)")
        if close { builder.closeTrusted() }
    }

    static func properties(_ collection: PlanCollection, _ extra: (inout Builder) -> Void = { _ in }) -> ServerResponse {
        answer(200) { builder in
            writeBasics(collection, into: &builder, close: false)
            builder.add(key: "waitForSync", collection.waitForSync)
            builder.add(key: "numberOfShards", collection.numberOfShards)
            builder.add(key: "shardKeys", strings: collection.shardKeys)
            builder.add(key: "replicationFactor", collection.replicationFactor)
            builder.add(key: "writeConcern", collection.writeConcern)
            builder.add(key: "keyOptions")
            builder.openObject()
            builder.add(key: "type", collection.keyOptions.kind.rawValue)
            builder.add(key: "allowUserKeys", collection.keyOptions.allowUserKeys)
            builder.closeTrusted()
            extra(&builder)
        }
    }
}
