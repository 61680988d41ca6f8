public import Raft
public import Supervision

/// The cluster part of a cluster simulation run (`raft-simulate --mode cluster`): DBServers
/// that heartbeat, follow Plan and replicate shards, clients that write documents, and the
/// faults the DBServers suffer. Drawn from the seed with a generator of its own, so the
/// agency's draws are those of `--mode agency` for the same seed.
public struct ClusterSimulationSettings: Sendable, CustomStringConvertible {
    public var dbServerCount: Int
    public var shardCount: Int
    public var replicationFactor: Int
    public var writeConcern: Int
    /// A leader drops a follower that left a write unanswered this long.
    public var followerTimeoutMilliseconds: Int
    public var heartbeatMilliseconds = 250
    public var maintenanceMilliseconds = 100
    /// Supervision as the agents run it (Tessera's thresholds unless drawn otherwise).
    public var supervision: SupervisionOptions
    /// Mean gap between two DBServer faults (crash, pause, cut off from the agency), and the
    /// longest one lasts.
    public var faultIntervalMilliseconds: Int
    public var faultMillisecondsMax: Int
    /// Probability that a message between DBServers (or a client's write) is lost.
    public var dropProbability: Double
    /// Mean gap between two client writes.
    public var writeIntervalMilliseconds: Int
    /// Mean gap between two jobs an operator creates (MoveShard, now and then CleanOutServer or
    /// ResignLeadership) while the faults last; nil: no operator.
    public var operatorIntervalMilliseconds: Int?
    /// A deliberate bug, to show that the checkers catch it (tests only).
    public var sabotage: Sabotage?

    public enum Sabotage: Sendable, CaseIterable {
        /// Leaders acknowledge a write as soon as they applied it, without their followers.
        case acknowledgeWithoutFollowers
    }

    public init(seed: UInt64) {
        var random = SeededGenerator(seed: seed ^ 0xC105_7E55_1A70_0001)
        func draw(_ range: ClosedRange<Int>) -> Int {
            range.lowerBound + Int(random.next(upperBound: UInt64(range.upperBound - range.lowerBound + 1)))
        }
        dbServerCount = draw(3...4)
        shardCount = draw(1...3)
        replicationFactor = draw(2...3)
        writeConcern = draw(1...replicationFactor)
        followerTimeoutMilliseconds = draw(300...1500)
        supervision = SupervisionOptions()
        if random.chance(0.3) {
            // Tighter or looser thresholds than the defaults.
            let ok = Int64(draw(300...1500))
            supervision.thresholds = .init(okMilliseconds: ok, gracePeriodMilliseconds: ok + Int64(draw(200...1500)))
        }
        faultIntervalMilliseconds = draw(500...3000)
        faultMillisecondsMax = draw(1500...5000)
        dropProbability = Double(draw(0...50)) / 1000
        writeIntervalMilliseconds = draw(5...40)
        // Drawn last, so the draws above are those of runs before the operator existed.
        if random.chance(0.75) { operatorIntervalMilliseconds = draw(300...2000) }
    }

    public var description: String {
        "\(dbServerCount) DBServers, \(shardCount) shards × rf \(replicationFactor) (writeConcern \(writeConcern)), "
            + "follower timeout \(followerTimeoutMilliseconds) ms, health \(supervision.thresholds.okMilliseconds)/\(supervision.thresholds.gracePeriodMilliseconds) ms, "
            + "DBServer faults every ~\(faultIntervalMilliseconds) ms up to \(faultMillisecondsMax) ms, loss \(dropProbability), "
            + "a write every ~\(writeIntervalMilliseconds) ms"
            + (operatorIntervalMilliseconds.map { ", an operator's job every ~\($0) ms" } ?? ", no operator")
    }
}
