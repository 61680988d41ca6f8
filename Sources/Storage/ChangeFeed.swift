/// The change feed: every operation of the shard in sequence order, read from the log, for
/// replication to tail.
///
/// Compaction removes versions that later records overrule, so a reader may find gaps in the
/// sequence numbers; what it reads still brings a follower to the same state. Removals in the
/// first segment are the exception (compaction drops them); asking for changes from before
/// that point throws `changesCompacted`, and the follower resyncs with the Merkle tree.
extension ShardEngine {
    /// Up to `limit` changes with a sequence number above `sequence`, in order.
    ///
    /// Each call starts reading at the seek point (one per 256 KiB of log) just before the
    /// asked-for sequence, so tailing the log costs what it returns plus at most 256 KiB.
    public func changes(after sequence: UInt64, limit: Int) throws(StorageError) -> [Change] {
        var changes: [Change] = []
        guard limit > 0 else { return changes }
        try scanLog(after: sequence) { (record, file, offset) throws(StorageError) -> Bool in
            switch record.kind {
            case .document:
                let stored = try Self.document(of: record, file: file, offset: offset, limit: options.documentByteCountMax)
                changes.append(Change(sequence: record.sequence, operation: .document(stored)))
            case .removal:
                changes.append(Change(sequence: record.sequence, operation: .removal(
                    key: String(decoding: record.key, as: UTF8.self), revision: record.revision)))
            case .truncation:
                changes.append(Change(sequence: record.sequence, operation: .truncation(revision: record.revision)))
            }
            return changes.count < limit
        }
        return changes
    }

    /// Calls `body` with every record of the log with a sequence above `sequence`, in order
    /// (CRC-checked, payload untouched), with its file and offset, until `body` returns false.
    /// Flushes the pending buffer first, so every record written so far is in the files.
    ///
    /// - Throws: `changesCompacted` below the feed floor, `corruptRecord` for a damaged record.
    func scanLog(after sequence: UInt64,
                 _ body: (_ record: LogRecord, _ file: String, _ offset: Int) throws(StorageError) -> Bool)
        throws(StorageError) {
        let segments = try state.withLock { (state: inout ShardState) throws(StorageError) -> [(Segment, Int, Int)] in
            try Self.checkFeedFloor(state, after: sequence)
            try state.flushPending()
            return state.segmentOrders.compactMap { order in
                let segment = state.segments[order]!
                guard segment.lastSequence > sequence else { return nil }
                return (segment.segment, segment.readStart(after: sequence), segment.byteCount)
            }
        }
        var more = true
        for (segment, start, byteCount) in segments where more {
            let end = try SegmentScanner.scan(segment, from: start, to: byteCount) { (offset, record, _) throws(StorageError) -> Bool in
                guard record.sequence > sequence else { return true }
                more = try body(record, segment.path, offset)
                return more
            }
            if case .clean = end { continue }
            throw .corruptRecord(file: segment.path, offset: Self.offset(of: end), reason: "found while reading changes")
        }
    }

    /// Throws `changesCompacted` when the log no longer holds every change after `sequence`.
    static func checkFeedFloor(_ state: ShardState, after sequence: UInt64) throws(StorageError) {
        if sequence < state.feedFloor {
            throw .changesCompacted(requestedAfter: sequence, oldestAvailable: state.feedFloor + 1)
        }
    }
}
