#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TesseraPlatform
import Logging

/// Small durable files beside the shards: catalogs, secrets, settings. The layers above use
/// these instead of their own system calls, so every file the server keeps is written the
/// same crash-safe way (temporary file, data sync, rename, directory sync).
public enum MetadataFiles {
    /// Replaces `path` with `bytes` atomically; after a crash the file holds the old or the
    /// new bytes, never a mix.
    public static func write(_ bytes: [UInt8], to path: String) throws(StorageError) {
        try io(FileIO.writeAtomically(bytes, to: path, directory: parent(of: path)))
    }

    /// The whole file, at most `byteCountMax` bytes; `nil` when it does not exist.
    public static func read(_ path: String, byteCountMax: Int) throws(StorageError) -> [UInt8]? {
        guard FileIO.fileExists(path) else { return nil }
        return try io(FileIO.readWholeFile(path, byteCountMax: byteCountMax))
    }

    /// Creates the directory and its parents when missing.
    public static func makeDirectory(_ path: String) throws(StorageError) {
        try io(FileIO.makeDirectory(path))
    }

    /// The names in a directory, sorted; empty when it does not exist.
    public static func list(_ path: String) throws(StorageError) -> [String] {
        guard FileIO.fileExists(path) else { return [] }
        return try io(FileIO.list(path))
    }

    /// Removes a directory and everything below it (no symbolic links are followed); a
    /// missing directory is not an error.
    public static func removeTree(_ path: String) throws(StorageError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw StorageError(FileIO.failure("lstat", path))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try io(FileIO.list(path)) { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 || errno == ENOENT else { throw StorageError(FileIO.failure("rmdir", path)) }
        } else {
            try io(FileIO.remove(path))
        }
    }

    /// Bytes the files below `path` take (their sizes, not their blocks).
    public static func byteCount(below path: String) -> Int {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return Int(info.st_size) }
        // A figure for operators: a directory that cannot be listed counts as empty, said once
        // in the log rather than failing the figure.
        let names: [String]
        do { names = try FileIO.list(path) } catch {
            ShardEngine.log.warning("cannot list \(path) for its size: \(error)")
            names = []
        }
        return names.reduce(0) { $0 + byteCount(below: path + "/" + $1) }
    }

    package static func parent(of path: String) -> String { FileIO.parent(of: path) }
}
