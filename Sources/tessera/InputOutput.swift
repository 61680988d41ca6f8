#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and buffered writes with the C library: no Foundation, and large files are
/// read with a few big `read` calls so the tools do not lose the library's speed to I/O.
enum InputOutput {
    /// A failure to read or write, with the path and the system's reason.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads all of `path`, or standard input when `path` is nil or "-".
    static func readAll(_ path: String?) throws -> [UInt8] {
        let descriptor: Int32
        if let path, path != "-" {
            descriptor = open(path, O_RDONLY)
            guard descriptor >= 0 else {
                throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))")
            }
        } else {
            descriptor = STDIN_FILENO
        }
        defer { if descriptor != STDIN_FILENO { close(descriptor) } }
        var bytes: [UInt8] = []
        var stats = stat()
        if fstat(descriptor, &stats) == 0 && (stats.st_mode & S_IFMT) == S_IFREG {
            bytes.reserveCapacity(Int(stats.st_size) + 1)
        }
        let chunk = 1 << 20
        while true {
            let before = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: chunk))
            let got = bytes.withUnsafeMutableBufferPointer { read(descriptor, $0.baseAddress! + before, chunk) }
            if got < 0 {
                if errno == EINTR { bytes.removeSubrange(before...); continue }
                throw Failure(description: "cannot read \(path ?? "standard input"): \(String(cString: strerror(errno)))")
            }
            bytes.removeSubrange((before + got)...)
            if got == 0 { return bytes }
        }
    }

    /// Writes all bytes to standard output.
    static func writeStandardOutput(_ bytes: [UInt8]) throws {
        try writeAll(bytes, to: STDOUT_FILENO)
    }

    /// Writes a line to standard error.
    static func writeStandardError(_ line: String) {
        try? writeAll(Array((line + "\n").utf8), to: STDERR_FILENO)
    }

    static func writeAll(_ bytes: [UInt8], to descriptor: Int32) throws {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBufferPointer { write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot write: \(String(cString: strerror(errno)))")
            }
            written += result
        }
    }
}
