public import Raft

/// Every setting of one simulated run, all drawn from its seed (except what the caller
/// pins, such as the node count).
public struct SimulationSettings: Sendable, CustomStringConvertible {
    /// The seed everything else came from.
    public var seed: UInt64
    /// Members of the group.
    public var nodeCount: Int
    /// Simulated milliseconds between two ticks of a node.
    public var tickMilliseconds: Int
    /// The Raft settings every node shares; each node gets its own id, members and seed.
    public var raft: RaftConfiguration
    /// One-way network delay range, in milliseconds.
    public var delayMillisecondsMin: Int
    public var delayMillisecondsMax: Int
    /// Probability that a message is delayed by up to `longDelayMillisecondsMax` instead.
    public var longDelayProbability: Double
    public var longDelayMillisecondsMax: Int
    /// Probability that a message is lost.
    public var dropProbability: Double
    /// Probability that a message is delivered twice.
    public var duplicateProbability: Double
    /// Mean simulated milliseconds between two partitions (0: none).
    public var partitionIntervalMilliseconds: Int
    /// Longest partition.
    public var partitionMillisecondsMax: Int
    /// Mean simulated milliseconds between two crashes (0: none).
    public var crashIntervalMilliseconds: Int
    /// Longest time a crashed node stays down.
    public var downMillisecondsMax: Int
    /// Probability that a node crashes while persisting a Ready, after writing and before the
    /// fsync (it then loses or tears what it wrote, and sends nothing).
    public var crashBeforeSyncProbability: Double
    /// Probability that a crash keeps a torn piece of the unsynced data.
    public var tornWriteProbability: Double
    /// A node compacts its log once this many entries are applied past its snapshot.
    public var compactionEntryCount: Int
    /// Mean simulated milliseconds between two client writes and two client reads.
    public var writeIntervalMilliseconds: Int
    public var readIntervalMilliseconds: Int
    /// Largest random padding of a write's payload.
    public var payloadPaddingMax: Int
    /// How long faults are injected; afterwards the network heals, every node restarts, and
    /// the run must converge.
    public var faultMilliseconds: Int
    /// How long after the faults stop a leader must be elected and every write finished.
    public var convergenceMillisecondsMax: Int

    /// Draws every setting from `seed`; `nodeCount` pins the group size (else 3 or 5).
    public init(seed: UInt64, nodeCount: Int? = nil, faultMilliseconds: Int? = nil) {
        var random = SeededGenerator(seed: seed)
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
        let electionTimeoutTicksMax = electionTimeoutTicksMin + draw(2...8)
        let heartbeatIntervalTicks = draw(1...max(1, electionTimeoutTicksMin / 3))
        raft = RaftConfiguration(
            id: NodeID(1), members: [NodeID(1)],
            electionTimeoutTicksMin: electionTimeoutTicksMin, electionTimeoutTicksMax: electionTimeoutTicksMax,
            heartbeatIntervalTicks: heartbeatIntervalTicks,
            appendEntryCountMax: [1, 2, 8, 64][draw(0...3)], appendByteCountMax: [64, 1024, 1 << 20][draw(0...2)],
            inFlightAppendCountMax: draw(1...4))
        delayMillisecondsMin = draw(1...5)
        delayMillisecondsMax = delayMillisecondsMin + draw(0...40)
        longDelayProbability = probability(0.05)
        longDelayMillisecondsMax = draw(100...1500)
        dropProbability = probability(0.2)
        duplicateProbability = probability(0.1)
        partitionIntervalMilliseconds = random.chance(0.8) ? draw(500...5000) : 0
        partitionMillisecondsMax = draw(200...4000)
        crashIntervalMilliseconds = random.chance(0.8) ? draw(500...6000) : 0
        downMillisecondsMax = draw(50...3000)
        crashBeforeSyncProbability = probability(0.02)
        tornWriteProbability = probability(1)
        compactionEntryCount = draw(3...60)
        writeIntervalMilliseconds = draw(5...200)
        readIntervalMilliseconds = draw(20...500)
        payloadPaddingMax = draw(0...300)
        let drawnFaultMilliseconds = draw(3000...12_000)
        self.faultMilliseconds = faultMilliseconds ?? drawnFaultMilliseconds
        convergenceMillisecondsMax = 20_000
    }

    /// The Raft configuration of member `id`.
    func configuration(for id: NodeID, members: [NodeID], incarnation: Int) -> RaftConfiguration {
        var configuration = raft
        configuration.id = id
        configuration.members = members
        // A restarted node draws different timeouts, as a real one would.
        configuration.seed = seed &* 0x9E37_79B9_7F4A_7C15 &+ id.rawValue &* 1_000_003 &+ UInt64(incarnation)
        return configuration
    }

    public var description: String {
        "seed \(seed): \(nodeCount) nodes, tick \(tickMilliseconds) ms, election \(raft.electionTimeoutTicksMin)..<\(raft.electionTimeoutTicksMax) ticks, "
            + "heartbeat \(raft.heartbeatIntervalTicks), append \(raft.appendEntryCountMax) entries/\(raft.appendByteCountMax) B, in flight \(raft.inFlightAppendCountMax); "
            + "delay \(delayMillisecondsMin)-\(delayMillisecondsMax) ms (long \(longDelayProbability) up to \(longDelayMillisecondsMax)), "
            + "drop \(dropProbability), duplicate \(duplicateProbability); partition every ~\(partitionIntervalMilliseconds) ms up to \(partitionMillisecondsMax); "
            + "crash every ~\(crashIntervalMilliseconds) ms down up to \(downMillisecondsMax), crash before sync \(crashBeforeSyncProbability), torn \(tornWriteProbability); "
            + "compact every \(compactionEntryCount); writes every ~\(writeIntervalMilliseconds) ms, reads every ~\(readIntervalMilliseconds) ms; "
            + "faults for \(faultMilliseconds) ms"
    }
}
