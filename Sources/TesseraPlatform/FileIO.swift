#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file system call, or a file larger than its reader allows.
public enum FileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The call, the path it was about and `errno`.
    case systemCall(operation: String, path: String, errno: Int32)
    /// `readWholeFile` found more bytes than its limit.
    case tooLarge(path: String, byteCount: Int, limit: Int)

    public var description: String {
        switch self {
        case .systemCall(let operation, let path, let errno): "\(operation) \(path) failed: errno \(errno)"
        case .tooLarge(let path, let count, let limit): "\(path): \(count) bytes, more than the limit \(limit)"
        }
    }
}

/// The one seam through which the storage layers (the shard engine, the agent's Raft disk,
/// the catalog) make file system calls. Each failure is a ``FileError`` with the operation,
/// the path and `errno`; short reads and writes are retried until done.
public enum FileIO {
    /// The failure of `operation` on `path`, with the current `errno`.
    public static func failure(_ operation: String, _ path: String) -> FileError {
        .systemCall(operation: operation, path: path, errno: errno)
    }

    /// Opens (and with `create`, creates) a file for reading and writing.
    public static func open(_ path: String, create: Bool) throws(FileError) -> Int32 {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        while true {
            let descriptor = Glibc.open(path, flags, 0o644)
            if descriptor >= 0 { return descriptor }
            if errno != EINTR { throw failure("open", path) }
        }
    }

    public static func close(_ descriptor: Int32) {
        _ = Glibc.close(descriptor)
    }

    /// Writes all of `bytes` at `offset`.
    public static func write(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(FileError) {
        var done = 0
        while done < bytes.count {
            let written = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if written < 0 {
                if errno == EINTR { continue }
                throw failure("pwrite", path)
            }
            done += written
        }
    }

    public static func write(_ descriptor: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(FileError) {
        let result: Result<Void, FileError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(FileError) in try write(descriptor, buffer, at: offset, path: path) }
        }
        try result.get()
    }

    /// Reads up to `count` bytes at `offset` (fewer only at the end of the file).
    public static func read(_ descriptor: Int32, count: Int, at offset: Int, path: String) throws(FileError) -> [UInt8] {
        var failed = false
        // Uninitialized: the buffer is filled by pread, and only what it filled counts.
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            var done = 0
            while done < count {
                let got = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if got < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    break
                }
                if got == 0 { break }
                done += got
            }
            initializedCount = failed ? 0 : done
        }
        if failed { throw failure("pread", path) }
        return bytes
    }

    /// Maps the whole file read-only (nil for an empty file).
    public static func mapReadOnly(_ descriptor: Int32, path: String) throws(FileError) -> UnsafeRawBufferPointer? {
        let size = try self.size(descriptor, path: path)
        guard size > 0 else { return nil }
        guard let address = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0), address != MAP_FAILED else {
            throw failure("mmap", path)
        }
        return UnsafeRawBufferPointer(start: address, count: size)
    }

    public static func unmap(_ mapping: UnsafeRawBufferPointer) {
        _ = munmap(UnsafeMutableRawPointer(mutating: mapping.baseAddress), mapping.count)
    }

    /// Test seam: paths (by prefix) whose data syncs fail with the given errno, so tests can
    /// show what a failed `fdatasync` does to the engine. Empty in production.
    package static let injectedSyncFailures = Locked([String: Int32]())

    /// Makes the file's data (and its size) durable.
    public static func syncData(_ descriptor: Int32, path: String) throws(FileError) {
        let injected = injectedSyncFailures.withLock { failures in
            failures.first { path.hasPrefix($0.key) }?.value
        }
        if let injected { throw .systemCall(operation: "fdatasync", path: path, errno: injected) }
        while fdatasync(descriptor) != 0 {
            if errno != EINTR { throw failure("fdatasync", path) }
        }
    }

    /// Makes the directory's entries durable: needed after a file is created, renamed or
    /// removed in it.
    public static func syncDirectory(_ path: String) throws(FileError) {
        let descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open directory", path) }
        defer { _ = Glibc.close(descriptor) }
        while fsync(descriptor) != 0 {
            if errno != EINTR { throw failure("fsync directory", path) }
        }
    }

    public static func size(_ descriptor: Int32, path: String) throws(FileError) -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure("fstat", path) }
        return Int(status.st_size)
    }

    public static func truncate(_ descriptor: Int32, to byteCount: Int, path: String) throws(FileError) {
        guard ftruncate(descriptor, off_t(byteCount)) == 0 else { throw failure("ftruncate", path) }
    }

    public static func rename(_ from: String, _ to: String) throws(FileError) {
        guard Glibc.rename(from, to) == 0 else { throw failure("rename to \(to)", from) }
    }

    public static func remove(_ path: String) throws(FileError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw failure("unlink", path) }
    }

    public static func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Creates the directory and its parents when missing.
    public static func makeDirectory(_ path: String) throws(FileError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw failure("mkdir", prefix) }
        }
    }

    /// The names in a directory (without `.` and `..`), sorted.
    public static func list(_ path: String) throws(FileError) -> [String] {
        guard let directory = opendir(path) else { throw failure("opendir", path) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The directory that holds `path` ("." for a bare name).
    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Writes a whole small file atomically: temporary file, data sync, rename, directory sync.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, directory: String) throws(FileError) {
        let temporary = path + ".tmp"
        let descriptor = try open(temporary, create: true)
        do {
            try truncate(descriptor, to: 0, path: temporary)
            try write(descriptor, bytes, at: 0, path: temporary)
            try syncData(descriptor, path: temporary)
        } catch {
            close(descriptor)
            throw error
        }
        close(descriptor)
        try rename(temporary, path)
        try syncDirectory(directory)
    }

    /// The whole content of a file, at most `byteCountMax` bytes (more is an error).
    public static func readWholeFile(_ path: String, byteCountMax: Int) throws(FileError) -> [UInt8] {
        let descriptor = try open(path, create: false)
        defer { close(descriptor) }
        let size = try self.size(descriptor, path: path)
        guard size <= byteCountMax else {
            throw .tooLarge(path: path, byteCount: size, limit: byteCountMax)
        }
        return try read(descriptor, count: size, at: 0, path: path)
    }

    /// Opens (creating it) `path` and takes an exclusive `flock` on it without waiting; nil
    /// when another open file description holds it. The lock lasts until the descriptor is
    /// closed, however the process ends.
    public static func lockExclusively(_ path: String) throws(FileError) -> Int32? {
        let descriptor = try open(path, create: true)
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            if code == EWOULDBLOCK { return nil }
            throw .systemCall(operation: "flock", path: path, errno: code)
        }
        return descriptor
    }
}
