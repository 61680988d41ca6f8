import Raft

/// A hand-driven group for unit tests: no randomness beyond the nodes' own seeds, messages
/// delivered in order, and links cut at will. It carries out every Ready as the contract says
/// and keeps what the nodes asked to persist, apply and answer.
struct TestCluster {
    var nodes: [RaftNode]
    var durable: [RaftDurableState]
    var applied: [[LogEntry]]
    var restoredSnapshots: [[RaftSnapshot]]
    var readResults: [[RaftReady.ReadResult]]
    /// Messages sent and not yet delivered, oldest first.
    var inFlight: [RaftMessage] = []
    /// Every message ever sent, for assertions on what went out.
    var sent: [RaftMessage] = []
    /// Nodes whose links are all cut.
    var isolated: Set<NodeID> = []

    init(count: Int, configure: (inout RaftConfiguration) -> Void = { _ in }) {
        let members = (1...count).map { NodeID(UInt64($0)) }
        nodes = members.map { id in
            var configuration = RaftConfiguration(id: id, members: members, seed: id.rawValue &* 7919)
            configure(&configuration)
            return RaftNode(configuration: configuration)
        }
        durable = Array(repeating: RaftDurableState(), count: count)
        applied = Array(repeating: [], count: count)
        restoredSnapshots = Array(repeating: [], count: count)
        readResults = Array(repeating: [], count: count)
    }

    static func position(_ id: NodeID) -> Int { Int(id.rawValue) - 1 }

    /// Carries out node `index`'s Readys until it has none.
    mutating func process(_ index: Int) {
        while nodes[index].hasReady {
            let ready = nodes[index].ready()
            Self.persist(ready, into: &durable[index])
            sent += ready.messages
            inFlight += ready.messages
            if let snapshot = ready.snapshotToApply { restoredSnapshots[index].append(snapshot) }
            applied[index] += ready.committedEntries
            readResults[index] += ready.readResults
        }
    }

    mutating func processAll() {
        for index in nodes.indices { process(index) }
    }

    /// What a driver's disk would hold after carrying out `ready`'s persistence.
    static func persist(_ ready: RaftReady, into state: inout RaftDurableState) {
        if let snapshot = ready.snapshot {
            state.snapshot = snapshot
            state.entries.removeAll { $0.index <= snapshot.index }
        }
        if let write = ready.logWrite {
            state.entries.removeAll { $0.index >= write.truncateFrom }
            state.entries += write.entries
        }
        if let hardState = ready.hardState { state.hardState = hardState }
    }

    func linkIsUp(_ message: RaftMessage) -> Bool {
        !isolated.contains(message.from) && !isolated.contains(message.to)
    }

    /// Delivers messages (and the answers they cause) until none are left.
    mutating func deliverAll(roundsMax: Int = 1000) {
        processAll()
        var rounds = 0
        while !inFlight.isEmpty && rounds < roundsMax {
            let message = inFlight.removeFirst()
            rounds += 1
            guard linkIsUp(message) else { continue }
            let index = Self.position(message.to)
            nodes[index].step(message)
            process(index)
        }
    }

    /// One tick on every node (or the given ones), then delivery.
    mutating func tick(_ indexes: [Int]? = nil, times: Int = 1) {
        for _ in 0..<times {
            for index in indexes ?? Array(nodes.indices) { nodes[index].tick() }
            deliverAll()
        }
    }

    /// Ticks until some node leads; returns its position.
    mutating func electLeader(ticksMax: Int = 200) -> Int? {
        for _ in 0..<ticksMax {
            if let leader = leaderPosition { return leader }
            tick()
        }
        return leaderPosition
    }

    var leaderPosition: Int? {
        let leaders = nodes.indices.filter { nodes[$0].role == .leader && !isolated.contains(nodes[$0].id) }
        return leaders.max { nodes[$0].term < nodes[$1].term }
    }

    /// Restarts node `index` from what it persisted.
    mutating func restart(_ index: Int) {
        nodes[index] = RaftNode(configuration: nodes[index].configuration, restoring: durable[index])
        applied[index] = []
        inFlight.removeAll { $0.to == nodes[index].id }
    }
}
