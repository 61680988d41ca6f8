// Log replication: the leader's view of each follower, appendEntries in both directions,
// snapshots for followers that fell behind compaction, and commitment.

/// The leader's view of one follower's log.
struct Progress: Sendable, Equatable {
    /// How the leader talks to the follower.
    enum State: Sendable, Equatable {
        /// Unknown match point: one append at a time until one succeeds.
        case probe
        /// Known match point: appends are pipelined, up to the in-flight limit.
        case replicate
        /// A snapshot is on its way; no appends until it is acknowledged.
        case snapshot(index: LogIndex)
    }

    var state: State = .probe
    /// The highest index known to be replicated on the follower.
    var matchIndex: LogIndex = 0
    /// The next index to send.
    var nextIndex: LogIndex
    /// Probe: an append is outstanding; cleared by any answer from the follower.
    var probeSent = false
    /// Replicate: the last index of each append in flight, oldest first.
    var inFlight: [LogIndex] = []
    /// The match index when the previous heartbeat answer arrived (to see a stalled pipeline).
    var matchAtLastHeartbeat: LogIndex = 0
    /// Ticks since the snapshot was sent (snapshot state).
    var snapshotElapsed = 0
    /// The follower answered since the last quorum check.
    var recentActive: Bool

    init(nextIndex: LogIndex, recentActive: Bool) {
        self.nextIndex = nextIndex
        self.recentActive = recentActive
    }

    /// Whether the leader must hold further appends back, given the pipelining limit.
    func isPaused(inFlightMax: Int) -> Bool {
        switch state {
        case .probe: probeSent
        case .replicate: inFlight.count >= inFlightMax
        case .snapshot: true
        }
    }

    /// Switches to probing from just after the highest index the follower may hold.
    mutating func becomeProbe(nextIndex next: LogIndex) {
        state = .probe
        probeSent = false
        inFlight = []
        nextIndex = max(matchIndex + 1, next)
    }

    /// A snapshot that got no answer is given up after `limit` ticks (the message or its
    /// answer was probably lost); probing then sends it again if still needed.
    mutating func tickSnapshotTimer(limit: Int) {
        guard case .snapshot = state else { return }
        snapshotElapsed += 1
        if snapshotElapsed >= limit { becomeProbe(nextIndex: matchIndex + 1) }
    }
}

/// A read waiting for a quorum to confirm that its leader still leads.
struct PendingRead: Sendable, Equatable {
    var requestID: UInt64
    /// The commit index when the read arrived: the read point.
    var index: LogIndex
    /// The heartbeat round that confirms it.
    var context: UInt64
    /// Followers that answered that round (or a later one).
    var acknowledged: Set<NodeID> = []
}

extension RaftNode {
    /// Sends every follower what it lacks, as far as pipelining allows.
    mutating func broadcastAppend() {
        for peer in peers { sendAppends(to: peer) }
    }

    /// Sends appends to `peer` until it is paused or up to date (one message when probing).
    mutating func sendAppends(to peer: NodeID) {
        while sendAppend(to: peer, allowEmpty: false) {}
    }

    /// Sends one appendEntries (or the snapshot when the entries it needs are compacted away).
    /// Returns whether a message went out.
    @discardableResult
    mutating func sendAppend(to peer: NodeID, allowEmpty: Bool) -> Bool {
        var follower = progress[peer]!
        defer { progress[peer] = follower }
        if follower.isPaused(inFlightMax: configuration.inFlightAppendCountMax) { return false }
        let previousIndex = follower.nextIndex - 1
        guard follower.nextIndex > log.snapshotIndex, let previousTerm = log.term(at: previousIndex) else {
            follower.state = .snapshot(index: log.snapshotIndex)
            follower.snapshotElapsed = 0
            send(.installSnapshot(log.snapshot), to: peer)
            return true
        }
        let entries = log.entries(from: follower.nextIndex, countMax: configuration.appendEntryCountMax,
                                  byteCountMax: configuration.appendByteCountMax)
        if entries.isEmpty && !allowEmpty { return false }
        send(.appendEntries(previousLogIndex: previousIndex, previousLogTerm: previousTerm,
                            entries: entries, leaderCommit: commitIndex), to: peer)
        switch follower.state {
        case .probe:
            follower.probeSent = true
        case .replicate:
            if let last = entries.last {
                // Optimistic: the follower will very likely accept, so the next append starts
                // after this one without waiting (pipelining, thesis §10.2.1).
                follower.nextIndex = last.index + 1
                follower.inFlight.append(last.index)
            }
        case .snapshot:
            preconditionFailure("append to \(peer) while a snapshot is in flight")
        }
        return true
    }

    /// Sends every follower a heartbeat with the commit index it may safely adopt.
    mutating func broadcastHeartbeat(readContext context: UInt64) {
        for peer in peers {
            // Never more than the follower is known to hold: its log past matchIndex may still
            // differ from ours, and a heartbeat carries no log check.
            let commit = min(progress[peer]!.matchIndex, commitIndex)
            send(.heartbeat(commitIndex: commit, readContext: context), to: peer)
        }
    }

    /// The follower's side of appendEntries (Raft §5.3).
    mutating func handleAppendEntries(
        from leader: NodeID, previousIndex: LogIndex, previousTerm: Term, entries: [LogEntry], leaderCommit: LogIndex
    ) {
        var previousIndex = previousIndex
        var previousTerm = previousTerm
        var entries = entries
        // Entries must follow the previous index one by one in non-decreasing terms no newer
        // than the sender's; anything else is not a real leader's message.
        for (offset, entry) in entries.enumerated() {
            let expectedTerm = offset == 0 ? previousTerm : entries[offset - 1].term
            guard entry.index == previousIndex + 1 + LogIndex(offset), entry.term >= expectedTerm, entry.term <= term else { return }
        }
        if previousIndex < log.snapshotIndex {
            // Everything up to our snapshot is committed and therefore in the leader's log
            // too (Leader Completeness, §5.4); skip it and check from the snapshot on.
            let skipped = Int(min(log.snapshotIndex - previousIndex, LogIndex(entries.count)))
            let lastIndex = previousIndex + LogIndex(entries.count)
            entries.removeFirst(skipped)
            if entries.isEmpty {
                send(.appendEntriesResponse(success: true, matchIndex: min(lastIndex, log.snapshotIndex),
                                            rejectedIndex: 0, hintIndex: 0), to: leader)
                return
            }
            previousIndex = log.snapshotIndex
            previousTerm = log.snapshot.term
        }
        guard log.matches(index: previousIndex, term: previousTerm) else {
            send(.appendEntriesResponse(success: false, matchIndex: 0, rejectedIndex: previousIndex,
                                        hintIndex: rejectHint(previousIndex: previousIndex)), to: leader)
            return
        }
        for entry in entries {
            if let existing = log.term(at: entry.index) {
                if existing == entry.term { continue }
                // A conflicting entry is never committed: committed entries are on a majority
                // and every later leader holds them (§5.4). Trap if that ever fails.
                precondition(entry.index > commitIndex,
                             "\(id): leader \(leader) overwrites committed index \(entry.index) (commit \(commitIndex))")
                log.truncate(from: entry.index)
            }
            log.append(entry)
            markUnstable(from: entry.index)
        }
        // Only what this message proved to match may be committed or acknowledged; the log
        // beyond it may still hold entries the leader will overwrite (§5.3).
        let lastNewIndex = previousIndex + LogIndex(entries.count)
        if leaderCommit > commitIndex { commitIndex = max(commitIndex, min(leaderCommit, lastNewIndex)) }
        send(.appendEntriesResponse(success: true, matchIndex: lastNewIndex, rejectedIndex: 0, hintIndex: 0), to: leader)
    }

    /// Where the leader should try next after a mismatch at `previousIndex`: our last index
    /// when the log is shorter, else the end of the entries before the conflicting term
    /// (one round trip per term instead of per entry, §5.3), never below the commit index.
    func rejectHint(previousIndex: LogIndex) -> LogIndex {
        guard previousIndex <= log.lastIndex, let conflictTerm = log.term(at: previousIndex) else {
            return min(previousIndex - 1, log.lastIndex)
        }
        var index = previousIndex - 1
        while index > commitIndex && index > log.snapshotIndex && log.term(at: index) == conflictTerm {
            index -= 1
        }
        return index
    }

    /// The follower's side of install-snapshot (Raft §7).
    mutating func handleInstallSnapshot(from leader: NodeID, _ snapshot: RaftSnapshot) {
        guard snapshot.index > commitIndex else {
            // Already have all of it (a duplicate, or we caught up meanwhile).
            send(.installSnapshotResponse(matchIndex: commitIndex), to: leader)
            return
        }
        log.install(snapshot)
        // The durable log after the snapshot is rewritten from what remains in memory.
        markUnstable(from: snapshot.index + 1)
        snapshotToPersist = snapshot
        snapshotToApply = snapshot
        commitIndex = snapshot.index
        appliedIndex = snapshot.index
        send(.installSnapshotResponse(matchIndex: snapshot.index), to: leader)
    }

    /// The leader's side of an appendEntries answer.
    mutating func handleAppendEntriesResponse(
        from peer: NodeID, success: Bool, matchIndex: LogIndex, rejectedIndex: LogIndex, hintIndex: LogIndex
    ) {
        var follower = progress[peer]!
        follower.recentActive = true
        if success {
            guard matchIndex <= log.lastIndex else { return }  // not an answer to anything we sent
            follower.matchIndex = max(follower.matchIndex, matchIndex)
            follower.nextIndex = max(follower.nextIndex, follower.matchIndex + 1)
            switch follower.state {
            case .probe:
                follower.state = .replicate
                follower.probeSent = false
                follower.inFlight = []
            case .replicate:
                follower.inFlight.removeAll { $0 <= follower.matchIndex }
            case .snapshot(let index):
                if follower.matchIndex >= index { follower.becomeProbe(nextIndex: follower.matchIndex + 1) }
            }
            progress[peer] = follower
            if advanceCommitIndex() {
                broadcastAppend()
            } else {
                sendAppends(to: peer)
            }
            return
        }
        switch follower.state {
        case .probe:
            // Only the answer to the outstanding probe counts; others are old duplicates.
            guard rejectedIndex == follower.nextIndex - 1 else { progress[peer] = follower; return }
        case .replicate:
            guard rejectedIndex > follower.matchIndex else { progress[peer] = follower; return }
        case .snapshot:
            progress[peer] = follower
            return
        }
        follower.becomeProbe(nextIndex: min(hintIndex + 1, rejectedIndex))
        progress[peer] = follower
        sendAppend(to: peer, allowEmpty: true)
    }

    /// The leader's side of a heartbeat answer: liveness, read confirmation, and a nudge for
    /// followers that are behind.
    mutating func handleHeartbeatResponse(from peer: NodeID, readContext context: UInt64) {
        progress[peer]!.recentActive = true
        progress[peer]!.probeSent = false
        if progress[peer]!.state == .replicate
            && progress[peer]!.inFlight.count >= configuration.inFlightAppendCountMax {
            // The pipeline is full and the follower is alive: an append or its answer was
            // probably lost. Free one slot so replication resumes; a gap makes the follower
            // reject, which sends the leader back to probing.
            progress[peer]!.inFlight.removeFirst()
        }
        let follower = progress[peer]!
        if follower.matchIndex < log.lastIndex {
            // Replicating, but no progress since the last heartbeat answer: the appends in
            // flight were probably lost past the end of what it holds. An append without
            // entries makes the follower report the gap (it rejects), and probing takes over.
            let stalled = follower.state == .replicate && follower.matchIndex == follower.matchAtLastHeartbeat
            sendAppend(to: peer, allowEmpty: follower.state == .probe || stalled)
        }
        progress[peer]!.matchAtLastHeartbeat = follower.matchIndex
        if context != 0 { acknowledgeReads(from: peer, context: context) }
    }

    /// The leader's side of an install-snapshot answer.
    mutating func handleInstallSnapshotResponse(from peer: NodeID, matchIndex: LogIndex) {
        var follower = progress[peer]!
        follower.recentActive = true
        guard matchIndex <= log.lastIndex else { progress[peer] = follower; return }
        follower.matchIndex = max(follower.matchIndex, matchIndex)
        follower.becomeProbe(nextIndex: follower.matchIndex + 1)
        progress[peer] = follower
        if advanceCommitIndex() { broadcastAppend() } else { sendAppend(to: peer, allowEmpty: true) }
    }

    /// Moves the commit index to the highest index a majority holds, but only when that
    /// entry is of the current term (Raft §5.4.2: counting replicas of an older term's entry
    /// does not make it safe — Figure 8). Returns whether it moved.
    @discardableResult
    mutating func advanceCommitIndex() -> Bool {
        guard role == .leader else { return false }
        var matches = peers.map { progress[$0]!.matchIndex }
        matches.append(log.lastIndex)
        matches.sort(by: >)
        let candidate = matches[quorum - 1]
        guard candidate > commitIndex, log.term(at: candidate) == term else { return false }
        let firstInTerm = log.term(at: commitIndex) != term
        commitIndex = candidate
        if firstInTerm { releaseReadsAwaitingTermCommit() }
        return true
    }
}
