import Logging
public import ArangoAPI
public import VelocyPack
import Storage

/// A request to create an index (`POST /_api/index`).
public struct IndexRequest: Sendable {
    public var fields: [String]
    public var unique = false
    public var sparse = false
    public var name: String?

    /// Reads the body of `POST /_api/index`. Only persistent indexes exist (ArangoDB's old
    /// `hash` and `skiplist` types are accepted as names for them, as ArangoDB 3.x does).
    public init(body: Slice) throws(DocumentError) {
        guard body.isObject else { throw .badParameter("index definition must be an object") }
        guard let type = body["type"]?.stringValue else { throw .badParameter("index definition needs a string 'type'") }
        guard ["persistent", "hash", "skiplist"].contains(type) else {
            throw DocumentError(status: 400, .badParameter, "index type '\(type)' is not supported; Tessera has persistent indexes")
        }
        guard let list = body["fields"], list.isArray, list.count > 0 else {
            throw .badParameter("index definition needs a non-empty 'fields' array")
        }
        fields = []
        for field in list.arrayElements {
            guard let text = field.stringValue, !text.isEmpty else { throw .badParameter("index fields must be non-empty strings") }
            guard !text.contains("[*]") else {
                throw DocumentError(status: 400, .badParameter, "array expansion ('\(text)') in index fields is not supported")
            }
            fields.append(text)
        }
        for (flag, name) in [(\IndexRequest.unique, "unique"), (\IndexRequest.sparse, "sparse")] {
            if let value = body[name] {
                guard let bool = value.boolValue else { throw .badParameter("'\(name)' must be a boolean") }
                self[keyPath: flag] = bool
            }
        }
        if let value = body["name"] {
            guard let text = value.stringValue else { throw .badParameter("'name' must be a string") }
            name = text
        }
    }
}

extension IndexInfo {
    /// The index as `/_api/index` shows it.
    public func write(into builder: inout Builder, collection: String, isNewlyCreated: Bool? = nil) {
        builder.openObject()
        builder.add(key: "id", "\(collection)/\(id)")
        builder.add(key: "name", name)
        builder.add(key: "type", "persistent")
        builder.add(key: "fields", strings: fields)
        builder.add(key: "unique", unique)
        builder.add(key: "sparse", sparse)
        if let isNewlyCreated { builder.add(key: "isNewlyCreated", isNewlyCreated) }
        builder.closeTrusted()
    }

    /// The primary index every collection has (id 0), as `/_api/index` shows it.
    public static func writePrimary(into builder: inout Builder, collection: String) {
        builder.openObject()
        builder.add(key: "id", "\(collection)/0")
        builder.add(key: "name", "primary")
        builder.add(key: "type", "primary")
        builder.add(key: "fields")
        builder.openArray()
        builder.add("_key")
        builder.closeTrusted()
        builder.add(key: "unique", true)
        builder.add(key: "sparse", false)
        builder.closeTrusted()
    }
}

extension DocumentStore {
    /// Creates the index, or returns the existing one with the same definition.
    ///
    /// - Returns: the index and whether it was created now.
    public func ensureIndex(_ request: IndexRequest, on collection: DocumentCollection) throws(DocumentError) -> (IndexInfo, created: Bool) {
        let existing = collection.info.indexes
        if let same = existing.first(where: {
            $0.fields == request.fields && $0.unique == request.unique && $0.sparse == request.sparse
                && (request.name == nil || request.name == $0.name)
        }) {
            return (same, false)
        }
        if let name = request.name, existing.contains(where: { $0.name == name }) || name == "primary" {
            throw DocumentError(status: 409, .duplicateName, "duplicate name: an index named '\(name)' exists with another definition")
        }
        let id = try newID()
        let info = IndexInfo(id: id, name: request.name ?? "idx_\(id)", fields: request.fields,
                             unique: request.unique, sparse: request.sparse)
        do {
            try collection.engine.createIndex(IndexDefinition(name: info.name, fields: info.fields, unique: info.unique, sparse: info.sparse))
        } catch {
            throw DocumentError(error, collection: collection.name)
        }
        do {
            try changeInfo(of: collection) { $0.indexes.append(info) }
        } catch {
            // The catalog did not take the index: undo it in the engine, or say it stays.
            do { try collection.engine.dropIndex(named: info.name) } catch let undo {
                Self.log.error("index \(info.name) on \(collection.name) could not be undone after a catalog failure: \(undo)")
            }
            throw error
        }
        return (info, true)
    }

    /// Drops the index with the numeric id `id`.
    public func dropIndex(_ id: UInt64, on collection: DocumentCollection) throws(DocumentError) {
        if id == 0 { throw DocumentError(status: 403, .forbidden, "the primary index cannot be dropped") }
        guard let info = collection.info.indexes.first(where: { $0.id == id }) else {
            throw DocumentError(status: 404, .indexNotFound, "index not found: \(collection.name)/\(id)")
        }
        try changeInfo(of: collection) { $0.indexes.removeAll { $0.id == id } }
        do { try collection.engine.dropIndex(named: info.name) } catch {
            throw DocumentError(error, collection: collection.name)
        }
    }
}

extension DocumentCollection {
    /// Makes the engine's index list agree with the catalog after a crash cut an index
    /// creation or drop short: indexes the catalog does not name were never acknowledged.
    func reconcileIndexes() throws(StorageError) -> [IndexInfo] {
        let named = Set(info.indexes.map(\.name))
        for definition in engine.indexDefinitions where !named.contains(definition.name) {
            try engine.dropIndex(named: definition.name)
        }
        let built = Set(engine.indexDefinitions.map(\.name))
        return info.indexes.filter { built.contains($0.name) }
    }
}
