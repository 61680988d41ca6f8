import VelocyPack
import TesseraPlatform
public import Replication
import Logging

/// The storage of one shard: an append-only log of Snappy-compressed VelocyPack documents in
/// segment files, with the primary index, key and revision order, persistent indexes and the
/// Merkle revision tree in memory, group commit, checkpoints, recovery and compaction.
///
/// Thread safety: every method may be called from any thread. One lock guards the in-memory
/// state; it is held for the bookkeeping of an operation, never across `fdatasync`, file
/// reads, Snappy or validation. Background work (flusher, compaction, checkpoints) runs on
/// the engine's own threads, never on the caller's (the event loop's).
///
/// `@unchecked Sendable`: all mutable state is inside `state` (a `Locked`), `groupCommit`
/// (a `Monitor`) and `worker` (itself synchronized); the rest is immutable.
public final class ShardEngine: @unchecked Sendable {
    public let directory: String
    public let options: ShardOptions
    /// What opening the shard found.
    public let recoveryReport: RecoveryReport

    /// Faults of background work, which has no caller to report to.
    static let log = ProcessLog.logger("storage")

    let state: Locked<ShardState>
    /// Serializes compaction and checkpoints (each waits for the other; neither blocks writers).
    let maintenance = Locked(())
    private(set) var groupCommit: GroupCommit!
    private var worker: BackgroundWorker?

    /// Opens (creating when missing) the shard in `directory` and recovers it.
    ///
    /// - Throws: `StorageError.corruptRecord` with file and offset when the log is damaged
    ///   before its end (unless `options.truncateAtCorruption`), `.systemCall` for I/O faults.
    public init(directory: String, options: ShardOptions = ShardOptions()) throws(StorageError) {
        precondition(options.documentByteCountMax > 0
                     && options.documentByteCountMax <= LogRecordLimits.documentByteCountMax,
                     "documentByteCountMax \(options.documentByteCountMax) outside 1...\(LogRecordLimits.documentByteCountMax)")
        precondition(options.segmentByteCountTarget >= 4096, "segmentByteCountTarget below 4096")
        self.directory = directory
        self.options = options
        let started = MonotonicClock.nanoseconds()
        var (recovered, report) = try Recovery.open(directory: directory, options: options)
        report.durationNanoseconds = MonotonicClock.nanoseconds() - started
        self.recoveryReport = report
        let durable = recovered.lastSequence
        self.state = Locked(recovered)
        let state = self.state
        self.groupCommit = GroupCommit(durableSequence: durable) { () throws(StorageError) -> UInt64 in
            try Self.flushAndSync(state)
        }
        if options.backgroundThreads {
            worker = BackgroundWorker(engine: self)
        }
    }

    deinit {
        worker?.stop()
        // Dropped without `close()`: still hand the pending writes to the disk, as the sync
        // interval promised. There is no one left to report a failure to.
        if !state.withLock({ $0.isClosed || $0.failure != nil }) {
            do { _ = try Self.flushAndSync(state) } catch {
                Self.log.error("syncing a shard dropped without close failed: \(error)", metadata: ["shard": "\(directory)"])
            }
        }
    }

    /// Flushes pending records, syncs every file written since its last sync, and returns the
    /// last sequence that is now durable. Holds the lock only for the flush.
    static func flushAndSync(_ state: Locked<ShardState>) throws(StorageError) -> UInt64 {
        let (covered, files) = try state.withLock { (state: inout ShardState) throws(StorageError) in
            try state.flushPending()
            let files = state.unsynced.keys.sorted().map { state.unsynced[$0]! }
            state.unsynced.removeAll()
            return (state.lastSequence, files)
        }
        for segment in files {
            do {
                try io(FileIO.syncData(segment.descriptor, path: segment.path))
            } catch {
                // The kernel may have dropped the dirty pages and cleared the error: nothing
                // written since the last good sync can be trusted, so no more writes at all.
                state.withLock { state in
                    if state.failure == nil { state.failure = .engineFailed("sync failed: \(error)") }
                }
                throw error
            }
        }
        return covered
    }

    /// Makes every acknowledged write durable, writes a checkpoint (unless turned off) and
    /// stops the background threads. Later calls throw `closed`.
    public func close() throws(StorageError) {
        worker?.stop()
        worker = nil
        let alreadyClosed = state.withLock { $0.isClosed }
        if alreadyClosed { return }
        defer { groupCommit.stopSyncer() }
        try sync()
        if options.checkpointOnClose { try checkpoint() }
        state.withLock { $0.isClosed = true }
    }

    /// Calls `completion` when every write up to `sequence` (a ``WriteResult/sequence``) is
    /// durable, with nil, or with the failure that stopped the engine. Never blocks: a write
    /// made with `waitForSync: false` plus this call is a durable write that holds no thread
    /// while it waits. `completion` runs on the engine's syncing thread or, when the answer
    /// is known already, on the caller's.
    public func whenDurable(_ sequence: UInt64, _ completion: @escaping @Sendable (StorageError?) -> Void) {
        groupCommit.whenDurable(sequence, completion)
    }

    /// Hands every buffered record to the operating system (`pwrite`, no sync): after it
    /// returns, a crash of this process loses none of the writes made so far. Writes made
    /// without `WriteOptions.defersFileWrite` are already there; a batch made with it calls
    /// this once before it is acknowledged.
    ///
    /// - Throws: the write's failure (the engine is then failed), `closed`.
    public func writeOut() throws(StorageError) {
        try state.withLock { (state: inout ShardState) throws(StorageError) in
            if state.isClosed { throw .closed }
            if let failure = state.failure { throw failure }
            try state.flushPending()
        }
    }

    /// Blocks until every write up to `sequence` is durable (sharing the group commit).
    public func waitDurable(upTo sequence: UInt64) throws(StorageError) {
        try groupCommit.waitDurable(sequence)
    }

    /// Makes every write so far durable (one group-commit sync).
    public func sync() throws(StorageError) {
        let last = state.withLock { $0.lastSequence }
        try groupCommit.waitDurable(last, countsAsSyncedWrite: false)
    }

    // MARK: Reads

    /// The number of documents.
    public var count: Int { state.withLock { $0.documents.count } }

    /// The document with `key`, or nil.
    ///
    /// - Throws: `corruptRecord` when the stored record fails its checksum.
    public func get(_ key: String) throws(StorageError) -> StoredDocument? {
        guard let source = state.withLock({ state in state.documents[key].map { state.source(of: $0) } }) else {
            return nil
        }
        return try Self.readDocument(source, limit: options.documentByteCountMax)
    }

    /// The current revision of `key`, or nil (no disk access).
    public func revision(of key: String) -> UInt64? {
        state.withLock { $0.documents[key]?.revision }
    }

    /// Reads and checks one document record, decoding it where it lies (no copies of key or
    /// payload; from a sealed segment's mapping not even a read call: this is the read path).
    static func readDocument(_ source: RecordSource, limit: Int) throws(StorageError) -> StoredDocument {
        switch source {
        case .memory(let memory):
            let result: Result<StoredDocument, StorageError> = memory.withUnsafeBytes { raw in
                Result { () throws(StorageError) in try decodeDocument(raw, file: "(pending)", offset: 0) }
            }
            return try result.get()
        case .file(let segment, let offset, let byteCount):
            return try segment.withBytes(count: byteCount, at: offset) { (raw) throws(StorageError) in
                try decodeDocument(raw, file: segment.path, offset: offset)
            }
        }
    }

    /// The document in the record `raw`, checked (CRC32C, Snappy, size).
    static func decodeDocument(_ raw: UnsafeRawBufferPointer, file: String, offset: Int) throws(StorageError) -> StoredDocument {
        let decoding: LogRecordHeader.Decoding
        do {
            decoding = try LogRecord.decodeHeader(raw)
        } catch {
            throw .corruptRecord(file: file, offset: offset, reason: error.description)
        }
        guard case .header(let header) = decoding, header.kind == .document, header.byteCount == raw.count else {
            throw .corruptRecord(file: file, offset: offset, reason: "record ends early or is no document")
        }
        let payload = UnsafeRawBufferPointer(rebasing: raw[header.payloadRange])
        let body: [UInt8]
        if header.flags & LogRecord.flagSnappy != 0 {
            do {
                body = try Snappy.uncompress(payload, byteCountLimit: Int(header.documentByteCount))
            } catch {
                throw .corruptRecord(file: file, offset: offset, reason: "Snappy: \(error)")
            }
        } else {
            body = Array(payload)
        }
        guard body.count == Int(header.documentByteCount) else {
            throw .corruptRecord(file: file, offset: offset,
                                 reason: "document has \(body.count) bytes, header says \(header.documentByteCount)")
        }
        // The bytes passed the Validator when written and their CRC32C now; they are ours.
        return StoredDocument(key: String(decoding: raw[header.keyRange], as: UTF8.self),
                              revision: header.revision, document: Slice(trustedBytes: body))
    }

    /// The document a checked document record holds.
    static func document(of record: LogRecord, file: String, offset: Int, limit: Int) throws(StorageError) -> StoredDocument {
        let body: [UInt8]
        if record.flags & LogRecord.flagSnappy != 0 {
            do {
                body = try Snappy.uncompress(record.payload, byteCountLimit: Int(record.documentByteCount))
            } catch {
                throw .corruptRecord(file: file, offset: offset, reason: "Snappy: \(error)")
            }
        } else {
            body = record.payload
        }
        guard body.count == Int(record.documentByteCount), !body.isEmpty else {
            throw .corruptRecord(file: file, offset: offset, reason: "document has \(body.count) bytes, header says \(record.documentByteCount)")
        }
        // The bytes passed the Validator when written and their CRC32C now; they are ours.
        return StoredDocument(key: String(decoding: record.key, as: UTF8.self), revision: record.revision,
                              document: Slice(trustedBytes: body))
    }

    /// Reads the documents for `keys` (in that order) after taking their locations.
    func readDocuments(_ sources: [RecordSource]) throws(StorageError) -> [StoredDocument] {
        var result: [StoredDocument] = []
        result.reserveCapacity(sources.count)
        for source in sources { result.append(try Self.readDocument(source, limit: options.documentByteCountMax)) }
        return result
    }

    /// Up to `limit` documents in key order (bytewise), starting after `key` (from the first
    /// when nil). Page through a shard by passing the last key of the previous page.
    public func documentsInKeyOrder(after key: String? = nil, limit: Int) throws(StorageError) -> [StoredDocument] {
        let sources = state.withLock { state in
            state.keyOrder.elements(from: key, inclusive: key == nil, limit: limit).map {
                state.source(of: state.documents[$0]!)
            }
        }
        return try readDocuments(sources)
    }

    /// Up to `limit` keys in key order (bytewise) after `key`, without reading documents.
    public func keys(after key: String? = nil, limit: Int) -> [String] {
        state.withLock { state in Array(state.keyOrder.elements(from: key, inclusive: key == nil, limit: limit)) }
    }

    /// Up to `limit` (revision, key) pairs in revision order whose revision lies in `range`.
    public func revisions(in range: ClosedRange<UInt64>, limit: Int) -> [(revision: UInt64, key: String)] {
        state.withLock { state in
            state.revisionOrder.elements(from: RevisionEntry(revision: range.lowerBound, key: ""), limit: limit) {
                $0.revision > range.upperBound
            }.map { ($0.revision, $0.key) }
        }
    }

    /// Up to `limit` documents in revision order whose revision is larger than `revision`.
    public func documentsInRevisionOrder(after revision: UInt64? = nil, limit: Int) throws(StorageError) -> [StoredDocument] {
        if revision == UInt64.max { return [] }
        let sources = state.withLock { state in
            let start = revision.map { RevisionEntry(revision: $0 + 1, key: "") }
            return state.revisionOrder.elements(from: start, limit: limit).map { state.source(of: state.documents[$0.key]!) }
        }
        return try readDocuments(sources)
    }

    // MARK: Merkle tree

    /// A copy of the shard's Merkle revision tree.
    public var merkleTree: MerkleTree { state.withLock { $0.tree } }

    /// Rebuilds the tree from the primary index (repair) and returns whether it differed.
    @discardableResult
    public func rebuildMerkleTree() -> Bool {
        state.withLock { state in
            let rebuilt = MerkleTree(revisions: state.documents.values.map(\.revision).sorted(),
                                     leafCountLog2: state.options.merkleLeafCountLog2)
            let differed = !rebuilt.holdsSameRevisions(as: state.tree)
            state.tree = rebuilt
            return differed
        }
    }

    // MARK: Statistics

    public var statistics: ShardStatistics {
        let counters = groupCommit.counters
        return state.withLock { state in
            var statistics = ShardStatistics()
            statistics.documentCount = state.documents.count
            statistics.segmentCount = state.segmentOrders.count
            statistics.logByteCount = state.segmentOrders.reduce(0) { $0 + state.segments[$1]!.byteCount }
            statistics.liveByteCount = state.segmentOrders.reduce(0) { $0 + state.segments[$1]!.liveByteCount }
            statistics.syncCount = counters.syncCount
            statistics.syncedWriteCount = counters.syncedWriteCount
            statistics.compactionCount = state.compactionCount
            statistics.compactedByteCount = state.compactedByteCount
            statistics.checkpointCount = state.checkpointCount
            statistics.lastSequence = state.lastSequence
            statistics.merkleAllocatedByteCount = state.tree.allocatedLeafByteCount
            return statistics
        }
    }
}
