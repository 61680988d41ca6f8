import Foundation
import Testing
import TesseraPlatform
import VelocyPack
@testable import Storage

/// Damaged files: the engine recovers what is certain or refuses with file and offset.
@Suite("Storage corruption")
struct CorruptionTests {
    /// Writes `count` documents into small segments and closes (with a checkpoint) or not.
    static func populate(_ directory: TemporaryDirectory, count: Int, close: Bool = true) throws {
        let engine = try ShardEngine(directory: directory.path, options: testOptions(segmentBytes: 4096))
        for number in 0..<count {
            try engine.insert(document("d\(number)", [("n", number)], text: String(repeating: "abc", count: number % 30)))
        }
        if close { try engine.close() } else { try engine.sync() }
    }

    /// The offsets of the records in a segment file.
    static func recordOffsets(_ path: String) throws -> [Int] {
        let bytes = try fileBytes(path)
        var offsets: [Int] = []
        var position = 0
        while position < bytes.count, case .record(_, let count) = try LogRecord.decode(bytes[position...]) {
            offsets.append(position)
            position += count
        }
        return offsets
    }

    @Test func flippedByteInTheMiddleRefusesToOpenWithFileAndOffset() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try Self.populate(directory, count: 300)
        let segments = directory.segmentFiles
        #expect(segments.count >= 3)
        let victim = directory.path + "/" + segments[1]
        let offsets = try Self.recordOffsets(victim)
        let target = offsets[3]
        try patchFile(victim, at: target + 30, with: [0xee])
        do {
            _ = try ShardEngine(directory: directory.path, options: testOptions())
            Issue.record("a damaged log opened")
        } catch {
            guard case .corruptRecord(let file, let offset, _) = error else { Issue.record("\(error)"); return }
            #expect(file == victim && offset == target)
            #expect(error.errorNumber == 1102)
        }
        // Nothing was changed by the refusal.
        #expect(directory.segmentFiles == segments)

        // The operator allows the cut: everything before the damaged record stays.
        var options = testOptions()
        options.truncateAtCorruption = true
        let engine = try ShardEngine(directory: directory.path, options: options)
        #expect(engine.recoveryReport.truncatedCorruption != nil)
        #expect(!engine.recoveryReport.checkpointUsed, "the checkpoint covered the cut part")
        let before = try segments.prefix(1).reduce(0) { $0 + (try Self.recordOffsets(directory.path + "/" + $1).count) } + 3
        #expect(engine.count == before)
        for number in 0..<before { #expect(try engine.get("d\(number)") != nil) }
        #expect(try engine.get("d\(before)") == nil)
        #expect(directory.segmentFiles.count == 2)
        try engine.insert(document("new"))
        try engine.close()
        let reopened = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(reopened.count == before + 1)
        try reopened.close()
    }

    @Test func damageInTheLastSegmentWithValidRecordsAfterItIsCorruptionNotATornTail() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try Self.populate(directory, count: 40)
        let last = directory.path + "/" + directory.segmentFiles.last!
        let offsets = try Self.recordOffsets(last)
        #expect(offsets.count >= 3)
        try patchFile(last, at: offsets[0] + 4, with: [0x7f])  // kind byte
        #expect(throws: StorageError.self) { try ShardEngine(directory: directory.path, options: testOptions()) }
    }

    @Test func tornTailIsCutAtEverySplitPoint() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try Self.populate(directory, count: 25, close: false)
        let last = directory.path + "/" + directory.segmentFiles.last!
        let original = try fileBytes(last)
        let offsets = try Self.recordOffsets(last)
        let recordsBefore = 25 - offsets.count
        let lastStart = offsets[offsets.count - 1]
        for cut in stride(from: offsets[offsets.count - 2] + 1, to: original.count, by: 5) {
            try Data(original.prefix(cut)).write(to: URL(fileURLWithPath: last))
            let engine = try ShardEngine(directory: directory.path, options: testOptions())
            let whole = cut >= lastStart ? offsets.count - 1 : offsets.count - 2
            #expect(engine.count == recordsBefore + whole, "cut at \(cut)")
            #expect(engine.recoveryReport.tornTail != nil || offsets.contains(cut))
            #expect(try fileBytes(last).count == (cut >= lastStart ? lastStart : offsets[offsets.count - 2]))
            try engine.close()
            try FileManager.default.removeItem(atPath: directory.path + "/checkpoint")
        }
        // Zeros after the end (a file extended but never written) are a torn tail too.
        try Data(original + [UInt8](repeating: 0, count: 100)).write(to: URL(fileURLWithPath: last))
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(engine.count == 25 && engine.recoveryReport.tornTail != nil)
        try engine.close()
    }

    @Test func damagedOrMissingCheckpointFallsBackToTheLog() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try Self.populate(directory, count: 120)
        let checkpoint = directory.path + "/checkpoint"
        let bytes = try fileBytes(checkpoint)
        try patchFile(checkpoint, at: bytes.count / 2, with: [bytes[bytes.count / 2] ^ 0x10])
        var engine = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(!engine.recoveryReport.checkpointUsed)
        #expect(engine.recoveryReport.checkpointRejection?.contains("CRC32C") == true)
        #expect(engine.count == 120 && engine.recoveryReport.recordsReplayed == 120)
        try engine.close()
        #expect(try fileBytes(checkpoint) == bytes, "a fresh checkpoint replaced it, byte for byte the same")
        try FileManager.default.removeItem(atPath: checkpoint)
        engine = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(engine.count == 120 && !engine.recoveryReport.checkpointUsed)
        try Data(bytes.prefix(20)).write(to: URL(fileURLWithPath: checkpoint))  // torn checkpoint file
        try engine.sync()
        let again = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(again.count == 120 && again.recoveryReport.checkpointRejection != nil)
    }

    @Test func withoutVerificationOnlyTheTailIsReadAndDamageShowsOnRead() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try Self.populate(directory, count: 300)
        do {
            let engine = try ShardEngine(directory: directory.path, options: testOptions(segmentBytes: 4096))
            for number in 300..<320 { try engine.insert(document("d\(number)", [("n", number)])) }
            try engine.sync()
        }
        let victim = directory.path + "/" + directory.segmentFiles[1]
        let offset = try Self.recordOffsets(victim)[2]
        try patchFile(victim, at: offset + 40, with: [0x42])
        var options = testOptions()
        options.verifyCheckpointedLogOnOpen = false
        let engine = try ShardEngine(directory: directory.path, options: options)
        #expect(engine.recoveryReport.checkpointUsed)
        #expect(engine.recoveryReport.recordsVerified == 0 && engine.recoveryReport.recordsReplayed == 20)
        #expect(engine.count == 320)
        var corrupt = 0
        for number in 0..<320 {
            do { _ = try engine.get("d\(number)") } catch {
                guard case .corruptRecord(let file, let at, _) = error else { Issue.record("\(error)"); continue }
                #expect(file == victim && at == offset)
                corrupt += 1
            }
        }
        #expect(corrupt == 1)
        #expect(throws: StorageError.self, "the feed reads through the damaged record") {
            try engine.changes(after: 0, limit: 10_000)
        }
        try engine.close()
        // With verification (the default) the same shard refuses to open.
        #expect(throws: StorageError.self) { try ShardEngine(directory: directory.path, options: testOptions()) }
    }

    @Test func damagedIndexCatalogRefusesToOpen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        try engine.createIndex(IndexDefinition(name: "n", fields: ["n"]))
        try engine.close()
        try patchFile(directory.path + "/indexes", at: 10, with: [0xff])
        #expect(throws: StorageError.self) { try ShardEngine(directory: directory.path, options: testOptions()) }
    }

    @Test func leftoversOfInterruptedWorkAreRemoved() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try Self.populate(directory, count: 50)
        let first = directory.segmentFiles[0]
        // An unfinished compaction output and an unfinished checkpoint.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: directory.path + "/" + first.replacingOccurrences(of: ".00000000.", with: ".00000001.") + ".tmp"))
        try Data([4, 5]).write(to: URL(fileURLWithPath: directory.path + "/checkpoint.tmp"))
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(engine.count == 50)
        #expect(engine.recoveryReport.removedLeftovers.count == 2)
        #expect(!directory.files.contains { $0.hasSuffix(".tmp") })
        try engine.close()
    }
}

@Suite("Storage compaction")
struct CompactionTests {
    @Test func compactionKeepsEveryLiveDocumentAndShrinksTheLog() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions(segmentBytes: 8192))
        var expected: [String: Int] = [:]
        for number in 0..<1000 {
            try engine.insert(document("c\(number)", [("n", number)], text: String(repeating: "z", count: 50)))
            expected["c\(number)"] = number
        }
        for number in 0..<1000 where number % 4 != 0 {
            if number % 2 == 0 {
                try engine.replace("c\(number)", with: document("c\(number)", [("n", -number)]))
                expected["c\(number)"] = -number
            } else {
                try engine.remove("c\(number)")
                expected["c\(number)"] = nil
            }
        }
        let before = engine.statistics
        let report = try engine.compact()
        let after = engine.statistics
        #expect(report.segmentsCompacted > 0 && report.recordsDropped > 0)
        #expect(after.logByteCount < before.logByteCount)
        #expect(after.liveByteCount == before.liveByteCount)
        try ShardEngineTests.check(engine, expected)
        try engine.close()
        for dropCheckpoint in [false, true] {
            if dropCheckpoint { try FileManager.default.removeItem(atPath: directory.path + "/checkpoint") }
            let reopened = try ShardEngine(directory: directory.path, options: testOptions())
            #expect(reopened.recoveryReport.checkpointUsed == !dropCheckpoint)
            try ShardEngineTests.check(reopened, expected)
            try reopened.close()
        }
    }

    @Test func removalsStayRemovedAfterCompactionAndFullReplay() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions(segmentBytes: 4096))
        try engine.insert(document("ghost", text: "boo"))
        for number in 0..<60 { try engine.insert(document("fill\(number)", text: String(repeating: "f", count: 100))) }
        try engine.remove("ghost")
        for number in 0..<60 { try engine.remove("fill\(number)") }
        for number in 0..<60 { try engine.insert(document("late\(number)", text: String(repeating: "l", count: 100))) }
        try engine.compact(liveShareBelow: 1.01)
        try engine.close()
        try FileManager.default.removeItem(atPath: directory.path + "/checkpoint")
        let reopened = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(try reopened.get("ghost") == nil)
        #expect(reopened.count == 60)
        try reopened.close()
    }

    @Test func compactionDuringConcurrentWritesLosesNothing() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions(segmentBytes: 16384))
        let writers = 4, rounds = 300
        let final = Locked([String: Int]())
        let group = DispatchGroup()
        for writer in 0..<writers {
            group.enter()
            Thread {
                defer { group.leave() }
                for round in 0..<rounds {
                    let key = "w\(writer)-\(round % 50)"
                    if round < 50 {
                        _ = try? engine.insert(document(key, [("n", round)]))
                    } else {
                        _ = try? engine.replace(key, with: document(key, [("n", round)]))
                    }
                    final.withLock { $0[key] = round }
                }
            }.start()
        }
        var compactions = 0
        let deadline = Date().addingTimeInterval(20)
        while group.wait(timeout: .now()) == .timedOut && Date() < deadline {
            compactions += (try engine.compact(liveShareBelow: 0.9)).segmentsCompacted
        }
        group.wait()
        compactions += (try engine.compact(liveShareBelow: 0.9)).segmentsCompacted
        #expect(compactions > 0)
        let expected = final.withLock { $0 }
        try ShardEngineTests.check(engine, expected)
        try engine.close()
        try FileManager.default.removeItem(atPath: directory.path + "/checkpoint")
        let reopened = try ShardEngine(directory: directory.path, options: testOptions())
        try ShardEngineTests.check(reopened, expected)
        try reopened.close()
    }
}
