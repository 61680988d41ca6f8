@testable import AgencySimulation
import Testing

/// The cluster simulator (`raft-simulate --mode cluster`): a few seeds on every `swift test`
/// (the long runs are `scripts/simulate-cluster`), and the proof that its checkers catch a
/// leader that acknowledges too early and one that ignores Plan.
@Suite("Cluster simulation", .serialized)
struct ClusterSimulationTests {
    static let seeds: [UInt64] = Array(1...3) + [16_514_469_167_860_961_741, 17_505_631_045_239_849_754, 8_577_595_947_673_362_075,
                                                   16_630_258_219_879_245_861,
                                                   // A move planned a server again under Current's stale entry for it.
                                                   14_016_201_904_992_040_795]

    @Test("a seeded cluster run with DBServer and agency faults ends with every checker satisfied", arguments: seeds)
    func seedRunsWithoutViolations(seed: UInt64) {
        let report = AgencySimulation(settings: AgencySimulationSettings(seed: seed, cluster: true)).run()
        if let failure = report.failure { Issue.record("\(failure)") }
    }

    @Test("the runs fail over: leaders die, followers are promoted, writes are acknowledged")
    func runsFailOver() {
        var failovers = 0, acknowledged = 0
        for seed: UInt64 in 41..<45 {
            let simulation = AgencySimulation(settings: AgencySimulationSettings(seed: seed, cluster: true))
            let report = simulation.run()
            #expect(report.failure == nil)
            failovers += simulation.cluster!.stats.failovers
            acknowledged += simulation.cluster!.stats.acknowledged
        }
        #expect(failovers > 0 && acknowledged > 100, "failovers \(failovers), acknowledged \(acknowledged)")
    }

    @Test("an operator moves shards during the faults: moves finish, leaders hand over, every checker holds", arguments: [UInt64(5), 6, 7, 8])
    func operatorMovesShards(seed: UInt64) {
        var settings = AgencySimulationSettings(seed: seed, cluster: true)
        settings.cluster!.operatorIntervalMilliseconds = 400
        let simulation = AgencySimulation(settings: settings)
        let report = simulation.run()
        if let failure = report.failure { Issue.record("\(failure)") }
        let stats = simulation.cluster!.stats
        #expect(stats.operatorJobs > 0 && stats.movesFinished > 0, "\(stats)")
    }

    @Test("the checkers catch a sabotaged DBServer", arguments: ClusterSimulationSettings.Sabotage.allCases)
    func checkersCatchSabotage(sabotage: ClusterSimulationSettings.Sabotage) {
        var caught: String?
        for seed: UInt64 in 1...40 where caught == nil {
            var settings = AgencySimulationSettings(seed: seed, cluster: true)
            settings.cluster!.sabotage = sabotage
            caught = AgencySimulation(settings: settings).run().failure?.message
        }
        #expect(caught != nil, "no seed of 40 caught \(sabotage)")
        print("cluster simulation: \(sabotage) caught: \(caught ?? "-")")
    }
}
