import ArangoAPI
public import VelocyPack
import TesseraPlatform

/// A document checked for the log: a VelocyPack object with a valid `_key`, within the size
/// limit, with its compressed payload ready.
struct VelocyPackDocument: Sendable {
    let key: String
    let slice: Slice
    let bytes: [UInt8]
    let payload: [UInt8]
    let flags: UInt8
}

extension ShardEngine {
    /// How many times `update` re-reads and re-merges when a concurrent write got in between.
    static let updateAttemptsMax = 16

    // MARK: Public writes

    /// Inserts a document given as untrusted VelocyPack bytes (validated here).
    ///
    /// - Throws: `invalidVelocyPack`, `notAnObject`, `missingKey`, `invalidKey`,
    ///   `documentTooLarge`, `documentExists`, `uniqueConstraintViolated`; nothing changes.
    @discardableResult
    public func insert(bytes: [UInt8], options: WriteOptions = WriteOptions()) throws(StorageError) -> WriteResult {
        try insert(validated(bytes), options: options)
    }

    /// Inserts a document (a VelocyPack object with a string `_key`).
    @discardableResult
    public func insert(_ document: Slice, options: WriteOptions = WriteOptions()) throws(StorageError) -> WriteResult {
        let prepared = try prepare(document, key: nil)
        return try write(prepared, mustExist: false, options: options)
    }

    /// Replaces the document with `key` by `document` (whose `_key`, if any, is set to `key`).
    @discardableResult
    public func replace(_ key: String, with document: Slice, options: WriteOptions = WriteOptions()) throws(StorageError) -> WriteResult {
        let prepared = try prepare(document, key: key)
        return try write(prepared, mustExist: true, options: options)
    }

    /// Merges `patch` into the document with `key`: attributes in the patch replace those in
    /// the document, objects on both sides merge recursively, `_key` stays. If another write
    /// changes the document meanwhile, the merge is redone on the new version (unless the
    /// caller pinned `expectedRevision`).
    @discardableResult
    public func update(_ key: String, with patch: Slice, options: WriteOptions = WriteOptions()) throws(StorageError) -> WriteResult {
        guard patch.isObject else { throw .notAnObject }
        if let fault = DocumentKey.fault(key.utf8) { throw .invalidKey(fault) }
        for _ in 0..<Self.updateAttemptsMax {
            guard let current = try get(key) else { throw .documentNotFound(key: key) }
            if let expected = options.expectedRevision, expected != current.revision {
                throw .revisionConflict(key: key, expected: expected, actual: current.revision)
            }
            let merged = try Self.merge(current.document, patch, key: key)
            let prepared = try prepare(merged, key: key)
            var pinned = options
            pinned.expectedRevision = current.revision
            do {
                return try write(prepared, mustExist: true, options: pinned)
            } catch .revisionConflict where options.expectedRevision == nil {
                continue
            }
        }
        throw .revisionConflict(key: key, expected: 0, actual: revision(of: key) ?? 0)
    }

    /// Removes the document with `key`.
    @discardableResult
    public func remove(_ key: String, options: WriteOptions = WriteOptions()) throws(StorageError) -> WriteResult {
        if let fault = DocumentKey.fault(key.utf8) { throw .invalidKey(fault) }
        let (result, sync) = try state.withLock { (state: inout ShardState) throws(StorageError) -> (WriteResult, Bool) in
            try state.checkWritable()
            guard let existing = state.documents[key] else { throw .documentNotFound(key: key) }
            if let expected = options.expectedRevision, expected != existing.revision {
                throw .revisionConflict(key: key, expected: expected, actual: existing.revision)
            }
            let revision = Self.nextRevision(&state, forced: options.revision)
            state.lastSequence += 1
            let record = LogRecord(kind: .removal, revision: revision, sequence: state.lastSequence, key: Array(key.utf8))
            _ = try state.append(record)
            state.removeDocument(key: key)
            try state.handOff(options)
            return (WriteResult(key: key, revision: revision, previousRevision: existing.revision,
                                sequence: record.sequence),
                    options.waitForSync ?? state.options.waitForSync)
        }
        if sync { try groupCommit.waitDurable(result.sequence) }
        return result
    }

    /// Removes every document (one truncation record).
    @discardableResult
    public func truncate(options: WriteOptions = WriteOptions()) throws(StorageError) -> UInt64 {
        let (sequence, sync) = try state.withLock { (state: inout ShardState) throws(StorageError) -> (UInt64, Bool) in
            try state.checkWritable()
            let revision = Self.nextRevision(&state, forced: options.revision)
            state.lastSequence += 1
            _ = try state.append(LogRecord(kind: .truncation, revision: revision, sequence: state.lastSequence, key: []))
            state.removeAllDocuments()
            try state.handOff(options)
            return (state.lastSequence, options.waitForSync ?? state.options.waitForSync)
        }
        if sync { try groupCommit.waitDurable(sequence) }
        return sequence
    }

    // MARK: The write path

    /// Validates foreign bytes as one VelocyPack value (UTF-8 checked, keys unique).
    func validated(_ bytes: [UInt8]) throws(StorageError) -> Slice {
        guard bytes.count <= options.documentByteCountMax else {
            throw .documentTooLarge(byteCount: bytes.count, limit: options.documentByteCountMax)
        }
        do {
            return try Slice(validating: bytes, options: ReplicatedRecord.documentValidation)
        } catch {
            throw .invalidVelocyPack(error)
        }
    }

    /// Checks a document and compresses it. With `key`, the document's `_key` is made that
    /// key (added or corrected); without, the document must carry a valid one.
    func prepare(_ document: Slice, key: String?) throws(StorageError) -> VelocyPackDocument {
        guard document.isObject else { throw .notAnObject }
        var slice = document
        let finalKey: String
        if let key {
            if let fault = DocumentKey.fault(key.utf8) { throw .invalidKey(fault) }
            if document["_key"]?.stringValue != key { slice = try Self.settingKey(key, in: document) }
            finalKey = key
        } else {
            guard let keyValue = document["_key"], let keyBytes = keyValue.stringBytes else { throw .missingKey }
            if let fault = DocumentKey.fault(keyBytes) { throw .invalidKey(fault) }
            finalKey = keyValue.stringValue!
        }
        let bytes = slice.offset == 0 && slice.storage.count == slice.byteSize ? slice.storage : slice.copiedBytes
        guard bytes.count <= options.documentByteCountMax else {
            throw .documentTooLarge(byteCount: bytes.count, limit: options.documentByteCountMax)
        }
        let compressed = Snappy.compress(bytes)
        // Store raw when Snappy does not help (tiny or incompressible documents).
        if compressed.count < bytes.count {
            return VelocyPackDocument(key: finalKey, slice: Slice(trustedBytes: bytes), bytes: bytes,
                                      payload: compressed, flags: LogRecord.flagSnappy)
        }
        return VelocyPackDocument(key: finalKey, slice: Slice(trustedBytes: bytes), bytes: bytes, payload: bytes, flags: 0)
    }

    /// Appends the document under the lock and waits for durability when asked.
    ///
    /// - Parameter mustExist: true for a replace, false for an insert, nil for either (a
    ///   follower's upsert).
    func write(_ document: VelocyPackDocument, mustExist: Bool?, options: WriteOptions) throws(StorageError) -> WriteResult {
        let (result, sync) = try state.withLock { (state: inout ShardState) throws(StorageError) -> (WriteResult, Bool) in
            try state.checkWritable()
            let existing = state.documents[document.key]
            if mustExist == true && existing == nil { throw .documentNotFound(key: document.key) }
            if mustExist == false, existing != nil { throw .documentExists(key: document.key) }
            if let expected = options.expectedRevision, expected != existing?.revision {
                throw .revisionConflict(key: document.key, expected: expected, actual: existing?.revision ?? 0)
            }
            let indexValues = state.hasIndexes ? try state.indexValues(for: document, key: document.key) : []
            let revision = Self.nextRevision(&state, forced: options.revision)
            state.lastSequence += 1
            let record = LogRecord(kind: .document, flags: document.flags, revision: revision,
                                   sequence: state.lastSequence, documentByteCount: UInt32(document.bytes.count),
                                   key: Array(document.key.utf8), payload: document.payload)
            let location = try state.append(record)
            state.install(key: document.key, location: location, indexValues: indexValues)
            try state.handOff(options)
            return (WriteResult(key: document.key, revision: revision, previousRevision: existing?.revision,
                                sequence: record.sequence),
                    options.waitForSync ?? state.options.waitForSync)
        }
        if sync { try groupCommit.waitDurable(result.sequence) }
        return result
    }

    static func nextRevision(_ state: inout ShardState, forced: UInt64?) -> UInt64 {
        if let forced {
            state.clock.observe(forced)
            return forced
        }
        return state.clock.next(physicalMilliseconds: UInt64(max(0, WallClock.milliseconds())))
    }

    // MARK: Building documents

    /// The document with `_key` set to `key` (first), every other attribute kept.
    static func settingKey(_ key: String, in document: Slice) throws(StorageError) -> Slice {
        var builder = Builder(capacity: document.byteSize + key.utf8.count + 8)
        builder.openObject()
        builder.add(key: "_key", key)
        for member in document.objectMembers where member.key.keyName != "_key" {
            builder.add(key: member.key.keyName ?? "", member.value)
        }
        do { try builder.close() } catch { throw .invalidVelocyPack(error) }
        return builder.slice
    }

    /// `old` with `patch` merged in (objects recursively), `_key` kept as `key`.
    static func merge(_ old: Slice, _ patch: Slice, key: String) throws(StorageError) -> Slice {
        var builder = Builder(capacity: old.byteSize + patch.byteSize)
        builder.openObject()
        builder.add(key: "_key", key)
        try appendMerged(old, patch, into: &builder, skipKey: true)
        do { try builder.close() } catch { throw .invalidVelocyPack(error) }
        return builder.slice
    }

    private static func appendMerged(_ old: Slice, _ patch: Slice, into builder: inout Builder, skipKey: Bool) throws(StorageError) {
        var seen = Set<String>()
        for member in old.objectMembers {
            guard let name = member.key.keyName, !(skipKey && name == "_key") else { continue }
            seen.insert(name)
            builder.add(key: name)
            if let replacement = patch[name] {
                if replacement.isObject && member.value.isObject {
                    builder.openObject()
                    try appendMerged(member.value, replacement, into: &builder, skipKey: false)
                    do { try builder.close() } catch { throw .invalidVelocyPack(error) }
                } else {
                    builder.add(replacement)
                }
            } else {
                builder.add(member.value)
            }
        }
        for member in patch.objectMembers {
            guard let name = member.key.keyName, !(skipKey && name == "_key"), !seen.contains(name) else { continue }
            seen.insert(name)
            builder.add(key: name, member.value)
        }
    }
}
