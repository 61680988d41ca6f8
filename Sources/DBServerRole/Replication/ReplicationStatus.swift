import VelocyPack

/// A follower's resync as the shard distribution shows it.
struct ResyncProgress: Sendable, Equatable {
    enum Phase: String {
        /// Asking the leader for its tree.
        case snapshot
        /// Copying the revision ranges that differ.
        case copying
        /// Copied; receiving the stream, not yet listed in sync.
        case following
        /// Listed in sync by the leader.
        case inSync = "in-sync"
        /// The stream ended; a new resync starts soon.
        case waiting
        case failed
    }

    var leader: String
    var phase = Phase.snapshot.rawValue
    var rangesTotal = 0
    var rangesDone = 0
    var documentsCopied: UInt64 = 0
    var documentsRemoved: UInt64 = 0
    var bytesCopied: UInt64 = 0
    var leaderDocuments: UInt64 = 0
    var startedAt: Double
    var copiedAt: Double?
    var error: String?

    init(leader: String, startedAt: Double) {
        self.leader = leader
        self.startedAt = startedAt
    }

    /// Seconds left by the ranges still to copy at the rate so far (nil before a range is done).
    func etaSeconds(now: Double) -> Double? {
        guard phase == Phase.copying.rawValue, rangesDone > 0 else { return phase == Phase.copying.rawValue ? nil : 0 }
        let elapsed = now - startedAt
        return elapsed / Double(rangesDone) * Double(rangesTotal - rangesDone)
    }

    func encode(into builder: inout Builder, now: Double) {
        builder.openObject()
        builder.add(key: "bytesCopied", bytesCopied)
        if let copiedAt { builder.add(key: "copySeconds", copiedAt - startedAt) }
        builder.add(key: "documentsCopied", documentsCopied)
        builder.add(key: "documentsRemoved", documentsRemoved)
        if let error { builder.add(key: "error", error) }
        if let eta = etaSeconds(now: now) { builder.add(key: "etaSeconds", eta) }
        builder.add(key: "leader", leader)
        builder.add(key: "leaderDocuments", leaderDocuments)
        builder.add(key: "phase", phase)
        builder.add(key: "rangesDone", rangesDone)
        builder.add(key: "rangesTotal", rangesTotal)
        builder.closeTrusted()
    }
}

/// One shard's replication on this server, for `/_api/tessera/replication/status`.
struct ShardReplicationStatus: Sendable {
    struct Follower: Sendable {
        var id: String
        var phase: String
        var acked: UInt64
        var sent: UInt64
        var unanswered: Int
    }

    var database: String
    var shard: String
    var role: String
    var epoch: UInt64
    var leader: String
    var inSync: [String]
    var followers: [Follower]
    /// Leader: the log's head; follower: the stream position.
    var head: UInt64
    var resync: ResyncProgress?

    func encode(into builder: inout Builder, now: Double) {
        builder.openObject()
        builder.add(key: "database", database)
        builder.add(key: "epoch", epoch)
        if !followers.isEmpty {
            builder.add(key: "followers")
            builder.openArray()
            for follower in followers {
                builder.openObject()
                builder.add(key: "acked", follower.acked)
                builder.add(key: "id", follower.id)
                builder.add(key: "phase", follower.phase)
                builder.add(key: "sent", follower.sent)
                builder.add(key: "unanswered", follower.unanswered)
                builder.closeTrusted()
            }
            builder.closeTrusted()
        }
        builder.add(key: role == "leader" ? "head" : "position", head)
        if role == "leader" { builder.add(key: "inSync", strings: inSync) }
        builder.add(key: "leader", leader)
        if let resync {
            builder.add(key: "resync")
            resync.encode(into: &builder, now: now)
        }
        builder.add(key: "role", role)
        builder.add(key: "shard", shard)
        builder.closeTrusted()
    }
}

/// This server's replication totals since it started.
struct ReplicationStatistics: Sendable, Equatable {
    var batchesSent: UInt64 = 0
    var operationsSent: UInt64 = 0
    var bytesSent: UInt64 = 0
    var batchesApplied: UInt64 = 0
    var operationsApplied: UInt64 = 0
    var bytesApplied: UInt64 = 0
    var resyncsDone: UInt64 = 0
    var resyncDocuments: UInt64 = 0
    var resyncBytes: UInt64 = 0
    /// Resync bytes this server served as a leader.
    var resyncBytesServed: UInt64 = 0
    var followersDropped: UInt64 = 0
    var joins: UInt64 = 0
    /// The longest time a joining follower held up writes before the agency listed it.
    var joinMillisecondsMax: UInt64 = 0
    /// Leaderships handed over (planned leader moves), and the longest time one held writes
    /// back: from refusing new writes to the end of the writes under way.
    var handOvers: UInt64 = 0
    var handOverMillisecondsMax: UInt64 = 0

    mutating func recordJoin(milliseconds: UInt64) {
        joins += 1
        joinMillisecondsMax = max(joinMillisecondsMax, milliseconds)
    }

    mutating func recordHandOverHold(milliseconds: UInt64) {
        handOvers += 1
        handOverMillisecondsMax = max(handOverMillisecondsMax, milliseconds)
    }

    func encode(into builder: inout Builder) {
        builder.openObject()
        builder.add(key: "batchesApplied", batchesApplied)
        builder.add(key: "batchesSent", batchesSent)
        builder.add(key: "bytesApplied", bytesApplied)
        builder.add(key: "bytesSent", bytesSent)
        builder.add(key: "followersDropped", followersDropped)
        builder.add(key: "handOverMillisecondsMax", handOverMillisecondsMax)
        builder.add(key: "handOvers", handOvers)
        builder.add(key: "joinMillisecondsMax", joinMillisecondsMax)
        builder.add(key: "joins", joins)
        builder.add(key: "operationsApplied", operationsApplied)
        builder.add(key: "operationsSent", operationsSent)
        builder.add(key: "resyncBytes", resyncBytes)
        builder.add(key: "resyncBytesServed", resyncBytesServed)
        builder.add(key: "resyncDocuments", resyncDocuments)
        builder.add(key: "resyncsDone", resyncsDone)
        builder.closeTrusted()
    }
}
