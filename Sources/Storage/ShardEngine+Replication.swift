import TesseraPlatform
public import Replication

/// What a leader serves to its followers: raw log records after a sequence (sync
/// replication), a consistent Merkle tree snapshot and the current versions in a revision
/// range (resync). Records travel as stored (payload Snappy-compressed when the flags say
/// so): nothing is decompressed or re-encoded on the leader.
extension ShardEngine {
    // MARK: The replication tail

    /// Starts keeping the most recent records in memory (up to
    /// `ShardOptions.replicationTailByteCountMax` bytes) so that `records(after:)` near the
    /// head of the log reads no file. Covers the records written from now on; does nothing
    /// when already enabled.
    public func enableReplicationTail() {
        state.withLock { state in
            if state.replicationTail == nil {
                state.replicationTail = ReplicationTail(byteCountMax: state.options.replicationTailByteCountMax,
                                                        lastSequence: state.lastSequence)
            }
        }
    }

    /// Stops keeping records in memory and frees those kept (the shard has no followers).
    public func disableReplicationTail() {
        state.withLock { $0.replicationTail = nil }
    }

    // MARK: Records after a sequence

    /// The log records with a sequence above `sequence`, in sequence order, as stored.
    ///
    /// At most `limit` records, whose payloads add up to at most `byteLimit` bytes, except
    /// that the first record is always returned when one exists (a record larger than the
    /// budget travels alone). Empty when the log holds nothing after `sequence`.
    ///
    /// Cost: when the replication tail is enabled and still holds every record after
    /// `sequence` (the usual case of followers close to the head), one lock acquisition,
    /// a binary search and a copy of k record references: O(log n + k), no file access,
    /// no decompression. Otherwise (tail disabled, or the follower is further behind than
    /// `replicationTailByteCountMax` bytes of log) the segments are read as
    /// ``changes(after:limit:)`` reads them: the pending buffer is flushed under the lock,
    /// then reading starts at the seek point (one per 256 KiB) before `sequence` and every
    /// record is CRC-checked, costing what it returns plus at most 256 KiB of reading.
    ///
    /// The tail may still hold versions that compaction has since dropped from the segments;
    /// either answer brings a follower to the same state.
    ///
    /// - Parameters:
    ///   - sequence: the last sequence the caller has (0: from the start).
    ///   - limit: the most records to return (at least 1).
    ///   - byteLimit: the payload byte budget (at least 0).
    /// - Throws: `changesCompacted` exactly when ``changes(after:limit:)`` would (the
    ///   follower must resync), `corruptRecord` for a damaged record on disk.
    public func records(after sequence: UInt64, limit: Int, byteLimit: Int) throws(StorageError) -> [LogRecord] {
        var batch = RecordBatch(limit: limit, byteLimit: byteLimit)
        let served = try state.withLock { (state: inout ShardState) throws(StorageError) -> Bool in
            try Self.checkFeedFloor(state, after: sequence)
            guard let tail = state.replicationTail, tail.covers(after: sequence) else { return false }
            tail.records(after: sequence, into: &batch)
            return true
        }
        if served { return batch.records }
        return try recordsFromLog(after: sequence, batch: batch)
    }

    /// `records(after:limit:byteLimit:)` read from the segments, whatever the tail holds.
    func recordsFromLog(after sequence: UInt64, limit: Int, byteLimit: Int) throws(StorageError) -> [LogRecord] {
        try recordsFromLog(after: sequence, batch: RecordBatch(limit: limit, byteLimit: byteLimit))
    }

    private func recordsFromLog(after sequence: UInt64, batch: RecordBatch) throws(StorageError) -> [LogRecord] {
        var batch = batch
        try scanLog(after: sequence) { (record, _, _) throws(StorageError) -> Bool in batch.add(record) }
        return batch.records
    }

    // MARK: Resync

    /// A copy of the Merkle revision tree and the last sequence, taken together under the
    /// shard lock: the tree describes exactly the log up to that sequence, so a follower that
    /// makes its documents match the tree and then applies every record after the sequence
    /// holds the whole shard.
    public func merkleTreeAndSequence() -> (tree: MerkleTree, sequence: UInt64) {
        state.withLock { ($0.tree, $0.lastSequence) }
    }

    /// The stored records of the current document versions whose revision lies in `range`,
    /// in revision order: payload as stored, `sequence` the record's own.
    ///
    /// At most `limit` records, whose payloads add up to at most `byteLimit` bytes (the
    /// first record always comes). To page through a range, ask again from the last
    /// revision returned plus one. A version replaced while the records are read is still
    /// returned (the newer one reaches the follower through `records(after:)`).
    ///
    /// Cost: one lock acquisition to walk the revision order (O(log n + k)), then one read
    /// per record outside the lock (none for sealed segments, which are mapped; a copy for
    /// records still in the pending buffer), each CRC-checked, none decompressed.
    ///
    /// - Throws: `corruptRecord` when a stored record fails its checks.
    public func storedRecords(revisionsIn range: ClosedRange<UInt64>, limit: Int,
                              byteLimit: Int) throws(StorageError) -> [LogRecord] {
        var batch = RecordBatch(limit: limit, byteLimit: byteLimit)
        let sources = state.withLock { state -> [(key: String, revision: UInt64, source: RecordSource)] in
            var sources: [(key: String, revision: UInt64, source: RecordSource)] = []
            for entry in state.revisionOrder.elements(from: RevisionEntry(revision: range.lowerBound, key: ""), limit: limit,
                                                      isPastEnd: { $0.revision > range.upperBound }) {
                let location = state.documents[entry.key]!
                // A document record's payload is what its framing and key leave.
                let payloadByteCount = location.byteCount - LogRecord.byteCountMin - entry.key.utf8.count
                guard batch.take(payloadByteCount: payloadByteCount) else { break }
                sources.append((entry.key, entry.revision, state.source(of: location)))
            }
            return sources
        }
        var records: [LogRecord] = []
        records.reserveCapacity(sources.count)
        for (key, revision, source) in sources {
            let record = try Self.readRecord(source)
            guard record.kind == .document, record.revision == revision, record.key.elementsEqual(key.utf8) else {
                throw .corruptRecord(file: Self.file(of: source), offset: Self.offset(of: source),
                                     reason: "record is not the version of '\(key)' at revision \(revision) the index points at")
            }
            records.append(record)
        }
        return records
    }

    /// Reads one whole record, checked (framing, CRC32C), payload untouched.
    static func readRecord(_ source: RecordSource) throws(StorageError) -> LogRecord {
        switch source {
        case .memory(let memory):
            let result: Result<LogRecord, StorageError> = memory.withUnsafeBytes { raw in
                Result { () throws(StorageError) in try decodeRecord(raw, file: file(of: source), offset: 0) }
            }
            return try result.get()
        case .file(let segment, let offset, let byteCount):
            return try segment.withBytes(count: byteCount, at: offset) { (raw) throws(StorageError) in
                try decodeRecord(raw, file: segment.path, offset: offset)
            }
        }
    }

    private static func decodeRecord(_ raw: UnsafeRawBufferPointer, file: String, offset: Int) throws(StorageError) -> LogRecord {
        let decoding: LogRecordDecoding
        do {
            decoding = try LogRecord.decode(raw)
        } catch {
            throw .corruptRecord(file: file, offset: offset, reason: error.description)
        }
        guard case .record(let record, let byteCount) = decoding, byteCount == raw.count else {
            throw .corruptRecord(file: file, offset: offset, reason: "record ends early")
        }
        return record
    }

    private static func file(of source: RecordSource) -> String {
        switch source {
        case .memory: "(pending)"
        case .file(let segment, _, _): segment.path
        }
    }

    private static func offset(of source: RecordSource) -> Int {
        switch source {
        case .memory: 0
        case .file(_, let offset, _): offset
        }
    }
}
