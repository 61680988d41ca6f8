public import Users
import TesseraPlatform
public import Documents
package import Storage
public import Server
package import VelocyPack
public import ArangoAPI
package import VelocyStream

/// ArangoDB's document-database REST API (`/_api/database`, `/_api/collection`,
/// `/_api/document`, `/_api/index`, `/_api/cursor`) over a local ``DocumentStore``.
///
/// Threading: handlers run on the loop thread. Reads by key and writes that need no fsync
/// touch only memory and the page cache, so they answer at once; anything that waits for
/// the disk (durable writes, catalog changes) or may run long (queries, large arrays) goes to
/// the loop's thread pool.
public struct DocumentAPI: Sendable {
    public let store: DocumentStore
    public let cursors: CursorRegistry
    public let access: any AccessControl
    /// Called after a database is dropped (users' grants for it go away).
    public var databaseDropped: @Sendable (String) async -> Void = { _ in }
    /// Called after a database is created by `user` with the `users` list of the request.
    public var databaseCreated: @Sendable (_ name: String, _ creator: String?, _ users: [DatabaseUser]) async throws(ArangoError) -> Void = { _, _, _ in }

    /// Arrays with more elements than this go to the thread pool even without fsync.
    static let inlineArrayCountMax = 64

    public init(store: DocumentStore, cursors: CursorRegistry, access: any AccessControl) {
        self.store = store
        self.cursors = cursors
        self.access = access
    }

    public func register(in router: inout Router) {
        registerDatabases(in: &router)
        registerCollections(in: &router)
        registerDocuments(in: &router)
        registerIndexes(in: &router)
        registerCursors(in: &router)
    }

    // MARK: Databases

    func registerDatabases(in router: inout Router) {
        let api = self
        router.add(.get, "/_api/database") { request throws(ArangoError) in
            try api.requireSystem(request)
            try api.access.require(.readOnly, request)
            return Self.namesAnswer(api.store.databaseNames)
        }
        router.add(.get, "/_api/database/user") { request throws(ArangoError) in
            Self.namesAnswer(api.store.databaseNames.filter { api.access.level(of: request.user, in: $0) > .none })
        }
        router.add(.get, "/_api/database/current") { request throws(ArangoError) in
            try api.access.require(.readOnly, request)
            return answer(200) { builder in
                builder.add(key: "result")
                builder.openObject()
                builder.add(key: "name", request.database)
                builder.add(key: "id", request.database)
                builder.add(key: "path", api.store.directory)
                builder.add(key: "isSystem", request.database == "_system")
                builder.closeTrusted()
            }
        }
        // Async: the hooks change users, which may take a round trip; databases change rarely.
        router.addAsync(.post, "/_api/database") { request throws(ArangoError) in
            try api.requireSystem(request)
            try api.access.require(.readWrite, request)
            let body = try request.requireBody()
            guard body.isObject, let name = body["name"]?.stringValue else {
                throw ArangoError(status: 400, .databaseNameInvalid, "database name invalid: 'name' must be a string")
            }
            let users = try DatabaseUser.parse(body["users"])
            try api.store.createDatabase(name)
            do throws(ArangoError) {
                try await api.databaseCreated(name, request.user, users)
            } catch {
                do throws(ArangoError) { try api.store.dropDatabase(name) } catch let undo {
                    ProcessLog.logger("documents").error("cannot undo database \(name) after its users failed: \(undo.message)")
                }
                throw error
            }
            return answer(201) { $0.add(key: "result", true) }
        }
        router.addAsync(.delete, "/_api/database/:name") { request throws(ArangoError) in
            try api.requireSystem(request)
            try api.access.require(.readWrite, request)
            let name = request.pathSegment("name")
            try api.store.dropDatabase(name)
            await api.databaseDropped(name)
            return answer(200) { $0.add(key: "result", true) }
        }
    }

    /// `{"result": [names]}`.
    package static func namesAnswer(_ names: [String]) -> ServerResponse {
        answer(200) { builder in
            builder.add(key: "result")
            builder.openArray()
            for name in names { builder.add(name) }
            builder.closeTrusted()
        }
    }

    func requireSystem(_ request: ServerRequest) throws(ArangoError) {
        guard request.database == "_system" else {
            throw ArangoError(status: 403, .useSystemDatabase, "operation only allowed in the _system database")
        }
    }

    // MARK: Collections

    func registerCollections(in router: inout Router) {
        let api = self
        router.add(.get, "/_api/collection") { request throws(ArangoError) in
            try api.access.require(.readOnly, request)
            let excludeSystem = try request.flag("excludeSystem") ?? false
            let collections = try api.store.collections(in: request.database)
                .filter { !(excludeSystem && $0.info.isSystem) }
            return answer(200) { builder in
                builder.add(key: "result")
                builder.openArray()
                for collection in collections { Self.writeBasics(collection.info, into: &builder, close: true) }
                builder.closeTrusted()
            }
        }
        router.addDeferrable(.post, "/_api/collection") { request throws(ArangoError) in
            try api.access.require(.readWrite, request)
            let settings = try Self.collectionSettings(try request.requireBody())
            return .offload {
                responding { () throws(ArangoError) in
                    let collection = try api.store.createCollection(settings, in: request.database)
                    return Self.properties(collection, status: 200)
                }
            }
        }
        router.add(.get, "/_api/collection/:name") { request throws(ArangoError) in
            try api.access.require(.readOnly, request)
            let collection = try api.collection(request)
            return answer(200) { Self.writeBasics(collection.info, into: &$0, close: false) }
        }
        for suffix in ["properties", "load", "unload"] {
            let method: RequestMethod = suffix == "properties" ? .get : .put
            router.add(method, "/_api/collection/:name/\(suffix)") { request throws(ArangoError) in
                try api.access.require(.readOnly, request)
                return Self.properties(try api.collection(request), status: 200)
            }
        }
        router.addDeferrable(.put, "/_api/collection/:name/properties") { request throws(ArangoError) in
            try api.access.require(.readWrite, request)
            let collection = try api.collection(request)
            let body = try request.requireBody()
            guard body.isObject else { throw ArangoError.badParameter("properties must be an object") }
            var waitForSync: Bool?
            if let value = body["waitForSync"] {
                guard let flag = value.boolValue else { throw ArangoError.badParameter("waitForSync must be a boolean") }
                waitForSync = flag
            }
            return .offload { [waitForSync] in
                responding { () throws(ArangoError) in
                    if let waitForSync { try api.store.setWaitForSync(waitForSync, of: collection) }
                    return Self.properties(collection, status: 200)
                }
            }
        }
        router.add(.get, "/_api/collection/:name/count") { request throws(ArangoError) in
            try api.access.require(.readOnly, request)
            let collection = try api.collection(request)
            return Self.properties(collection, status: 200) { $0.add(key: "count", collection.engine.count) }
        }
        router.add(.get, "/_api/collection/:name/figures") { request throws(ArangoError) in
            try api.access.require(.readOnly, request)
            let collection = try api.collection(request)
            let statistics = collection.engine.statistics
            let onDisk = api.store.byteCountOnDisk(of: collection)
            return Self.properties(collection, status: 200) { builder in
                builder.add(key: "count", statistics.documentCount)
                builder.add(key: "figures")
                builder.openObject()
                // The log holds every live and dead record (some may still be in memory,
                // waiting for the next flush); the files are what the disk holds now.
                builder.add(key: "documentsSize", statistics.logByteCount)
                builder.add(key: "diskBytes", onDisk)
                builder.add(key: "liveBytes", statistics.liveByteCount)
                builder.add(key: "logBytes", statistics.logByteCount)
                builder.add(key: "segments", statistics.segmentCount)
                builder.add(key: "compactions", statistics.compactionCount)
                builder.add(key: "indexes")
                builder.openObject()
                builder.add(key: "count", collection.info.indexes.count + 1)
                builder.closeTrusted()
                builder.closeTrusted()
            }
        }
        router.addDeferrable(.put, "/_api/collection/:name/truncate") { request throws(ArangoError) in
            try api.access.require(.readWrite, request)
            let collection = try api.collection(request)
            let waitForSync = try request.flag("waitForSync")
            return .offload {
                responding { () throws(ArangoError) in
                    _ = try collection.truncate(waitForSync: waitForSync)
                    return answer(200) { Self.writeBasics(collection.info, into: &$0, close: false) }
                }
            }
        }
        router.addDeferrable(.put, "/_api/collection/:name/rename") { request throws(ArangoError) in
            try api.access.require(.readWrite, request)
            let collection = try api.collection(request)
            let body = try request.requireBody()
            guard body.isObject, let newName = body["name"]?.stringValue else {
                throw ArangoError.badParameter("rename needs a string 'name'")
            }
            return .offload {
                responding { () throws(ArangoError) in
                    try api.store.renameCollection(collection.name, to: newName, in: request.database)
                    return answer(200) { Self.writeBasics(collection.info, into: &$0, close: false) }
                }
            }
        }
        router.addDeferrable(.delete, "/_api/collection/:name") { request throws(ArangoError) in
            try api.access.require(.readWrite, request)
            let collection = try api.collection(request)
            let allowSystem = try request.flag("isSystem") ?? false
            return .offload {
                responding { () throws(ArangoError) in
                    try api.store.dropCollection(collection.name, in: request.database, allowSystem: allowSystem)
                    return answer(200) { $0.add(key: "id", String(collection.id)) }
                }
            }
        }
    }

    func collection(_ request: ServerRequest, parameter: String = "name") throws(ArangoError) -> DocumentCollection {
        try store.collection(request.pathSegment(parameter), in: request.database)
    }

    static func collectionSettings(_ body: Slice) throws(ArangoError) -> DocumentStore.CollectionSettings {
        guard body.isObject else { throw ArangoError.badParameter("collection definition must be an object") }
        guard let name = body["name"]?.stringValue else {
            throw ArangoError(status: 400, .illegalName, "illegal name: 'name' must be a string")
        }
        var settings = DocumentStore.CollectionSettings(name: name)
        if let type = body["type"] {
            switch type.intValue ?? -1 {
            case 2: settings.type = .document
            case 3: settings.type = .edge
            default:
                switch type.stringValue {
                case "document": settings.type = .document
                case "edge": settings.type = .edge
                default: throw ArangoError(status: 400, .collectionTypeInvalid, "collection type invalid: use 2 (document) or 3 (edge)")
                }
            }
        }
        if let value = body["waitForSync"] {
            guard let flag = value.boolValue else { throw ArangoError.badParameter("waitForSync must be a boolean") }
            settings.waitForSync = flag
        }
        if let value = body["keyOptions"] { settings.keyOptions = try KeyOptions(slice: value) }
        if let value = body["replicationFactor"], let count = value.intValue, count > 1 {
            throw ArangoError.badParameter("replicationFactor \(count) needs a cluster; a single server keeps one copy")
        }
        return settings
    }

    /// `id`, `name`, `status`, `type`, `isSystem`, `globallyUniqueId`.
    static func writeBasics(_ info: CollectionInfo, into builder: inout Builder, close: Bool) {
        if close { builder.openObject() }
        builder.add(key: "id", String(info.id))
        builder.add(key: "name", info.name)
        builder.add(key: "status", 3)
        builder.add(key: "type", info.type.rawValue)
        builder.add(key: "isSystem", info.isSystem)
        builder.add(key: "globallyUniqueId", "c\(info.id)")
        if close { builder.closeTrusted() }
    }

    /// The collection's properties, plus what `extra` adds.
    static func properties(_ collection: DocumentCollection, status: Int, _ extra: (inout Builder) -> Void = { _ in }) -> ServerResponse {
        let info = collection.info
        return answer(status) { builder in
            writeBasics(info, into: &builder, close: false)
            builder.add(key: "waitForSync", info.waitForSync)
            builder.add(key: "keyOptions")
            info.keyOptions.write(into: &builder, lastValue: info.lastKeyValue)
            builder.add(key: "writeConcern", 1)
            builder.add(key: "replicationFactor", 1)
            builder.add(key: "cacheEnabled", false)
            builder.add(key: "syncByRevision", true)
            extra(&builder)
        }
    }
}

extension DocumentStore {
    /// Bytes the collection's files take on disk.
    func byteCountOnDisk(of collection: DocumentCollection) -> Int {
        MetadataFiles.byteCount(below: directory + "/collections/\(collection.id)")
    }
}
