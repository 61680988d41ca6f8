// Read-index (Raft §8, thesis §6.4): a leader answers a read with its commit index once a
// majority has confirmed, after the read arrived, that it still leads. No log entry is
// written for a read.

extension RaftNode {
    /// Records a read at the current commit index and starts a heartbeat round to confirm it.
    mutating func registerRead(_ requestID: UInt64) {
        if quorum == 1 {
            pending.readResults.append(.init(requestID: requestID, outcome: .ready(index: commitIndex)))
            return
        }
        readContext += 1
        pendingReads.append(PendingRead(requestID: requestID, index: commitIndex, context: readContext))
        broadcastHeartbeat(readContext: readContext)
    }

    /// The first entry of this term is committed: reads that waited for it can start.
    mutating func releaseReadsAwaitingTermCommit() {
        let waiting = readsAwaitingTermCommit
        readsAwaitingTermCommit = []
        for requestID in waiting { registerRead(requestID) }
    }

    /// `peer` answered heartbeat round `context`, which confirms every read of that round or
    /// an earlier one. Answers the reads at the front that a majority has now confirmed.
    mutating func acknowledgeReads(from peer: NodeID, context: UInt64) {
        for position in pendingReads.indices where pendingReads[position].context <= context {
            pendingReads[position].acknowledged.insert(peer)
        }
        // Rounds are confirmed in order, so answered reads are always a prefix.
        while let first = pendingReads.first, first.acknowledged.count + 1 >= quorum {
            pending.readResults.append(.init(requestID: first.requestID, outcome: .ready(index: first.index)))
            pendingReads.removeFirst()
        }
    }

    /// Leadership is lost: every read still waiting is answered "not leader".
    mutating func failPendingReads() {
        let waiting = pendingReads.map(\.requestID) + readsAwaitingTermCommit
        pendingReads = []
        readsAwaitingTermCommit = []
        for requestID in waiting {
            pending.readResults.append(.init(requestID: requestID, outcome: .notLeader(leaderHint: nil)))
        }
    }
}
