public import ArangoAPI

/// Why a replication message or step was refused. Each case maps to ArangoDB's number for
/// the same situation, so a leader, a follower and a coordinator read the same `errorNum`.
public enum ReplicationError: Error, Sendable, Equatable {
    /// The bytes are not a valid message (wrong type, missing field, over a limit).
    case malformed(String)
    /// The sender is not the leader Plan names for the shard, or its epoch is not the one
    /// this follower's session began with (a stale leader, fenced).
    case notTheLeader(String)
    /// This server leads the shard: replication traffic for it is refused.
    case leaderRefusesReplication(String)
    /// The batch does not continue the follower's position (a gap): the stream is broken
    /// and the follower must resync.
    case gap(expected: UInt64, got: UInt64)
    /// The follower has no session for this stream (restarted, or never began one).
    case noSession(String)
    /// Fewer copies are in sync than the shard's write concern: writes are refused.
    case readOnly(inSync: Int, writeConcern: Int)
    /// A failed follower could not be dropped in the agency: the write is not acknowledged.
    case couldNotDropFollower(String)
    /// The leader has not yet recorded its leadership epoch in the agency: writes wait.
    case claimingLeadership(String)
    /// The leader stopped leading (or the process is stopping) before the write was
    /// acknowledged.
    case resigned(String)
    /// The leader is handing the shard to another server (a planned leader move): new writes
    /// are refused before anything is applied, so a coordinator sends them to the next leader.
    case handingOver(String)

    public var arangoError: ArangoError {
        switch self {
        case .malformed(let reason):
            ArangoError(status: 400, .badParameter, "malformed replication message: \(reason)")
        case .notTheLeader(let reason):
            ArangoError(status: 406, .clusterShardFollowerRefusesOperation, "refused replication: \(reason)")
        case .leaderRefusesReplication(let reason):
            ArangoError(status: 406, .clusterShardLeaderRefusesReplication, "refused replication: \(reason)")
        case let .gap(expected, got):
            ArangoError(status: 406, .clusterShardFollowerRefusesOperation,
                        "replication batch continues sequence \(got), but this follower is at \(expected): resync needed")
        case .noSession(let reason):
            ArangoError(status: 406, .clusterShardFollowerRefusesOperation, "no replication session: \(reason)")
        case let .readOnly(inSync, writeConcern):
            ArangoError(status: 403, .readOnly,
                        "read only: \(inSync) cop\(inSync == 1 ? "y is" : "ies are") in sync, writeConcern is \(writeConcern)")
        case .couldNotDropFollower(let reason):
            ArangoError(status: 500, .clusterCouldNotDropFollower, "a follower could not be dropped in agency: \(reason)")
        case .claimingLeadership(let reason):
            ArangoError(status: 503, .clusterLeadershipChallengeOngoing, "not yet leading: \(reason); retry shortly")
        case .handingOver(let reason):
            ArangoError(status: 503, .clusterNotLeader, "not leading: \(reason); retry shortly")
        case .resigned(let reason):
            ArangoError(status: 503, .clusterShardLeaderResigned, "not acknowledged: \(reason)")
        }
    }
}
