#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VelocyPack

/// The secret every role of a cluster shares and signs its internal JSON Web Tokens with,
/// kept in a file of its own (like ArangoDB's `--server.jwt-secret-keyfile`).
///
/// The file holds the secret as text; a trailing newline (LF or CRLF) is not part of it.
/// ``generate(path:)`` writes 64 random bytes as 128 hex digits.
public struct ClusterSecret: Sendable, Equatable {
    /// The fewest bytes a secret may have: 256 bits, the HMAC-SHA256 key size (RFC 7518 §3.2
    /// requires a key at least as long as the hash output).
    public static let byteCountMin = 32
    /// The most bytes read from a secret file; a larger file is not a secret file.
    public static let fileByteCountMax = 4096
    /// The random bytes behind a generated secret.
    public static let generatedRandomByteCount = 64

    /// The secret, the HMAC key for ``JSONWebToken``.
    public let bytes: [UInt8]

    /// A secret from its bytes.
    /// - Throws: ``ClusterSecretError/empty`` or ``ClusterSecretError/tooShort(byteCount:)``.
    public init(bytes: [UInt8]) throws(ClusterSecretError) {
        guard !bytes.isEmpty else { throw .empty }
        guard bytes.count >= Self.byteCountMin else { throw .tooShort(byteCount: bytes.count) }
        self.bytes = bytes
    }

    /// A secret loaded from a file, and whether the file's mode lets others read it.
    public struct Loaded: Sendable, Equatable {
        public let secret: ClusterSecret
        /// The file is readable by its group or by others; the caller should warn (refusing
        /// would stop a cluster whose files an operator manages on purpose through groups).
        public let isReadableByOthers: Bool
    }

    /// Reads the secret from `path`.
    /// - Throws: ``ClusterSecretError`` when the file cannot be read, is too large, or holds
    ///   an empty or too short secret.
    public static func load(path: String) throws(ClusterSecretError) -> Loaded {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .systemCall("open", path: path, errno: errno) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .systemCall("fstat", path: path, errno: errno) }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .systemCall("read", path: path, errno: errno)
            }
            if count == 0 { break }
            contents += buffer[0..<count]
            guard contents.count <= fileByteCountMax else { throw .fileTooLarge(path: path) }
        }
        let secret = try ClusterSecret(bytes: withoutTrailingNewline(contents))
        return Loaded(secret: secret, isReadableByOthers: status.st_mode & (S_IRGRP | S_IROTH) != 0)
    }

    /// Makes a new secret from the system's random generator and writes it to `path` with mode
    /// 0600, replacing any file there.
    ///
    /// Written to a temporary file next to `path`, flushed, then renamed over `path` and the
    /// directory flushed, so a crash leaves either the old file or the complete new one.
    /// - Throws: ``ClusterSecretError/systemCall(_:path:errno:)`` when a step fails.
    public static func generate(path: String) throws(ClusterSecretError) -> ClusterSecret {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<generatedRandomByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let secret = try ClusterSecret(bytes: Array(Hex.encode(random).utf8))
        try writeAtomically(secret.bytes + [UInt8(ascii: "\n")], to: path)
        return secret
    }

    static func withoutTrailingNewline(_ contents: [UInt8]) -> [UInt8] {
        var end = contents.endIndex
        if end > 0, contents[end - 1] == UInt8(ascii: "\n") { end -= 1 }
        if end > 0, contents[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return Array(contents[..<end])
    }

    static func writeAtomically(_ contents: [UInt8], to path: String) throws(ClusterSecretError) {
        let temporaryPath = "\(path).tmp-\(getpid())"
        // O_EXCL: never write through a file or link someone else left at the temporary name.
        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .systemCall("open", path: temporaryPath, errno: errno) }
        var renamed = false
        defer { if !renamed { unlink(temporaryPath) } }
        do throws(ClusterSecretError) {
            // The umask can only clear bits of 0600, but a set-group-ID directory or ACL could
            // add some; set the mode explicitly.
            guard fchmod(descriptor, 0o600) == 0 else { throw .systemCall("fchmod", path: temporaryPath, errno: errno) }
            var written = 0
            while written < contents.count {
                let count = contents.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw .systemCall("write", path: temporaryPath, errno: errno)
                }
                written += count
            }
            guard fsync(descriptor) == 0 else { throw .systemCall("fsync", path: temporaryPath, errno: errno) }
        } catch {
            close(descriptor)
            throw error
        }
        guard close(descriptor) == 0 else { throw .systemCall("close", path: temporaryPath, errno: errno) }
        guard rename(temporaryPath, path) == 0 else { throw .systemCall("rename", path: path, errno: errno) }
        renamed = true
        try syncDirectory(of: path)
    }

    /// Flushes the directory entry the rename changed, so the new name survives a power loss.
    static func syncDirectory(of path: String) throws(ClusterSecretError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .systemCall("open", path: directory, errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw .systemCall("fsync", path: directory, errno: errno) }
    }
}

/// Why a cluster secret could not be loaded or written.
public enum ClusterSecretError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is empty, or holds only a newline.
    case empty
    /// The secret is shorter than ``ClusterSecret/byteCountMin``.
    case tooShort(byteCount: Int)
    /// The file is larger than ``ClusterSecret/fileByteCountMax``.
    case fileTooLarge(path: String)
    /// A system call failed.
    case systemCall(String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .empty: "the cluster secret is empty"
        case let .tooShort(byteCount):
            "the cluster secret has \(byteCount) bytes; at least \(ClusterSecret.byteCountMin) are required"
        case let .fileTooLarge(path):
            "the cluster secret file \(path) is larger than \(ClusterSecret.fileByteCountMax) bytes"
        case let .systemCall(call, path, code):
            "\(call) \(path): \(String(cString: strerror(code)))"
        }
    }
}
