public import Raft
import TesseraPlatform

extension RaftDisk {
    /// Makes one Ready's durable part durable, in the contract's order (`Protocol/Raft.md`
    /// §3): the snapshot (then the segments it covers are removed), then the log write
    /// (truncation from `truncateFrom`, append of `entries`), then the hard state.
    ///
    /// With `sync`, everything touched is synced once at the end: one `fdatasync` per touched
    /// file (the last segment, the hard-state file) and one `fsync` of the directory when
    /// files were created or removed, never one per entry. Three steps sync on their own
    /// because a later write must not overtake them: the atomic snapshot write; a truncation
    /// that cuts written records (new records must not land on disk before the cut, or a crash
    /// could leave new entries followed by old ones); and the end of a full segment before the
    /// next one starts (so only the last segment can have a torn tail).
    ///
    /// Without `sync`, a hard state that only moved the commit index is kept in memory and
    /// written with the next synced call (the commit index is a hint; the two-slot file is
    /// only ever written with a sync). A new term or vote is always synced, whatever `sync`
    /// says: it is a promise (Raft Figure 2).
    ///
    /// - Throws: `limitExceeded` for a snapshot or entry larger than this disk would read
    ///   back; `systemCall` for a failed write or sync, after which every later call throws
    ///   `failed` (after a failed `fdatasync` nothing is known about the page cache).
    /// - Precondition: ``load()`` ran; the write continues the durable log (entries
    ///   contiguous from `truncateFrom`, which lies after the snapshot and at most one past
    ///   the log's end); a snapshot advances the durable one.
    public func persist(snapshot: RaftSnapshot?, logWrite: RaftReady.LogWrite?, hardState: HardState?, sync: Bool) throws(RaftDiskError) {
        precondition(loaded, "RaftDisk.persist before load() for \(directory)")
        if let failure { throw .failed(reason: failure) }
        do {
            try persistInOrder(snapshot: snapshot, logWrite: logWrite, hardState: hardState, sync: sync)
        } catch {
            failure = error.description
            throw error
        }
    }

    /// What one persist touched and must sync at its end.
    private struct Touched {
        var lastSegment = false
        var hardState = false
        var directory = false
    }

    private func persistInOrder(snapshot: RaftSnapshot?, logWrite: RaftReady.LogWrite?, hardState: HardState?, sync: Bool) throws(RaftDiskError) {
        counters.persistCount += 1
        var touched = Touched()
        let promise = hardState.map { $0.term != writtenHardState.term || $0.votedFor != writtenHardState.votedFor } ?? false
        let syncing = sync || promise
        if let snapshot {
            try persistSnapshot(snapshot, touched: &touched)
        }
        if let logWrite {
            try truncate(from: logWrite.truncateFrom)
            try append(logWrite.entries, touched: &touched)
        }
        if let state = hardState ?? deferredHardState, state != writtenHardState {
            if syncing {
                try writeHardState(state)
                touched.hardState = true
                deferredHardState = nil
            } else {
                deferredHardState = state
            }
        }
        guard syncing else { return }
        if touched.lastSegment, let activeDescriptor, let last = segments.last {
            try io { () throws(FileError) in try FileIO.syncData(activeDescriptor, path: path(last.fileName)) }
            counters.syncCount += 1
        }
        if touched.hardState {
            try io { () throws(FileError) in try FileIO.syncData(hardStateDescriptor, path: path(Self.hardStateFileName)) }
            counters.syncCount += 1
        }
        if touched.directory {
            try syncDirectory()
        }
    }

    private func syncDirectory() throws(RaftDiskError) {
        try io { () throws(FileError) in try FileIO.syncDirectory(directory) }
        counters.syncCount += 1
    }

    // MARK: - Snapshot and compaction

    private func persistSnapshot(_ snapshot: RaftSnapshot, touched: inout Touched) throws(RaftDiskError) {
        precondition(snapshot.index > snapshotPoint.index && snapshot.term > 0,
                     "snapshot at \(snapshot.index) (term \(snapshot.term)) does not advance the durable one at \(snapshotPoint.index)")
        let bytes = RaftDiskFormat.snapshotFile(snapshot)
        guard bytes.count <= options.snapshotByteCountMax else {
            throw .limitExceeded(file: path(Self.snapshotFileName),
                                 reason: "snapshot of \(bytes.count) bytes, more than the limit \(options.snapshotByteCountMax) recovery reads")
        }
        // Durable before any segment goes: the log it replaces may only disappear after it.
        try io { () throws(FileError) in try FileIO.writeAtomically(bytes, to: path(Self.snapshotFileName), directory: directory) }
        counters.syncCount += 2
        counters.writtenByteCount += bytes.count
        snapshotPoint = (snapshot.index, snapshot.term)
        snapshotByteCount = bytes.count
        let removal = try compactLog(upTo: snapshot.index, term: snapshot.term)
        if removal.removedFileCount > 0 { touched.directory = true }
    }

    /// Removes the segments a snapshot at `index` makes useless: those wholly at or below it
    /// when the log holds the snapshot's last entry with its term (or starts right after it),
    /// every segment otherwise (the log after a snapshot it does not match is not the
    /// leader's, Raft §7; `RaftLog.install` drops it the same way).
    func compactLog(upTo index: LogIndex, term: Term) throws(RaftDiskError) -> (removedFileCount: Int, discardedEntryCount: Int) {
        let continues = self.term(at: index) == term || segments.first?.firstIndex == index + 1
        var removed = 0
        if !continues {
            let discarded = segments.reduce(0) { count, segment in
                count + segment.terms.indices.filter { segment.firstIndex + LogIndex($0) > index }.count
            }
            while !segments.isEmpty {
                try removeLastSegment()
                removed += 1
            }
            return (removed, discarded)
        }
        while let first = segments.first, first.entryCount > 0, first.nextIndex - 1 <= index {
            if segments.count == 1 {
                try removeLastSegment()
            } else {
                try io { () throws(FileError) in try FileIO.remove(path(first.fileName)) }
                segments.removeFirst()
            }
            removed += 1
        }
        return (removed, 0)
    }

    /// The term of the durable entry at `index`, nil when no segment holds it.
    func term(at index: LogIndex) -> Term? {
        // Segments are few (the log is compacted); a linear search from the back finds recent
        // indexes first.
        guard let segment = segments.last(where: { $0.firstIndex <= index }), index < segment.nextIndex else { return nil }
        return segment.terms[Int(index - segment.firstIndex)]
    }

    private func removeLastSegment() throws(RaftDiskError) {
        let last = segments.removeLast()
        if let activeDescriptor {
            FileIO.close(activeDescriptor)
            self.activeDescriptor = nil
        }
        try io { () throws(FileError) in try FileIO.remove(path(last.fileName)) }
        if let newLast = segments.last {
            activeDescriptor = try io { () throws(FileError) in try FileIO.open(path(newLast.fileName), create: false) }
        }
    }

    // MARK: - Log

    /// The index the next appended entry must have.
    private var nextIndex: LogIndex { segments.last?.nextIndex ?? snapshotPoint.index + 1 }

    /// Removes every durable entry from `index` on, durably (see ``persist(snapshot:logWrite:hardState:sync:)``).
    private func truncate(from index: LogIndex) throws(RaftDiskError) {
        precondition(index > snapshotPoint.index, "truncation from \(index), at or below the snapshot at \(snapshotPoint.index)")
        precondition(index <= nextIndex, "truncation from \(index) leaves a gap after \(nextIndex - 1)")
        guard index < nextIndex else { return }
        var removedFiles = false
        while let last = segments.last, last.firstIndex > index {
            try removeLastSegment()
            removedFiles = true
        }
        // The loop stops at the segment holding `index`: segments chain, and the first starts
        // at most one after the snapshot, below `index`.
        let position = segments.count - 1
        let segment = segments[position]
        let entryPosition = Int(index - segment.firstIndex)
        let offset = segment.offsets[entryPosition]
        let file = path(segment.fileName)
        guard let activeDescriptor else { preconditionFailure("no open descriptor for the last segment \(file)") }
        try io { () throws(FileError) in
            try FileIO.truncate(activeDescriptor, to: offset, path: file)
            try FileIO.syncData(activeDescriptor, path: file)
        }
        counters.syncCount += 1
        if removedFiles { try syncDirectory() }
        segments[position].offsets.removeSubrange(entryPosition...)
        segments[position].terms.removeSubrange(entryPosition...)
        segments[position].byteCount = offset
    }

    /// Appends entries at the end of the log, starting a new segment when the last one is
    /// full; the bytes for one segment go out in one write.
    private func append(_ entries: [LogEntry], touched: inout Touched) throws(RaftDiskError) {
        guard !entries.isEmpty else { return }
        var previousTerm = segments.last?.terms.last ?? snapshotPoint.term
        var pending: [UInt8] = []
        for entry in entries {
            precondition(entry.index == nextIndex, "appending entry \(entry.index) where \(nextIndex) belongs")
            precondition(entry.term >= previousTerm && entry.term > 0,
                         "appending entry \(entry.index) of term \(entry.term) after term \(previousTerm)")
            previousTerm = entry.term
            var record: [UInt8] = []
            RaftDiskFormat.appendRecord(of: entry, to: &record)
            let payloadByteCount = record.count - RaftDiskFormat.recordHeaderByteCount
            guard payloadByteCount <= options.recordPayloadByteCountMax else {
                throw .limitExceeded(file: directory, reason: "entry \(entry.index) encodes to \(payloadByteCount) bytes, more than the limit \(options.recordPayloadByteCountMax)")
            }
            if let last = segments.last, last.entryCount == 0 || last.byteCount + record.count <= options.segmentByteCountTarget {
                // Room in the last segment (an empty one takes its first record whatever its size).
            } else {
                try flush(&pending)
                try startSegment(firstIndex: entry.index, pending: &pending, touched: &touched)
            }
            let position = segments.count - 1
            segments[position].offsets.append(segments[position].byteCount)
            segments[position].terms.append(entry.term)
            segments[position].byteCount += record.count
            pending.append(contentsOf: record)
        }
        try flush(&pending)
        touched.lastSegment = true
    }

    /// Writes the pending bytes at the end of the last segment.
    private func flush(_ pending: inout [UInt8]) throws(RaftDiskError) {
        guard !pending.isEmpty, let last = segments.last, let activeDescriptor else { return }
        let bytes = pending
        try io { () throws(FileError) in
            try FileIO.write(activeDescriptor, bytes, at: last.byteCount - bytes.count, path: path(last.fileName))
        }
        counters.writtenByteCount += bytes.count
        pending = []
    }

    /// Ends the last segment (synced: only the last segment may have a torn tail) and starts
    /// a new one whose header goes out with its first records.
    private func startSegment(firstIndex: LogIndex, pending: inout [UInt8], touched: inout Touched) throws(RaftDiskError) {
        if let activeDescriptor, let last = segments.last {
            try io { () throws(FileError) in try FileIO.syncData(activeDescriptor, path: path(last.fileName)) }
            counters.syncCount += 1
            FileIO.close(activeDescriptor)
            self.activeDescriptor = nil
        }
        let name = Self.segmentFileName(firstIndex: firstIndex)
        activeDescriptor = try io { () throws(FileError) in
            let descriptor = try FileIO.open(path(name), create: true)
            // A file of this name can only be a leftover no segment list knows; start it over.
            try FileIO.truncate(descriptor, to: 0, path: path(name))
            return descriptor
        }
        touched.directory = true
        pending = RaftDiskFormat.segmentHeader(firstIndex: firstIndex)
        segments.append(SegmentIndex(firstIndex: firstIndex, byteCount: pending.count, offsets: [], terms: []))
    }

    private func writeHardState(_ state: HardState) throws(RaftDiskError) {
        let sequence = hardStateSequence + 1
        // Slot k holds sequences ≡ k (mod 2): the write never touches the slot holding the
        // latest durable state.
        let offset = Int(sequence % 2) * RaftDiskFormat.hardStateSlotStride
        let bytes = RaftDiskFormat.hardStateSlot(state, sequence: sequence)
        try io { () throws(FileError) in
            try FileIO.write(hardStateDescriptor, bytes, at: offset, path: path(Self.hardStateFileName))
        }
        counters.writtenByteCount += bytes.count
        hardStateSequence = sequence
        writtenHardState = state
    }
}
