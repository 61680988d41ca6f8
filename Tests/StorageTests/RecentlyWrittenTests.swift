import Testing
import VelocyPack
@testable import Storage

/// The window of recently written bytes that serves reads without `pread`: it must hold
/// exactly the file's bytes at their offsets, and reads through it must never see a
/// document's old version after an update, a removal, a truncation, a rotation, a compaction
/// or a restart.
@Suite("Recently written bytes")
struct RecentlyWrittenTests {
    static func location(_ order: UInt64, _ offset: Int, _ byteCount: Int) -> DocumentLocation {
        DocumentLocation(segmentOrder: order, offset: offset, byteCount: byteCount, revision: 1)
    }

    @Test func holdsContiguousWritesAtTheirOffsets() {
        var window = RecentlyWrittenBytes()
        window.append([1, 2, 3], at: 100, segmentOrder: 7, byteCountMax: 64)
        window.append([4, 5], at: 103, segmentOrder: 7, byteCountMax: 64)
        #expect(window.record(at: Self.location(7, 100, 5)) == [1, 2, 3, 4, 5])
        #expect(window.record(at: Self.location(7, 102, 2)) == [3, 4])
        #expect(window.record(at: Self.location(7, 99, 2)) == nil, "starts before the window")
        #expect(window.record(at: Self.location(7, 104, 2)) == nil, "ends after the window")
        #expect(window.record(at: Self.location(8, 100, 1)) == nil, "another segment")
    }

    @Test func aGapOrAnotherSegmentRestartsTheWindow() {
        var window = RecentlyWrittenBytes()
        window.append([1, 2, 3], at: 0, segmentOrder: 1, byteCountMax: 64)
        window.append([9], at: 10, segmentOrder: 1, byteCountMax: 64)
        #expect(window.record(at: Self.location(1, 0, 1)) == nil)
        #expect(window.record(at: Self.location(1, 10, 1)) == [9])
        window.append([8], at: 11, segmentOrder: 2, byteCountMax: 64)
        #expect(window.record(at: Self.location(1, 10, 1)) == nil)
        #expect(window.record(at: Self.location(2, 11, 1)) == [8])
    }

    @Test func outgrowingTheLimitDropsTheOldestBytesOnly() {
        var window = RecentlyWrittenBytes()
        var fileOffset = 0
        for value in 0..<100 {
            window.append([UInt8(value), UInt8(value)], at: fileOffset, segmentOrder: 3, byteCountMax: 16)
            fileOffset += 2
            #expect(window.bytes.count <= 16)
            // The newest write is always there, at its own offset.
            #expect(window.record(at: Self.location(3, fileOffset - 2, 2)) == [UInt8(value), UInt8(value)])
            // Whatever the window holds is what was written at that offset.
            for held in stride(from: window.offset, to: window.offset + window.bytes.count, by: 2) {
                #expect(window.record(at: Self.location(3, held, 2)) == [UInt8(held / 2), UInt8(held / 2)])
            }
        }
        window.append(Array(repeating: 1, count: 17), at: fileOffset, segmentOrder: 3, byteCountMax: 16)
        #expect(window.bytes.isEmpty, "a write larger than the limit is not kept")
    }

    @Test func aZeroLimitKeepsNothing() {
        var window = RecentlyWrittenBytes()
        window.append([1], at: 0, segmentOrder: 1, byteCountMax: 0)
        #expect(window.record(at: Self.location(1, 0, 1)) == nil)
    }

    @Test func recentRecordsAreReadFromMemory() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        defer { try? engine.close() }
        _ = try engine.insert(document("a", [("v", 1)]))
        let source = engine.state.withLock { state in state.source(of: state.documents["a"]!) }
        guard case .memory = source else {
            Issue.record("a record just written is read from the file")
            return
        }
        #expect(dumped(try #require(try engine.get("a")).document) == #"{"_key":"a","v":1}"#)
    }

    /// A model of the shard (key → value) next to an engine with a tiny window and tiny
    /// segments, so reads come from pending bytes, the window, the active file, sealed
    /// mappings and compacted files in turn; every key is read after every operation.
    @Test(arguments: [0, 300, 1 << 20])
    func readsNeverSeeAnOldVersion(windowByteCountMax: Int) throws {
        let directory = TemporaryDirectory("readsNeverSeeAnOldVersion\(windowByteCountMax)")
        defer { directory.remove() }
        var options = testOptions(segmentBytes: 4096)
        options.recentlyWrittenByteCountMax = windowByteCountMax
        var engine = try ShardEngine(directory: directory.path, options: options)
        var model: [String: Int] = [:]
        var random = SeededGenerator(seed: 18 &+ UInt64(windowByteCountMax))
        let keys = (0..<12).map { "k\($0)" }

        func checkEveryKey(_ step: String) throws {
            for key in keys {
                let stored = try engine.get(key)
                if let value = model[key] {
                    let text = dumped(try #require(stored, "\(step): \(key) missing").document)
                    #expect(text == #"{"_key":"\#(key)","v":\#(value)}"#, "\(step): \(key)")
                } else {
                    #expect(stored == nil, "\(step): \(key) should be gone")
                }
            }
        }

        for step in 0..<400 {
            let key = keys[Int.random(in: 0..<keys.count, using: &random)]
            let value = step
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<55:
                if model[key] == nil {
                    _ = try engine.insert(document(key, [("v", value)]))
                } else {
                    _ = try engine.replace(key, with: document(key, [("v", value)]))
                }
                model[key] = value
            case 55..<80:
                if model[key] != nil {
                    _ = try engine.remove(key)
                    model[key] = nil
                }
            case 80..<85:
                _ = try engine.truncate()
                model.removeAll()
            case 85..<92:
                _ = try engine.compact(liveShareBelow: 1.0)
            case 92..<96:
                // Deferred hand-off: the record stays in the pending bytes until written out.
                var writeOptions = WriteOptions()
                writeOptions.defersFileWrite = true
                if model[key] == nil {
                    _ = try engine.insert(document(key, [("v", value)]), options: writeOptions)
                } else {
                    _ = try engine.replace(key, with: document(key, [("v", value)]), options: writeOptions)
                }
                model[key] = value
                try checkEveryKey("step \(step) before write-out")
                try engine.writeOut()
            default:
                try engine.close()
                engine = try ShardEngine(directory: directory.path, options: options)
            }
            try checkEveryKey("step \(step)")
        }
        try engine.close()
        engine = try ShardEngine(directory: directory.path, options: options)
        try checkEveryKey("after a restart")
        try engine.close()
    }
}
