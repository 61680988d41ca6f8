/// An operating fault of the agent's Raft disk: a damaged file, a limit, a failed system call.
///
/// Every case has a stable ``code`` (from 1, never renumbered). Pure (no imports): the fuzz
/// build compiles it together with ``RaftDiskFormat``.
public enum RaftDiskError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed (errno).
    case systemCall(operation: String, path: String, errno: Int32)
    /// Another process (or another `RaftDisk` in this one) holds the directory's `LOCK`.
    case locked(directory: String)
    /// A log record that is not the torn tail is damaged: refused, because dropping it could
    /// lose committed entries.
    case corruptRecord(file: String, offset: Int, reason: String)
    /// A file header, the hard-state file or the snapshot file is damaged or of an unknown
    /// version.
    case corruptFile(file: String, reason: String)
    /// The records are intact but do not form a log: indexes not contiguous, terms that
    /// decrease, a segment whose name, header and first record disagree.
    case inconsistentLog(file: String, offset: Int, reason: String)
    /// A file is larger, or holds more, than ``RaftDiskOptions`` allows.
    case limitExceeded(file: String, reason: String)
    /// An earlier write failed (after a failed `fdatasync` nothing is known about the page
    /// cache); every later `persist` is refused until the directory is opened again.
    case failed(reason: String)

    /// A stable number for the case.
    public var code: Int {
        switch self {
        case .systemCall: 1
        case .locked: 2
        case .corruptRecord: 3
        case .corruptFile: 4
        case .inconsistentLog: 5
        case .limitExceeded: 6
        case .failed: 7
        }
    }

    public var description: String {
        switch self {
        case .systemCall(let operation, let path, let errno): "\(operation) \(path) failed: errno \(errno)"
        case .locked(let directory): "Raft directory \(directory) is in use by another process"
        case .corruptRecord(let file, let offset, let reason): "corrupt Raft log record in \(file) at offset \(offset): \(reason)"
        case .corruptFile(let file, let reason): "corrupt \(file): \(reason)"
        case .inconsistentLog(let file, let offset, let reason): "inconsistent Raft log in \(file) at offset \(offset): \(reason)"
        case .limitExceeded(let file, let reason): "\(file): \(reason)"
        case .failed(let reason): "Raft disk failed earlier: \(reason)"
        }
    }
}
