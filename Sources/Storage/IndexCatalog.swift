public import VelocyPack
import TesseraPlatform
import BinaryFormat

/// The persistent index definitions of a shard, kept in the file `indexes`:
///
/// ```
/// "TSINDEX1" | u32 count | per index: u8 nameByteCount | name | u8 flags (1 unique, 2 sparse)
///            | u8 fieldCount | per field: u16 byteCount | UTF-8 path
/// u32 CRC32C of every byte before it
/// ```
///
/// Only definitions are stored; the entries are rebuilt from the documents on open.
enum IndexCatalog {
    static let fileName = "indexes"
    static let magic = Array("TSINDEX1".utf8)
    static let byteCountMax = 1 << 20
    static let indexCountMax = 64

    static func encode(_ definitions: [IndexDefinition]) -> [UInt8] {
        var output = magic
        StorageBytes.append(UInt32(definitions.count), to: &output)
        for definition in definitions {
            output.append(UInt8(definition.name.utf8.count))
            output.append(contentsOf: definition.name.utf8)
            output.append((definition.unique ? 1 : 0) | (definition.sparse ? 2 : 0))
            output.append(UInt8(definition.fields.count))
            for field in definition.fields {
                StorageBytes.append(UInt16(field.utf8.count), to: &output)
                output.append(contentsOf: field.utf8)
            }
        }
        StorageBytes.append(CRC32C.checksum(output), to: &output)
        return output
    }

    static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> [IndexDefinition] {
        func corrupt(_ reason: String) -> StorageError { .corruptMetadata(file: path, reason: reason) }
        guard bytes.count >= magic.count + 8, bytes.starts(with: magic) else { throw corrupt("no index catalog header") }
        let stored = bytes.withUnsafeBytes { StorageBytes.read(UInt32.self, $0, at: bytes.count - 4) }
        guard stored == CRC32C.checksum(bytes[0..<(bytes.count - 4)]) else { throw corrupt("CRC32C mismatch") }
        var reader = StorageByteReader(Array(bytes[0..<(bytes.count - 4)]), offset: magic.count)
        do {
            let count = Int(try reader.read(UInt32.self))
            guard count <= indexCountMax else { throw corrupt("\(count) indexes") }
            var definitions: [IndexDefinition] = []
            for _ in 0..<count {
                let name = String(decoding: try reader.readBytes(Int(try reader.read(UInt8.self))), as: UTF8.self)
                let flags = try reader.read(UInt8.self)
                var fields: [String] = []
                for _ in 0..<Int(try reader.read(UInt8.self)) {
                    fields.append(String(decoding: try reader.readBytes(Int(try reader.read(UInt16.self))), as: UTF8.self))
                }
                let definition = IndexDefinition(name: name, fields: fields, unique: flags & 1 != 0, sparse: flags & 2 != 0)
                guard flags & ~3 == 0, definition.fault == nil else { throw corrupt("invalid definition '\(name)'") }
                definitions.append(definition)
            }
            guard reader.remainingByteCount == 0 else { throw corrupt("bytes after the last definition") }
            return definitions.sorted { $0.name < $1.name }
        } catch let error as StorageError {
            throw error
        } catch {
            throw corrupt("ends early")
        }
    }

    static func load(directory: String) throws(StorageError) -> [IndexDefinition] {
        let path = directory + "/" + fileName
        guard FileIO.fileExists(path) else { return [] }
        return try decode(try io(FileIO.readWholeFile(path, byteCountMax: byteCountMax)), path: path)
    }

    static func save(_ definitions: [IndexDefinition], directory: String) throws(StorageError) {
        try io(FileIO.writeAtomically(encode(definitions), to: directory + "/" + fileName, directory: directory))
    }

    /// Adds an entry for every document of the shard (the lock is held by the caller).
    static func fill(_ index: inout PersistentIndex, from state: ShardState) throws(StorageError) {
        for chunk in state.keyOrder.chunks {
            for key in chunk {
                let stored = try ShardEngine.readDocument(state.source(of: state.documents[key]!),
                                                          limit: state.options.documentByteCountMax)
                let value = index.value(for: stored.document)
                if let value, let other = index.conflict(value: value, key: key) {
                    throw .uniqueConstraintViolated(index: index.definition.name, conflictingKey: other)
                }
                index.set(key: key, value: value)
            }
        }
    }
}

extension ShardEngine {
    /// Creates a persistent index and fills it from the documents.
    ///
    /// Writers are not held up while it fills: the index is registered first and kept up to
    /// date by every write, the existing documents are read outside the lock from a snapshot
    /// of their locations, and only the final merge (entries of documents no write touched
    /// meanwhile, then the unique check) runs under the lock. The index is used, and saved in
    /// the catalog, only once complete.
    ///
    /// - Throws: `invalidIndex` for a bad definition or a name in use,
    ///   `uniqueConstraintViolated` when a unique index meets two equal values (nothing is
    ///   created).
    public func createIndex(_ definition: IndexDefinition) throws(StorageError) {
        if let fault = definition.fault { throw .invalidIndex(fault) }
        // 1. Register and take the snapshot.
        let snapshot = try state.withLock { (state: inout ShardState) throws(StorageError) -> [(String, UInt64, RecordSource)] in
            try state.checkWritable()
            let names = state.indexes.map(\.definition.name) + state.indexBuilds.map(\.index.definition.name)
            guard !names.contains(definition.name) else {
                throw .invalidIndex("an index named '\(definition.name)' exists")
            }
            guard names.count < IndexCatalog.indexCountMax else {
                throw .invalidIndex("at most \(IndexCatalog.indexCountMax) indexes per shard")
            }
            state.indexBuilds.append(IndexBuild(index: PersistentIndex(definition: definition)))
            var snapshot: [(String, UInt64, RecordSource)] = []
            snapshot.reserveCapacity(state.documents.count)
            for chunk in state.keyOrder.chunks {
                for key in chunk {
                    let location = state.documents[key]!
                    snapshot.append((key, location.revision, state.source(of: location)))
                }
            }
            return snapshot
        }
        // 2. Read the documents without the lock.
        let probe = PersistentIndex(definition: definition)
        var values: [(key: String, revision: UInt64, value: [UInt8]?)] = []
        values.reserveCapacity(snapshot.count)
        do {
            for (key, revision, source) in snapshot {
                let stored = try Self.readDocument(source, limit: options.documentByteCountMax)
                values.append((key, revision, probe.value(for: stored.document)))
            }
        } catch {
            state.withLock { $0.indexBuilds.removeAll { $0.index.definition.name == definition.name } }
            throw error
        }
        // 3. Merge, check, publish.
        try state.withLock { (state: inout ShardState) throws(StorageError) in
            guard let position = state.indexBuilds.firstIndex(where: { $0.index.definition.name == definition.name }) else {
                preconditionFailure("index build '\(definition.name)' vanished")
            }
            var build = state.indexBuilds.remove(at: position)
            if !build.truncated {
                for (key, revision, value) in values where !build.touched.contains(key) {
                    // Untouched since the snapshot, so the snapshot's version is current.
                    precondition(state.documents[key]?.revision == revision, "untouched document '\(key)' changed")
                    build.index.set(key: key, value: value)
                }
            }
            if definition.unique, let (holder, _) = build.index.firstDuplicate() {
                throw .uniqueConstraintViolated(index: definition.name, conflictingKey: holder)
            }
            var definitions = state.indexes.map(\.definition) + [definition]
            definitions.sort { $0.name < $1.name }
            try IndexCatalog.save(definitions, directory: state.directory)
            state.indexes.append(build.index)
            state.indexes.sort { $0.definition.name < $1.definition.name }
        }
    }

    /// Drops a persistent index.
    public func dropIndex(named name: String) throws(StorageError) {
        try state.withLock { (state: inout ShardState) throws(StorageError) in
            try state.checkWritable()
            guard let position = state.indexes.firstIndex(where: { $0.definition.name == name }) else {
                throw .indexNotFound(name)
            }
            var definitions = state.indexes.map(\.definition)
            definitions.remove(at: position)
            try IndexCatalog.save(definitions, directory: state.directory)
            state.indexes.remove(at: position)
        }
    }

    /// The shard's persistent index definitions, by name.
    public var indexDefinitions: [IndexDefinition] { state.withLock { $0.indexes.map(\.definition) } }

    /// Up to `limit` documents whose first `values.count` indexed attributes equal `values`
    /// (nil: null or missing), in index order.
    public func lookup(index name: String, values: [Slice?], limit: Int = Int.max) throws(StorageError) -> [StoredDocument] {
        let sources = try state.withLock { (state: inout ShardState) throws(StorageError) -> [RecordSource] in
            guard let index = state.indexes.first(where: { $0.definition.name == name }) else {
                throw .indexNotFound(name)
            }
            guard values.count <= index.definition.fields.count else {
                throw .invalidIndex("\(values.count) values for \(index.definition.fields.count) fields")
            }
            return index.keys(matching: values, limit: limit).map { state.source(of: state.documents[$0]!) }
        }
        return try readDocuments(sources)
    }

    /// The keys of the indexed documents in index order (values ascending, then keys).
    public func keysInIndexOrder(index name: String, limit: Int = Int.max) throws(StorageError) -> [String] {
        try state.withLock { (state: inout ShardState) throws(StorageError) -> [String] in
            guard let index = state.indexes.first(where: { $0.definition.name == name }) else {
                throw .indexNotFound(name)
            }
            return index.keysInOrder(after: nil, limit: limit).map(\.key)
        }
    }
}
