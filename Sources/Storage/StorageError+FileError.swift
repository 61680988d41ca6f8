import TesseraPlatform

extension StorageError {
    /// The storage error for a failed file system call of the platform seam.
    init(_ error: FileError) {
        switch error {
        case .systemCall(let operation, let path, let errno): self = .systemCall(operation: operation, path: path, errno: errno)
        case .tooLarge(let path, let count, let limit):
            self = .corruptMetadata(file: path, reason: "\(count) bytes, more than the limit \(limit)")
        }
    }
}

/// Runs one call of the platform's file seam (`try io(FileIO.write(…))`), reporting its
/// failure as a ``StorageError``.
@inline(__always)
func io<R>(_ call: @autoclosure () throws(FileError) -> R) throws(StorageError) -> R {
    do { return try call() } catch { throw StorageError(error) }
}
