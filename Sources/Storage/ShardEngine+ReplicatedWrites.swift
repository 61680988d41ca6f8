import TesseraPlatform
public import VelocyPack

/// The follower's side of sync replication and resync: applying a leader's log records
/// with the leader's revisions, payloads stored exactly as the leader stored them.
extension ShardEngine {
    /// How many documents one replicated document may push out of unique indexes before the
    /// apply gives up (one per unique index is the most a consistent stream needs).
    static let replicatedConflictRemovalsMax = 64

    /// Checks a record received from a leader (see ``ReplicatedRecord/validate(_:limit:uncompress:)``),
    /// decompressing a Snappy payload through the platform's binding, and returns the
    /// document it carries (nil for a removal or truncation). No state is read or changed.
    ///
    /// - Parameter limit: the largest document accepted (a shard's `documentByteCountMax`).
    /// - Throws: as ``ReplicatedRecord/validate(_:limit:uncompress:)``; a bad Snappy block
    ///   is `invalidReplicatedRecord`.
    public static func validateReplicated(_ record: LogRecord, limit: Int) throws(StorageError) -> Slice? {
        try ReplicatedRecord.validate(record, limit: limit) { (payload, byteCountLimit) throws(StorageError) -> [UInt8] in
            do {
                return try Snappy.uncompress(payload, byteCountLimit: byteCountLimit)
            } catch {
                throw .invalidReplicatedRecord("Snappy: \(error)")
            }
        }
    }

    /// Applies a record of the leader's log, under the record's revision (the local clock
    /// moves past it, as with `WriteOptions.revision`), in a record of this shard's log with
    /// a local sequence:
    ///
    /// - a document is stored whether or not the key exists (insert or replace of whatever
    ///   version is there), with the leader's flags, payload and document size unchanged (no
    ///   recompression); persistent indexes are maintained. When the version is already the
    ///   current one (same revision), nothing is written.
    /// - a removal removes the key if it exists;
    /// - a truncation removes every document.
    ///
    /// The record is validated first (``validateReplicated(_:limit:)``); an invalid one
    /// changes nothing. `options.waitForSync` and `options.defersFileWrite` apply as for
    /// every write; its other fields are ignored.
    ///
    /// - Returns: the local sequence of the last record written, 0 when nothing changed.
    /// - Throws: the validation faults, `closed`, `engineFailed`, I/O faults;
    ///   `uniqueConstraintViolated` only if more than `replicatedConflictRemovalsMax`
    ///   documents stand in the way.
    @discardableResult
    public func applyReplicated(_ record: LogRecord, options: WriteOptions = WriteOptions()) throws(StorageError) -> UInt64 {
        let document = try Self.validateReplicated(record, limit: self.options.documentByteCountMax)
        let forced = WriteOptions(waitForSync: options.waitForSync, revision: record.revision,
                                  defersFileWrite: options.defersFileWrite)
        switch record.kind {
        case .truncation:
            return try truncate(options: forced)
        case .removal:
            do {
                return try remove(String(decoding: record.key, as: UTF8.self), options: forced).sequence
            } catch .documentNotFound {
                return 0
            }
        case .document:
            guard let document else { preconditionFailure("a validated document record without a document") }
            return try applyReplicatedDocument(record, document, options: forced)
        }
    }

    private func applyReplicatedDocument(_ record: LogRecord, _ document: Slice,
                                         options: WriteOptions) throws(StorageError) -> UInt64 {
        let key = String(decoding: record.key, as: UTF8.self)
        // Revisions are unique in a shard: the same revision is the same version, already
        // here (a resync replaying what the stream delivered). Checked without the write's
        // lock: the driver applying the leader's records is a follower shard's one writer,
        // and a race would only store the same version again.
        if revision(of: key) == record.revision { return 0 }
        precondition(document.offset == 0 && document.byteSize == document.storage.count,
                     "validated document of \(document.byteSize) bytes is a view at \(document.offset) into \(document.storage.count)")
        let prepared = VelocyPackDocument(key: key, slice: document, bytes: document.storage,
                                          payload: record.payload, flags: record.flags)
        // Not synced or handed off on its own: the document's write below covers it.
        let removalOptions = WriteOptions(waitForSync: false, defersFileWrite: options.defersFileWrite)
        for _ in 0..<Self.replicatedConflictRemovalsMax {
            do {
                return try write(prepared, mustExist: nil, options: options).sequence
            } catch .uniqueConstraintViolated(_, let holder) {
                // Another key holds the value in a unique index. On the leader the two never
                // held it at once, so `holder`'s version here is one the stream overrules:
                // during resync catch-up the stream replays older versions while newer ones
                // already arrived. Whatever `holder` should hold, the stream delivers it again
                // later (its current version comes after this record in the leader's log), so
                // removing it now converges. Bounded: each round removes one document.
                _ = try remove(holder, options: removalOptions)
            }
        }
        return try write(prepared, mustExist: nil, options: options).sequence
    }

    /// Removes `key` only if its current revision is `revision`: resync removes what the
    /// leader no longer has without touching a newer version that arrived meanwhile.
    ///
    /// - Returns: whether the document was removed (false: absent or another revision).
    /// - Throws: `invalidKey`, `closed`, `engineFailed`, I/O faults.
    @discardableResult
    public func removeIfCurrent(_ key: String, revision: UInt64, options: WriteOptions = WriteOptions()) throws(StorageError) -> Bool {
        var pinned = options
        pinned.expectedRevision = revision
        do {
            try remove(key, options: pinned)
            return true
        } catch .documentNotFound, .revisionConflict {
            return false
        }
    }
}
