import TesseraPlatform
import Replication
/// Revision order: revisions are unique in a shard; the key makes entries unique even if a
/// leader ever sent one twice.
struct RevisionEntry: Comparable, Sendable {
    var revision: UInt64
    var key: String

    static func < (lhs: RevisionEntry, rhs: RevisionEntry) -> Bool {
        lhs.revision != rhs.revision ? lhs.revision < rhs.revision : lhs.key < rhs.key
    }
}

/// A segment and what the engine knows about its bytes.
struct SegmentState: Sendable {
    var segment: Segment
    /// Bytes of records in the segment, pending ones included.
    var byteCount: Int
    /// Bytes of records that hold the current version of a document.
    var liveByteCount = 0
    /// Bytes of removal and truncation records, which compaction keeps (see `Compaction`).
    var tombstoneByteCount = 0
    /// The sequence range of its records (0 when it has none).
    var firstSequence: UInt64 = 0
    var lastSequence: UInt64 = 0

    /// Every `seekSpacing` bytes, the sequence and offset of a record, so the change feed
    /// starts reading near the asked-for sequence instead of at the segment's start.
    var seekPoints: [(sequence: UInt64, offset: Int)] = []
    static let seekSpacing = 256 << 10

    mutating func noteRecord(sequence: UInt64, offset: Int) {
        if firstSequence == 0 { firstSequence = sequence }
        lastSequence = max(lastSequence, sequence)
        if seekPoints.isEmpty || offset - seekPoints[seekPoints.count - 1].offset >= Self.seekSpacing {
            seekPoints.append((sequence, offset))
        }
    }

    /// Where to start reading for records with a sequence above `sequence`: the last seek
    /// point whose record is not after them (records before it all have lower sequences).
    func readStart(after sequence: UInt64) -> Int {
        var low = 0, high = seekPoints.count
        while low < high {
            let middle = (low + high) / 2
            if seekPoints[middle].sequence <= sequence { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? 0 : seekPoints[low - 1].offset
    }
}

/// Everything the engine holds behind its lock.
///
/// The log is `segmentOrders` (ascending), each segment's records in file order; new records
/// go to `pending` (bytes not yet written to the active segment's file, which start at file
/// offset `pendingOffset`). `documents` is the primary index; `keyOrder`, `revisionOrder`,
/// `tree` and `indexes` are kept in step with it by `install` and `retire`.
struct ShardState: Sendable {
    let directory: String
    let options: ShardOptions

    var documents: [String: DocumentLocation] = [:]
    var keyOrder = SortedChunks<String>()
    var revisionOrder = SortedChunks<RevisionEntry>()
    var tree: MerkleTree
    var clock = HybridLogicalClock()
    var lastSequence: UInt64 = 0
    var segments: [UInt64: SegmentState] = [:]
    var segmentOrders: [UInt64] = []
    var activeOrder: UInt64 = 0
    var pending: [UInt8] = []
    var pendingOffset = 0
    /// The newest flushed bytes of the active segment, exactly as written: file offsets
    /// `recentlyWrittenOffset ..< recentlyWrittenOffset + recentlyWritten.count` of segment
    /// `recentlyWrittenOrder`. Reads take records from here instead of the file.
    var recentlyWritten = RecentlyWrittenBytes()
    /// Segments written since their last sync.
    var unsynced: [UInt64: Segment] = [:]
    /// Persistent indexes, sorted by name.
    var indexes: [PersistentIndex] = []
    /// Indexes being created: writers keep them up to date (without unique checks) while
    /// `createIndex` fills them from a snapshot outside the lock.
    var indexBuilds: [IndexBuild] = []
    /// Set after a failed write or sync: the engine accepts no more writes.
    var failure: StorageError?
    var isClosed = false
    var operationsSinceCheckpoint = 0
    /// Changes at or below this sequence may be missing from the feed (compaction dropped
    /// removals from the first segment).
    var feedFloor: UInt64 = 0
    var compactionCount = 0
    var compactedByteCount = 0
    var checkpointCount = 0
    /// The most recent records, while a leader's followers tail the log (nil: disabled, the
    /// default, so a shard without followers pays one comparison per write).
    var replicationTail: ReplicationTail?

    init(directory: String, options: ShardOptions) {
        self.directory = directory
        self.options = options
        self.tree = MerkleTree(leafCountLog2: options.merkleLeafCountLog2)
    }

    func checkWritable() throws(StorageError) {
        if isClosed { throw .closed }
        if let failure { throw failure }
    }

    // MARK: In-memory structures

    /// Makes `location` the current version of `key`.
    mutating func install(key: String, location: DocumentLocation, indexValues: [[UInt8]?]) {
        if let old = documents[key] {
            retire(old, key: key)
        } else {
            keyOrder.insert(key)
        }
        documents[key] = location
        tree.insert(location.revision)
        revisionOrder.insert(RevisionEntry(revision: location.revision, key: key))
        segments[location.segmentOrder]!.liveByteCount += location.byteCount
        for position in indexes.indices {
            indexes[position].set(key: key, value: indexValues[position])
        }
        for position in indexBuilds.indices {
            indexBuilds[position].index.set(key: key, value: indexValues[indexes.count + position])
            indexBuilds[position].touched.insert(key)
        }
    }

    /// Removes `key` from every structure.
    mutating func removeDocument(key: String) {
        guard let old = documents.removeValue(forKey: key) else { return }
        retire(old, key: key)
        keyOrder.remove(key)
        for position in indexes.indices { indexes[position].set(key: key, value: nil) }
        for position in indexBuilds.indices {
            indexBuilds[position].index.set(key: key, value: nil)
            indexBuilds[position].touched.insert(key)
        }
    }

    /// Forgets an old version: out of the tree and revision order, its bytes dead.
    private mutating func retire(_ old: DocumentLocation, key: String) {
        tree.remove(old.revision)
        revisionOrder.remove(RevisionEntry(revision: old.revision, key: key))
        segments[old.segmentOrder]?.liveByteCount -= old.byteCount
    }

    mutating func removeAllDocuments() {
        documents.removeAll()
        keyOrder.removeAll()
        revisionOrder.removeAll()
        tree.removeAll()
        for position in indexes.indices { indexes[position].removeAll() }
        for position in indexBuilds.indices {
            indexBuilds[position].index.removeAll()
            indexBuilds[position].truncated = true
        }
        for order in segmentOrders { segments[order]!.liveByteCount = 0 }
    }

    // MARK: The log

    /// Appends a record to the active segment (rotating first when it is full) and returns
    /// where it went. The caller holds the lock and has checked everything: after this the
    /// record is part of the shard.
    mutating func append(_ record: LogRecord) throws(StorageError) -> DocumentLocation {
        if segments[activeOrder]!.byteCount >= options.segmentByteCountTarget {
            try rotate()
        }
        let offset = pendingOffset + pending.count
        let start = pending.count
        record.encode(into: &pending)
        replicationTail?.append(record)
        let byteCount = pending.count - start
        segments[activeOrder]!.byteCount += byteCount
        segments[activeOrder]!.noteRecord(sequence: record.sequence, offset: offset)
        if record.kind != .document { segments[activeOrder]!.tombstoneByteCount += byteCount }
        operationsSinceCheckpoint += 1
        if pending.count >= options.pendingByteCountMax { try flushPending() }
        return DocumentLocation(segmentOrder: activeOrder, offset: offset, byteCount: byteCount,
                                revision: record.revision)
    }

    /// Hands a write just appended to the operating system unless its caller batches the
    /// hand-off (`WriteOptions.defersFileWrite`). A record in the file survives a crash of
    /// this process (the kernel has it); only `fdatasync` makes it survive a crash of the
    /// machine. A failure here leaves the engine failed and the write unacknowledged.
    mutating func handOff(_ options: WriteOptions) throws(StorageError) {
        if !options.defersFileWrite { try flushPending() }
    }

    /// Writes the pending bytes to the active segment's file (not yet synced).
    mutating func flushPending() throws(StorageError) {
        guard !pending.isEmpty else { return }
        let segment = segments[activeOrder]!.segment
        do {
            try io(FileIO.write(segment.descriptor, pending, at: pendingOffset, path: segment.path))
        } catch {
            failure = .engineFailed("write failed: \(error)")
            throw error
        }
        recentlyWritten.append(pending, at: pendingOffset, segmentOrder: activeOrder,
                               byteCountMax: options.recentlyWrittenByteCountMax)
        pendingOffset += pending.count
        pending.removeAll(keepingCapacity: true)
        unsynced[activeOrder] = segment
    }

    /// Seals the active segment (flushed and synced, so only the last segment can ever hold a
    /// torn record) and starts the next one.
    mutating func rotate() throws(StorageError) {
        try flushPending()
        let sealed = segments[activeOrder]!.segment
        do {
            try io(FileIO.syncData(sealed.descriptor, path: sealed.path))
            unsynced[activeOrder] = nil
            // From now on it never changes: read it through a mapping.
            segments[activeOrder]!.segment = try Segment(directory: directory, order: activeOrder,
                                                         generation: sealed.generation, create: false, sealed: true)
            let order = activeOrder + 1
            let segment = try Segment(directory: directory, order: order, generation: 0, create: true)
            try io(FileIO.syncDirectory(directory))
            segments[order] = SegmentState(segment: segment, byteCount: 0)
            segmentOrders.append(order)
            activeOrder = order
            pendingOffset = 0
            recentlyWritten = RecentlyWrittenBytes()
        } catch {
            failure = .engineFailed("segment rotation failed: \(error)")
            throw error
        }
    }

    /// Where the record at `location` can be read: pending and recently written bytes are
    /// copied out; older ones are read from the segment file (outside the lock).
    func source(of location: DocumentLocation) -> RecordSource {
        if location.segmentOrder == activeOrder && location.offset >= pendingOffset {
            let start = location.offset - pendingOffset
            return .memory(Array(pending[start..<(start + location.byteCount)]))
        }
        if let bytes = recentlyWritten.record(at: location) {
            return .memory(bytes)
        }
        return .file(segments[location.segmentOrder]!.segment, offset: location.offset, byteCount: location.byteCount)
    }

    /// Whether a write must compute index values.
    var hasIndexes: Bool { !indexes.isEmpty || !indexBuilds.isEmpty }

    /// Index values for a document, in `indexes` order and then `indexBuilds` order, after
    /// checking the unique constraints of the finished indexes.
    func indexValues(for document: VelocyPackDocument, key: String) throws(StorageError) -> [[UInt8]?] {
        var values: [[UInt8]?] = []
        values.reserveCapacity(indexes.count)
        for index in indexes {
            let value = index.value(for: document.slice)
            if let value, let other = index.conflict(value: value, key: key) {
                throw .uniqueConstraintViolated(index: index.definition.name, conflictingKey: other)
            }
            values.append(value)
        }
        for build in indexBuilds { values.append(build.index.value(for: document.slice)) }
        return values
    }
}

/// The newest bytes written to the active segment's file, kept so that reads of recent
/// records need no system call.
///
/// The copy is of bytes at fixed offsets of an append-only file, taken after `pwrite`
/// succeeded: a later update, removal or truncation appends new records at new offsets and
/// never changes these, so nothing here can become stale. A rotation starts a new, empty
/// window (its records are another segment's); compaction never rewrites the active segment;
/// a restart starts with none. What is served is still CRC-checked by the reader like bytes
/// read from the file.
struct RecentlyWrittenBytes: Sendable {
    private(set) var bytes: [UInt8] = []
    /// File offset of `bytes[0]`.
    private(set) var offset = 0
    private(set) var segmentOrder: UInt64 = 0

    /// Notes `written`, just written at file offset `fileOffset` of segment `order`. Bytes that
    /// do not continue the window (another segment, or a gap left by recovery) restart it; the
    /// oldest half is dropped when it outgrows `byteCountMax`.
    mutating func append(_ written: [UInt8], at fileOffset: Int, segmentOrder order: UInt64, byteCountMax: Int) {
        guard byteCountMax > 0, written.count <= byteCountMax else {
            self = RecentlyWrittenBytes()
            return
        }
        if order != segmentOrder || offset + bytes.count != fileOffset {
            bytes.removeAll(keepingCapacity: true)
            offset = fileOffset
            segmentOrder = order
        }
        if bytes.count + written.count > byteCountMax {
            // Drop at least half, so the memmove is paid once per half window of writes.
            let dropped = max(bytes.count + written.count - byteCountMax, byteCountMax / 2)
            let droppedFromWindow = min(dropped, bytes.count)
            bytes.removeFirst(droppedFromWindow)
            offset += droppedFromWindow
        }
        bytes.append(contentsOf: written)
    }

    /// A copy of the record at `location` when the window holds all of it.
    func record(at location: DocumentLocation) -> [UInt8]? {
        guard location.segmentOrder == segmentOrder, location.offset >= offset,
              location.offset + location.byteCount <= offset + bytes.count else { return nil }
        let start = location.offset - offset
        return Array(bytes[start..<(start + location.byteCount)])
    }
}

/// The bytes of one record, wherever they are.
enum RecordSource: Sendable {
    case memory([UInt8])
    case file(Segment, offset: Int, byteCount: Int)
}

/// A persistent index under construction (see `ShardEngine.createIndex`).
struct IndexBuild: Sendable {
    var index: PersistentIndex
    /// Keys written or removed since the snapshot: their entries are already current.
    var touched = Set<String>()
    /// A truncation happened since the snapshot: none of its entries count.
    var truncated = false
}
