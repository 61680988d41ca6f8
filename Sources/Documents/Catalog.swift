public import ArangoAPI
import VelocyPack
import Storage

/// A persistent index as the catalog records it: its public id (`collection/ID` on the
/// wire), and the definition the shard engine maintains.
public struct IndexInfo: Sendable, Equatable {
    public var id: UInt64
    public var name: String
    public var fields: [String]
    public var unique: Bool
    public var sparse: Bool
}

/// What the catalog keeps about a collection.
public struct CollectionInfo: Sendable, Equatable {
    public var id: UInt64
    public var database: String
    public var name: String
    public var type: CollectionType
    public var waitForSync: Bool
    public var keyOptions: KeyOptions
    /// The key generator's counter when the catalog was last written (the collection also
    /// scans its keys on open, so a crash cannot make it hand out a used key).
    public var lastKeyValue: UInt64
    public var indexes: [IndexInfo]
    /// The collection name documents' `_id`s carry when it is not `name`: a DBServer's shard
    /// `s1001` of the cluster collection `users` answers with `users/<key>`.
    public var idPrefix: String? = nil

    public var isSystem: Bool { name.hasPrefix("_") }
    /// The name in documents' `_id`s.
    public var idName: String { idPrefix ?? name }
}

/// The list of databases and collections, kept in `catalog.json` in the data directory
/// (JSON so an operator can read it), rewritten atomically on every change. Collections live
/// in `collections/<id>/`, so a rename touches only the catalog.
struct Catalog: Sendable, Equatable {
    static let fileName = "catalog.json"
    static let byteCountMax = 64 << 20
    static let formatVersion = 1

    var nextID: UInt64 = 100
    var databases: [String] = ["_system"]
    var collections: [CollectionInfo] = []

    mutating func newID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    // MARK: File form

    func encoded() -> [UInt8] {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "version", Self.formatVersion)
        builder.add(key: "nextId", nextID)
        builder.add(key: "databases", strings: databases)
        builder.add(key: "collections")
        builder.openArray()
        for info in collections {
            builder.openObject()
            builder.add(key: "id", info.id)
            builder.add(key: "database", info.database)
            builder.add(key: "name", info.name)
            builder.add(key: "type", info.type.rawValue)
            builder.add(key: "waitForSync", info.waitForSync)
            builder.add(key: "keyOptions")
            info.keyOptions.write(into: &builder, lastValue: info.lastKeyValue)
            if let idPrefix = info.idPrefix { builder.add(key: "idPrefix", idPrefix) }
            builder.add(key: "indexes")
            builder.openArray()
            for index in info.indexes {
                builder.openObject()
                builder.add(key: "id", index.id)
                builder.add(key: "name", index.name)
                builder.add(key: "fields", strings: index.fields)
                builder.add(key: "unique", index.unique)
                builder.add(key: "sparse", index.sparse)
                builder.closeTrusted()
            }
            builder.closeTrusted()
            builder.closeTrusted()
        }
        builder.closeTrusted()
        builder.closeTrusted()
        var options = JSONDumper.Options()
        options.indent = 2
        return (try? JSONDumper.dump(builder.slice, options: options)) ?? []
    }

    init() {}

    /// Reads the catalog file; every field is checked, since the file may have been edited.
    init(fileBytes: [UInt8], path: String) throws(StorageError) {
        func corrupt(_ reason: String) -> StorageError { .corruptMetadata(file: path, reason: reason) }
        let root: Slice
        do { root = try JSONParser.parse(fileBytes).slice } catch { throw corrupt("not JSON: \(error)") }
        guard root.isObject, root["version"]?.intValue == Int64(Self.formatVersion) else {
            throw corrupt("not a version \(Self.formatVersion) catalog")
        }
        guard let next = root["nextId"]?.uintValue else { throw corrupt("nextId missing") }
        nextID = next
        guard let names = root["databases"], names.isArray else { throw corrupt("databases missing") }
        databases = []
        for name in names.arrayElements {
            guard let text = name.stringValue else { throw corrupt("database name is not a string") }
            databases.append(text)
        }
        guard databases.contains("_system") else { throw corrupt("_system database missing") }
        guard let list = root["collections"], list.isArray else { throw corrupt("collections missing") }
        for entry in list.arrayElements {
            guard let id = entry["id"]?.uintValue, let database = entry["database"]?.stringValue,
                  let name = entry["name"]?.stringValue,
                  let type = entry["type"]?.intValue.flatMap({ CollectionType(rawValue: Int($0)) }),
                  let waitForSync = entry["waitForSync"]?.boolValue, let keySlice = entry["keyOptions"],
                  let indexes = entry["indexes"], indexes.isArray else {
                throw corrupt("collection entry incomplete")
            }
            let keyOptions: KeyOptions
            do { keyOptions = try KeyOptions(slice: keySlice) } catch { throw corrupt("keyOptions: \(error.message)") }
            var info = CollectionInfo(id: id, database: database, name: name, type: type, waitForSync: waitForSync,
                                      keyOptions: keyOptions, lastKeyValue: keySlice["lastValue"]?.uintValue ?? 0,
                                      indexes: [])
            info.idPrefix = entry["idPrefix"]?.stringValue
            for index in indexes.arrayElements {
                guard let indexID = index["id"]?.uintValue, let indexName = index["name"]?.stringValue,
                      let fields = index["fields"], fields.isArray,
                      let unique = index["unique"]?.boolValue, let sparse = index["sparse"]?.boolValue else {
                    throw corrupt("index entry of \(name) incomplete")
                }
                let fieldNames = fields.arrayElements.compactMap(\.stringValue)
                guard fieldNames.count == fields.count else { throw corrupt("index field is not a string") }
                info.indexes.append(IndexInfo(id: indexID, name: indexName, fields: fieldNames, unique: unique, sparse: sparse))
            }
            guard id < nextID else { throw corrupt("collection id \(id) not below nextId") }
            collections.append(info)
        }
    }

    static func load(directory: String) throws(StorageError) -> Catalog? {
        let path = directory + "/" + fileName
        guard let bytes = try MetadataFiles.read(path, byteCountMax: byteCountMax) else { return nil }
        return try Catalog(fileBytes: bytes, path: path)
    }

    func save(directory: String) throws(StorageError) {
        try MetadataFiles.write(encoded(), to: directory + "/" + Self.fileName)
    }
}
