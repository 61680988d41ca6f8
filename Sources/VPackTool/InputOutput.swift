#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and buffered writes with the C library: no Foundation, and large files are
/// read with a few big `read` calls so the tools do not lose the library's speed to I/O.
public enum InputOutput {
    /// A failure to read or write, with the path and the system's reason.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String

        public init(description: String) { self.description = description }
    }

    /// Reads all of `path`, or standard input when `path` is nil or "-".
    public static func readAll(_ path: String?) throws -> [UInt8] {
        let reader = try FileReader(path)
        defer { reader.close() }
        var bytes: [UInt8] = []
        if let size = reader.regularFileByteCount {
            // A regular file is read straight into the array's storage, without zero-filling
            // it first; one byte more than its size shows whether it grew meanwhile.
            bytes = try [UInt8](unsafeUninitializedCapacity: size + 1) { buffer, initializedCount in
                while initializedCount < buffer.count {
                    let got = try reader.read(into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[initializedCount...])))
                    if got == 0 { return }
                    initializedCount += got
                }
            }
            if bytes.count <= size { return bytes }
        }
        while try reader.read(appendingTo: &bytes, upTo: 1 << 20) > 0 {}
        return bytes
    }

    /// Opens `path` with `flags` (new files get mode 644), or names `standard` when `path` is
    /// nil or "-"; a failure says what could not be done (`verb`) and why.
    static func open(_ path: String?, flags: Int32, verb: String, standard: (Int32, String)) throws -> (Int32, String) {
        guard let path, path != "-" else { return standard }
        let descriptor = systemOpen(path, flags, 0o644)
        guard descriptor >= 0 else {
            throw Failure(description: "cannot \(verb) \(path): \(String(cString: strerror(errno)))")
        }
        return (descriptor, path)
    }

    /// Whether standard error is a terminal (progress bars go there; logs get plain lines).
    public static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    /// A file or standard input read in chunks, for input too large to hold at once.
    public struct FileReader {
        public let descriptor: Int32
        public let name: String
        /// The file's size when it is a regular file (for progress); nil for pipes and terminals.
        public let regularFileByteCount: Int?

        /// Opens `path`, or standard input when `path` is nil or "-".
        public init(_ path: String?) throws {
            (descriptor, name) = try InputOutput.open(path, flags: O_RDONLY, verb: "open",
                                                      standard: (STDIN_FILENO, "standard input"))
            var stats = stat()
            let isRegular = fstat(descriptor, &stats) == 0 && (stats.st_mode & S_IFMT) == S_IFREG
            regularFileByteCount = isRegular ? Int(stats.st_size) : nil
        }

        /// Reads up to `buffer.count` bytes into `buffer`; returns how many (0 at the end of input).
        public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            while true {
                let got = systemRead(descriptor, buffer.baseAddress!, buffer.count)
                if got < 0 && errno == EINTR { continue }
                guard got >= 0 else {
                    throw Failure(description: "cannot read \(name): \(String(cString: strerror(errno)))")
                }
                return got
            }
        }

        /// Appends up to `count` bytes to `bytes`; returns how many (0 at the end of input).
        public func read(appendingTo bytes: inout [UInt8], upTo count: Int) throws -> Int {
            let before = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: count))
            while true {
                let got = bytes.withUnsafeMutableBufferPointer { systemRead(descriptor, $0.baseAddress! + before, count) }
                if got < 0 && errno == EINTR { continue }
                guard got >= 0 else {
                    bytes.removeSubrange(before...)
                    throw Failure(description: "cannot read \(name): \(String(cString: strerror(errno)))")
                }
                bytes.removeSubrange((before + got)...)
                return got
            }
        }

        public func close() {
            if descriptor != STDIN_FILENO { _ = systemClose(descriptor) }
        }
    }

    /// Where a tool writes its result: a file it creates (or truncates), or standard output
    /// when the path is nil or "-".
    public struct OutputFile {
        public let descriptor: Int32
        public let name: String

        public init(_ path: String?) throws {
            (descriptor, name) = try InputOutput.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, verb: "create",
                                                      standard: (STDOUT_FILENO, "standard output"))
        }

        public func write(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBufferPointer { try write($0) }
        }

        public func write(_ bytes: UnsafeBufferPointer<UInt8>) throws {
            do {
                try writeAll(bytes, to: descriptor)
            } catch let failure as Failure {
                throw Failure(description: "\(name): \(failure.description)")
            }
        }

        /// Closes a created file; a failure here (a full disk reported late) is an error.
        public func close() throws {
            guard descriptor != STDOUT_FILENO else { return }
            guard systemClose(descriptor) == 0 else {
                throw Failure(description: "cannot close \(name): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Writes all bytes to standard output.
    public static func writeStandardOutput(_ bytes: [UInt8]) throws {
        try writeAll(bytes, to: STDOUT_FILENO)
    }

    /// Writes a line to standard error.
    public static func writeStandardError(_ line: String) {
        try? writeAll(Array((line + "\n").utf8), to: STDERR_FILENO)
    }

    /// Writes all bytes to standard output.
    public static func writeStandardOutput(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        try writeAll(bytes, to: STDOUT_FILENO)
    }

    public static func writeAll(_ bytes: [UInt8], to descriptor: Int32) throws {
        try bytes.withUnsafeBufferPointer { try writeAll($0, to: descriptor) }
    }

    public static func writeAll(_ bytes: UnsafeBufferPointer<UInt8>, to descriptor: Int32) throws {
        var written = 0
        while written < bytes.count {
            let result = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot write: \(String(cString: strerror(errno)))")
            }
            written += result
        }
    }
}

// The C library's `open`, `read` and `close`, reachable from types that have methods of those names.
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    open(path, flags, mode)
}

private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

private func systemClose(_ descriptor: Int32) -> Int32 {
    close(descriptor)
}
