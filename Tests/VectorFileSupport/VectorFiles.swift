#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the JSON-lines golden-vector files under `Protocol/vectors/` for the test suites.
/// Only the file handling lives here; each suite parses its own line format.
public enum VectorFiles {
    /// One non-empty line of a vector file with its `file:line` location.
    public struct Line: Sendable {
        public let location: String
        public let bytes: [UInt8]
    }

    /// The non-empty lines of `directory/file`, or `nil` when the file cannot be read.
    public static func lines(of file: String, in directory: String) -> [Line]? {
        guard let bytes = read(directory + "/" + file) else { return nil }
        var lines: [Line] = []
        for (index, line) in bytes.split(separator: 0x0a, omittingEmptySubsequences: false).enumerated()
        where !line.isEmpty {
            lines.append(Line(location: "\(file):\(index + 1)", bytes: Array(line)))
        }
        return lines
    }

    /// The whole file at `path`, or `nil` when it cannot be read.
    public static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes.append(contentsOf: chunk[0..<count])
            if count < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }
}
