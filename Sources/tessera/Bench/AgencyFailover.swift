import ArgumentParser
import Client
import TesseraPlatform
import VelocyPack

/// `tessera debug agency-writer`: writes to the agency one after another for a while and
/// reports the longest time between two successful writes. Run while the leader is killed,
/// that gap is the failover time as a client sees it (kill to first successful write, plus
/// at most one write's latency).
struct AgencyWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agency-writer", abstract: "Write to the agency continuously; report the longest gap between successes.")
    @OptionGroup var agency: AgencyOptions
    @Option(help: "How long to write.")
    var seconds: Double = 10

    func run() async throws {
        let started = MonotonicClock.seconds()
        var lastSuccess = started
        var longestGap = 0.0
        var successes = 0
        var failures = 0
        var sequence = 0
        try await withAgency(agency) { (client) throws(ClientError) in
            while MonotonicClock.seconds() - started < seconds {
                sequence += 1
                var builder = Builder()
                builder.openObject()
                builder.add(key: "/failover/n", sequence)
                builder.closeTrusted()
                do {
                    let result = try await client.write(operations: builder.slice)
                    guard result.applied else { failures += 1; continue }
                    let now = MonotonicClock.seconds()
                    longestGap = max(longestGap, now - lastSuccess)
                    lastSuccess = now
                    successes += 1
                } catch {
                    failures += 1
                }
            }
        }
        print("writes \(successes), failed \(failures), longest gap between successful writes \(Int(longestGap * 1000)) ms")
    }
}
