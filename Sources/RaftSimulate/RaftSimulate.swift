import AgencySimulation
import Dispatch
import Synchronization
import ArgumentParser
import RaftSimulation
import ReplicationSimulation

/// `raft-simulate`: runs a deterministic simulator over random seeds for as long as asked, or
/// replays one seed. `--mode raft` (the default) runs bare Raft nodes; `--mode agency` runs
/// whole agency node cores (Raft, store, TTL, observers, snapshots) with clients;
/// `--mode replication` runs one shard's synchronous replication (leader and follower cores,
/// the agency's in-sync list, resync) under crashes, pauses, loss and stale leaders;
/// `--mode cluster` runs the agency with supervision, DBServers that lead and follow shards,
/// and clients writing documents, under DBServer crashes, pauses and cuts as well. Every run
/// prints its settings first; a failure prints the command that replays it and exits with
/// status 1.
@main
struct RaftSimulate: ParsableCommand {
    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case raft, agency, replication, cluster
    }

    static let configuration = CommandConfiguration(
        commandName: "raft-simulate",
        abstract: "Run the deterministic Raft or agency simulator over many seeds, or replay one.",
        discussion: """
            Examples:
              swift run --scratch-path .build-raft raft-simulate --seconds 60
              swift run --scratch-path .build-raft raft-simulate --seed 1234 --nodes 5 --trace
              swift run -c release --scratch-path .build-agency raft-simulate --mode agency --seconds 600
              swift run -c release --scratch-path .build-agency raft-simulate --mode agency --seed 1234 --trace
              swift run -c release --scratch-path .build-sim raft-simulate --mode replication --seconds 600
            """)

    @Option(help: "What to simulate: bare Raft nodes or whole agency node cores.")
    var mode: Mode = .raft

    @Option(help: "Keep running random seeds for this many wall-clock seconds.")
    var seconds: Int = 10

    @Option(help: "Run only this seed (replay).")
    var seed: UInt64?

    @Option(help: "Group size (3 or 5 are typical); drawn from the seed when absent.")
    var nodes: Int?

    @Option(help: "Simulated milliseconds of faults; drawn from the seed when absent.")
    var faultMilliseconds: Int?

    @Option(help: "Stop after this many seeds (the run also stops at --seconds).")
    var seeds: Int?

    @Option(help: "Run seeds on this many threads at once (each run is single-threaded and independent).")
    var workers: Int = 1

    @Flag(help: "Print every event of the run (with --seed).")
    var trace = false

    @Flag(help: "Print one line per seed.")
    var verbose = false

    func run() throws {
        if let seed {
            guard runOne(seed: seed, printsSettings: true) else { throw ExitCode(1) }
            return
        }
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(seconds)
        let budget = seeds ?? .max
        // Seeds are drawn under a lock and counted there; a failing seed stops every worker.
        let state = Mutex((runs: 0, failed: false, generator: SystemRandomNumberGenerator()))
        let command = self
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { _ in
            while clock.now < deadline {
                let next: UInt64? = state.withLock { state in
                    guard !state.failed, state.runs < budget else { return nil }
                    state.runs += 1
                    return state.generator.next()
                }
                guard let seed = next else { return }
                if !command.runOne(seed: seed, printsSettings: command.verbose) { state.withLock { $0.failed = true } }
            }
        }
        let (runs, failed) = state.withLock { ($0.runs, $0.failed) }
        if failed { throw ExitCode(1) }
        let elapsed = clock.now - start
        let seconds = max(0.001, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        let perSecond = Double(runs) / seconds
        print("raft-simulate --mode \(mode.rawValue): \(runs) seeds passed in \(elapsed) on \(max(1, workers)) workers "
              + "(\((perSecond * 10).rounded() / 10) seeds/s, \(Int(perSecond * 600)) per 10 minutes)")
    }

    /// Runs one seed; prints its settings first when asked (always on failure).
    func runOne(seed: UInt64, printsSettings: Bool) -> Bool {
        switch mode {
        case .raft: runRaft(seed: seed, printsSettings: printsSettings)
        case .agency: runAgency(seed: seed, printsSettings: printsSettings)
        case .replication: runReplication(seed: seed, printsSettings: printsSettings)
        case .cluster: runAgency(seed: seed, printsSettings: printsSettings, cluster: true)
        }
    }

    func runRaft(seed: UInt64, printsSettings: Bool) -> Bool {
        let settings = SimulationSettings(seed: seed, nodeCount: nodes, faultMilliseconds: faultMilliseconds)
        // Printed before the run, so that even a trap inside the core leaves the seed behind.
        print("run \(settings)")
        let simulation = Simulation(settings: settings, recordsTrace: trace)
        let report = simulation.run()
        if trace { simulation.trace.forEach { print($0) } }
        if let failure = report.failure {
            print(failure)
            return false
        }
        if printsSettings {
            print("  ok: \(report.eventCount) events, \(report.simulatedMilliseconds) ms simulated, "
                  + "\(report.writesAcknowledged) writes, \(report.readsServed) reads, \(report.crashes) crashes "
                  + "(\(report.crashesBeforeSync) before sync, \(report.tornWrites) torn), \(report.partitions) partitions, "
                  + "\(report.snapshotsInstalled) snapshots restored, term \(report.termMax), "
                  + "converged \(report.convergenceMilliseconds) ms after faults, trace \(String(report.traceHash, radix: 16))")
        }
        return true
    }

    func runAgency(seed: UInt64, printsSettings: Bool, cluster: Bool = false) -> Bool {
        let settings = AgencySimulationSettings(seed: seed, nodeCount: nodes, faultMilliseconds: faultMilliseconds, cluster: cluster)
        // The settings line costs little next to a run; printed first so a trap leaves the seed.
        if printsSettings || trace { print("run \(settings)") } else { print("run \(cluster ? "cluster" : "agency") seed \(seed)") }
        let simulation = AgencySimulation(settings: settings, recordsTrace: trace)
        let report = simulation.run()
        if trace { simulation.trace.forEach { print($0) } }
        if let failure = report.failure {
            print(failure)
            return false
        }
        if printsSettings { print("  ok: \(report.summary)") }
        return true
    }

    func runReplication(seed: UInt64, printsSettings: Bool) -> Bool {
        var simulation = ReplicationSimulation(seed: seed)
        if printsSettings || trace { print("run replication seed \(seed): \(simulation.settings)") }
        let report = simulation.run(tracing: trace)
        if trace { report.trace.forEach { print($0) } }
        guard report.violations.isEmpty else {
            print("replication seed \(seed) (\(simulation.settings)) FAILED:")
            report.violations.prefix(10).forEach { print("  " + $0) }
            print("replay: swift run raft-simulate --mode replication --seed \(seed) --trace")
            return false
        }
        if printsSettings { print("  ok: \(report.summary)") }
        return true
    }
}
