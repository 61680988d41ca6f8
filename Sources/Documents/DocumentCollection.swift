public import ArangoAPI
public import Storage
public import VelocyPack
import TesseraPlatform

/// What a client may ask of one document write.
public struct DocumentOptions: Sendable {
    /// `nil`: the collection's `waitForSync` decides.
    public var waitForSync: Bool?
    /// When false, a `_rev` in the body must match the stored revision.
    public var ignoreRevs = true
    /// The revision an `If-Match` header names; it must match the stored one.
    public var ifMatch: UInt64?
    public var returnNew = false
    public var returnOld = false
    /// `update`: attributes set to null in the patch are removed when false.
    public var keepNull = true
    /// `update`: objects in the patch merge into stored objects when true, replace them when false.
    public var mergeObjects = true
    /// `insert` of a key that exists: `nil` (or `.conflict`) fails with 1210.
    public var overwriteMode: OverwriteMode?
    /// Leave the write in the engine's buffer; the caller answers only through
    /// ``DocumentCollection/acknowledge(sequence:waitForSync:_:)``, which hands the whole batch to the
    /// operating system at once (see `WriteOptions.defersFileWrite`).
    public var defersFileWrite = false

    public init() {}
}

/// What an insert does when the key exists (ArangoDB's `overwriteMode`).
public enum OverwriteMode: String, Sendable, CaseIterable {
    case conflict, replace, update, ignore
}

/// The result of one document write: the key, the new revision (the current one for an
/// ignored insert), and the old and new documents when asked for, as clients see them.
public struct DocumentOutcome: Sendable {
    public var key: String
    public var revision: UInt64
    public var oldRevision: UInt64?
    public var old: Slice?
    public var new: Slice?
    /// The engine's sequence of the write (0 when nothing was written), for
    /// ``ShardEngine/whenDurable(_:_:)``.
    public var sequence: UInt64 = 0
}

/// One collection of a database: its catalog entry, its key generator and the shard engine
/// that stores its documents. The document operations here carry ArangoDB's semantics
/// (keys, `_id`/`_rev`, edges, revisions, overwrite modes, merge rules) so every role that
/// stores documents — the single server now, DBServers later — behaves the same.
///
/// Stored documents hold `_key` first, then (edges) `_from` and `_to`, then the user's
/// attributes; `_id` and `_rev` are never stored, but added on the way out, so a rename or
/// a revision needs no rewrite.
public final class DocumentCollection: Sendable {
    public let id: UInt64
    public let engine: ShardEngine
    let state: Locked<State>
    /// The shard's replication when it has copies on other servers (a DBServer sets it):
    /// it admits writes and holds their acknowledgements until the followers have them.
    let replicationHook = Locked<(any WriteReplication)?>(nil)

    struct State: Sendable {
        var info: CollectionInfo
        var keys: KeyGenerator
        var random = SystemRandomNumberGenerator()
    }

    /// How often a write is retried when its read-modify-write lost a race, or a generated key
    /// turned out to be taken.
    static let attemptsMax = 16

    init(info: CollectionInfo, engine: ShardEngine) {
        id = info.id
        self.engine = engine
        var keys = KeyGenerator(options: info.keyOptions, lastValue: info.lastKeyValue)
        // Keys written after the catalog was last saved must not be handed out again.
        var after: String?
        while true {
            let page = engine.keys(after: after, limit: 4096)
            for key in page { keys.track(key) }
            guard let last = page.last, page.count == 4096 else { break }
            after = last
        }
        state = Locked(State(info: info, keys: keys))
    }

    public var info: CollectionInfo {
        state.withLock { state in
            var info = state.info
            info.lastKeyValue = state.keys.lastValue
            return info
        }
    }
    public var name: String { state.withLock { $0.info.name } }
    /// The name in documents' `_id`s (see ``CollectionInfo/idPrefix``).
    public var idName: String { state.withLock { $0.info.idName } }
    public var type: CollectionType { state.withLock { $0.info.type } }

    func update(_ body: (inout CollectionInfo) -> Void) {
        state.withLock { body(&$0.info) }
    }

    // MARK: Reads

    /// The document with `key` as clients see it, or nil.
    public func document(_ key: String) throws(DocumentError) -> (slice: Slice, revision: UInt64)? {
        guard DocumentKey.isValid(key) else { return nil }
        let stored: StoredDocument?
        do { stored = try engine.get(key) } catch { throw DocumentError(error, collection: name) }
        guard let stored else { return nil }
        return (decorated(stored.document, key: stored.key, revision: stored.revision, collection: idName), stored.revision)
    }

    /// `_key`, `_id`, `_rev`, then the stored attributes after `_key`.
    public func decorated(_ stored: Slice, key: String, revision: UInt64, collection: String) -> Slice {
        var builder = Builder(capacity: stored.byteSize + key.utf8.count * 2 + collection.utf8.count + 40)
        builder.openObject()
        builder.add(key: "_key", key)
        builder.add(key: "_id", collection + "/" + key)
        builder.add(key: "_rev", RevisionString.encode(revision))
        // The stored `_key` is replaced by the one above (in one piece when it is stored
        // first, as the stored form puts it; wherever it is otherwise).
        builder.addMembers(of: stored, skipping: "_key")
        builder.closeTrusted()
        return builder.slice
    }

    // MARK: Writes

    public func insert(_ input: Slice, options: DocumentOptions) throws(DocumentError) -> DocumentOutcome {
        try admitWrite()
        guard input.isObject else { throw Self.notAnObject }
        var key: String
        var generated = false
        if let given = input["_key"] {
            key = try state.withLock { (state) throws(DocumentError) -> String in
                guard state.info.keyOptions.allowUserKeys else {
                    throw DocumentError(status: 400, .documentKeyUnexpected,
                                        "collection does not allow user-defined keys (keyOptions.allowUserKeys is false)")
                }
                guard let text = given.stringValue, DocumentKey.isValid(text) else { throw Self.badKey(given) }
                state.keys.track(text)
                return text
            }
        } else {
            key = nextKey()
            generated = true
        }
        let (collection, isEdge, collectionSync) = state.withLock { ($0.info.idName, $0.info.type == .edge, $0.info.waitForSync) }
        let stored = try Self.storedForm(of: input, key: key, isEdge: isEdge)
        for _ in 0..<Self.attemptsMax {
            do {
                let result = try engine.insert(stored, options: WriteOptions(waitForSync: options.waitForSync ?? collectionSync,
                                                                         defersFileWrite: options.defersFileWrite))
                return DocumentOutcome(
                    key: key, revision: result.revision, oldRevision: nil, old: nil,
                    new: options.returnNew ? decorated(stored, key: key, revision: result.revision, collection: collection) : nil,
                    sequence: result.sequence)
            } catch .documentExists where generated {
                // Someone took the generated key (a user key past our counter raced us).
                key = nextKey()
                continue
            } catch .documentExists {
                switch options.overwriteMode ?? .conflict {
                case .conflict:
                    throw DocumentError(.documentExists(key: key), collection: collection)
                case .ignore:
                    guard let existing = engine.revision(of: key) else { continue }  // removed meanwhile: insert again
                    return DocumentOutcome(key: key, revision: existing, oldRevision: nil, old: nil, new: nil)
                case .replace:
                    do { return try replace(key, with: input, options: options) } catch let error where error.code == .documentNotFound { continue }
                case .update:
                    do { return try update(key, with: input, options: options) } catch let error where error.code == .documentNotFound { continue }
                }
            } catch {
                throw DocumentError(error, collection: collection)
            }
        }
        throw DocumentError(status: 503, .conflict, "gave up inserting \(key) after \(Self.attemptsMax) attempts")
    }

    public func replace(_ key: String, with input: Slice, options: DocumentOptions) throws(DocumentError) -> DocumentOutcome {
        try admitWrite()
        guard input.isObject else { throw Self.notAnObject }
        guard DocumentKey.isValid(key) else { throw Self.badKey(key) }
        let (collection, isEdge, collectionSync) = state.withLock { ($0.info.idName, $0.info.type == .edge, $0.info.waitForSync) }
        let expected = try Self.expectedRevision(input, options)
        let stored = try Self.storedForm(of: input, key: key, isEdge: isEdge)
        return try modify(key, collection: collection, expected: expected, needsOld: options.returnOld) { (_) throws(DocumentError) in stored }
            write: { (current) throws(StorageError) in
                try engine.replace(key, with: stored, options: WriteOptions(
                    waitForSync: options.waitForSync ?? collectionSync, expectedRevision: current?.revision ?? expected,
                    defersFileWrite: options.defersFileWrite))
            } finish: { outcome, document in
                if options.returnNew { outcome.new = decorated(document, key: key, revision: outcome.revision, collection: collection) }
            }
    }

    public func update(_ key: String, with patch: Slice, options: DocumentOptions) throws(DocumentError) -> DocumentOutcome {
        try admitWrite()
        guard patch.isObject else { throw Self.notAnObject }
        guard DocumentKey.isValid(key) else { throw Self.badKey(key) }
        let (collection, isEdge, collectionSync) = state.withLock { ($0.info.idName, $0.info.type == .edge, $0.info.waitForSync) }
        let expected = try Self.expectedRevision(patch, options)
        var merged = Slice(trustedBytes: [0x0a])
        return try modify(key, collection: collection, expected: expected, needsOld: true) { (current) throws(DocumentError) in
            merged = try Self.merge(current!.document, patch, key: key, keepNull: options.keepNull,
                                    mergeObjects: options.mergeObjects, isEdge: isEdge)
            return merged
        } write: { (current) throws(StorageError) in
            try engine.replace(key, with: merged, options: WriteOptions(
                waitForSync: options.waitForSync ?? collectionSync, expectedRevision: current!.revision,
                defersFileWrite: options.defersFileWrite))
        } finish: { outcome, document in
            if options.returnNew { outcome.new = decorated(document, key: key, revision: outcome.revision, collection: collection) }
            if !options.returnOld { outcome.old = nil }
        }
    }

    public func remove(_ key: String, options: DocumentOptions, body: Slice? = nil) throws(DocumentError) -> DocumentOutcome {
        try admitWrite()
        guard DocumentKey.isValid(key) else { throw Self.badKey(key) }
        let (collection, collectionSync) = state.withLock { ($0.info.idName, $0.info.waitForSync) }
        let expected = try Self.expectedRevision(body, options)
        return try modify(key, collection: collection, expected: expected, needsOld: options.returnOld) { (_) throws(DocumentError) in
            Slice(trustedBytes: [0x0a])
        } write: { (current) throws(StorageError) in
            try engine.remove(key, options: WriteOptions(
                waitForSync: options.waitForSync ?? collectionSync, expectedRevision: current?.revision ?? expected,
                defersFileWrite: options.defersFileWrite))
        } finish: { _, _ in }
    }

    /// Removes every document; returns the number removed.
    ///
    /// Blocks until the truncation is acknowledged (durable when asked, and on every in-sync
    /// follower): call it off the event loop.
    public func truncate(waitForSync: Bool?) throws(DocumentError) -> Int {
        try admitWrite()
        let count = engine.count
        let sequence: UInt64
        do { sequence = try engine.truncate(options: WriteOptions(waitForSync: waitForSync)) } catch {
            throw DocumentError(error, collection: name)
        }
        try acknowledged(sequence: sequence, waitForSync: false)
        return count
    }

    /// The common shape of replace, update and remove: read the current version when the
    /// change depends on it (or the caller wants it back), check the caller's revision, write
    /// pinned to what was read, and start over when another writer got in between — so two
    /// concurrent read-modify-writes never lose one's change.
    private func modify(
        _ key: String, collection: String, expected: UInt64?, needsOld: Bool,
        build: (StoredDocument?) throws(DocumentError) -> Slice,
        write: (StoredDocument?) throws(StorageError) -> WriteResult,
        finish: (inout DocumentOutcome, Slice) -> Void
    ) throws(DocumentError) -> DocumentOutcome {
        for _ in 0..<Self.attemptsMax {
            var current: StoredDocument?
            if needsOld {
                do { current = try engine.get(key) } catch { throw DocumentError(error, collection: collection) }
                guard let current else { throw .documentNotFound("\(collection)/\(key)") }
                if let expected, expected != current.revision { throw Self.preconditionFailed(collection, key, current.revision) }
            }
            let document = try build(current)
            do {
                let result = try write(current)
                var outcome = DocumentOutcome(key: key, revision: result.revision, oldRevision: result.previousRevision,
                                              old: nil, new: nil, sequence: result.sequence)
                if let current { outcome.old = decorated(current.document, key: key, revision: current.revision, collection: collection) }
                finish(&outcome, document)
                return outcome
            } catch .revisionConflict(_, _, let actual) {
                if current != nil && expected == nil { continue }  // lost a race: read again
                throw Self.preconditionFailed(collection, key, actual)
            } catch {
                throw DocumentError(error, collection: collection)
            }
        }
        throw DocumentError(status: 503, .conflict, "gave up writing \(collection)/\(key) after \(Self.attemptsMax) concurrent changes")
    }

    func nextKey() -> String {
        state.withLock { state in state.keys.next(using: &state.random) }
    }

    // MARK: Document forms

    static let notAnObject = DocumentError(status: 400, .documentTypeInvalid, "invalid document type: expecting an object")

    static func badKey(_ key: Slice) -> DocumentError {
        DocumentError(status: 400, .documentKeyBad, "illegal document key: \(key.stringValue.map { "'\($0)'" } ?? "not a string")")
    }
    static func badKey(_ key: String) -> DocumentError {
        DocumentError(status: 400, .documentKeyBad, "illegal document key: '\(key)'")
    }

    static func preconditionFailed(_ collection: String, _ key: String, _ actual: UInt64) -> DocumentError {
        DocumentError(status: 412, .conflict,
                      "conflict, _rev values do not match: \(collection)/\(key) has revision \(RevisionString.encode(actual))")
    }

    /// The revision the caller insists on: `If-Match`, else the body's `_rev` when revisions
    /// are not ignored.
    static func expectedRevision(_ body: Slice?, _ options: DocumentOptions) throws(DocumentError) -> UInt64? {
        if let ifMatch = options.ifMatch { return ifMatch }
        guard !options.ignoreRevs, let body, body.isObject, let rev = body["_rev"] else { return nil }
        guard let text = rev.stringValue, let revision = RevisionString.decode(text) else {
            throw DocumentError(status: 400, .badParameter, "_rev must be a revision string")
        }
        return revision
    }

    /// `input` as stored: `_key` first, edges' `_from` and `_to` checked, `_id` and `_rev`
    /// dropped.
    static func storedForm(of input: Slice, key: String, isEdge: Bool) throws(DocumentError) -> Slice {
        var builder = Builder(capacity: input.byteSize + key.utf8.count + 8)
        builder.openObject()
        builder.add(key: "_key", key)
        if isEdge {
            for name in ["_from", "_to"] {
                guard let handle = input[name] else {
                    throw DocumentError(status: 400, .invalidEdgeAttribute, "edge attribute missing or invalid: \(name) is missing")
                }
                try checkEdgeHandle(handle, name)
                builder.add(key: name, handle)
            }
        }
        for member in input.objectMembers {
            guard let name = member.key.keyName else { continue }
            if name == "_key" || name == "_id" || name == "_rev" { continue }
            if isEdge && (name == "_from" || name == "_to") { continue }
            builder.add(key: name, member.value)
        }
        builder.closeTrusted()
        return builder.slice
    }

    static func checkEdgeHandle(_ handle: Slice, _ name: String) throws(DocumentError) {
        guard let text = handle.stringValue, let slash = text.firstIndex(of: "/"),
              Names.collectionFault(String(text[..<slash]), allowSystem: true) == nil,
              DocumentKey.isValid(String(text[text.index(after: slash)...])) else {
            throw DocumentError(status: 400, .invalidEdgeAttribute,
                                "edge attribute missing or invalid: \(name) must be a document id like 'collection/key'")
        }
    }

    /// ArangoDB's update: the patch's attributes replace the stored ones; with
    /// `mergeObjects`, objects on both sides merge recursively; with `keepNull` false, a null
    /// in the patch removes the attribute. `_key`, `_id` and `_rev` of the patch are ignored.
    static func merge(_ old: Slice, _ patch: Slice, key: String, keepNull: Bool, mergeObjects: Bool,
                      isEdge: Bool) throws(DocumentError) -> Slice {
        var builder = Builder(capacity: old.byteSize + patch.byteSize)
        builder.openObject()
        builder.add(key: "_key", key)
        if isEdge {
            for name in ["_from", "_to"] {
                if let handle = patch[name] {
                    try checkEdgeHandle(handle, name)
                    builder.add(key: name, handle)
                } else if let handle = old[name] {
                    builder.add(key: name, handle)
                }
            }
        }
        let skipped: Set<String> = isEdge ? ["_key", "_id", "_rev", "_from", "_to"] : ["_key", "_id", "_rev"]
        appendMerged(old, patch, into: &builder, skipping: skipped, keepNull: keepNull, mergeObjects: mergeObjects)
        builder.closeTrusted()
        return builder.slice
    }

    private static func appendMerged(_ old: Slice, _ patch: Slice, into builder: inout Builder, skipping: Set<String>,
                                     keepNull: Bool, mergeObjects: Bool) {
        var seen = Set<String>()
        for member in old.objectMembers {
            guard let name = member.key.keyName, !skipping.contains(name) else { continue }
            seen.insert(name)
            guard let replacement = patch[name] else {
                builder.add(key: name, member.value)
                continue
            }
            if replacement.isNull && !keepNull { continue }
            if mergeObjects && replacement.isObject && member.value.isObject {
                builder.add(key: name)
                builder.openObject()
                appendMerged(member.value, replacement, into: &builder, skipping: [], keepNull: keepNull, mergeObjects: true)
                builder.closeTrusted()
            } else {
                addPatchValue(name, replacement, into: &builder, keepNull: keepNull)
            }
        }
        for member in patch.objectMembers {
            guard let name = member.key.keyName, !skipping.contains(name), !seen.contains(name) else { continue }
            seen.insert(name)
            if member.value.isNull && !keepNull { continue }
            addPatchValue(name, member.value, into: &builder, keepNull: keepNull)
        }
    }

    /// A patch value that is new to the document: with `keepNull` false, nulls inside a new
    /// object are dropped too (as ArangoDB does).
    private static func addPatchValue(_ name: String, _ value: Slice, into builder: inout Builder, keepNull: Bool) {
        builder.add(key: name)
        if !keepNull && value.isObject {
            builder.openObject()
            appendMerged(Slice(trustedBytes: [0x0a]), value, into: &builder, skipping: [], keepNull: false, mergeObjects: true)
            builder.closeTrusted()
        } else {
            builder.add(value)
        }
    }
}
