// Elections: role changes (one function per role), pre-vote, votes, and the leader's tick.

extension RaftNode {
    /// Becomes a follower of `leader` (or of nobody yet) in `newTerm`.
    mutating func becomeFollower(term newTerm: Term, leader: NodeID?) {
        precondition(newTerm >= term, "becoming follower in term \(newTerm) below current \(term)")
        if newTerm > term {
            term = newTerm
            votedFor = nil
        }
        if role == .leader { failPendingReads() }
        role = .follower
        leaderID = leader
        progress = [:]
        resetElectionTimer()
    }

    /// Starts a pre-vote round: asks whether a majority would vote for this node in the next
    /// term, without raising its own term (thesis §9.6).
    mutating func startPreVote() {
        if quorum == 1 {
            startElection()
            return
        }
        role = .preCandidate
        leaderID = nil
        votes = [id: true]
        resetElectionTimer()
        for peer in peers {
            send(.preVote(lastLogIndex: log.lastIndex, lastLogTerm: log.lastTerm), to: peer, term: term + 1)
        }
    }

    /// Starts a real election in the next term, voting for itself (Raft §5.2).
    mutating func startElection() {
        term += 1
        votedFor = id
        role = .candidate
        leaderID = nil
        votes = [id: true]
        resetElectionTimer()
        if quorum == 1 {
            becomeLeader()
            return
        }
        for peer in peers {
            send(.requestVote(lastLogIndex: log.lastIndex, lastLogTerm: log.lastTerm), to: peer)
        }
    }

    /// Takes office: every follower starts in probe state just after the leader's log, and a
    /// no-op entry of the new term lets the leader commit what earlier terms left (§5.4.2).
    mutating func becomeLeader() {
        precondition(role == .candidate, "becoming leader as \(role)")
        role = .leader
        leaderID = id
        heartbeatElapsed = 0
        electionElapsed = 0
        progress = [:]
        for peer in peers {
            // Counted as active so that the first quorum check measures a full period.
            progress[peer] = Progress(nextIndex: log.lastIndex + 1, recentActive: true)
        }
        appendLocally(LogEntry(term: term, index: log.lastIndex + 1, kind: .noop))
        broadcastAppend()
    }

    /// Counts one answer to a pre-vote or vote request and acts once a majority decided.
    mutating func record(vote granted: Bool, from voter: NodeID) {
        votes[voter] = granted
        let grants = votes.values.filter { $0 }.count
        let refusals = votes.count - grants
        if grants >= quorum {
            if role == .preCandidate { startElection() } else { becomeLeader() }
        } else if refusals >= quorum {
            becomeFollower(term: term, leader: nil)
        }
    }

    /// Grants a vote when this node has not voted for another in this term and the
    /// candidate's log is at least as up to date as its own (Raft §5.2, §5.4.1).
    mutating func handleRequestVote(from candidate: NodeID, lastIndex: LogIndex, lastTerm: Term) {
        let free = votedFor == candidate || (votedFor == nil && leaderID == nil)
        let granted = free && isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
        if granted {
            votedFor = candidate
            // A node that grants a vote gives the candidate time to win (Raft §5.2).
            electionElapsed = 0
        }
        send(.requestVoteResponse(granted: granted), to: candidate)
    }

    /// Raft §5.4.1: a later last term wins; with equal terms, the longer log.
    func isUpToDate(lastIndex: LogIndex, lastTerm: Term) -> Bool {
        lastTerm > log.lastTerm || (lastTerm == log.lastTerm && lastIndex >= log.lastIndex)
    }

    /// Records that `leader` leads this term and restarts the election timer.
    mutating func followLeader(_ leader: NodeID) {
        if role != .follower {
            // A candidate or pre-candidate that hears from the term's leader yields (§5.2).
            precondition(role != .leader, "two leaders in term \(term): \(id) and \(leader)")
            becomeFollower(term: term, leader: leader)
        }
        leaderID = leader
        electionElapsed = 0
    }

    /// Draws a fresh election timeout and restarts the count.
    mutating func resetElectionTimer() {
        electionElapsed = 0
        heartbeatElapsed = 0
        let span = UInt64(configuration.electionTimeoutTicksMax - configuration.electionTimeoutTicksMin)
        // span ≥ 1 (checked by validate) and small, so the draw fits an Int.
        randomizedElectionTimeout = configuration.electionTimeoutTicksMin + Int(random.next(upperBound: span))
    }

    /// The leader's tick: heartbeats, snapshot retries, and the quorum check.
    mutating func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        for peer in peers {
            progress[peer]!.tickSnapshotTimer(limit: 2 * configuration.electionTimeoutTicksMin)
        }
        if electionElapsed >= configuration.electionTimeoutTicksMin {
            electionElapsed = 0
            // Check-quorum (thesis §6.2): a leader that has not heard from a majority within an
            // election timeout is probably cut off; stepping down lets the rest elect a leader
            // and stops this one from serving stale reads or accepting doomed writes.
            let active = peers.filter { progress[$0]!.recentActive }.count + 1
            for peer in peers { progress[peer]!.recentActive = false }
            if active < quorum {
                becomeFollower(term: term, leader: nil)
                return
            }
        }
        if heartbeatElapsed >= configuration.heartbeatIntervalTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat(readContext: pendingReads.last?.context ?? 0)
        }
    }
}
