import Foundation
import Storage
@_exported import TestRandomness
import VelocyPack

/// A fresh directory under the system's temporary folder, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "tessera-storage-\(safe)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.removeItem(atPath: path)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// The names in the directory, sorted.
    var files: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

    var segmentFiles: [String] { files.filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") } }
}

/// Options for tests: no background threads (every step explicit) unless asked.
func testOptions(background: Bool = false, segmentBytes: Int = 1 << 20) -> ShardOptions {
    var options = ShardOptions()
    options.backgroundThreads = background
    options.segmentByteCountTarget = segmentBytes
    options.merkleLeafCountLog2 = 12
    return options
}

/// `{"_key": key, ...fields}` as a VelocyPack object.
func document(_ key: String, _ fields: [(String, Int)] = [], text: String? = nil) -> Slice {
    var builder = Builder()
    builder.openObject()
    builder.add(key: "_key", key)
    for (name, value) in fields { builder.add(key: name, value) }
    if let text { builder.add(key: "text", text) }
    try! builder.close()
    return builder.slice
}

func json(_ text: String) -> Slice { try! JSONParser.parse(text).slice }

func dumped(_ slice: Slice) -> String { try! JSONDumper.dumpString(slice) }

/// Overwrites bytes of a file in place.
func patchFile(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(bytes))
    try handle.close()
}

func fileBytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

func truncateFile(_ path: String, to size: Int) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    try handle.truncate(atOffset: UInt64(size))
    try handle.close()
}
