#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A server's data directory, created when missing and locked for the life of the process so
/// that two servers never write the same files.
public final class DataDirectory: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let path: String
    /// The open `LOCK` file; the lock goes with the descriptor when the process ends, however
    /// it ends.
    let lockDescriptor: Int32

    /// Creates `path` (and missing parents) and takes its lock.
    public init(path: String) throws(Failure) {
        self.path = path
        try Self.makeDirectories(path)
        let lockPath = path + "/LOCK"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw Failure(description: "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno == EWOULDBLOCK ? "it is in use by another tessera process" : String(cString: strerror(errno))
            close(descriptor)
            throw Failure(description: "cannot lock data directory \(path): \(reason)")
        }
        lockDescriptor = descriptor
    }

    deinit { close(lockDescriptor) }

    static func makeDirectories(_ path: String) throws(Failure) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw Failure(description: "cannot create directory \(prefix): \(String(cString: strerror(errno)))")
            }
            prefix += "/"
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw Failure(description: "\(path) is not a directory")
        }
    }
}
