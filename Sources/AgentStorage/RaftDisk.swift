public import Raft
import TesseraPlatform

/// The durable state of one agent's Raft node in one directory: the hard state, the latest
/// snapshot and the log entries after it (`Protocol/Raft.md` §4, formats in
/// `Protocol/AgentStorage.md`).
///
/// ```
/// <directory>/LOCK                            flock'ed while open
/// <directory>/hardstate                       two checksummed slots, written in place
/// <directory>/snapshot                        written atomically (tmp, sync, rename, dir sync)
/// <directory>/log-<first index, 20 digits>    log segments, appended to
/// ```
///
/// Use: ``init(directory:options:)``, then ``load()`` once, then ``persist(snapshot:logWrite:hardState:sync:)``
/// with the durable part of every `RaftReady`: the `RaftPersistence` contract that the Raft
/// target declares. One thread at a time (the agent's Raft driver); not `Sendable`.
///
/// The directory is locked by the instance itself (an exclusive `flock` on `LOCK`, released
/// when the instance goes away or the process dies): a second agent on the same directory
/// would interleave appends and break the log, and the caller cannot forget a lock it is not
/// asked to take.
///
/// Log compaction is by segment: a segment is deleted once a durable snapshot covers its last
/// entry. That keeps the log within one segment (plus the entries after the snapshot) of what
/// Raft needs, without ever rewriting a file that holds live entries.
public final class RaftDisk: RaftPersistence {
    /// The directory.
    public let directory: String
    /// Sizes and limits.
    public let options: RaftDiskOptions
    /// What the last ``load()`` found and repaired.
    public internal(set) var recoveryReport = RaftDiskRecoveryReport()

    let lockDescriptor: Int32
    /// The log segments in index order; the last is the one appended to.
    var segments: [SegmentIndex] = []
    /// The open descriptor of the last segment, when there is one.
    var activeDescriptor: Int32?
    /// The durable snapshot's index and term, (0, 0) when none.
    var snapshotPoint: (index: LogIndex, term: Term) = (0, 0)
    var snapshotByteCount = 0
    /// The hard state last written to the file, and the slot sequence it carries.
    var writtenHardState = HardState()
    var hardStateSequence: UInt64 = 0
    /// A hard state that changed only its commit index in a Ready without sync: written with
    /// the next synced persist (losing it is safe, `HardState.commitIndex` is a hint).
    var deferredHardState: HardState?
    var hardStateDescriptor: Int32
    var loaded = false
    /// Set when a write failed; every later persist is refused.
    var failure: String?
    var counters = (persistCount: 0, syncCount: 0, writtenByteCount: 0)

    /// One segment's place in the log: where each of its entries starts and their terms.
    struct SegmentIndex {
        var firstIndex: LogIndex
        var byteCount: Int
        var offsets: [Int]
        var terms: [Term]

        var fileName: String { RaftDisk.segmentFileName(firstIndex: firstIndex) }
        var entryCount: Int { offsets.count }
        /// The index after the last entry (the first index when empty).
        var nextIndex: LogIndex { firstIndex + LogIndex(offsets.count) }
    }

    static let lockFileName = "LOCK"
    static let hardStateFileName = "hardstate"
    static let snapshotFileName = "snapshot"
    static let segmentPrefix = "log-"

    /// Opens `directory`, creating it (and the hard-state file) when missing, and locks it.
    ///
    /// - Throws: `locked` when another holder has the lock; `systemCall` for file system faults.
    public init(directory: String, options: RaftDiskOptions = RaftDiskOptions()) throws(RaftDiskError) {
        options.validate()
        self.directory = directory
        self.options = options
        let hardStatePath = directory + "/" + Self.hardStateFileName
        let lock: Int32
        let hardState: Int32
        do {
            if !FileIO.fileExists(directory) {
                try FileIO.makeDirectory(directory)
                try FileIO.syncDirectory(FileIO.parent(of: directory))
            }
            guard let descriptor = try FileIO.lockExclusively(directory + "/" + Self.lockFileName) else {
                throw RaftDiskError.locked(directory: directory)
            }
            lock = descriptor
            do {
                let created = !FileIO.fileExists(hardStatePath)
                hardState = try FileIO.open(hardStatePath, create: true)
                if created {
                    // Both slots blank: "never written". Sized once so a later write never
                    // changes the size (fdatasync then need not flush metadata).
                    try FileIO.truncate(hardState, to: RaftDiskFormat.hardStateFileByteCount, path: hardStatePath)
                    try FileIO.syncData(hardState, path: hardStatePath)
                    try FileIO.syncDirectory(directory)
                }
            } catch {
                FileIO.close(lock)
                throw error
            }
        } catch let error as RaftDiskError {
            throw error
        } catch let error as FileError {
            throw Self.translate(error)
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
        lockDescriptor = lock
        hardStateDescriptor = hardState
    }

    deinit {
        if let activeDescriptor { FileIO.close(activeDescriptor) }
        FileIO.close(hardStateDescriptor)
        FileIO.close(lockDescriptor)
    }

    /// The name of the segment whose first entry is `firstIndex`: fixed width, so names sort
    /// in index order.
    static func segmentFileName(firstIndex: LogIndex) -> String {
        let digits = String(firstIndex)
        return segmentPrefix + String(repeating: "0", count: 20 - digits.count) + digits
    }

    /// The first index a segment file name names, or nil for another file.
    static func parseSegmentFileName(_ name: String) -> LogIndex? {
        guard name.hasPrefix(segmentPrefix) else { return nil }
        let digits = name.dropFirst(segmentPrefix.count)
        guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return LogIndex(digits)
    }

    func path(_ name: String) -> String { directory + "/" + name }

    static func translate(_ error: FileError) -> RaftDiskError {
        switch error {
        case .systemCall(let operation, let path, let errno): .systemCall(operation: operation, path: path, errno: errno)
        case .tooLarge(let file, let count, let limit):
            .limitExceeded(file: file, reason: "\(count) bytes, more than the limit \(limit)")
        }
    }

    /// Runs a file system step, turning the storage seam's errors into ``RaftDiskError``.
    func io<R>(_ body: () throws(FileError) -> R) throws(RaftDiskError) -> R {
        do { return try body() } catch { throw Self.translate(error) }
    }

    /// Operator-facing figures.
    public var statistics: RaftDiskStatistics {
        RaftDiskStatistics(
            segmentCount: segments.count,
            logByteCount: segments.reduce(0) { $0 + $1.byteCount },
            snapshotByteCount: snapshotByteCount,
            hardStateByteCount: RaftDiskFormat.hardStateFileByteCount,
            entryCount: segments.reduce(0) { $0 + $1.entryCount },
            firstIndex: segments.first { $0.entryCount > 0 }?.firstIndex ?? 0,
            lastIndex: max(snapshotPoint.index, (segments.last?.nextIndex ?? 1) - 1),
            snapshotIndex: snapshotPoint.index,
            persistCount: counters.persistCount,
            syncCount: counters.syncCount,
            writtenByteCount: counters.writtenByteCount)
    }
}

/// Figures for an operator: what the disk holds and how much work writing it took.
public struct RaftDiskStatistics: Sendable, Equatable {
    /// Log segment files.
    public var segmentCount: Int
    /// Bytes of all log segments.
    public var logByteCount: Int
    /// Bytes of the snapshot file (0 when none).
    public var snapshotByteCount: Int
    /// Bytes of the hard-state file.
    public var hardStateByteCount: Int
    /// Entries in the segments, including those a snapshot covers that share a segment with
    /// later ones.
    public var entryCount: Int
    /// The first index held in a segment (0 when the log is empty).
    public var firstIndex: LogIndex
    /// The last index durable in the log or the snapshot.
    public var lastIndex: LogIndex
    /// The durable snapshot's index (0 when none).
    public var snapshotIndex: LogIndex
    /// Calls of ``RaftDisk/persist(snapshot:logWrite:hardState:sync:)`` since opening.
    public var persistCount: Int
    /// `fdatasync`/`fsync` calls since opening (atomic snapshot writes count two).
    public var syncCount: Int
    /// Bytes written since opening.
    public var writtenByteCount: Int

    /// Bytes the directory's files take.
    public var byteCount: Int { logByteCount + snapshotByteCount + hardStateByteCount }
}

/// What ``RaftDisk/load()`` found and repaired.
public struct RaftDiskRecoveryReport: Sendable, Equatable {
    /// The torn tail cut off (file, offset, bytes, why), if any: an append that never finished.
    public var tornTail: String?
    /// A damaged hard-state slot (the torn last write, normally), if any.
    public var damagedHardStateSlot: Int?
    /// Entries after the snapshot dropped because they do not continue it (a crash between
    /// persisting a snapshot that replaced the log and removing the old log).
    public var discardedEntryCount = 0
    /// Left-over files removed (`*.tmp` of an interrupted snapshot write, an empty segment).
    public var removedFiles: [String] = []
    /// Entries read from the segments.
    public var entryCount = 0

    public init() {}
}
