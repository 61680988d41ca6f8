/// A Raft term: the logical clock of elections (Raft §5.1). Term 0 means "no term yet".
public typealias Term = UInt64

/// The position of an entry in the replicated log, counted from 1. Index 0 means "before the
/// first entry" (the empty log, or nothing yet committed).
public typealias LogIndex = UInt64

/// The identity of one agent in the fixed membership. Ids are chosen by the operator and must
/// be unique and non-zero (0 is the "nobody" of the wire format).
public struct NodeID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    /// Wraps an id; traps on 0, which the wire format reserves for "nobody".
    public init(rawValue: UInt64) {
        precondition(rawValue != 0, "node id 0 is reserved for 'nobody'")
        self.rawValue = rawValue
    }

    /// Shorthand for ``init(rawValue:)``.
    public init(_ rawValue: UInt64) { self.init(rawValue: rawValue) }

    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "n\(rawValue)" }
}

/// One entry of the replicated log.
public struct LogEntry: Equatable, Sendable {
    /// What the entry carries.
    public enum Kind: UInt8, Sendable, CaseIterable {
        /// A client command: `payload` goes to the state machine.
        case command = 0
        /// The empty entry a new leader appends so that it can commit entries of earlier
        /// terms (Raft §5.4.2, §8). The state machine skips it; `payload` is empty.
        case noop = 1
    }

    /// The term of the leader that created the entry.
    public var term: Term
    /// The entry's position in the log.
    public var index: LogIndex
    /// Command or no-op.
    public var kind: Kind
    /// The opaque command bytes; Raft never looks inside.
    public var payload: [UInt8]

    /// Creates an entry.
    public init(term: Term, index: LogIndex, kind: Kind = .command, payload: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.payload = payload
    }
}

/// The state that must be durable before the node acts on it (Raft Figure 2, "persistent state").
///
/// `term` and `votedFor` protect safety: losing them can let a node vote twice in one term.
/// `commitIndex` is only a hint that lets a restarted node apply its committed entries before
/// it hears from a leader; losing it is safe.
public struct HardState: Equatable, Sendable {
    /// The latest term this node has seen.
    public var term: Term
    /// The candidate this node voted for in `term`, if any.
    public var votedFor: NodeID?
    /// The highest index known to be committed when this was written.
    public var commitIndex: LogIndex

    /// Creates a hard state; the default is the state of a node that never ran.
    public init(term: Term = 0, votedFor: NodeID? = nil, commitIndex: LogIndex = 0) {
        self.term = term
        self.votedFor = votedFor
        self.commitIndex = commitIndex
    }
}

/// A snapshot of the state machine: everything applied up to and including `index`.
public struct RaftSnapshot: Equatable, Sendable {
    /// The last log index the snapshot covers.
    public var index: LogIndex
    /// The term of the entry at `index`.
    public var term: Term
    /// The state machine's serialized state; opaque to Raft.
    public var data: [UInt8]

    /// Creates a snapshot.
    public init(index: LogIndex, term: Term, data: [UInt8]) {
        self.index = index
        self.term = term
        self.data = data
    }
}

/// The role a node plays in its current term.
public enum RaftRole: String, Sendable, Equatable {
    /// Follows a leader (or waits for one).
    case follower
    /// Asks for pre-votes without raising its term (Raft thesis §9.6).
    case preCandidate
    /// Raised its term and asks for votes (Raft §5.2).
    case candidate
    /// Accepts proposals and replicates the log.
    case leader
}
