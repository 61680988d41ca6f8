@testable import AgencySimulation
import Foundation
import Testing

@Suite("Agency simulation")
struct AgencySimulationTests {
    /// Seeds that run on every `swift test` (3 and 5 agents alike); a seed that once found a
    /// bug stays here as a regression test.
    static let seeds: [UInt64] = Array(1...240)

    @Test("a seeded run with faults ends with every checker satisfied", arguments: seeds)
    func seedRunsWithoutViolations(seed: UInt64) {
        let report = AgencySimulation(settings: AgencySimulationSettings(seed: seed)).run()
        if let failure = report.failure { Issue.record("\(failure)") }
    }

    @Test("the runs do real work: writes, transactions, reads, TTLs, polls, notifications, crashes")
    func runsExerciseEveryFeature() {
        var total = AgencySimulationReport(settings: AgencySimulationSettings(seed: 0))
        for seed: UInt64 in 1000..<1016 {
            let report = AgencySimulation(settings: AgencySimulationSettings(seed: seed)).run()
            #expect(report.failure == nil)
            total.writesAcknowledged += report.writesAcknowledged
            total.compareAndSwapsApplied += report.compareAndSwapsApplied
            total.compareAndSwapsRefused += report.compareAndSwapsRefused
            total.readsServed += report.readsServed
            total.pollsServed += report.pollsServed
            total.ttlKeysWritten += report.ttlKeysWritten
            total.notificationsSent += report.notificationsSent
            total.crashes += report.crashes
            total.retries += report.retries
            total.snapshotsPersisted += report.snapshotsPersisted
        }
        #expect(total.writesAcknowledged > 50)
        #expect(total.compareAndSwapsApplied > 0 && total.compareAndSwapsRefused > 0)
        #expect(total.readsServed > 0 && total.pollsServed > 0 && total.ttlKeysWritten > 0)
        #expect(total.notificationsSent > 0 && total.crashes > 0 && total.retries > 0 && total.snapshotsPersisted > 0)
    }

    @Test("the same seed gives the same trace")
    func theSameSeedGivesTheSameTrace() {
        let first = AgencySimulation(settings: AgencySimulationSettings(seed: 99)).run()
        let second = AgencySimulation(settings: AgencySimulationSettings(seed: 99)).run()
        let other = AgencySimulation(settings: AgencySimulationSettings(seed: 100)).run()
        #expect(first.traceHash == second.traceHash)
        #expect(first.eventCount == second.eventCount)
        #expect(first.traceHash != other.traceHash)
    }

    @Test("pinning the drawn values replays the run")
    func pinningTheDrawnValuesReplaysTheRun() {
        let drawn = AgencySimulationSettings(seed: 5)
        let pinned = AgencySimulationSettings(seed: 5, nodeCount: drawn.nodeCount, faultMilliseconds: drawn.faultMilliseconds)
        #expect(AgencySimulation(settings: drawn).run().traceHash == AgencySimulation(settings: pinned).run().traceHash)
    }

    @Test("a failure names the command that replays it")
    func aFailurePrintsTheReplayCommand() {
        let failure = AgencySimulationFailure(message: "x", settings: AgencySimulationSettings(seed: 77), time: 0, recentTrace: [])
        #expect(failure.description.contains("raft-simulate --mode agency --seed 77"))
    }

    /// The core is pure: it imports only the pure targets below it.
    @Test("AgencyCore imports nothing but Raft, AgencyStore and VelocyPack")
    func theCoreIsPure() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/AgencyCore").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") }
        #expect(!files.isEmpty)
        for file in files {
            let text = try String(contentsOfFile: directory.appendingPathComponent(file).path, encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("import ") || line.hasPrefix("public import ") {
                let module = line.split(separator: " ").last.map(String.init) ?? ""
                #expect(["Raft", "AgencyStore", "VelocyPack"].contains(module), "\(file): \(line)")
            }
            for forbidden in ["randomElement()", "shuffled()", ".random(in:", "SystemRandomNumberGenerator", "Date()", "ContinuousClock"] {
                #expect(!text.contains(forbidden), "\(file) uses \(forbidden)")
            }
        }
    }
}
