/// The settings of one Raft node. Membership is fixed: every node of a group is started with
/// the same `members`, and the group never changes size at run time (no joint consensus, no
/// learners). Changing the agency's membership means restarting it with a new configuration.
///
/// Times are in ticks: the driver calls ``RaftNode/tick()`` at a fixed interval, and nothing
/// in the core reads a clock. With the agent's default tick of 50 ms the defaults below give
/// elections after 300–600 ms of silence and heartbeats every 100 ms (see `Protocol/Raft.md`).
public struct RaftConfiguration: Sendable, Equatable {
    /// This node.
    public var id: NodeID
    /// Every member of the group, this node included. Order does not matter.
    public var members: [NodeID]
    /// The smallest election timeout. A follower that hears nothing from a leader for a
    /// randomized time in `electionTimeoutTicksMin..<electionTimeoutTicksMax` starts a
    /// pre-vote. It is also the period of the leader's quorum check and the lease within
    /// which a follower ignores vote requests (leader stickiness).
    public var electionTimeoutTicksMin: Int
    /// One more than the largest election timeout.
    public var electionTimeoutTicksMax: Int
    /// How often a leader sends heartbeats when it has nothing else to say.
    public var heartbeatIntervalTicks: Int
    /// At most this many entries in one appendEntries message.
    public var appendEntryCountMax: Int
    /// At most this many payload bytes in one appendEntries message (a single larger entry
    /// still travels alone).
    public var appendByteCountMax: Int
    /// Pipelining: at most this many appendEntries messages in flight to one follower that
    /// is known to be in sync.
    public var inFlightAppendCountMax: Int
    /// The seed of the node's generator for randomized election timeouts. Give every node a
    /// different seed; the simulator derives them all from its run seed.
    public var seed: UInt64

    /// The defaults for a 50 ms tick: elections after 6–12 ticks (300–600 ms), heartbeats every
    /// 2 ticks (100 ms), 64 entries or 1 MiB per append, 4 appends in flight.
    public init(
        id: NodeID, members: [NodeID],
        electionTimeoutTicksMin: Int = 6, electionTimeoutTicksMax: Int = 12,
        heartbeatIntervalTicks: Int = 2,
        appendEntryCountMax: Int = 64, appendByteCountMax: Int = 1 << 20,
        inFlightAppendCountMax: Int = 4,
        seed: UInt64 = 0
    ) {
        self.id = id
        self.members = members
        self.electionTimeoutTicksMin = electionTimeoutTicksMin
        self.electionTimeoutTicksMax = electionTimeoutTicksMax
        self.heartbeatIntervalTicks = heartbeatIntervalTicks
        self.appendEntryCountMax = appendEntryCountMax
        self.appendByteCountMax = appendByteCountMax
        self.inFlightAppendCountMax = inFlightAppendCountMax
        self.seed = seed
    }

    /// Traps with a message naming the first setting that makes no sense; these are
    /// operator or programming errors, not run-time faults.
    func validate() {
        precondition(Set(members).count == members.count, "duplicate member ids in \(members)")
        precondition(members.contains(id), "node \(id) is not among the members \(members)")
        precondition(electionTimeoutTicksMin >= 1, "electionTimeoutTicksMin must be at least 1")
        precondition(electionTimeoutTicksMax > electionTimeoutTicksMin,
                     "electionTimeoutTicksMax \(electionTimeoutTicksMax) must exceed min \(electionTimeoutTicksMin)")
        precondition(heartbeatIntervalTicks >= 1 && heartbeatIntervalTicks < electionTimeoutTicksMin,
                     "heartbeatIntervalTicks \(heartbeatIntervalTicks) must be in 1..<electionTimeoutTicksMin")
        precondition(appendEntryCountMax >= 1, "appendEntryCountMax must be at least 1")
        precondition(appendByteCountMax >= 1, "appendByteCountMax must be at least 1")
        precondition(inFlightAppendCountMax >= 1, "inFlightAppendCountMax must be at least 1")
    }
}

/// A small, fast, seeded generator (SplitMix64). Deterministic across platforms and runs, so a
/// seed replays the same election timeouts and the same simulated faults.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose whole output is decided by `seed`.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        // SplitMix64: a Weyl sequence scrambled by two multiply-xorshift rounds.
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// True with probability `probability` (0...1).
    public mutating func chance(_ probability: Double) -> Bool {
        probability > 0 && Double(next() >> 11) * 0x1p-53 < probability
    }
}
