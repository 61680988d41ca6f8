public import VelocyPack
import TesseraPlatform
public import Replication

/// How a shard engine behaves; every limit has a name and a default.
public struct ShardOptions: Sendable, Equatable {
    /// Every write waits until it is durable (a collection's `waitForSync`); an operation can
    /// also ask for it alone through `WriteOptions.waitForSync`.
    public var waitForSync = false
    /// Writes that do not wait reach the disk (flushed and synced) within this delay.
    public var syncIntervalMilliseconds = 100
    /// A segment is sealed and a new one started once it holds this many bytes.
    public var segmentByteCountTarget = 32 << 20
    /// The largest document accepted, uncompressed (at most `LogRecordLimits.documentByteCountMax`).
    public var documentByteCountMax = 16 << 20
    /// Buffered log bytes (of writes made with `WriteOptions.defersFileWrite`) above which a
    /// write hands them to the file at once.
    public var pendingByteCountMax = 1 << 20
    /// Bytes of the active segment's newest records kept in memory after they were written to
    /// the file, so reads of recently written documents need no `pread` (0: none kept). Only
    /// bytes as written at their file offsets are kept, so the copy can never disagree with
    /// the file: the log is append-only, and the window is dropped when the segment rotates.
    public var recentlyWrittenByteCountMax = 4 << 20
    /// A sealed segment is compacted when its live share of bytes falls below this.
    public var compactionLiveShareMin = 0.5
    /// How often the background worker looks for segments to compact (0: never; then only
    /// `compact()` compacts).
    public var compactionIntervalMilliseconds = 1000
    /// The background worker writes a checkpoint after this many operations (0: never; then
    /// only `checkpoint()` and `close()` write one).
    public var checkpointIntervalOperations = 250_000
    /// The operator's permission to open a shard whose log is damaged in the middle: the log
    /// is cut at the damaged record, and everything after it is lost. Off by default: the
    /// shard then refuses to open and reports file and offset.
    public var truncateAtCorruption = false
    /// On open, read and CRC-check every record, also in the part of the log the checkpoint
    /// covers, so damage anywhere is found before the shard serves (the default). Off, only
    /// the log after the checkpoint is read; damage before it shows up when a damaged
    /// document is read (`corruptRecord`) or compacted.
    public var verifyCheckpointedLogOnOpen = true
    /// Merkle tree size: 2^leafCountLog2 leaves of 16 bytes.
    public var merkleLeafCountLog2 = MerkleTree.leafCountLog2Default
    /// Run the flusher and compaction threads (tests may turn them off to drive every step).
    public var backgroundThreads = true
    /// Write a checkpoint when the engine closes cleanly.
    public var checkpointOnClose = true
    /// Bytes (encoded record sizes) of the most recent log records kept in memory for
    /// ``ShardEngine/records(after:limit:byteLimit:)`` while the replication tail is enabled
    /// (``ShardEngine/enableReplicationTail()``); older records are read from the segments.
    public var replicationTailByteCountMax = 8 << 20

    public init() {}
}

/// Per-operation choices.
public struct WriteOptions: Sendable, Equatable {
    /// Wait until durable; nil follows the shard's `waitForSync`.
    public var waitForSync: Bool?
    /// Fail with `revisionConflict` unless the document's current revision is this one.
    public var expectedRevision: UInt64?
    /// Store under this revision instead of a new one (a follower applying its leader's
    /// writes; the clock then moves past it).
    public var revision: UInt64?
    /// Leave the record in the engine's buffer instead of handing it to the operating system
    /// before the call returns. Only for a caller that acknowledges nothing before it has
    /// called ``ShardEngine/writeOut()`` (a batch of writes then shares one `pwrite`); every
    /// other write is in the file when it returns, so a process crash cannot lose it.
    public var defersFileWrite: Bool

    public init(waitForSync: Bool? = nil, expectedRevision: UInt64? = nil, revision: UInt64? = nil,
                defersFileWrite: Bool = false) {
        self.waitForSync = waitForSync
        self.expectedRevision = expectedRevision
        self.revision = revision
        self.defersFileWrite = defersFileWrite
    }
}

/// What a write did.
public struct WriteResult: Sendable, Equatable {
    public let key: String
    /// The new revision (for a removal: the removal's own revision).
    public let revision: UInt64
    /// The revision the write replaced or removed, if any.
    public let previousRevision: UInt64?
    /// The write's position in the change feed.
    public let sequence: UInt64
}

/// A document as stored: its key, revision and bytes (validated when written, checked by
/// CRC32C when read).
public struct StoredDocument: Sendable {
    public let key: String
    public let revision: UInt64
    public let document: Slice
}

/// One entry of the change feed.
public struct Change: Sendable {
    public enum Operation: Sendable {
        /// The document's new version (insert, replace or update).
        case document(StoredDocument)
        /// The document with the key was removed.
        case removal(key: String, revision: UInt64)
        /// Every document was removed.
        case truncation(revision: UInt64)
    }

    public let sequence: UInt64
    public let operation: Operation
}

/// Counters for benchmarks and operators.
public struct ShardStatistics: Sendable, Equatable {
    public var documentCount = 0
    public var segmentCount = 0
    /// Bytes in segment files (pending bytes included).
    public var logByteCount = 0
    /// Bytes of live document records.
    public var liveByteCount = 0
    /// `fdatasync` calls made for group commit (one per batch).
    public var syncCount = 0
    /// Writes acknowledged after waiting for durability.
    public var syncedWriteCount = 0
    public var compactionCount = 0
    public var compactedByteCount = 0
    public var checkpointCount = 0
    public var lastSequence: UInt64 = 0
    public var merkleAllocatedByteCount = 0
}

/// What opening the shard found and did.
public struct RecoveryReport: Sendable, Equatable {
    /// The checkpoint was loaded and only the log after it replayed.
    public var checkpointUsed = false
    /// Why a checkpoint that exists was not used.
    public var checkpointRejection: String?
    public var segmentCount = 0
    /// Records checked (CRC) in the part of the log the checkpoint covers.
    public var recordsVerified = 0
    /// Records applied after the checkpoint (all of them without one).
    public var recordsReplayed = 0
    /// An unfinished write at the end of the log, cut off: file and offset and bytes dropped.
    public var tornTail: String?
    /// Damage in the middle of the log cut off because the operator allowed it.
    public var truncatedCorruption: String?
    /// Leftover files of interrupted compactions or atomic writes that were removed.
    public var removedLeftovers: [String] = []
    public var durationNanoseconds: UInt64 = 0
}
