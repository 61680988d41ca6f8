import Foundation
import Testing
import TesseraProcessSupport
import VelocyPack
import Replication
@testable import Storage

/// Real processes killed with SIGKILL while writing with `waitForSync`: after every crash,
/// each acknowledged write is there and nothing half-written is visible.
///
/// The victim is `tessera debug storage-writer` (Sources/tessera/DebugStorageWriter.swift):
/// 4 threads of inserts, replaces and removes, small segments, frequent checkpoints and
/// background compaction. All rounds share one shard directory, so each round also recovers
/// what the previous crashes left. Every round's seed and kill delay are printed on failure.
@Suite("Storage crash", .serialized)
struct CrashTests {
    static let rounds = 14


    /// What a key may look like after a crash.
    enum KeyState: Equatable {
        case absent
        case present(version: Int)
    }

    struct KeyHistory {
        var acknowledged: KeyState = .absent
        /// An operation begun but not acknowledged: it may or may not have happened.
        var inFlight: KeyState?
        var allowed: [KeyState] { [acknowledged] + (inFlight.map { [$0] } ?? []) }
    }

    /// The writer's document for (key, version); see `StorageWriter.document`.
    static func expectedPayload(key: String, version: Int) -> String {
        String(repeating: "\(key)/\(version);", count: 1 + (version * 7 + key.utf8.count) % 40)
    }

    static func parse(_ output: String, into histories: inout [String: KeyHistory]) throws {
        for line in output.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ")
            if fields.first == "E" { throw CrashTestFailure("writer reported: \(line)") }
            guard fields.count == 4 else { continue }
            let key = String(fields[2])
            let state: KeyState = fields[1] == "D" ? .absent : .present(version: Int(fields[3])!)
            switch fields[0] {
            case "B": histories[key, default: KeyHistory()].inFlight = state
            case "A":
                histories[key, default: KeyHistory()].acknowledged = state
                histories[key]!.inFlight = nil
            default: continue
            }
        }
    }

    struct CrashTestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    @Test func acknowledgedWritesSurviveKillNine() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var histories: [String: KeyHistory] = [:]
        var random = SeededGenerator(seed: 2026)
        var acknowledgedTotal = 0
        for round in 0..<Self.rounds {
            let seed = UInt64(round + 1)
            let delayMilliseconds = 5 + Int(random.next() % 300)
            let context = "round \(round), seed \(seed), kill after \(delayMilliseconds) ms"
            let outputPath = directory.path + "-round\(round).out"
            defer { try? FileManager.default.removeItem(atPath: outputPath) }
            let ending = try CrashRun.runAndKill(["debug", "storage-writer", "--directory", directory.path, "--seed", "\(seed)",
                                 "--threads", "4", "--operations", "100000", "--prefix", "r\(round)"],
                                                 outputPath: outputPath, acknowledgement: "\nA ",
                                                 delayMilliseconds: delayMilliseconds)
            #expect(ending == .uncaughtSignal, "\(context): the writer was still running")

            let text = String(decoding: try fileBytes(outputPath), as: UTF8.self)
            try Self.parse(text, into: &histories)
            acknowledgedTotal += text.split(separator: "\n").filter { $0.hasPrefix("A ") }.count

            var options = testOptions()
            options.checkpointOnClose = round % 3 != 0
            let engine = try ShardEngine(directory: directory.path, options: options)
            var present = 0
            for key in histories.keys.sorted() {
                let history = histories[key]!
                let stored = try engine.get(key)
                let observed: KeyState = stored.map { .present(version: Int($0.document["version"]!.intValue!)) } ?? .absent
                guard history.allowed.contains(observed) else {
                    Issue.record("\(context): \(key) is \(observed), allowed \(history.allowed)")
                    continue
                }
                if let stored, case .present(let version) = observed {
                    present += 1
                    #expect(stored.document["payload"]?.stringValue == Self.expectedPayload(key: key, version: version),
                            "\(context): \(key) holds a damaged document")
                    #expect(stored.document["_key"]?.stringValue == key)
                }
                // Settle the in-flight operation to what recovery decided.
                histories[key] = KeyHistory(acknowledged: observed, inFlight: nil)
            }
            #expect(engine.count == present, "\(context): documents nobody wrote")
            let rebuilt = MerkleTree(revisions: try engine.documentsInRevisionOrder(limit: .max).map(\.revision),
                                     leafCountLog2: options.merkleLeafCountLog2)
            #expect(engine.merkleTree.holdsSameRevisions(as: rebuilt), "\(context): tree disagrees with the data")
            try engine.close()
        }
        #expect(acknowledgedTotal > Self.rounds * 10, "the writer got work done before the kills")
    }

    @Test func storageCheckRefusesDamageAndCutsItOnlyWhenAllowed() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try CorruptionTests.populate(directory, count: 200)
        let victim = directory.path + "/" + directory.segmentFiles[0]
        let offset = try CorruptionTests.recordOffsets(victim)[5]
        try patchFile(victim, at: offset + 29, with: [0x99])
        func check(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
            let process = Process()
            process.executableURL = TesseraExecutable.url
            process.arguments = ["debug", "storage-check", "--directory", directory.path] + arguments
            let output = Pipe(), errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text, errorText)
        }
        let refused = try check([])
        #expect(refused.status == 1)
        #expect(refused.error.contains("error: 1102") && refused.error.contains(victim) && refused.error.contains("offset \(offset)"),
                "\(refused.error)")
        let cut = try check(["--truncate-at-corruption"])
        #expect(cut.status == 0, "\(cut.error)")
        #expect(cut.output.contains("documents: 5\n") && cut.output.contains("corruption cut:"), "\(cut.output)")
        let after = try check([])
        #expect(after.status == 0 && after.output.contains("documents: 5\n"))
    }
}
