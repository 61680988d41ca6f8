import Logging
public import ArangoAPI
public import Storage
import TesseraPlatform
import VelocyPack

/// The databases and collections of one server, on disk under one directory:
///
/// ```
/// DIR/catalog.json            databases, collections, indexes (see `Catalog`)
/// DIR/collections/<id>/       one shard engine per collection
/// ```
///
/// Catalog changes (create, drop, rename, properties) are serialized by one lock and written
/// to `catalog.json` before they are visible; document traffic does not take that lock
/// beyond a dictionary lookup.
public final class DocumentStore: Sendable {
    public struct Options: Sendable {
        /// Settings for every shard engine this store opens.
        public var shard = ShardOptions()
        public init() {}
    }

    public let directory: String
    let options: Options
    /// Faults of clean-up work that has no caller to report to.
    static let log = ProcessLog.logger("documents")
    let state: Locked<State>

    struct State: Sendable {
        var catalog: Catalog
        /// Open collections by database, then name.
        var collections: [String: [String: DocumentCollection]] = [:]
        var closed = false
    }

    /// The most databases and the most collections per database (a guard against runaway
    /// clients; each collection holds open files).
    public static let databaseCountMax = 256
    public static let collectionCountMax = 2048

    /// Opens (or creates) the store in `directory`, opening every collection.
    public init(directory: String, options: Options = Options()) throws(DocumentError) {
        self.directory = directory
        self.options = options
        do throws(StorageError) {
            try MetadataFiles.makeDirectory(directory + "/collections")
            var catalog: Catalog
            if let loaded = try Catalog.load(directory: directory) {
                catalog = loaded
            } else {
                catalog = Catalog()
                try catalog.save(directory: directory)
            }
            var collections: [String: [String: DocumentCollection]] = [:]
            for name in catalog.databases { collections[name] = [:] }
            for info in catalog.collections {
                let engine = try ShardEngine(directory: Self.path(directory, info.id), options: Self.shardOptions(options, info))
                let collection = DocumentCollection(info: info, engine: engine)
                let indexes = try collection.reconcileIndexes()
                if indexes != info.indexes, let index = catalog.collections.firstIndex(where: { $0.id == info.id }) {
                    catalog.collections[index].indexes = indexes
                    collection.update { $0.indexes = indexes }
                    try catalog.save(directory: directory)
                }
                collections[info.database, default: [:]][info.name] = collection
            }
            // Directories the catalog does not name are drops (or creations) a crash cut short.
            let known = Set(catalog.collections.map { String($0.id) })
            for name in try MetadataFiles.list(directory + "/collections") where !known.contains(name) {
                try MetadataFiles.removeTree(directory + "/collections/" + name)
            }
            state = Locked(State(catalog: catalog, collections: collections))
        } catch {
            throw DocumentError(error, collection: "(catalog)")
        }
    }

    static func path(_ directory: String, _ id: UInt64) -> String { "\(directory)/collections/\(id)" }

    static func shardOptions(_ options: Options, _ info: CollectionInfo) -> ShardOptions {
        var shard = options.shard
        shard.waitForSync = info.waitForSync
        return shard
    }

    /// Closes every collection (checkpointing each) and saves the key counters.
    public func close() throws(DocumentError) {
        let collections = state.withLock { state -> [DocumentCollection] in
            guard !state.closed else { return [] }
            state.closed = true
            saveKeyCounters(&state)
            return state.collections.values.flatMap(\.values)
        }
        var firstError: DocumentError?
        for collection in collections {
            do { try collection.engine.close() } catch {
                if firstError == nil { firstError = DocumentError(error, collection: collection.name) }
            }
        }
        if let firstError { throw firstError }
    }

    private func saveKeyCounters(_ state: inout State) {
        for (index, info) in state.catalog.collections.enumerated() {
            if let open = state.collections[info.database]?[info.name] {
                state.catalog.collections[index].lastKeyValue = open.info.lastKeyValue
            }
        }
        // On close: a failure loses nothing (reopening recounts the keys), but say so.
        do { try state.catalog.save(directory: directory) } catch {
            Self.log.warning("cannot save the key counters to the catalog (they are recounted at the next open): \(error)")
        }
    }

    // MARK: Databases

    public var databaseNames: [String] { state.withLock { $0.catalog.databases.sorted() } }

    public func databaseExists(_ name: String) -> Bool { state.withLock { $0.collections[name] != nil } }

    public func createDatabase(_ name: String) throws(DocumentError) {
        if let fault = Names.databaseFault(name) {
            throw DocumentError(status: 400, .databaseNameInvalid, "database name invalid: \(fault)")
        }
        try state.withLock { (state) throws(DocumentError) in
            guard state.collections[name] == nil else {
                throw DocumentError(status: 409, .duplicateName, "duplicate database name '\(name)'")
            }
            guard state.catalog.databases.count < Self.databaseCountMax else {
                throw DocumentError(status: 400, .resourceLimit, "at most \(Self.databaseCountMax) databases")
            }
            var catalog = state.catalog
            catalog.databases.append(name)
            try save(catalog)
            state.catalog = catalog
            state.collections[name] = [:]
        }
    }

    public func dropDatabase(_ name: String) throws(DocumentError) {
        guard name != "_system" else {
            throw DocumentError(status: 403, .forbidden, "the _system database cannot be dropped")
        }
        let dropped = try state.withLock { (state) throws(DocumentError) -> [DocumentCollection] in
            guard let collections = state.collections[name] else { throw .databaseNotFound(name) }
            var catalog = state.catalog
            catalog.databases.removeAll { $0 == name }
            catalog.collections.removeAll { $0.database == name }
            try save(catalog)
            state.catalog = catalog
            state.collections[name] = nil
            return Array(collections.values)
        }
        for collection in dropped { destroy(collection) }
    }

    // MARK: Collections

    public func collections(in database: String) throws(DocumentError) -> [DocumentCollection] {
        try state.withLock { (state) throws(DocumentError) -> [DocumentCollection] in
            guard let collections = state.collections[database] else { throw .databaseNotFound(database) }
            return collections.values.sorted { $0.id < $1.id }
        }
    }

    /// The collection named `name` (or with the numeric id `name`) in `database`.
    public func collection(_ name: String, in database: String) throws(DocumentError) -> DocumentCollection {
        try state.withLock { (state) throws(DocumentError) -> DocumentCollection in
            guard let collections = state.collections[database] else { throw .databaseNotFound(database) }
            if let collection = collections[name] { return collection }
            if let id = UInt64(name), let collection = collections.values.first(where: { $0.id == id }) { return collection }
            throw .collectionNotFound(name)
        }
    }

    /// What a client may set when creating a collection.
    public struct CollectionSettings: Sendable {
        public var name: String
        public var type: CollectionType = .document
        public var waitForSync = false
        public var keyOptions = KeyOptions()
        /// System collections (`_users`) are created by the server itself.
        public var allowSystemName = false
        /// The name documents' `_id`s carry, when not `name` (a DBServer's shards).
        public var idPrefix: String?

        public init(name: String) { self.name = name }
    }

    public func createCollection(_ settings: CollectionSettings, in database: String) throws(DocumentError) -> DocumentCollection {
        if let fault = Names.collectionFault(settings.name, allowSystem: settings.allowSystemName) {
            throw DocumentError(status: 400, .illegalName, "illegal name: \(fault)")
        }
        return try state.withLock { (state) throws(DocumentError) -> DocumentCollection in
            guard let existing = state.collections[database] else { throw .databaseNotFound(database) }
            guard existing[settings.name] == nil else {
                throw DocumentError(status: 409, .duplicateName, "duplicate name: a collection '\(settings.name)' exists")
            }
            guard existing.count < Self.collectionCountMax else {
                throw DocumentError(status: 400, .resourceLimit, "at most \(Self.collectionCountMax) collections per database")
            }
            var catalog = state.catalog
            var info = CollectionInfo(id: catalog.newID(), database: database, name: settings.name, type: settings.type,
                                      waitForSync: settings.waitForSync, keyOptions: settings.keyOptions,
                                      lastKeyValue: 0, indexes: [])
            info.idPrefix = settings.idPrefix
            let path = Self.path(directory, info.id)
            let collection: DocumentCollection
            do throws(StorageError) {
                // A leftover directory of this id (a crash between mkdir and catalog write) is
                // not ours to keep.
                try MetadataFiles.removeTree(path)
                let engine = try ShardEngine(directory: path, options: Self.shardOptions(options, info))
                collection = DocumentCollection(info: info, engine: engine)
            } catch {
                throw DocumentError(error, collection: settings.name)
            }
            catalog.collections.append(info)
            do throws(DocumentError) {
                try save(catalog)
            } catch {
                destroy(collection)
                throw error
            }
            state.catalog = catalog
            state.collections[database]![settings.name] = collection
            return collection
        }
    }

    public func dropCollection(_ name: String, in database: String, allowSystem: Bool = false) throws(DocumentError) {
        let collection = try state.withLock { (state) throws(DocumentError) -> DocumentCollection in
            guard let collections = state.collections[database] else { throw .databaseNotFound(database) }
            guard let collection = collections[name] ?? UInt64(name).flatMap({ id in collections.values.first { $0.id == id } }) else {
                throw .collectionNotFound(name)
            }
            if collection.info.isSystem && !allowSystem {
                throw DocumentError(status: 403, .forbidden, "system collection \(collection.name) cannot be dropped")
            }
            var catalog = state.catalog
            catalog.collections.removeAll { $0.id == collection.id }
            try save(catalog)
            state.catalog = catalog
            state.collections[database]![collection.name] = nil
            return collection
        }
        destroy(collection)
    }

    public func renameCollection(_ name: String, to newName: String, in database: String) throws(DocumentError) {
        if let fault = Names.collectionFault(newName, allowSystem: false) {
            throw DocumentError(status: 400, .illegalName, "illegal name: \(fault)")
        }
        try state.withLock { (state) throws(DocumentError) in
            guard let collections = state.collections[database] else { throw .databaseNotFound(database) }
            guard let collection = collections[name] else { throw .collectionNotFound(name) }
            if collection.info.isSystem {
                throw DocumentError(status: 403, .forbidden, "system collection \(name) cannot be renamed")
            }
            guard collections[newName] == nil else {
                throw DocumentError(status: 409, .duplicateName, "duplicate name: a collection '\(newName)' exists")
            }
            var catalog = state.catalog
            guard let index = catalog.collections.firstIndex(where: { $0.id == collection.id }) else { throw .collectionNotFound(name) }
            catalog.collections[index].name = newName
            try save(catalog)
            state.catalog = catalog
            collection.update { $0.name = newName }
            state.collections[database]![name] = nil
            state.collections[database]![newName] = collection
        }
    }

    /// Changes a collection's `waitForSync`.
    public func setWaitForSync(_ value: Bool, of collection: DocumentCollection) throws(DocumentError) {
        try changeInfo(of: collection) { $0.waitForSync = value }
    }

    /// Sets the collection name a shard's documents show in `_id` (a cluster collection was
    /// renamed).
    public func setIdPrefix(_ value: String, of collection: DocumentCollection) throws(DocumentError) {
        try changeInfo(of: collection) { $0.idPrefix = value }
    }

    /// Records a change of a collection's catalog entry (index list, properties) durably.
    func changeInfo(of collection: DocumentCollection, _ change: (inout CollectionInfo) -> Void) throws(DocumentError) {
        try state.withLock { (state) throws(DocumentError) in
            var catalog = state.catalog
            guard let index = catalog.collections.firstIndex(where: { $0.id == collection.id }) else {
                throw .collectionNotFound(collection.name)
            }
            change(&catalog.collections[index])
            try save(catalog)
            state.catalog = catalog
            collection.update(change)
        }
    }

    func newID() throws(DocumentError) -> UInt64 {
        try state.withLock { (state) throws(DocumentError) -> UInt64 in
            var catalog = state.catalog
            let id = catalog.newID()
            try save(catalog)
            state.catalog = catalog
            return id
        }
    }

    private func save(_ catalog: Catalog) throws(DocumentError) {
        do { try catalog.save(directory: directory) } catch { throw DocumentError(error, collection: "(catalog)") }
    }

    /// Closes a dropped collection and removes its files. The catalog no longer names it, so
    /// a crash before the removal leaves only an orphan directory, removed if its id is ever
    /// reused (ids are not reused) or by an operator.
    private func destroy(_ collection: DocumentCollection) {
        do { try collection.engine.close() } catch {
            Self.log.warning("closing dropped collection \(collection.name) (id \(collection.id)) failed: \(error)")
        }
        let path = Self.path(directory, collection.id)
        do { try MetadataFiles.removeTree(path) } catch {
            Self.log.error("cannot remove \(path) of a dropped collection; remove it by hand: \(error)")
        }
    }
}
