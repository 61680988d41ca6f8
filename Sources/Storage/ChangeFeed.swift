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
    /// Each call reads the segments that hold later changes from their start (they are sealed
    /// and cached by the OS); `limit` bounds the work per call.
    public func changes(after sequence: UInt64, limit: Int) throws(StorageError) -> [Change] {
        let segments = try state.withLock { (state: inout ShardState) throws(StorageError) -> [(Segment, Int)] in
            if sequence < state.feedFloor {
                throw .changesCompacted(requestedAfter: sequence, oldestAvailable: state.feedFloor + 1)
            }
            try state.flushPending()
            return state.segmentOrders.compactMap { order in
                let segment = state.segments[order]!
                return segment.lastSequence > sequence ? (segment.segment, segment.byteCount) : nil
            }
        }
        var changes: [Change] = []
        for (segment, byteCount) in segments where changes.count < limit {
            let end = try SegmentScanner.scan(segment, to: byteCount) { (offset, record, _) throws(StorageError) -> Bool in
                guard record.sequence > sequence else { return true }
                switch record.kind {
                case .document:
                    let stored = try Self.document(of: record, file: segment.path, offset: offset,
                                                   limit: options.documentByteCountMax)
                    changes.append(Change(sequence: record.sequence, operation: .document(stored)))
                case .removal:
                    changes.append(Change(sequence: record.sequence, operation: .removal(
                        key: String(decoding: record.key, as: UTF8.self), revision: record.revision)))
                case .truncation:
                    changes.append(Change(sequence: record.sequence, operation: .truncation(revision: record.revision)))
                }
                return changes.count < limit
            }
            if case .clean = end { continue }
            throw .corruptRecord(file: segment.path, offset: Self.offset(of: end), reason: "found while reading changes")
        }
        return changes
    }
}
