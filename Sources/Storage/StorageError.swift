public import VelocyPack

/// An operating fault of the storage engine: bad input, a document that is missing or in the
/// way, a corrupt file, a failed system call.
///
/// Every case has a stable `errorNumber`; where ArangoDB has a number for the same fault it is
/// that one, so the REST layer can pass it through.
public enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The key breaks ArangoDB's key rules (ArangoDB 1221).
    case invalidKey(String)
    /// The document has no string `_key` where one is needed (ArangoDB 1221).
    case missingKey
    /// The document is larger than the shard's limit (ArangoDB 1216 "document too large").
    case documentTooLarge(byteCount: Int, limit: Int)
    /// The bytes are not valid VelocyPack (ArangoDB 600 "invalid VelocyPack").
    case invalidVelocyPack(VPackError)
    /// The value is valid VelocyPack but not an object (ArangoDB 1227 "document type invalid").
    case notAnObject
    /// No document with the key (ArangoDB 1202).
    case documentNotFound(key: String)
    /// Insert of a key that exists (ArangoDB 1210 "unique constraint violated").
    case documentExists(key: String)
    /// A unique persistent index already holds the value (ArangoDB 1210). Nothing changed.
    case uniqueConstraintViolated(index: String, conflictingKey: String)
    /// The caller's expected revision is not the current one (ArangoDB 1200 "conflict").
    case revisionConflict(key: String, expected: UInt64, actual: UInt64)
    /// A log record in the middle of the log is damaged (ArangoDB 1102-like "corrupted
    /// datafile"); the shard does not open unless the operator allows truncation there.
    case corruptRecord(file: String, offset: Int, reason: String)
    /// A checkpoint or index-definition file is damaged.
    case corruptMetadata(file: String, reason: String)
    /// A system call failed (errno).
    case systemCall(operation: String, path: String, errno: Int32)
    /// A durable write failed earlier (after a failed `fsync` nothing is known about the data
    /// in the page cache); the engine refuses all writes until reopened.
    case engineFailed(String)
    /// The engine was closed.
    case closed
    /// An index with the name exists, or the definition is invalid (ArangoDB 10 "bad parameter").
    case invalidIndex(String)
    /// No index with the name (ArangoDB 1212 "index not found").
    case indexNotFound(String)
    /// The change feed no longer holds the asked-for start (older records were compacted away).
    case changesCompacted(requestedAfter: UInt64, oldestAvailable: UInt64)
    /// A log record received from a leader breaks the record rules (flags, sizes, Snappy,
    /// the `_key` in the document); the reason says which. Nothing changed.
    case invalidReplicatedRecord(String)

    /// A stable number for the fault.
    public var errorNumber: Int {
        switch self {
        case .invalidKey, .missingKey: 1221
        case .documentTooLarge: 1216
        case .invalidVelocyPack: 600
        case .notAnObject: 1227
        case .documentNotFound: 1202
        case .documentExists, .uniqueConstraintViolated: 1210
        case .revisionConflict: 1200
        case .corruptRecord: 1102
        case .corruptMetadata: 1103
        case .systemCall: 1100
        case .engineFailed: 1104
        case .closed: 1105
        case .invalidIndex: 10
        case .indexNotFound: 1212
        case .changesCompacted: 1106
        case .invalidReplicatedRecord: 1107
        }
    }

    public var description: String {
        switch self {
        case .invalidKey(let reason): "illegal document key: \(reason)"
        case .missingKey: "document has no string _key"
        case .documentTooLarge(let count, let limit): "document of \(count) bytes exceeds the limit of \(limit)"
        case .invalidVelocyPack(let error): "invalid VelocyPack: \(error)"
        case .notAnObject: "document is not an object"
        case .documentNotFound(let key): "document '\(key)' not found"
        case .documentExists(let key): "document '\(key)' already exists"
        case .uniqueConstraintViolated(let index, let key):
            "unique constraint of index '\(index)' violated by document '\(key)'"
        case .revisionConflict(let key, let expected, let actual):
            "document '\(key)' has revision \(actual), expected \(expected)"
        case .corruptRecord(let file, let offset, let reason):
            "corrupt record in \(file) at offset \(offset): \(reason)"
        case .corruptMetadata(let file, let reason): "corrupt \(file): \(reason)"
        case .systemCall(let operation, let path, let errno): "\(operation) \(path) failed: errno \(errno)"
        case .engineFailed(let reason): "storage engine failed: \(reason)"
        case .closed: "storage engine is closed"
        case .invalidIndex(let reason): "invalid index: \(reason)"
        case .indexNotFound(let name): "index '\(name)' not found"
        case .changesCompacted(let after, let oldest):
            "changes after \(after) were compacted away; oldest available sequence is \(oldest)"
        case .invalidReplicatedRecord(let reason): "invalid replicated record: \(reason)"
        }
    }
}
