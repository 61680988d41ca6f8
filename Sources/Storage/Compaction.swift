import TesseraPlatform
import Logging
/// Compaction: rewrites a sealed segment whose live share fell low, keeping only what the
/// shard still needs.
///
/// Kept: every document record that is still the current version of its key, and every
/// removal and truncation record, because an older segment may still hold a version they
/// overrule (a replay without checkpoint must not bring it back). Only in the first segment,
/// which has nothing older, do removals and truncations go too.
///
/// Steps, none of them holding the shard lock for long:
/// 1. Pick the sealed segment with the lowest live share below `compactionLiveShareMin`.
/// 2. Read it (sealed segments never change) and check which document records are live, in
///    batches under the lock.
/// 3. Write the kept records to `<new generation>.log.tmp` and sync it.
/// 4. Make every record written so far durable: a dropped version is safe to lose only once
///    what overrules it is on disk.
/// 5. Rename the file to its final name and sync the directory: from here a crash recovers
///    from the new generation (and, the checkpoint being stale, replays the whole log).
/// 6. Under the lock, point each moved document that is still current at its new offset
///    (one overwritten meanwhile simply stays dead) and swap the segment.
/// 7. Remove the old file; readers still holding it keep reading the unlinked inode.
extension ShardEngine {
    /// What one compaction run did.
    public struct CompactionReport: Sendable, Equatable {
        public var segmentsCompacted = 0
        public var bytesRead = 0
        public var bytesWritten = 0
        public var recordsKept = 0
        public var recordsDropped = 0

        public init() {}
    }

    /// Records checked for liveness per lock acquisition.
    static let livenessBatchCount = 4096

    /// Compacts every sealed segment whose live share is below `liveShareBelow` (the shard's
    /// `compactionLiveShareMin` when nil), at most `segmentLimit` of them.
    @discardableResult
    public func compact(liveShareBelow: Double? = nil, segmentLimit: Int = Int.max) throws(StorageError) -> CompactionReport {
        var report = CompactionReport()
        let threshold = liveShareBelow ?? options.compactionLiveShareMin
        var skipped = Set<UInt64>()
        while report.segmentsCompacted < segmentLimit {
            let compacted = try maintenance.withLock { (_: inout Void) throws(StorageError) -> Bool in
                guard let candidate = pickCandidate(threshold: threshold, skipping: skipped) else { return false }
                skipped.insert(candidate.order)
                try compactSegment(candidate, report: &report)
                return true
            }
            if !compacted { break }
        }
        if report.segmentsCompacted > 0 {
            // The checkpoint names segment generations; write a fresh one so the next open
            // does not replay the whole log.
            try checkpoint()
        }
        return report
    }

    struct CompactionCandidate {
        let order: UInt64
        let segment: Segment
        let byteCount: Int
        let isFirst: Bool
    }

    private func pickCandidate(threshold: Double, skipping: Set<UInt64>) -> CompactionCandidate? {
        state.withLock { state in
            var best: (share: Double, candidate: CompactionCandidate)?
            for order in state.segmentOrders where order != state.activeOrder && !skipping.contains(order) {
                let segment = state.segments[order]!
                guard segment.byteCount > 0 else { continue }
                let share = Double(segment.liveByteCount + segment.tombstoneByteCount) / Double(segment.byteCount)
                let isFirst = order == state.segmentOrders.first
                // The first segment's tombstones can go, so they do not count as live there.
                let effective = isFirst && segment.tombstoneByteCount > 0
                    ? Double(segment.liveByteCount) / Double(segment.byteCount) : share
                guard effective < threshold else { continue }
                if best == nil || effective < best!.share {
                    best = (effective, CompactionCandidate(order: order, segment: segment.segment,
                                                           byteCount: segment.byteCount, isFirst: isFirst))
                }
            }
            return best?.candidate
        }
    }

    private func compactSegment(_ candidate: CompactionCandidate, report: inout CompactionReport) throws(StorageError) {
        // 2. Read and classify.
        var records: [(offset: Int, record: LogRecord)] = []
        let end = try SegmentScanner.scan(candidate.segment, to: candidate.byteCount) { (offset, record, _) throws(StorageError) -> Bool in
            records.append((offset, record))
            return true
        }
        guard case .clean = end else {
            throw .corruptRecord(file: candidate.segment.path, offset: Self.offset(of: end), reason: "found while compacting")
        }
        var kept: [(oldOffset: Int, record: LogRecord)] = []
        var durableNeeded: UInt64 = 0
        var start = 0
        while start < records.count {
            let batch = records[start..<min(start + Self.livenessBatchCount, records.count)]
            durableNeeded = state.withLock { state in
                for (offset, record) in batch {
                    switch record.kind {
                    case .document:
                        let key = String(decoding: record.key, as: UTF8.self)
                        if let location = state.documents[key], location.segmentOrder == candidate.order,
                           location.offset == offset {
                            kept.append((offset, record))
                        }
                    case .removal, .truncation:
                        if !candidate.isFirst { kept.append((offset, record)) }
                    }
                }
                return state.lastSequence
            }
            start += Self.livenessBatchCount
        }

        // 3. Write the new generation.
        var output: [UInt8] = []
        var newOffsets: [Int] = []
        newOffsets.reserveCapacity(kept.count)
        for (_, record) in kept {
            newOffsets.append(output.count)
            record.encode(into: &output)
        }
        let generation = candidate.segment.generation + 1
        let finalPath = directory + "/" + Segment.fileName(order: candidate.order, generation: generation)
        let temporaryPath = finalPath + ".tmp"
        let descriptor = try io(FileIO.open(temporaryPath, create: true))
        do {
            try io(FileIO.truncate(descriptor, to: 0, path: temporaryPath))
            try io(FileIO.write(descriptor, output, at: 0, path: temporaryPath))
            try io(FileIO.syncData(descriptor, path: temporaryPath))
        } catch {
            FileIO.close(descriptor)
            // A leftover .tmp is removed on the next open anyway; say so and go on.
            do { try FileIO.remove(temporaryPath) } catch let leftover {
                Self.log.warning("cannot remove \(temporaryPath) after a failed compaction (removed at next open): \(leftover)")
            }
            throw error
        }
        FileIO.close(descriptor)

        // 4. What overrules the dropped records must be durable first.
        try groupCommit.waitDurable(durableNeeded, countsAsSyncedWrite: false)

        // 5. Publish the new generation.
        try io(FileIO.rename(temporaryPath, finalPath))
        try io(FileIO.syncDirectory(directory))
        let replacement = try Segment(directory: directory, order: candidate.order, generation: generation,
                                      create: false, sealed: true)

        // 6. Swap it in.
        state.withLock { state in
            var segmentState = SegmentState(segment: replacement, byteCount: output.count)
            for (position, (oldOffset, record)) in kept.enumerated() {
                let byteCount = record.encodedByteCount
                segmentState.noteRecord(sequence: record.sequence, offset: newOffsets[position])
                if record.kind != .document {
                    segmentState.tombstoneByteCount += byteCount
                    continue
                }
                let key = String(decoding: record.key, as: UTF8.self)
                if var location = state.documents[key], location.segmentOrder == candidate.order,
                   location.offset == oldOffset {
                    location.offset = newOffsets[position]
                    state.documents[key] = location
                    segmentState.liveByteCount += byteCount
                }
            }
            if candidate.isFirst, let old = state.segments[candidate.order] {
                // Removals in the first segment are gone: the feed cannot serve from before them.
                state.feedFloor = max(state.feedFloor, old.lastSequence)
            }
            state.segments[candidate.order] = segmentState
            state.compactionCount += 1
            state.compactedByteCount += candidate.byteCount
        }

        // 7. The old generation goes.
        try io(FileIO.remove(candidate.segment.path))
        try io(FileIO.syncDirectory(directory))
        report.segmentsCompacted += 1
        report.bytesRead += candidate.byteCount
        report.bytesWritten += output.count
        report.recordsKept += kept.count
        report.recordsDropped += records.count - kept.count
    }

    static func offset(of end: SegmentScanner.End) -> Int {
        switch end {
        case .clean(let offset), .fault(let offset, _), .incomplete(let offset): offset
        }
    }
}
