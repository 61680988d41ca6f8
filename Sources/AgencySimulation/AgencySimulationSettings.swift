public import Raft

/// Every setting of one simulated agency run, all drawn from its seed (except what the caller
/// pins: the member count and the length of the fault phase).
public struct AgencySimulationSettings: Sendable, CustomStringConvertible {
    /// The seed everything else came from.
    public var seed: UInt64
    /// Agents in the agency.
    public var nodeCount: Int
    /// Simulated milliseconds between two ticks of an agent.
    public var tickMilliseconds: Int
    /// The Raft settings every agent shares; each gets its own id, members and seed.
    public var raft: RaftConfiguration
    /// Applied entries between snapshots of the store (the core's snapshot policy).
    public var snapshotEveryEntries: UInt64
    /// How long the core lets a write or read wait before refusing it as unknown.
    public var requestTimeoutMilliseconds: UInt64
    /// Largest difference of an agent's wall clock from simulated time, either way.
    public var clockSkewMillisecondsMax: Int
    /// One-way network delay range (agents and clients alike), in milliseconds.
    public var delayMillisecondsMin: Int
    public var delayMillisecondsMax: Int
    /// Probability that a message is delayed by up to `longDelayMillisecondsMax` instead
    /// (so messages overtake each other).
    public var longDelayProbability: Double
    public var longDelayMillisecondsMax: Int
    /// Probability that a message (Raft, request or answer) is lost.
    public var dropProbability: Double
    /// Probability that a Raft message is delivered twice.
    public var duplicateProbability: Double
    /// Mean simulated milliseconds between two partitions (0: none), and the longest one.
    public var partitionIntervalMilliseconds: Int
    public var partitionMillisecondsMax: Int
    /// Mean simulated milliseconds between two crashes (0: none), and the longest downtime.
    public var crashIntervalMilliseconds: Int
    public var downMillisecondsMax: Int
    /// Probability that an agent crashes after writing a Ready and before its fsync.
    public var crashBeforeSyncProbability: Double
    /// Probability that a crash keeps a torn piece of the unsynced data.
    public var tornWriteProbability: Double
    /// Probability that a persist fails (the core then stops taking part until a restart).
    public var diskFailureProbability: Double
    /// Concurrent clients; each runs one operation at a time.
    public var clientCount: Int
    /// Longest pause of a client between two operations.
    public var clientThinkMillisecondsMax: Int
    /// A client that heard nothing for this long resends (with the same client id).
    public var clientTimeoutMilliseconds: Int
    /// How long faults are injected; afterwards the network heals, every agent restarts, the
    /// clients finish what they started, and the agency must converge.
    public var faultMilliseconds: Int
    /// How long after the faults stop everything must have converged.
    public var convergenceMillisecondsMax: Int
    /// A cluster run (`--mode cluster`): DBServers, shards and supervision on top of the
    /// agency; nil for an agency run.
    public var cluster: ClusterSimulationSettings?

    /// Draws every setting from `seed`; `nodeCount` pins the agency size (else 3 or 5) and
    /// `faultMilliseconds` the fault phase (else 1.5–4 simulated seconds).
    public init(seed: UInt64, nodeCount: Int? = nil, faultMilliseconds: Int? = nil, cluster: Bool = false) {
        var random = SeededGenerator(seed: seed ^ 0xA6E1_C7A6_E1C7_A6E1)
        func draw(_ range: ClosedRange<Int>) -> Int {
            range.lowerBound + Int(random.next(upperBound: UInt64(range.upperBound - range.lowerBound + 1)))
        }
        func probability(_ max: Double) -> Double { Double(draw(0...1000)) / 1000 * max }
        self.seed = seed
        // Every draw happens whatever the caller pins, so that pinning a value to what the
        // seed gives replays the run exactly.
        let drawnNodeCount = random.next() % 2 == 0 ? 3 : 5
        self.nodeCount = nodeCount ?? drawnNodeCount
        tickMilliseconds = 50
        let electionTimeoutTicksMin = draw(4...8)
        raft = RaftConfiguration(
            id: NodeID(1), members: [NodeID(1)],
            electionTimeoutTicksMin: electionTimeoutTicksMin,
            electionTimeoutTicksMax: electionTimeoutTicksMin + draw(2...8),
            heartbeatIntervalTicks: draw(1...max(1, electionTimeoutTicksMin / 3)),
            appendEntryCountMax: [1, 4, 64][draw(0...2)], appendByteCountMax: [256, 4096, 1 << 20][draw(0...2)],
            inFlightAppendCountMax: draw(1...4))
        snapshotEveryEntries = UInt64(draw(4...60))
        requestTimeoutMilliseconds = UInt64(draw(1000...5000))
        clockSkewMillisecondsMax = draw(0...200)
        delayMillisecondsMin = draw(1...5)
        delayMillisecondsMax = delayMillisecondsMin + draw(0...30)
        longDelayProbability = probability(0.05)
        longDelayMillisecondsMax = draw(100...1000)
        dropProbability = probability(0.15)
        duplicateProbability = probability(0.1)
        partitionIntervalMilliseconds = random.chance(0.8) ? draw(400...3000) : 0
        partitionMillisecondsMax = draw(200...2000)
        crashIntervalMilliseconds = random.chance(0.8) ? draw(400...3000) : 0
        downMillisecondsMax = draw(50...1500)
        crashBeforeSyncProbability = probability(0.02)
        tornWriteProbability = probability(1)
        diskFailureProbability = random.chance(0.3) ? probability(0.01) : 0
        clientCount = draw(1...4)
        clientThinkMillisecondsMax = draw(1...60)
        clientTimeoutMilliseconds = draw(300...1500)
        let drawnFaultMilliseconds = draw(1500...4000)
        self.faultMilliseconds = faultMilliseconds ?? drawnFaultMilliseconds
        convergenceMillisecondsMax = 20_000
        if cluster {
            let drawn = ClusterSimulationSettings(seed: seed)
            self.cluster = drawn
            // Failovers, resyncs and the repair jobs after the faults need longer to settle,
            // and the faults run long enough for several failovers.
            convergenceMillisecondsMax = 40_000
            clientCount = min(clientCount, 2)
            // Heartbeats make many more entries: snapshots every few dozen entries would
            // serialize the store hundreds of times per run.
            snapshotEveryEntries *= 8
            // A cluster writes a steady stream of heartbeats: an agency that ships one entry
            // per append (a setting `--mode agency` covers) could never keep up, as a real one
            // configured so would not.
            raft.appendEntryCountMax = 64
            raft.appendByteCountMax = 1 << 20
            if faultMilliseconds == nil { self.faultMilliseconds = drawnFaultMilliseconds * 3 }
        }
    }

    /// The Raft configuration of member `id` in its `incarnation`.
    func configuration(for id: NodeID, members: [NodeID], incarnation: Int) -> RaftConfiguration {
        var configuration = raft
        configuration.id = id
        configuration.members = members
        // A restarted agent draws different timeouts, as a real one would.
        configuration.seed = seed &* 0x9E37_79B9_7F4A_7C15 &+ id.rawValue &* 1_000_003 &+ UInt64(incarnation)
        return configuration
    }

    public var description: String {
        "seed \(seed): \(nodeCount) agents, tick \(tickMilliseconds) ms, election \(raft.electionTimeoutTicksMin)..<\(raft.electionTimeoutTicksMax) ticks, "
            + "heartbeat \(raft.heartbeatIntervalTicks), append \(raft.appendEntryCountMax) entries/\(raft.appendByteCountMax) B, in flight \(raft.inFlightAppendCountMax); "
            + "snapshot every \(snapshotEveryEntries), request timeout \(requestTimeoutMilliseconds) ms, clock skew ±\(clockSkewMillisecondsMax) ms; "
            + "delay \(delayMillisecondsMin)-\(delayMillisecondsMax) ms (long \(longDelayProbability) up to \(longDelayMillisecondsMax)), "
            + "drop \(dropProbability), duplicate \(duplicateProbability); partition every ~\(partitionIntervalMilliseconds) ms up to \(partitionMillisecondsMax); "
            + "crash every ~\(crashIntervalMilliseconds) ms down up to \(downMillisecondsMax), crash before sync \(crashBeforeSyncProbability), "
            + "torn \(tornWriteProbability), disk failure \(diskFailureProbability); \(clientCount) clients (think ≤ \(clientThinkMillisecondsMax) ms, "
            + "timeout \(clientTimeoutMilliseconds) ms); faults for \(faultMilliseconds) ms"
            + (cluster.map { "; cluster: \($0)" } ?? "")
    }
}
