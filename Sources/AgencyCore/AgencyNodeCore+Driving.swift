import AgencyStore
import Raft
import VelocyPack

// Carrying out the Raft node's Readys in the contract's order, with the store as the state
// machine and the waiting requests answered as their entries apply.

extension AgencyNodeCore {
    /// The actions to carry out now, in order; empty when there is nothing to do. When the
    /// last one is `persist`, the driver calls ``persisted()`` after it and asks again.
    public mutating func nextActions() -> [AgencyAction] {
        if readyAwaitingPersistence == nil, !isStopped { advance() }
        let taken = actions
        actions = []
        return taken
    }

    /// Takes Readys until one needs persisting (it then waits for the driver) or none is left;
    /// then the work that follows a drive: reads waiting for apply, writes orphaned by a lost
    /// leadership, the snapshot policy and the timeout sweep.
    mutating func advance() {
        while failure == nil, readyAwaitingPersistence == nil {
            if node.hasReady {
                let ready = node.ready()
                if ready.snapshot != nil || ready.logWrite != nil || ready.hardState != nil {
                    // 1. Durable state first: nothing may be sent that depends on unwritten state.
                    actions.append(.persist(snapshot: ready.snapshot, logWrite: ready.logWrite,
                                            hardState: ready.hardState, sync: ready.mustSync))
                    readyAwaitingPersistence = ready
                    return
                }
                carryOut(ready)
                continue
            }
            answerAppliedReads()
            refuseWritesAfterLeadershipLoss()
            if compactIfDue() { continue }
            if sweepDue {
                sweepDue = false
                sweepTimeouts()
            }
            return
        }
    }

    /// Steps 2–5 of a Ready whose persistence is done.
    mutating func carryOut(_ ready: RaftReady) {
        // 2. Messages.
        for message in ready.messages { actions.append(.send(message)) }
        // 3. A snapshot from the leader replaces the store.
        if let snapshot = ready.snapshotToApply {
            do {
                store = try AgencyStore(restoring: snapshot.data)
                lastSnapshotIndex = snapshot.index
            } catch {
                return fail("the snapshot at index \(snapshot.index) does not restore: \(error)")
            }
        }
        // 4. Committed entries, in order.
        for entry in ready.committedEntries { apply(entry) }
        // 5. Reads whose index is known.
        for result in ready.readResults {
            guard let read = pendingReads.removeValue(forKey: result.requestID) else { continue }
            switch result.outcome {
            case .ready(let index):
                if store.index >= index || node.appliedIndex >= index {
                    serve(read)
                } else {
                    readsWaitingForApply.append((index, read))
                }
            case .notLeader(let hint):
                refuse(read.request, .notLeader(hint))
            }
        }
    }

    mutating func apply(_ entry: LogEntry) {
        var outcome: AgencyApplyOutcome?
        if entry.kind == .command {
            let applied = store.apply(index: entry.index, payload: entry.payload)
            outcome = applied
            // Observers hear of changes from the leader only (every agent applies the entry;
            // one notification per observer is enough).
            if node.role == .leader {
                for notification in applied.notifications { actions.append(.notify(notification, term: node.term)) }
            }
        }
        if let pending = pendingWrites.removeValue(forKey: entry.index) {
            if pending.term == entry.term, let outcome {
                answer(pending.request, .applied(outcome))
            } else {
                refuse(pending.request, .unknownOutcome("another leader's entry took index \(entry.index)"))
            }
        }
        if !polls.isEmpty {
            let index = store.index
            let ready = polls.filter { index > $0.after }
            polls.removeAll { index > $0.after }
            for poll in ready { answer(poll.request, .served(store.poll(from: poll.from).encoded())) }
        }
    }

    /// Answers a read from the store (which has applied its read index).
    mutating func serve(_ read: PendingRead) {
        switch read.query {
        case .read(let body):
            do throws(AgencyError) {
                answer(read.request, .served(try store.readAnswer(request: body)))
            } catch {
                refuse(read.request, .invalid(error))
            }
        case .inquire(let clientIds):
            answer(read.request, .served(AgencyInquiry.answer(store.inquire(clientIds))))
        }
    }

    mutating func answerAppliedReads() {
        guard !readsWaitingForApply.isEmpty else { return }
        let applied = node.appliedIndex
        let ready = readsWaitingForApply.filter { $0.index <= applied }
        readsWaitingForApply.removeAll { $0.index <= applied }
        for waiting in ready { serve(waiting.read) }
    }

    /// Entries proposed as leader may still commit under the next leader, or not: the outcome
    /// is unknown to this member once it no longer leads.
    mutating func refuseWritesAfterLeadershipLoss() {
        guard node.role != .leader, !pendingWrites.isEmpty else { return }
        let lost = pendingWrites.keys.sorted()
        for index in lost {
            let write = pendingWrites.removeValue(forKey: index)!
            refuse(write.request, .unknownOutcome("leadership was lost before the entry committed"))
        }
    }

    /// The snapshot policy: every ``Options/snapshotEveryEntries`` applied entries, compact the
    /// log behind a snapshot of the store. Returns whether it did (a new Ready follows).
    mutating func compactIfDue() -> Bool {
        let applied = node.appliedIndex
        guard applied >= lastSnapshotIndex + options.snapshotEveryEntries else { return false }
        node.compact(upTo: applied, snapshot: store.snapshot())
        lastSnapshotIndex = applied
        return true
    }

    /// The leader turns expired TTLs into a log entry (every replica then deletes the same keys
    /// at the same index).
    mutating func expireTTLs(now: Int64) {
        guard node.role == .leader, ticks % options.expiryIntervalTicks == 0 else { return }
        let expired = store.expiredKeys(now: now)
        guard !expired.isEmpty else { return }
        _ = node.propose(AgencyLogEntry.expiryPayload(timeMilliseconds: now, paths: expired))
    }

    /// The supervision slot: the leader proposes what supervision decides, once the entries
    /// of its previous round have applied (or leadership moved on).
    mutating func supervise(now: Int64) {
        guard node.role == .leader else { return }
        if let awaited = supervisionAwaits, awaited.term == node.term, node.appliedIndex < awaited.index { return }
        supervisionAwaits = nil
        let envelopes = supervision.step(store: store, term: node.term, nowMilliseconds: now)
        supervisionNotes += supervision.takeNotes()
        for envelope in envelopes {
            if case let .accepted(index, term) = node.propose(AgencyLogEntry.payload(timeMilliseconds: now, envelope: Slice(trustedBytes: envelope))) {
                supervisionAwaits = (index, term)
            }
        }
    }

    mutating func sweepTimeouts() {
        let now = elapsedMilliseconds
        for index in pendingWrites.keys.sorted() where pendingWrites[index]!.deadline < now {
            let write = pendingWrites.removeValue(forKey: index)!
            refuse(write.request, .unknownOutcome("no commit within \(options.requestTimeoutMilliseconds) ms"))
        }
        for id in pendingReads.keys.sorted() where pendingReads[id]!.deadline < now {
            let read = pendingReads.removeValue(forKey: id)!
            refuse(read.request, .unknownOutcome("no read index within \(options.requestTimeoutMilliseconds) ms"))
        }
        let late = polls.filter { $0.deadline < now }
        polls.removeAll { $0.deadline < now }
        for poll in late { answer(poll.request, .served(store.poll(from: poll.from).encoded())) }
    }

    /// Stops taking part after a failure of the disk or of a snapshot.
    mutating func fail(_ reason: String) {
        failure = reason
        failAll(.failed(reason))
    }

    /// Refuses every waiting write and read with `refusal`; polls get what there is.
    mutating func failAll(_ refusal: AgencyRefusal) {
        let writes = pendingWrites.keys.sorted().map { pendingWrites[$0]! }
        let reads = pendingReads.keys.sorted().map { pendingReads[$0]! }
        let waiting = readsWaitingForApply, waitingPolls = polls
        pendingWrites = [:]
        pendingReads = [:]
        readsWaitingForApply = []
        polls = []
        for write in writes { refuse(write.request, refusal) }
        for read in reads { refuse(read.request, refusal) }
        for entry in waiting { refuse(entry.read.request, refusal) }
        for poll in waitingPolls { answer(poll.request, .served(store.poll(from: poll.from).encoded())) }
    }

    mutating func answer(_ id: AgencyRequestID, _ answer: AgencyAnswer) { actions.append(.answer(id, answer)) }

    mutating func refuse(_ id: AgencyRequestID, _ refusal: AgencyRefusal) { answer(id, .refused(refusal)) }
}
