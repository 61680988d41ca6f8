public import Raft
import TesseraPlatform

extension RaftDisk {
    /// Reads the durable state back, repairing what a crash may leave: exactly what
    /// `RaftNode(configuration:restoring:)` needs. Call once, before any ``persist(snapshot:logWrite:hardState:sync:)``.
    ///
    /// Recovery rules (`Protocol/AgentStorage.md` §4):
    /// - `*.tmp` files (an interrupted atomic snapshot write) are removed.
    /// - The hard state is the newest intact slot.
    /// - Segments are read in index order, every record's checksum checked. A bad or
    ///   incomplete record in the last segment with no intact record after it is a torn
    ///   append: the file is cut there and ``recoveryReport`` says so. Anywhere else it is
    ///   refused (`corruptRecord` naming the file and offset): dropping it could lose
    ///   committed entries.
    /// - Entries must be contiguous with non-decreasing terms, and start at 1 or at most one
    ///   after the snapshot (`inconsistentLog` otherwise).
    /// - Entries after the snapshot are kept only when the log holds the snapshot's last
    ///   entry with its term (Raft §7), as `RaftLog.install` does; otherwise the log is
    ///   dropped (a crash between persisting such a snapshot and removing the old log).
    ///
    /// - Throws: `corruptRecord`, `corruptFile`, `inconsistentLog`, `limitExceeded`,
    ///   `systemCall`.
    /// - Complexity: reads every file once; O(bytes on disk).
    public func load() throws(RaftDiskError) -> RaftDurableState {
        precondition(!loaded, "RaftDisk.load() called twice for \(directory)")
        var report = RaftDiskRecoveryReport()
        let names = try io { () throws(FileError) in try FileIO.list(directory) }
        var directoryChanged = false
        for name in names where name.hasSuffix(".tmp") {
            try io { () throws(FileError) in try FileIO.remove(path(name)) }
            report.removedFiles.append(name)
            directoryChanged = true
        }

        let hardStatePath = path(Self.hardStateFileName)
        let hardStateBytes = try io { () throws(FileError) in
            // One byte more than the format's size, so a longer file shows as such.
            try FileIO.read(hardStateDescriptor, count: RaftDiskFormat.hardStateFileByteCount + 1, at: 0, path: hardStatePath)
        }
        let hard = try RaftDiskFormat.decodeHardStateFile(hardStateBytes, file: hardStatePath)
        writtenHardState = hard.state
        hardStateSequence = hard.sequence
        report.damagedHardStateSlot = hard.damagedSlot

        var snapshot: RaftSnapshot?
        if names.contains(Self.snapshotFileName) {
            let bytes = try readWholeFile(Self.snapshotFileName, byteCountMax: options.snapshotByteCountMax)
            let decoded = try RaftDiskFormat.decodeSnapshotFile(bytes, file: path(Self.snapshotFileName))
            snapshot = decoded
            snapshotPoint = (decoded.index, decoded.term)
            snapshotByteCount = bytes.count
        }

        // Fixed-width names: sorted names are sorted indexes.
        let segmentNames = names.filter { Self.parseSegmentFileName($0) != nil }
        guard segmentNames.count <= options.segmentCountMax else {
            throw .limitExceeded(file: directory, reason: "\(segmentNames.count) log segments, more than the limit \(options.segmentCountMax)")
        }
        var entries: [LogEntry] = []
        for (position, name) in segmentNames.enumerated() {
            let isLast = position == segmentNames.count - 1
            guard let scanned = try loadSegment(name, isLast: isLast, report: &report) else {
                directoryChanged = true
                continue
            }
            try check(scanned, continues: segments.last, file: path(name))
            segments.append(SegmentIndex(firstIndex: scanned.firstIndex, byteCount: scanned.validByteCount,
                                         offsets: scanned.offsets, terms: scanned.entries.map(\.term)))
            entries.append(contentsOf: scanned.entries)
            guard entries.count <= options.entryCountMax else {
                throw .limitExceeded(file: path(name), reason: "more than \(options.entryCountMax) log entries")
            }
        }
        report.entryCount = entries.count
        if let first = segments.first, first.firstIndex == 0 || first.firstIndex > snapshotPoint.index + 1 {
            throw .inconsistentLog(file: path(first.fileName), offset: RaftDiskFormat.segmentHeaderByteCount,
                                   reason: "log starts at \(first.firstIndex), entries after \(snapshotPoint.index) are missing")
        }
        if let last = segments.last {
            activeDescriptor = try io { () throws(FileError) in try FileIO.open(path(last.fileName), create: false) }
        }
        if snapshotPoint.index > 0 {
            let removal = try compactLog(upTo: snapshotPoint.index, term: snapshotPoint.term)
            report.discardedEntryCount = removal.discardedEntryCount
            directoryChanged = directoryChanged || removal.removedFileCount > 0
        }
        if directoryChanged {
            try io { () throws(FileError) in try FileIO.syncDirectory(directory) }
        }
        loaded = true
        recoveryReport = report
        let kept = report.discardedEntryCount > 0 ? [] : entries.filter { $0.index > snapshotPoint.index }
        return RaftDurableState(hardState: hard.state, snapshot: snapshot, entries: kept)
    }

    /// Reads and scans one segment, cutting a torn tail off the last one. Nil when the last
    /// segment was only a torn creation (its header incomplete or damaged, nothing intact
    /// after it) and was removed.
    private func loadSegment(_ name: String, isLast: Bool, report: inout RaftDiskRecoveryReport) throws(RaftDiskError) -> RaftDiskFormat.SegmentScan? {
        let file = path(name)
        let bytes = try readWholeFile(name, byteCountMax: options.segmentByteCountMax)
        var headerIntact = false
        if bytes.count >= RaftDiskFormat.segmentHeaderByteCount, case .success = RaftDiskFormat.decodeSegmentHeader(bytes) {
            headerIntact = true
        }
        if !headerIntact {
            // A header is written once, with the segment's first append: in the last segment,
            // with no intact record after it, it is that append torn by a crash.
            let laterRecord = RaftDiskFormat.intactRecordExists(
                in: bytes, after: RaftDiskFormat.segmentHeaderByteCount - 1, payloadByteCountMax: options.recordPayloadByteCountMax)
            guard isLast, !laterRecord else {
                if bytes.count < RaftDiskFormat.segmentHeaderByteCount {
                    throw .corruptFile(file: file, reason: "\(bytes.count) bytes, shorter than a segment header")
                }
                _ = try RaftDiskFormat.scanSegment(bytes, file: file, payloadByteCountMax: options.recordPayloadByteCountMax)
                preconditionFailure("a damaged header of \(file) passed the scan")
            }
            try io { () throws(FileError) in try FileIO.remove(file) }
            report.removedFiles.append(name)
            report.tornTail = "\(file): segment of \(bytes.count) bytes with an unfinished header removed"
            return nil
        }
        let scan = try RaftDiskFormat.scanSegment(bytes, file: file, payloadByteCountMax: options.recordPayloadByteCountMax)
        guard let expected = Self.parseSegmentFileName(name), scan.firstIndex == expected else {
            throw .inconsistentLog(file: file, offset: 16, reason: "header names first index \(scan.firstIndex), the file name another")
        }
        guard let stop = scan.stop else { return scan }
        let offset = scan.validByteCount
        let reason: String
        switch stop {
        case .incomplete: reason = "file ends inside the record"
        case .invalid(let why): reason = why
        }
        let torn = isLast && (stop == .incomplete
            || !RaftDiskFormat.intactRecordExists(in: bytes, after: offset, payloadByteCountMax: options.recordPayloadByteCountMax))
        guard torn else { throw .corruptRecord(file: file, offset: offset, reason: reason) }
        try io { () throws(FileError) in
            let descriptor = try FileIO.open(file, create: false)
            defer { FileIO.close(descriptor) }
            try FileIO.truncate(descriptor, to: offset, path: file)
            try FileIO.syncData(descriptor, path: file)
        }
        counters.syncCount += 1
        report.tornTail = "\(file) at offset \(offset): \(bytes.count - offset) bytes of an unfinished append removed (\(reason))"
        return scan
    }

    /// Refuses a segment that does not continue the one before it.
    private func check(_ scan: RaftDiskFormat.SegmentScan, continues previous: SegmentIndex?, file: String) throws(RaftDiskError) {
        guard let previous else { return }
        guard scan.firstIndex == previous.nextIndex else {
            throw .inconsistentLog(file: file, offset: 0,
                                   reason: "segment starts at \(scan.firstIndex), the one before ends before \(previous.nextIndex)")
        }
        if let first = scan.entries.first, let previousTerm = previous.terms.last, first.term < previousTerm {
            throw .inconsistentLog(file: file, offset: RaftDiskFormat.segmentHeaderByteCount,
                                   reason: "entry \(first.index) has term \(first.term), below \(previousTerm) of the entry before it")
        }
    }

    private func readWholeFile(_ name: String, byteCountMax: Int) throws(RaftDiskError) -> [UInt8] {
        try io { () throws(FileError) in try FileIO.readWholeFile(path(name), byteCountMax: byteCountMax) }
    }
}
