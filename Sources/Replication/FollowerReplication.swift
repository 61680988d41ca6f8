/// A follower's side of one shard's replication, as a pure state machine: whose stream it
/// accepts, at which epoch, and where the stream stands.
///
/// A follower takes replication only inside a *session*: it begins one by asking the leader
/// Plan names for a resync snapshot, which carries the leader's epoch. From then on it
/// accepts batches only from that leader under that epoch, each continuing exactly where the
/// last one ended. Anything else is refused and changes nothing:
/// - a sender other than Plan's leader, or an older epoch: a stale leader, fenced;
/// - a newer epoch: the leader restarted or was replaced; the session ends, the follower
///   resyncs;
/// - a batch that does not continue the position: a lost batch; the session ends.
/// A batch that was applied already (a resend) is answered with the position again.
public struct FollowerReplication: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// No session: every batch is refused; Maintenance starts a resync.
        case idle
        /// Copying the leader's snapshot; batches are not accepted yet.
        case resyncing(StreamIdentity)
        /// Receiving the stream; `position` is the last leader sequence applied.
        case following(StreamIdentity, position: UInt64)
    }

    public enum Decision: Sendable, Equatable {
        /// Apply the batch's operations, then call ``applied(through:)``.
        case apply
        /// Already applied: answer with the position, apply nothing.
        case alreadyApplied(position: UInt64)
    }

    public private(set) var state: State = .idle
    /// Why the last session ended (for the operator).
    public private(set) var lastEnd: String?

    public init() {}

    public var stream: StreamIdentity? {
        switch state {
        case .idle: nil
        case .resyncing(let stream), .following(let stream, _): stream
        }
    }

    public var isFollowing: Bool {
        if case .following = state { true } else { false }
    }

    /// A resync began: the leader answered with its snapshot under `stream`.
    public mutating func beginResync(_ stream: StreamIdentity) {
        state = .resyncing(stream)
    }

    /// The snapshot is copied up to the leader's sequence `after`; batches continue from there.
    public mutating func startFollowing(after: UInt64) {
        guard let stream else { return }
        state = .following(stream, position: after)
    }

    /// The session ends (a refused batch, Plan moved, the leader's stream stopped).
    public mutating func end(_ reason: String) {
        state = .idle
        lastEnd = reason
    }

    /// Whether the batch may be applied, given the leader Plan names now.
    ///
    /// - Throws: the refusal to answer with; a refusal that breaks the session (a newer
    ///   epoch, a gap) also ends it.
    public mutating func check(_ batch: ApplyBatch, planLeader: String?) throws(ReplicationError) -> Decision {
        let incoming = batch.stream
        guard let planLeader, planLeader == incoming.leader else {
            throw .notTheLeader("\(incoming.leader) is not the leader Plan names for \(incoming.shard) (\(planLeader ?? "none"))")
        }
        guard case let .following(stream, position) = state else {
            throw .noSession("this follower has no stream of \(incoming.shard) open (it resyncs first)")
        }
        guard incoming.leader == stream.leader else {
            throw .notTheLeader("this follower's session is with \(stream.leader), not \(incoming.leader)")
        }
        if incoming.epoch < stream.epoch {
            throw .notTheLeader("epoch \(incoming.epoch) is older than the session's \(stream.epoch): a stale leader")
        }
        if incoming.epoch > stream.epoch {
            end("the leader's epoch moved from \(stream.epoch) to \(incoming.epoch)")
            throw .noSession("epoch \(incoming.epoch) is newer than the session's \(stream.epoch); resync needed")
        }
        if batch.previous == position { return .apply }
        if batch.last <= position { return .alreadyApplied(position: position) }
        end("a batch continued sequence \(batch.previous) while the position was \(position)")
        throw .gap(expected: position, got: batch.previous)
    }

    /// The batch was applied up to leader sequence `last`.
    public mutating func applied(through last: UInt64) {
        guard case let .following(stream, position) = state, last > position else { return }
        state = .following(stream, position: last)
    }
}
