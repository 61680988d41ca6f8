import Foundation
import Testing
import TesseraProcessSupport
import AgentStorage
import Raft

/// Real processes killed with SIGKILL while appending with sync: after every crash, each
/// acknowledged index is present, with the entry that was written there.
///
/// The victim is `tessera debug raft-disk-writer` (Sources/tessera/DebugRaftDiskWriter.swift):
/// synced batches, small segments, snapshots with compaction behind the tail. All rounds share
/// one directory, so each round also recovers what the previous crashes left; each round runs
/// in a term one above the last durable one.
@Suite("Raft disk crash", .serialized)
struct RaftDiskCrashTests {
    static let rounds = 8


    /// The writer's payload for entry `index` of `term` (see `RaftDiskWriter.payload`).
    static func payload(index: LogIndex, term: Term) -> [UInt8] {
        Array(String(repeating: "\(index)/\(term);", count: 1 + Int(index % 37)).utf8)
    }

    @Test func acknowledgedEntriesSurviveKillNine() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // Index → term of every acknowledged entry (a later term's acknowledgement replaces).
        var acknowledged: [LogIndex: Term] = [:]
        var acknowledgedLast: LogIndex = 0
        var delays = [7, 40, 90, 15, 150, 60, 25, 110]
        for round in 0..<Self.rounds {
            let delayMilliseconds = delays.removeFirst()
            let context = "round \(round), kill after \(delayMilliseconds) ms"
            let outputPath = directory.path + "-round\(round).out"
            defer { try? FileManager.default.removeItem(atPath: outputPath) }
            let ending = try CrashRun.runAndKill(["debug", "raft-disk-writer", "--directory", directory.path,
                                 "--segment-bytes", "4096", "--snapshot-every", "200"],
                                                 outputPath: outputPath, acknowledgement: "A ",
                                                 delayMilliseconds: delayMilliseconds)
            #expect(ending == .uncaughtSignal, "\(context): the writer was not killed")

            // Batches of one run are contiguous: "A last term" acknowledges everything up to
            // `last` in `term` after the run's first index.
            var runFirst: LogIndex?
            for line in String(decoding: try fileBytes(outputPath), as: UTF8.self).split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 3, fields[0] == "A", let last = LogIndex(fields[1]), let term = Term(fields[2]) else {
                    Issue.record("\(context): unexpected output line \(line)")
                    continue
                }
                let first = runFirst ?? (acknowledgedLast + 1)
                runFirst = first
                // A new term may replace unacknowledged entries of the last one, never
                // acknowledged ones: the writer starts after the durable log.
                for index in first...last { acknowledged[index] = term }
                acknowledgedLast = max(acknowledgedLast, last)
            }
            #expect(runFirst != nil, "\(context): the writer acknowledged nothing")

            let disk = try RaftDisk(directory: directory.path, options: RaftDiskOptions(segmentByteCountTarget: 4096))
            let durable = try disk.load()
            let snapshotIndex = durable.snapshot?.index ?? 0
            #expect(durable.snapshot.map { $0.data == Array("snapshot \($0.index)".utf8) } ?? true, "\(context): snapshot data")
            for (offset, entry) in durable.entries.enumerated() {
                #expect(entry.index == snapshotIndex + 1 + LogIndex(offset), "\(context): log not contiguous")
                #expect(entry.payload == Self.payload(index: entry.index, term: entry.term), "\(context): entry \(entry.index) damaged")
            }
            let lastIndex = durable.entries.last?.index ?? snapshotIndex
            #expect(lastIndex >= acknowledgedLast, "\(context): acknowledged up to \(acknowledgedLast), durable up to \(lastIndex)")
            for entry in durable.entries where entry.index <= acknowledgedLast {
                #expect(acknowledged[entry.index] == entry.term, "\(context): entry \(entry.index) has term \(entry.term), acknowledged \(String(describing: acknowledged[entry.index]))")
            }
            // Entries durable but not acknowledged (the batch in flight) count from now on:
            // the next run continues after them.
            for entry in durable.entries where entry.index > acknowledgedLast { acknowledged[entry.index] = entry.term }
            acknowledgedLast = max(acknowledgedLast, lastIndex)
            #expect(durable.hardState.term == Term(round + 1), "\(context): term \(durable.hardState.term)")
        }
        print("raft disk crash test: \(acknowledgedLast) entries acknowledged over \(Self.rounds) kills")
        #expect(acknowledgedLast > LogIndex(Self.rounds * 20), "the writer got work done before the kills")
    }
}
