import Testing
import Raft
import ReplicationSimulation

/// The replication simulator's checkers over many seeds (`raft-simulate --mode replication`
/// runs more), and proof that each checker fails when the code it guards is broken.
@Suite struct ReplicationSimulationTests {
    @Test func seedsPassEveryChecker() {
        var failures: [String] = []
        var totals = (acknowledged: 0, crashes: 0, leaderRestarts: 0, resyncs: 0, staleBatches: 0)
        for seed in UInt64(1)...120 {
            var simulation = ReplicationSimulation(seed: seed)
            let report = simulation.run()
            if !report.violations.isEmpty { failures.append("seed \(seed): \(report.violations.prefix(3))") }
            totals.acknowledged += report.acknowledged
            totals.crashes += report.crashes
            totals.leaderRestarts += report.leaderRestarts
            totals.resyncs += report.resyncs
            totals.staleBatches += report.staleBatches
        }
        #expect(failures.isEmpty, "\(failures)")
        // The faults really happened.
        #expect(totals.acknowledged > 10_000 && totals.crashes > 50 && totals.leaderRestarts > 20
                && totals.resyncs > 200 && totals.staleBatches > 200, "\(totals)")
    }

    @Test(arguments: ReplicationSimulationSettings.Sabotage.allCases)
    func aBrokenRuleIsCaught(_ sabotage: ReplicationSimulationSettings.Sabotage) {
        var caught = false
        for seed in UInt64(1)...60 where !caught {
            var random = SeededGenerator(seed: seed)
            var settings = ReplicationSimulationSettings.drawn(from: &random)
            settings.sabotage = sabotage
            var simulation = ReplicationSimulation(seed: seed, settings: settings)
            caught = !simulation.run().violations.isEmpty
        }
        #expect(caught, "the checkers did not notice \(sabotage)")
    }

    @Test func aSeedReplaysExactly() {
        var first = ReplicationSimulation(seed: 77)
        var second = ReplicationSimulation(seed: 77)
        let a = first.run(tracing: true), b = second.run(tracing: true)
        #expect(a.trace == b.trace && a.summary == b.summary)
    }
}
