public import ArangoAPI
public import Storage

/// The document layer reports faults as ArangoDB errors (status, `errorNum`, message): the
/// same value travels to a client, or from a DBServer to a coordinator, unchanged.
public typealias DocumentError = ArangoError

extension ArangoError {
    /// The client-facing error for a storage fault. Operating faults of the machine (disk,
    /// corruption) are 500s whose message names the file, so an operator can act.
    public init(_ error: StorageError, collection: String) {
        switch error {
        case .invalidKey(let reason): self.init(status: 400, .documentKeyBad, "illegal document key: \(reason)")
        case .missingKey: self.init(status: 400, .documentKeyBad, "illegal document key: missing _key")
        case .documentTooLarge(let count, let limit):
            self.init(status: 413, .documentTooLarge, "document of \(count) bytes is larger than the limit of \(limit)")
        case .invalidVelocyPack(let fault): self.init(status: 400, .corruptedJSON, "invalid VelocyPack: \(fault)")
        case .notAnObject: self.init(status: 400, .documentTypeInvalid, "invalid document type: not an object")
        case .documentNotFound(let key): self = .documentNotFound("\(collection)/\(key)")
        case .documentExists(let key):
            self.init(status: 409, .uniqueConstraintViolated,
                      "unique constraint violated - in index primary of type primary over '_key'; conflicting key: \(key)")
        case .uniqueConstraintViolated(let index, let key):
            self.init(status: 409, .uniqueConstraintViolated,
                      "unique constraint violated - in index \(index) of type persistent; conflicting key: \(key)")
        case .revisionConflict: self.init(status: 409, .conflict, "conflict, _rev values do not match")
        case .invalidIndex(let reason): self.init(status: 400, .badParameter, "invalid index: \(reason)")
        case .indexNotFound(let name): self.init(status: 404, .indexNotFound, "index not found: \(name)")
        case .corruptRecord, .corruptMetadata, .systemCall, .engineFailed, .closed, .changesCompacted,
             .invalidReplicatedRecord:
            // The storage engine's own stable number for the fault (not one of ArangoDB's
            // catalogue entries), passed through so an operator can look it up.
            self.init(status: 500, ErrorNumber(rawValue: error.errorNumber), "storage failure in \(collection): \(error)")
        }
    }
}
