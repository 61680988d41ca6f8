public import Raft

// The simulator is a library target under Sources/ rather than test-only support under
// Tests/, because two clients use it: the RaftTests suite (a fixed list of seeds) and the
// `raft-simulate` executable (random seeds for as long as asked).

/// A failed run: what broke, and how to replay it.
public struct SimulationFailure: Error, Sendable, CustomStringConvertible {
    /// The checker's message.
    public var message: String
    /// The run's settings (the seed first).
    public var settings: SimulationSettings
    /// Simulated milliseconds when it broke.
    public var time: Int
    /// The last events before the failure, oldest first.
    public var recentTrace: [String]

    /// The shell command that replays this run exactly.
    public var replayCommand: String {
        "swift run --scratch-path .build-raft raft-simulate --seed \(settings.seed) --nodes \(settings.nodeCount)"
            + " --fault-milliseconds \(settings.faultMilliseconds) --trace"
    }

    public var description: String {
        "Raft simulation FAILED at \(time) ms: \(message)\n  \(settings)\n  replay: \(replayCommand)\n  last events:\n"
            + recentTrace.map { "    " + $0 }.joined(separator: "\n")
    }
}

/// What a run did.
public struct SimulationReport: Sendable {
    public var settings: SimulationSettings
    /// Simulated milliseconds the run covered.
    public var simulatedMilliseconds = 0
    /// Events processed.
    public var eventCount = 0
    /// A hash of every event and its outcome: equal for equal seeds.
    public var traceHash: UInt64 = 0xCBF2_9CE4_8422_2325
    public var writesAcknowledged = 0
    public var readsServed = 0
    public var crashes = 0
    public var crashesBeforeSync = 0
    public var tornWrites = 0
    public var partitions = 0
    public var messagesSent = 0
    public var messagesDropped = 0
    public var snapshotsInstalled = 0
    /// The highest term any node reached.
    public var termMax: Term = 0
    /// Simulated milliseconds from the end of the faults until the run converged.
    public var convergenceMilliseconds = 0
    /// Set when a checker failed.
    public var failure: SimulationFailure?
}

/// Runs a group of Raft nodes in one thread with a simulated network, simulated disks,
/// crashes, partitions and clients, all decided by one seed; checkers run after every step.
public final class Simulation {
    enum Event {
        case tick(Int)
        case deliver(RaftMessage)
        case crash
        case restart(Int)
        case partitionStart
        case partitionEnd
        case clientWrite
        case clientRead
        case clientRetry
        case heal
    }

    struct StateMachine {
        var appliedIndex: LogIndex = 0
        var digest: UInt64 = 0
        var writeIDs: Set<UInt64> = []
    }

    struct Agent {
        let id: NodeID
        var node: RaftNode?
        var disk = SimulatedDisk()
        var incarnation = 0
        var machine = StateMachine()
    }

    struct PendingWrite {
        var payload: [UInt8]
        /// The agent it was last proposed to, if accepted.
        var agent: Int?
        /// When it may be submitted (again).
        var retryAt: Int
    }

    let settings: SimulationSettings
    let members: [NodeID]
    let recordsTrace: Bool
    var random: SeededGenerator
    var now = 0
    var queue = EventQueue<Event>()
    var agents: [Agent]
    /// Which side of the current partition each agent is on (all 0: none).
    var partitionSide: [Int]
    var faultsActive = true
    var healedAt: Int?
    var report: SimulationReport
    var recentTrace: [String] = []
    var fullTrace: [String] = []

    // Checker state.
    var leaderOfTerm: [Term: NodeID] = [:]
    /// The (term, payload hash) of every index some node committed.
    var committed: [LogIndex: (Term, UInt64)] = [:]
    /// The state machine digest after applying each index.
    var digestAt: [LogIndex: UInt64] = [:]
    var commitIndexMax: LogIndex = 0

    // Client state.
    var nextWriteID: UInt64 = 1
    var pendingWrites: [UInt64: PendingWrite] = [:]
    var acknowledgedWriteIDs: [UInt64] = []
    var leaderGuess = 0
    var nextReadID: UInt64 = 1
    /// Outstanding reads: agent and the commit index every client could know when issued.
    var pendingReads: [UInt64: (agent: Int, minimumIndex: LogIndex)] = [:]

    /// Prepares a run; `recordsTrace` keeps every event as text (for `--trace`).
    public init(settings: SimulationSettings, recordsTrace: Bool = false) {
        self.settings = settings
        self.recordsTrace = recordsTrace
        members = (1...settings.nodeCount).map { NodeID(UInt64($0)) }
        random = SeededGenerator(seed: settings.seed ^ 0x5151_5151_5151_5151)
        agents = members.map { Agent(id: $0) }
        partitionSide = Array(repeating: 0, count: settings.nodeCount)
        report = SimulationReport(settings: settings)
    }

    /// The events of the run as text (only with `recordsTrace`).
    public var trace: [String] { fullTrace }

    /// Runs to convergence or failure.
    public func run() -> SimulationReport {
        for index in agents.indices {
            start(index)
            queue.schedule(.tick(index), at: draw(0...(settings.tickMilliseconds - 1)))
        }
        queue.schedule(.clientWrite, at: draw(0...settings.writeIntervalMilliseconds))
        queue.schedule(.clientRead, at: draw(0...settings.readIntervalMilliseconds))
        queue.schedule(.clientRetry, at: 100)
        if settings.partitionIntervalMilliseconds > 0 {
            queue.schedule(.partitionStart, at: draw(0...(2 * settings.partitionIntervalMilliseconds)))
        }
        if settings.crashIntervalMilliseconds > 0 {
            queue.schedule(.crash, at: draw(0...(2 * settings.crashIntervalMilliseconds)))
        }
        queue.schedule(.heal, at: settings.faultMilliseconds)
        do {
            while let (time, event) = queue.popFirst() {
                now = time
                report.eventCount += 1
                try handle(event)
                try checkLeaders()
                if let healedAt {
                    if try converged() {
                        report.convergenceMilliseconds = now - healedAt
                        break
                    }
                    if now - healedAt > settings.convergenceMillisecondsMax {
                        throw failure("no convergence \(settings.convergenceMillisecondsMax) ms after the faults stopped: "
                                      + convergenceState())
                    }
                }
            }
        } catch let failure as SimulationFailure {
            report.failure = failure
        } catch {
            report.failure = self.failure("unexpected error \(error)")
        }
        report.simulatedMilliseconds = now
        report.tornWrites = agents.map(\.disk.tornWriteCount).reduce(0, +)
        report.termMax = agents.compactMap { $0.node?.term }.max() ?? 0
        return report
    }

    // MARK: - Events

    func handle(_ event: Event) throws {
        switch event {
        case .tick(let index):
            queue.schedule(.tick(index), at: now + settings.tickMilliseconds)
            guard agents[index].node != nil else { return }
            agents[index].node!.tick()
            try drain(index)
        case .deliver(let message):
            let index = Int(message.to.rawValue) - 1
            let sender = Int(message.from.rawValue) - 1
            guard agents[index].node != nil, partitionSide[index] == partitionSide[sender] else {
                record("drop \(describe(message)) (down or partitioned)")
                return
            }
            record("deliver \(describe(message))")
            agents[index].node!.step(message)
            try drain(index)
        case .crash:
            guard faultsActive else { return }
            queue.schedule(.crash, at: now + draw(1...(2 * settings.crashIntervalMilliseconds)))
            let live = agents.indices.filter { agents[$0].node != nil }
            guard !live.isEmpty else { return }
            crash(live[draw(0...(live.count - 1))], beforeSync: false)
        case .restart(let index):
            guard agents[index].node == nil else { return }
            start(index)
            try drain(index)
        case .partitionStart:
            guard faultsActive else { return }
            report.partitions += 1
            // Either one node alone or a random split; both sides may be a minority.
            if random.chance(0.5) {
                let alone = draw(0...(settings.nodeCount - 1))
                partitionSide = agents.indices.map { $0 == alone ? 1 : 0 }
            } else {
                partitionSide = agents.indices.map { _ in random.chance(0.5) ? 1 : 0 }
            }
            record("partition \(partitionSide)")
            queue.schedule(.partitionEnd, at: now + draw(50...settings.partitionMillisecondsMax))
        case .partitionEnd:
            partitionSide = Array(repeating: 0, count: settings.nodeCount)
            record("partition healed")
            if faultsActive {
                queue.schedule(.partitionStart, at: now + draw(1...(2 * settings.partitionIntervalMilliseconds)))
            }
        case .clientWrite:
            guard faultsActive else { return }
            queue.schedule(.clientWrite, at: now + draw(1...(2 * settings.writeIntervalMilliseconds)))
            // Back-pressure: a client with many writes outstanding waits.
            guard pendingWrites.count < 64 else { return }
            let id = nextWriteID
            nextWriteID += 1
            var payload = littleEndian(id)
            for _ in 0..<draw(0...settings.payloadPaddingMax) { payload.append(UInt8(truncatingIfNeeded: random.next())) }
            pendingWrites[id] = PendingWrite(payload: payload, agent: nil, retryAt: now)
            try submit(id)
        case .clientRead:
            queue.schedule(.clientRead, at: now + draw(1...(2 * settings.readIntervalMilliseconds)))
            let index = pickAgent()
            guard agents[index].node != nil else { return }
            let id = nextReadID
            nextReadID += 1
            pendingReads[id] = (index, commitIndexMax)
            record("read \(id) at \(members[index]) (must see \(commitIndexMax))")
            agents[index].node!.readIndex(requestID: id)
            try drain(index)
        case .clientRetry:
            queue.schedule(.clientRetry, at: now + 100)
            for id in pendingWrites.keys.sorted() where pendingWrites[id]!.retryAt <= now {
                try submit(id)
            }
        case .heal:
            faultsActive = false
            healedAt = now
            partitionSide = Array(repeating: 0, count: settings.nodeCount)
            record("faults stop: network healed, every node up")
            for index in agents.indices where agents[index].node == nil {
                start(index)
                try drain(index)
            }
        }
    }

    /// Proposes write `id` to the agent the client believes leads.
    func submit(_ id: UInt64) throws {
        let index = pickAgent()
        // A write that gets no answer is retried after a timeout, possibly elsewhere; the state
        // machine ignores a write id it has seen, so a retry never applies twice.
        pendingWrites[id]!.retryAt = now + 1000
        guard agents[index].node != nil else { return }
        switch agents[index].node!.propose(pendingWrites[id]!.payload) {
        case .accepted(let logIndex, let term):
            pendingWrites[id]!.agent = index
            record("write \(id) accepted by \(members[index]) at \(logIndex) in term \(term)")
            try drain(index)
        case .notLeader(let hint):
            if let hint { leaderGuess = Int(hint.rawValue) - 1 } else { leaderGuess = draw(0...(settings.nodeCount - 1)) }
            pendingWrites[id]!.retryAt = now + 20
        }
    }

    func pickAgent() -> Int {
        if agents[leaderGuess].node == nil { leaderGuess = draw(0...(settings.nodeCount - 1)) }
        return leaderGuess
    }

    func start(_ index: Int) {
        let durable = agents[index].disk.recover()
        agents[index].incarnation += 1
        let configuration = settings.configuration(for: members[index], members: members,
                                                   incarnation: agents[index].incarnation)
        agents[index].node = RaftNode(configuration: configuration, restoring: durable)
        agents[index].machine = StateMachine()
        record("start \(members[index]) (incarnation \(agents[index].incarnation)): term \(durable.hardState.term), "
               + "snapshot \(durable.snapshot?.index ?? 0), \(durable.entries.count) entries")
    }

    func crash(_ index: Int, beforeSync: Bool) {
        agents[index].node = nil
        agents[index].disk.crash(random: &random, tornProbability: settings.tornWriteProbability)
        report.crashes += 1
        if beforeSync { report.crashesBeforeSync += 1 }
        pendingReads = pendingReads.filter { $0.value.agent != index }
        record("crash \(members[index])\(beforeSync ? " before sync" : "")")
        queue.schedule(.restart(index), at: now + draw(1...settings.downMillisecondsMax))
    }

    // MARK: - The driver

    /// Carries out the node's Readys in the contract's order until it has none.
    func drain(_ index: Int) throws {
        while let node = agents[index].node, node.hasReady {
            let ready = agents[index].node!.ready()
            // 1. Persist, then sync when asked; a crash may strike in between.
            agents[index].disk.write(ready)
            if ready.mustSync {
                if faultsActive && random.chance(settings.crashBeforeSyncProbability) {
                    crash(index, beforeSync: true)
                    return
                }
                agents[index].disk.sync()
            }
            if ready.snapshot != nil { agents[index].disk.rewrite() }
            // 2. Send.
            for message in ready.messages { try send(message) }
            // 3. Restore, 4. apply, 5. answer reads.
            if let snapshot = ready.snapshotToApply { try restore(index, from: snapshot) }
            for entry in ready.committedEntries { try apply(entry, at: index) }
            for result in ready.readResults { try answer(result, at: index) }
            // Compaction, as an agent would do it: a snapshot of what is applied.
            let machine = agents[index].machine
            if machine.appliedIndex >= agents[index].node!.log.snapshotIndex + LogIndex(settings.compactionEntryCount) {
                agents[index].node!.compact(upTo: machine.appliedIndex, snapshot: encode(machine))
            }
        }
        try checkNode(index)
    }

    func send(_ message: RaftMessage) throws {
        report.messagesSent += 1
        // Every message crosses the wire format, as it will between real agents.
        let decoded: RaftMessage
        do {
            decoded = try RaftCodec.decodeMessage(RaftCodec.encode(message))
        } catch {
            throw failure("\(describe(message)) does not decode: \(error)")
        }
        guard decoded == message else { throw failure("\(describe(message)) decodes as \(describe(decoded))") }
        if faultsActive && random.chance(settings.dropProbability) {
            report.messagesDropped += 1
            record("lose \(describe(message))")
            return
        }
        let copies = faultsActive && random.chance(settings.duplicateProbability) ? 2 : 1
        for _ in 0..<copies {
            var delay = draw(settings.delayMillisecondsMin...settings.delayMillisecondsMax)
            if faultsActive && random.chance(settings.longDelayProbability) {
                delay = draw(settings.delayMillisecondsMin...settings.longDelayMillisecondsMax)
            }
            queue.schedule(.deliver(message), at: now + delay)
        }
    }

    func restore(_ index: Int, from snapshot: RaftSnapshot) throws {
        guard let machine = decodeMachine(snapshot.data), machine.appliedIndex == snapshot.index else {
            throw failure("\(members[index]): snapshot at \(snapshot.index) does not hold a state machine at that index")
        }
        try expect(digest: machine.digest, at: snapshot.index, on: index)
        agents[index].machine = machine
        report.snapshotsInstalled += 1
        record("\(members[index]) restores snapshot \(snapshot.index)")
    }

    func apply(_ entry: LogEntry, at index: Int) throws {
        var machine = agents[index].machine
        guard entry.index == machine.appliedIndex + 1 else {
            throw failure("\(members[index]) applies index \(entry.index) after \(machine.appliedIndex)")
        }
        try expectCommitted(entry, on: index)
        machine.appliedIndex = entry.index
        machine.digest = mix(mix(mix(machine.digest, entry.index), entry.term), hash(entry.payload))
        if entry.kind == .command {
            let id = readLittleEndian(entry.payload[...])
            machine.writeIDs.insert(id)
            // Acknowledged by the agent the client last proposed it to, even when a retry
            // applied it a second time there (the first copy may have been proposed elsewhere).
            if pendingWrites[id]?.agent == index {
                pendingWrites[id] = nil
                acknowledgedWriteIDs.append(id)
                report.writesAcknowledged += 1
                record("write \(id) acknowledged by \(members[index]) at \(entry.index)")
            }
        }
        agents[index].machine = machine
        try expect(digest: machine.digest, at: entry.index, on: index)
    }

    func answer(_ result: RaftReady.ReadResult, at index: Int) throws {
        guard let read = pendingReads.removeValue(forKey: result.requestID) else { return }
        switch result.outcome {
        case .ready(let readIndex):
            // Linearizability: the read point covers every write committed before it began.
            guard readIndex >= read.minimumIndex else {
                throw failure("stale read \(result.requestID) at \(members[index]): index \(readIndex) < \(read.minimumIndex) committed before it began")
            }
            guard agents[index].machine.appliedIndex >= readIndex else {
                throw failure("read \(result.requestID) answered at \(readIndex) before applying it (applied \(agents[index].machine.appliedIndex))")
            }
            report.readsServed += 1
            record("read \(result.requestID) served by \(members[index]) at \(readIndex)")
        case .notLeader(let hint):
            if let hint { leaderGuess = Int(hint.rawValue) - 1 }
        }
    }
}
