import TesseraPlatform
import Replication
/// Opening a shard: the last checkpoint, then the log after it, every record checked.
///
/// 1. Leftovers of interrupted work are removed: `*.tmp` files (an atomic write or a
///    compaction that did not finish) and older generations of a segment (a compaction that
///    finished its new file but not the removal of the old one).
/// 2. The checkpoint is loaded if its checksum holds and it matches the segment files.
/// 3. Every segment is read in order and every record's CRC32C checked; records after the
///    checkpoint's position are applied to the index, the tree and the orders.
/// 4. Where a record is damaged:
///    - in the last segment with no valid record after it, it is a write that never
///      finished (a torn tail): the file is cut there;
///    - anywhere else the shard refuses to open (`corruptRecord` with file and offset),
///      unless the operator set `truncateAtCorruption`: then the log is cut there and every
///      later segment removed.
/// 5. Persistent indexes are rebuilt from the documents.
enum Recovery {
    private enum Attempt {
        case opened(ShardState, RecoveryReport)
        case retryWithoutCheckpoint(RecoveryReport)
    }

    static func open(directory: String, options: ShardOptions) throws(StorageError) -> (ShardState, RecoveryReport) {
        if !FileIO.fileExists(directory) {
            try io(FileIO.makeDirectory(directory))
            // The new directory's own entry must survive a crash too.
            let parent = directory.hasPrefix("/") || directory.contains("/")
                ? String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)]) : "."
            try io(FileIO.syncDirectory(parent.isEmpty ? "/" : parent))
        }
        var report = RecoveryReport()
        switch try attempt(directory: directory, options: options, useCheckpoint: true, report: report) {
        case .opened(let state, let finalReport):
            return (state, finalReport)
        case .retryWithoutCheckpoint(let partial):
            // Keep what was found and done to the files; the counts start over.
            report = partial
            report.checkpointUsed = false
            report.recordsVerified = 0
            report.recordsReplayed = 0
        }
        switch try attempt(directory: directory, options: options, useCheckpoint: false, report: report) {
        case .opened(let state, let finalReport):
            return (state, finalReport)
        case .retryWithoutCheckpoint:
            preconditionFailure("recovery without a checkpoint asked to retry without one")
        }
    }

    private static func attempt(directory: String, options: ShardOptions, useCheckpoint: Bool,
                                report initialReport: RecoveryReport) throws(StorageError) -> Attempt {
        var report = initialReport
        let orders = try segmentFiles(in: directory, report: &report)
        var state = ShardState(directory: directory, options: options)
        let definitions = try IndexCatalog.load(directory: directory)

        // The checkpoint, when usable, and the log position it covers.
        var covered: (order: UInt64, byteCount: Int)? = nil
        var coveredByteCounts: [UInt64: Int] = [:]
        if useCheckpoint, let checkpoint = try loadCheckpoint(directory: directory, orders: orders, report: &report) {
            report.checkpointUsed = true
            state.lastSequence = checkpoint.lastSequence
            state.clock.observe(checkpoint.lastRevision)
            state.feedFloor = checkpoint.feedFloor
            state.tree = checkpoint.tree
            state.documents.reserveCapacity(checkpoint.documents.count)
            for (key, location) in checkpoint.documents {
                state.documents[key] = location
                state.keyOrder.insert(key)  // ascending: appends
            }
            if let last = checkpoint.segments.last { covered = (last.order, last.byteCount) }
            for entry in checkpoint.segments { coveredByteCounts[entry.order] = entry.byteCount }
        }
        func isCovered(_ order: UInt64, _ offset: Int) -> Bool {
            guard let covered else { return false }
            return order < covered.order || (order == covered.order && offset < covered.byteCount)
        }

        var index = 0
        var remaining = orders
        while index < remaining.count {
            let (order, generation) = remaining[index]
            let segment = try Segment(directory: directory, order: order, generation: generation, create: false)
            state.segments[order] = SegmentState(segment: segment, byteCount: 0)
            state.segmentOrders.append(order)
            // Without verification of the checkpointed part, reading starts where it ends.
            var start = 0
            if !options.verifyCheckpointedLogOnOpen, let coveredByteCount = coveredByteCounts[order] {
                guard try io(FileIO.size(segment.descriptor, path: segment.path)) >= coveredByteCount else {
                    report.checkpointRejection = "\(segment.fileName) is shorter than the checkpoint says"
                    return .retryWithoutCheckpoint(report)
                }
                start = coveredByteCount
                // Sequences in the skipped part are unknown: no seek points there (the change
                // feed reads it from its start), and its last sequence at most the checkpoint's.
                state.segments[order]!.lastSequence = state.lastSequence
                if start > 0 { state.segments[order]!.firstSequence = 1 }
            }
            let end = try SegmentScanner.scan(segment, from: start) { (offset, record, byteCount) throws(StorageError) -> Bool in
                state.segments[order]!.noteRecord(sequence: record.sequence, offset: offset)
                if record.kind != .document { state.segments[order]!.tombstoneByteCount += byteCount }
                state.lastSequence = max(state.lastSequence, record.sequence)
                state.clock.observe(record.revision)
                if isCovered(order, offset) {
                    report.recordsVerified += 1
                } else {
                    report.recordsReplayed += 1
                    apply(record, at: DocumentLocation(segmentOrder: order, offset: offset, byteCount: byteCount,
                                                       revision: record.revision), to: &state)
                }
                return true
            }
            switch end {
            case .clean(let offset):
                state.segments[order]!.byteCount = offset
                if let covered, covered.order == order, offset < covered.byteCount {
                    report.checkpointRejection = "checkpoint covers \(covered.byteCount) bytes of \(segment.fileName), which has \(offset)"
                    return .retryWithoutCheckpoint(report)
                }
            case .incomplete(let offset), .fault(let offset, _):
                let isLast = index == remaining.count - 1
                let reason: String
                if case .fault(_, let why) = end { reason = why } else { reason = "file ends inside the record" }
                let torn: Bool
                if case .incomplete = end { torn = isLast } else {
                    let laterRecord = isLast ? try SegmentScanner.validRecordExists(in: segment, after: offset) : true
                    torn = !laterRecord
                }
                let size = try io(FileIO.size(segment.descriptor, path: segment.path))
                if torn {
                    try cut(segment, at: offset)
                    report.tornTail = "\(segment.path) at offset \(offset): \(size - offset) bytes of an unfinished write removed (\(reason))"
                } else if options.truncateAtCorruption {
                    try cut(segment, at: offset)
                    for (laterOrder, laterGeneration) in remaining[(index + 1)...] {
                        try io(FileIO.remove(directory + "/" + Segment.fileName(order: laterOrder, generation: laterGeneration)))
                    }
                    try io(FileIO.syncDirectory(directory))
                    remaining.removeSubrange((index + 1)...)
                    report.truncatedCorruption = "\(segment.path) at offset \(offset): \(reason); log cut there by operator choice"
                } else {
                    throw .corruptRecord(file: segment.path, offset: offset, reason: reason)
                }
                state.segments[order]!.byteCount = offset
                // The checkpoint may point past the cut: start over from the log alone.
                if report.checkpointUsed && isCovered(order, offset) {
                    report.checkpointRejection = "log cut at \(segment.fileName) offset \(offset), inside or before the checkpoint's part"
                    return .retryWithoutCheckpoint(report)
                }
            }
            index += 1
        }
        report.segmentCount = state.segmentOrders.count
        try finish(&state, directory: directory, options: options, definitions: definitions, report: &report)
        return .opened(state, report)
    }

    /// Applies one record of the log after the checkpoint.
    private static func apply(_ record: LogRecord, at location: DocumentLocation, to state: inout ShardState) {
        let key = String(decoding: record.key, as: UTF8.self)
        switch record.kind {
        case .document: state.install(key: key, location: location, indexValues: [])
        case .removal: state.removeDocument(key: key)
        case .truncation: state.removeAllDocuments()
        }
    }

    private static func cut(_ segment: Segment, at offset: Int) throws(StorageError) {
        try io(FileIO.truncate(segment.descriptor, to: offset, path: segment.path))
        try io(FileIO.syncData(segment.descriptor, path: segment.path))
    }

    /// The segment files by order (newest generation of each), after removing leftovers.
    private static func segmentFiles(in directory: String, report: inout RecoveryReport) throws(StorageError) -> [(UInt64, UInt32)] {
        var newest: [UInt64: UInt32] = [:]
        var removed = false
        for name in try io(FileIO.list(directory)) {
            if name.hasSuffix(".tmp") {
                try io(FileIO.remove(directory + "/" + name))
                report.removedLeftovers.append(name)
                removed = true
                continue
            }
            guard let (order, generation) = Segment.parse(fileName: name) else { continue }
            if let other = newest[order] {
                // The older generation is a compaction's input whose removal did not happen.
                let older = min(other, generation)
                try io(FileIO.remove(directory + "/" + Segment.fileName(order: order, generation: older)))
                report.removedLeftovers.append(Segment.fileName(order: order, generation: older))
                removed = true
                newest[order] = max(other, generation)
            } else {
                newest[order] = generation
            }
        }
        if removed { try io(FileIO.syncDirectory(directory)) }
        return newest.keys.sorted().map { ($0, newest[$0]!) }
    }

    /// The checkpoint if it exists, reads back and matches the segment files.
    private static func loadCheckpoint(directory: String, orders: [(UInt64, UInt32)],
                                       report: inout RecoveryReport) throws(StorageError) -> Checkpoint? {
        let path = directory + "/" + Checkpoint.fileName
        guard FileIO.fileExists(path) else { return nil }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.decode(try io(FileIO.readWholeFile(path, byteCountMax: Checkpoint.byteCountMax)))
        } catch let fault as CheckpointFault {
            report.checkpointRejection = "\(path): \(fault)"
            return nil
        } catch let error as StorageError {
            if case .corruptMetadata(_, let reason) = error {
                report.checkpointRejection = "\(path): \(reason)"
                return nil
            }
            throw error
        } catch {
            report.checkpointRejection = "\(path): \(error)"
            return nil
        }
        let lastListed = checkpoint.segments.last?.order ?? 0
        let existing = orders.filter { $0.0 <= lastListed }.map { Checkpoint.SegmentEntry(order: $0.0, generation: $0.1, byteCount: 0) }
        let listed = checkpoint.segments.map { Checkpoint.SegmentEntry(order: $0.order, generation: $0.generation, byteCount: 0) }
        guard existing == listed else {
            report.checkpointRejection = "checkpoint lists other segment files than exist (compaction since)"
            return nil
        }
        return checkpoint
    }

    /// Active segment, live byte counts, revision order, tree check and persistent indexes.
    private static func finish(_ state: inout ShardState, directory: String, options: ShardOptions,
                               definitions: [IndexDefinition], report: inout RecoveryReport) throws(StorageError) {
        if state.segmentOrders.isEmpty {
            let segment = try Segment(directory: directory, order: 1, generation: 0, create: true)
            try io(FileIO.syncDirectory(directory))
            state.segments[1] = SegmentState(segment: segment, byteCount: 0)
            state.segmentOrders = [1]
        }
        state.activeOrder = state.segmentOrders.last!
        state.pendingOffset = state.segments[state.activeOrder]!.byteCount
        // Every other segment is sealed (recovery cut them where needed before this point):
        // read them through mappings.
        for order in state.segmentOrders.dropLast() {
            let segment = state.segments[order]!.segment
            state.segments[order]!.segment = try Segment(directory: directory, order: order,
                                                         generation: segment.generation, create: false, sealed: true)
        }

        for order in state.segmentOrders { state.segments[order]!.liveByteCount = 0 }
        var revisions: [RevisionEntry] = []
        revisions.reserveCapacity(state.documents.count)
        for (key, location) in state.documents {
            state.segments[location.segmentOrder]!.liveByteCount += location.byteCount
            revisions.append(RevisionEntry(revision: location.revision, key: key))
        }
        revisions.sort()
        state.revisionOrder.removeAll()
        for entry in revisions { state.revisionOrder.insert(entry) }
        if state.tree.count != UInt64(state.documents.count) || state.tree.leafCountLog2 != options.merkleLeafCountLog2 {
            // A tree that disagrees with the index is repaired from it; one of another size
            // (the option changed) is rebuilt in the configured size.
            state.tree = MerkleTree(revisions: revisions.map(\.revision), leafCountLog2: options.merkleLeafCountLog2)
        }

        for definition in definitions {
            var index = PersistentIndex(definition: definition)
            try IndexCatalog.fill(&index, from: state)
            state.indexes.append(index)
        }
    }
}
