/// One message between two nodes of a group. Every message carries its sender's term; the
/// receiver compares it with its own before anything else (Raft §5.1).
public struct RaftMessage: Equatable, Sendable {
    /// The sender.
    public var from: NodeID
    /// The receiver.
    public var to: NodeID
    /// The sender's term (for pre-vote requests: the term the sender would campaign in; for
    /// granted pre-vote responses: the term of the request).
    public var term: Term
    /// What the message says.
    public var body: Body

    /// Creates a message.
    public init(from: NodeID, to: NodeID, term: Term, body: Body) {
        self.from = from
        self.to = to
        self.term = term
        self.body = body
    }

    /// The kinds of message and their fields.
    public enum Body: Equatable, Sendable {
        /// "Would you vote for me in `term`?" Sent without raising the sender's term, so a node
        /// that cannot win (a partitioned one) never disrupts the group (thesis §9.6).
        case preVote(lastLogIndex: LogIndex, lastLogTerm: Term)
        /// The answer to ``preVote(lastLogIndex:lastLogTerm:)``.
        case preVoteResponse(granted: Bool)
        /// "Vote for me in `term`" (Raft §5.2).
        case requestVote(lastLogIndex: LogIndex, lastLogTerm: Term)
        /// The answer to ``requestVote(lastLogIndex:lastLogTerm:)``.
        case requestVoteResponse(granted: Bool)
        /// Entries after (`previousLogIndex`, `previousLogTerm`), and the leader's commit
        /// index (Raft §5.3).
        case appendEntries(previousLogIndex: LogIndex, previousLogTerm: Term, entries: [LogEntry], leaderCommit: LogIndex)
        /// Success: the follower's log matches the leader's up to `matchIndex`. Failure: it
        /// does not match at the request's previous index; `rejectedIndex` is that index and
        /// `hintIndex` the highest index the leader should try next (a follower's last index,
        /// or the end of the entries before a conflicting term).
        case appendEntriesResponse(success: Bool, matchIndex: LogIndex, rejectedIndex: LogIndex, hintIndex: LogIndex)
        /// The leader is alive; the follower may commit up to `commitIndex` (never beyond
        /// what it is known to hold). `readContext` is non-zero when the heartbeat also
        /// confirms leadership for read-index requests.
        case heartbeat(commitIndex: LogIndex, readContext: UInt64)
        /// The answer to a heartbeat, echoing its `readContext`.
        case heartbeatResponse(readContext: UInt64)
        /// The leader's snapshot, for a follower that needs entries the leader has compacted
        /// away (Raft §7). Sent whole, not in chunks.
        case installSnapshot(RaftSnapshot)
        /// The follower now holds everything up to `matchIndex`.
        case installSnapshotResponse(matchIndex: LogIndex)
    }
}

extension RaftMessage.Body {
    /// A short name of the kind, for traces and errors (and the `type` field on the wire).
    public var kindName: String {
        switch self {
        case .preVote: "preVote"
        case .preVoteResponse: "preVoteResponse"
        case .requestVote: "requestVote"
        case .requestVoteResponse: "requestVoteResponse"
        case .appendEntries: "appendEntries"
        case .appendEntriesResponse: "appendEntriesResponse"
        case .heartbeat: "heartbeat"
        case .heartbeatResponse: "heartbeatResponse"
        case .installSnapshot: "installSnapshot"
        case .installSnapshotResponse: "installSnapshotResponse"
        }
    }
}
