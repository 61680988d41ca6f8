import Testing
import Raft
import RaftSimulation

@Suite("Raft simulation")
struct SimulationTests {
    /// Seeds that run on every `swift test`; a seed that once found a bug stays here.
    static let seeds: [UInt64] = Array(1...12)

    @Test(arguments: seeds)
    func seedRunsWithoutViolations(seed: UInt64) {
        let report = Simulation(settings: SimulationSettings(seed: seed)).run()
        if let failure = report.failure { Issue.record("\(failure)") }
        #expect(report.writesAcknowledged > 0)
    }
}
