import AgencyCore
import AgencyStore
import Raft
import VelocyPack

// The checkers: after every step, one leader per term, committed prefixes that never change,
// equal snapshots at equal indexes and consistent notifications; after the faults stop,
// convergence: every acknowledged write in every store, exactly-once writes, the
// compare-and-swap count, TTLs expired, and the same store content on every agent.

extension AgencySimulation {
    /// At most one leader per term.
    func checkLeaders() throws {
        for agent in agents {
            guard let core = agent.core, core.role == .leader else { continue }
            if let known = leaderOfTerm[core.term], known != core.id {
                throw failure("two leaders in term \(core.term): \(known) and \(core.id)")
            }
            leaderOfTerm[core.term] = core.id
        }
    }

    /// Committed entries never change (every agent's committed prefix against one record).
    func checkAgent(_ index: Int) throws {
        guard let core = agents[index].core else { return }
        let log = core.node.log
        let low = max(agents[index].checkedCommitIndex + 1, log.firstIndex)
        if low <= core.commitIndex {
            for logIndex in low...core.commitIndex {
                guard let entry = log.entry(at: logIndex) else {
                    throw failure("\(members[index]) committed \(logIndex) but does not hold it")
                }
                try expectCommitted(entry, on: index)
            }
        }
        agents[index].checkedCommitIndex = max(agents[index].checkedCommitIndex, core.commitIndex)
        guard core.store.index <= core.appliedIndex else {
            throw failure("\(members[index]) store at \(core.store.index) beyond applied \(core.appliedIndex)")
        }
    }

    func expectCommitted(_ entry: LogEntry, on index: Int) throws {
        let fingerprint = (entry.term, fnv1a(entry.payload))
        if let known = committed[entry.index] {
            guard known == fingerprint else {
                throw failure("committed entry \(entry.index) changed on \(members[index]): term \(known.0) became \(entry.term)")
            }
        } else {
            committed[entry.index] = fingerprint
        }
    }

    /// Every agent that applied the same entries writes the same snapshot bytes.
    func expectSnapshot(_ snapshot: RaftSnapshot, on index: Int) throws {
        let digest = fnv1a(snapshot.data)
        if let known = snapshotHashAt[snapshot.index] {
            guard known == digest else { throw failure("\(members[index]) snapshot at \(snapshot.index) differs from another agent's") }
        } else {
            snapshotHashAt[snapshot.index] = digest
        }
    }

    /// Observers hear from leaders only, of changes at indexes the leader applied, and a
    /// notification sent again by a later leader says the same.
    func observe(_ notification: AgencyNotification, term: Term, from index: Int) throws {
        guard let core = agents[index].core, core.role == .leader, core.term == term else {
            throw failure("\(members[index]) notified \(notification.url) without leading in term \(term)")
        }
        guard notification.index <= core.appliedIndex else {
            throw failure("notification for \(notification.index) before it applied on \(members[index])")
        }
        let key = "\(notification.url)#\(notification.index)"
        if let known = notificationsSeen[key] {
            guard known == notification else { throw failure("two different notifications for \(key)") }
        } else {
            notificationsSeen[key] = notification
        }
        report.notificationsSent += 1
        record("notify \(notification.url) of \(notification.index)")
    }

    /// After the faults: every client done, one leader followed by all with everything
    /// applied, nothing waiting, the expired TTLs gone; then the stores must be equal and hold
    /// every acknowledged write exactly once.
    func converged() throws -> Bool {
        // A cluster settles over simulated seconds: looking every 20 ms is plenty.
        if cluster != nil {
            guard now >= cluster!.convergenceCheckedAt + 20 else { return false }
            cluster!.convergenceCheckedAt = now
        }
        guard clients.allSatisfy({ $0.operation == nil }) else { return false }
        guard let leader = agents.first(where: { $0.core?.role == .leader })?.core else { return false }
        guard leader.node.log.term(at: leader.commitIndex) == leader.term else { return false }
        for agent in agents {
            guard let core = agent.core, core.failure == nil, core.term == leader.term,
                  core.appliedIndex == leader.commitIndex, core.pendingRequestCount == 0 else { return false }
        }
        // TTLs: what expired by every agent's clock (with a sweep's margin) is gone.
        let margin = Int64(settings.clockSkewMillisecondsMax + 12 * settings.tickMilliseconds)
        guard leader.store.expiredKeys(now: Self.epochMilliseconds + Int64(now) - margin).isEmpty else { return false }
        try checkStores(leader: leader)
        if cluster != nil, try !clusterConverged(leader: leader) { return false }
        record("converged: leader \(leader.id) in term \(leader.term) at \(leader.commitIndex)")
        return true
    }

    /// The stores agree byte for byte and hold what the clients were told.
    func checkStores(leader: AgencyNodeCore) throws {
        let reference = leader.store.snapshot()
        for agent in agents where agent.core!.store.snapshot() != reference {
            throw failure("the store of \(agent.id) differs from the leader's at \(leader.commitIndex)")
        }
        let store = leader.store
        // Exactly once: no write's counter above 1, every acknowledged one at 1, and /seq
        // counts the writes that applied.
        var applied: Int64 = 0
        for id in issuedWriteIDs {
            let count = store.value(at: path("/count/\(id)"))?.intValue ?? 0
            guard count <= 1 else { throw failure("write \(id) applied \(count) times") }
            if acknowledgedWrites[id] != nil && count != 1 {
                throw failure("acknowledged write \(id) (index \(acknowledgedWrites[id]!)) is not in the store")
            }
            if acknowledgedWrites[id] != nil && store.value(at: path("/data/\(id)"))?.intValue != Int64(id) {
                throw failure("acknowledged write \(id) lost its value")
            }
            applied += count
        }
        let sequence = store.value(at: path("/seq"))?.intValue ?? 0
        guard sequence == applied else { throw failure("/seq is \(sequence) but \(applied) writes applied") }
        // Compare-and-swap: /cas counts the transactions whose precondition held.
        let inquiries = store.inquire(issuedSwapIDs.map { "c\($0)" })
        var swaps: Int64 = 0
        for (id, inquiry) in zip(issuedSwapIDs, inquiries) {
            if case .applied = inquiry { swaps += 1 } else if acknowledgedSwapIDs.contains(id) {
                throw failure("acknowledged transaction \(id) is not remembered as applied (\(inquiry))")
            }
        }
        let value = store.value(at: path("/cas"))?.intValue ?? 0
        guard value == swaps else { throw failure("/cas is \(value) but \(swaps) transactions applied") }
    }

    func path(_ text: String) -> AgencyPath {
        AgencyPath(components: text.split(separator: "/").map(String.init))
    }

    func convergenceState() -> String {
        let nodes = agents.map { agent -> String in
            guard let core = agent.core else { return "\(agent.id) down" }
            return "\(agent.id) \(core.role) term \(core.term) commit \(core.commitIndex) applied \(core.appliedIndex) "
                + "pending \(core.pendingRequestCount)\(core.failure.map { " failed: \($0)" } ?? "")"
        }
        let busy = clients.indices.filter { clients[$0].operation != nil }
        return nodes.joined(separator: "; ") + "; clients busy: \(busy)" + (cluster != nil ? "\n    " + clusterState() : "")
    }
}
