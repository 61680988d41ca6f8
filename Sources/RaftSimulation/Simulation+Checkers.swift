public import Raft

/// The simulation's checkers (after every step: one leader per term, committed prefixes
/// agree, the state machines agree at each applied index) and helpers.
extension Simulation {
    // MARK: - Checkers

    /// At most one leader per term.
    func checkLeaders() throws {
        for agent in agents {
            guard let node = agent.node, node.role == .leader else { continue }
            if let known = leaderOfTerm[node.term], known != node.id {
                throw failure("two leaders in term \(node.term): \(known) and \(node.id)")
            }
            leaderOfTerm[node.term] = node.id
        }
    }

    /// Committed entries never change, and logs agree wherever they hold the same index and term.
    func checkNode(_ index: Int) throws {
        guard let node = agents[index].node else { return }
        commitIndexMax = max(commitIndexMax, node.commitIndex)
        let log = node.log
        if log.firstIndex <= node.commitIndex {
            for logIndex in log.firstIndex...node.commitIndex { try expectCommitted(log.entry(at: logIndex)!, on: index) }
        }
        for other in agents.indices where other != index {
            guard let otherLog = agents[other].node?.log else { continue }
            let low = max(log.firstIndex, otherLog.firstIndex)
            let high = min(log.lastIndex, otherLog.lastIndex)
            guard low <= high else { continue }
            // Log Matching (§5.3): below the highest index where the terms agree, everything agrees.
            var logIndex = high
            while logIndex >= low && log.term(at: logIndex) != otherLog.term(at: logIndex) { logIndex -= 1 }
            while logIndex >= low {
                guard log.entry(at: logIndex) == otherLog.entry(at: logIndex) else {
                    throw failure("logs of \(members[index]) and \(members[other]) differ at \(logIndex) below a matching entry")
                }
                logIndex -= 1
            }
        }
    }

    func expectCommitted(_ entry: LogEntry, on index: Int) throws {
        let fingerprint = (entry.term, hash(entry.payload))
        if let known = committed[entry.index] {
            guard known == fingerprint else {
                throw failure("committed entry \(entry.index) changed on \(members[index]): term \(known.0) became \(entry.term)")
            }
        } else {
            committed[entry.index] = fingerprint
        }
    }

    /// Every node applies the same entries in the same order: equal digests at equal indexes.
    func expect(digest: UInt64, at logIndex: LogIndex, on index: Int) throws {
        if let known = digestAt[logIndex] {
            guard known == digest else { throw failure("\(members[index]) state differs after applying \(logIndex)") }
        } else {
            digestAt[logIndex] = digest
        }
    }

    /// After the faults: one leader that a majority follows, every write acknowledged, and
    /// every node has applied everything the leader committed.
    func converged() throws -> Bool {
        guard pendingWrites.isEmpty else { return false }
        guard let leader = agents.first(where: { $0.node?.role == .leader })?.node else { return false }
        guard leader.log.term(at: leader.commitIndex) == leader.term else { return false }
        for agent in agents {
            guard let node = agent.node, node.term == leader.term, agent.machine.appliedIndex == leader.commitIndex else { return false }
        }
        // No acknowledged write lost: every node holds every one.
        for agent in agents {
            for id in acknowledgedWriteIDs where !agent.machine.writeIDs.contains(id) {
                throw failure("acknowledged write \(id) missing on \(agent.id)")
            }
        }
        record("converged: leader \(leader.id) in term \(leader.term) at \(leader.commitIndex)")
        return true
    }

    func convergenceState() -> String {
        let nodes = agents.map { agent -> String in
            guard let node = agent.node else { return "\(agent.id) down" }
            return "\(agent.id) \(node.role) term \(node.term) commit \(node.commitIndex) applied \(agent.machine.appliedIndex) last \(node.log.lastIndex)"
        }
        return nodes.joined(separator: "; ") + "; \(pendingWrites.count) writes pending"
    }

    // MARK: - Helpers

    func failure(_ message: String) -> SimulationFailure {
        SimulationFailure(message: message, settings: settings, time: now, recentTrace: recentTrace)
    }

    func record(_ line: @autoclosure () -> String) {
        let text = "\(now) \(line())"
        report.traceHash = mix(report.traceHash, hash(Array(text.utf8)))
        recentTrace.append(text)
        if recentTrace.count > 40 { recentTrace.removeFirst(recentTrace.count - 40) }
        if recordsTrace { fullTrace.append(text) }
    }

    func describe(_ message: RaftMessage) -> String { SimulationTrace.describe(message) }

    func draw(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(random.next(upperBound: UInt64(range.upperBound - range.lowerBound + 1)))
    }

    func encode(_ machine: StateMachine) -> [UInt8] {
        var bytes = littleEndian(machine.appliedIndex) + littleEndian(machine.digest)
        bytes += littleEndian(UInt64(machine.writeIDs.count))
        // Sorted: the snapshot's bytes must not depend on Set order.
        for id in machine.writeIDs.sorted() { bytes += littleEndian(id) }
        return bytes
    }

    func decodeMachine(_ bytes: [UInt8]) -> StateMachine? {
        guard bytes.count >= 24 else { return nil }
        var machine = StateMachine()
        machine.appliedIndex = readLittleEndian(bytes[0..<8])
        machine.digest = readLittleEndian(bytes[8..<16])
        let count = Int(readLittleEndian(bytes[16..<24]))
        guard bytes.count == 24 + 8 * count else { return nil }
        for position in 0..<count {
            machine.writeIDs.insert(readLittleEndian(bytes[(24 + 8 * position)..<(32 + 8 * position)]))
        }
        return machine
    }
}

func mix(_ state: UInt64, _ value: UInt64) -> UInt64 {
    var generator = SeededGenerator(seed: state ^ value)
    return generator.next()
}

func hash(_ bytes: [UInt8]) -> UInt64 {
    var value: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return value
}

/// Trace lines shared by the simulators: one Raft message in a line.
public enum SimulationTrace {
    public static func describe(_ message: RaftMessage) -> String {
        let body: String
        switch message.body {
        case .appendEntries(let previousIndex, let previousTerm, let entries, let commit):
            body = "appendEntries prev \(previousIndex)/\(previousTerm) \(entries.count) entries commit \(commit)"
        case .appendEntriesResponse(let success, let match, let rejected, let hint):
            body = success ? "appendOK match \(match)" : "appendReject at \(rejected) hint \(hint)"
        case .installSnapshot(let snapshot):
            body = "installSnapshot \(snapshot.index)/\(snapshot.term)"
        default:
            body = "\(message.body)"
        }
        return "\(message.from)->\(message.to) t\(message.term) \(body)"
    }
}
