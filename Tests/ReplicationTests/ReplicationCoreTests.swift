import Testing
import VelocyPack
@testable import Replication

@Suite struct ReplicationMessageTests {
    static let stream = StreamIdentity(database: "_system", shard: "s101", leader: "PRMR-a", epoch: 7)

    static func document(_ sequence: UInt64, key: String = "k") -> ReplicatedOperation {
        ReplicatedOperation(kind: .document, sequence: sequence, revision: 1000 + sequence, key: Array(key.utf8),
                            flags: 0, documentByteCount: 3, payload: [0x0a, 0x0b, 0x0c])
    }

    @Test func batchRoundTrips() throws {
        let batch = ApplyBatch(stream: Self.stream, previous: 4, waitForSync: true, operations: [
            Self.document(5), ReplicatedOperation(kind: .removal, sequence: 6, revision: 1006, key: Array("k".utf8)),
            ReplicatedOperation(kind: .truncation, sequence: 9, revision: 1009, key: []),
        ])
        let decoded = try ApplyBatch(decoding: Slice(trustedBytes: batch.vpack))
        #expect(decoded == batch)
        #expect(decoded.last == 9)
    }

    @Test func otherMessagesRoundTrip() throws {
        let snapshot = ResyncSnapshot(stream: Self.stream, sequence: 12, documentCount: 3, tree: [1, 2, 3])
        #expect(try ResyncSnapshot(decoding: Slice(trustedBytes: snapshot.vpack)) == snapshot)
        let fetch = RangeFetch(stream: Self.stream, ranges: [1...5, 9...12], after: 3, byteLimit: 1000)
        #expect(try RangeFetch(decoding: Slice(trustedBytes: fetch.vpack)) == fetch)
        let documents = RangeDocuments(documents: [Self.document(1, key: "a"), Self.document(2, key: "b")], resumeAfter: 1002)
        #expect(try RangeDocuments(decoding: Slice(trustedBytes: documents.vpack)) == documents)
        let start = StreamStart(stream: Self.stream, follower: "PRMR-b", after: 12)
        #expect(try StreamStart(decoding: Slice(trustedBytes: start.vpack)) == start)
        let begin = ResyncBegin(database: "_system", shard: "s101", follower: "PRMR-b")
        #expect(try ResyncBegin(decoding: Slice(trustedBytes: begin.vpack)) == begin)
        #expect(try ApplyAnswer(decoding: Slice(trustedBytes: ApplyAnswer(applied: 5).vpack)).applied == 5)
    }

    /// A batch from `json`, with the operations given as raw VelocyPack arrays.
    static func batchBytes(previous: UInt64, operations: [[UInt8]], epoch: UInt64 = 7) -> [UInt8] {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "database", "_system")
        builder.add(key: "epoch", epoch)
        builder.add(key: "leader", "PRMR-a")
        builder.add(key: "shard", "s101")
        builder.add(key: "operations")
        builder.openArray()
        for operation in operations { builder.add(Slice(trustedBytes: operation)) }
        builder.closeTrusted()
        builder.add(key: "previous", previous)
        builder.closeTrusted()
        return builder.bytes
    }

    static func operationBytes(_ values: (inout Builder) -> Void) -> [UInt8] {
        var builder = Builder()
        builder.openArray()
        values(&builder)
        builder.closeTrusted()
        return builder.bytes
    }

    @Test func badBatchesAreRefusedWithTheirReason() throws {
        func refusal(_ bytes: [UInt8], limits: ReplicationLimits = .default) -> String? {
            do {
                _ = try ApplyBatch(decoding: Slice(trustedBytes: bytes), limits: limits)
                return nil
            } catch {
                if case .malformed(let reason) = error { return reason }
                return "\(error)"
            }
        }
        let good = Self.operationBytes { b in
            b.add(UInt64(1)); b.add(UInt64(5)); b.add(UInt64(99)); b.add("k"); b.add(UInt64(0)); b.add(UInt64(1)); b.addBinary([0x18])
        }
        #expect(refusal(Self.batchBytes(previous: 4, operations: [good])) == nil)
        // Out of order: the operation does not follow `previous`.
        #expect(refusal(Self.batchBytes(previous: 5, operations: [good]))?.contains("does not follow") == true)
        // Unknown kind, wrong arity, oversized payload, a removal with a payload, no epoch.
        let unknownKind = Self.operationBytes { b in
            b.add(UInt64(9)); b.add(UInt64(5)); b.add(UInt64(99)); b.add("k"); b.add(UInt64(0)); b.add(UInt64(1)); b.addBinary([0x18])
        }
        #expect(refusal(Self.batchBytes(previous: 4, operations: [unknownKind]))?.contains("kind") == true)
        let short = Self.operationBytes { b in b.add(UInt64(1)); b.add(UInt64(5)) }
        #expect(refusal(Self.batchBytes(previous: 4, operations: [short]))?.contains("7 values") == true)
        var small = ReplicationLimits()
        small.documentByteCountMax = 0
        #expect(refusal(Self.batchBytes(previous: 4, operations: [good]), limits: small)?.contains("documentByteCount") == true)
        let removalWithPayload = Self.operationBytes { b in
            b.add(UInt64(2)); b.add(UInt64(5)); b.add(UInt64(99)); b.add("k"); b.add(UInt64(0)); b.add(UInt64(0)); b.addBinary([1])
        }
        #expect(refusal(Self.batchBytes(previous: 4, operations: [removalWithPayload]))?.contains("removal") == true)
        #expect(refusal(Self.batchBytes(previous: 4, operations: [good], epoch: 0))?.contains("epoch") == true)
        var few = ReplicationLimits()
        few.operationCountMax = 1
        #expect(refusal(Self.batchBytes(previous: 0, operations: [good, good]), limits: few)?.contains("exceeds") == true)
    }

    /// A `rangeCountMax` of 0 once formed the invalid range `1...0` and trapped.
    @Test func aRangeLimitOfZeroRefusesInsteadOfTrapping() {
        var none = ReplicationLimits()
        none.rangeCountMax = 0
        let fetch = RangeFetch(stream: Self.stream, ranges: [1...5])
        #expect(throws: ReplicationError.malformed("'ranges' must name 1...0 ranges")) {
            try RangeFetch(decoding: Slice(trustedBytes: fetch.vpack), limits: none)
        }
    }
}

@Suite struct FollowerReplicationTests {
    static let stream = ReplicationMessageTests.stream

    static func batch(previous: UInt64, through last: UInt64, epoch: UInt64 = 7, leader: String = "PRMR-a") -> ApplyBatch {
        ApplyBatch(stream: StreamIdentity(database: "_system", shard: "s101", leader: leader, epoch: epoch), previous: previous,
                   waitForSync: false, operations: ((previous + 1)...last).map { ReplicationMessageTests.document($0) })
    }

    @Test func acceptsOnlyTheSessionsLeaderEpochAndPosition() throws {
        var follower = FollowerReplication()
        #expect(throws: ReplicationError.self) { try follower.check(Self.batch(previous: 0, through: 1), planLeader: "PRMR-a") }
        follower.beginResync(Self.stream)
        follower.startFollowing(after: 10)
        #expect(try follower.check(Self.batch(previous: 10, through: 12), planLeader: "PRMR-a") == .apply)
        follower.applied(through: 12)
        // A resend is answered, not applied.
        #expect(try follower.check(Self.batch(previous: 10, through: 12), planLeader: "PRMR-a") == .alreadyApplied(position: 12))
        // Another sender, or Plan naming another leader: fenced.
        #expect(throws: ReplicationError.self) {
            try follower.check(Self.batch(previous: 12, through: 13, leader: "PRMR-z"), planLeader: "PRMR-z")
        }
        #expect(throws: ReplicationError.self) { try follower.check(Self.batch(previous: 12, through: 13), planLeader: "PRMR-b") }
        // An older epoch: a stale leader, refused; the session stays.
        #expect(throws: ReplicationError.self) { try follower.check(Self.batch(previous: 12, through: 13, epoch: 6), planLeader: "PRMR-a") }
        #expect(follower.isFollowing)
        // A gap ends the session.
        #expect(throws: ReplicationError.gap(expected: 12, got: 14)) {
            try follower.check(Self.batch(previous: 14, through: 15), planLeader: "PRMR-a")
        }
        #expect(!follower.isFollowing)
    }

    @Test func aNewerEpochEndsTheSession() {
        var follower = FollowerReplication()
        follower.beginResync(Self.stream)
        follower.startFollowing(after: 0)
        #expect(throws: ReplicationError.self) { try follower.check(Self.batch(previous: 0, through: 1, epoch: 8), planLeader: "PRMR-a") }
        #expect(follower.state == .idle)
    }
}

@Suite struct LeaderReplicationTests {
    static func sends(_ actions: [LeaderReplication.Action]) -> [String] {
        actions.compactMap { if case let .send(follower, _, _) = $0 { follower } else { nil } }
    }

    /// A leader with followers b and c in sync.
    static func leaderInSync(writeConcern: Int = 1) -> LeaderReplication {
        var leader = LeaderReplication(leader: "a", epoch: 1, writeConcern: writeConcern, head: 10, inSyncServers: ["a"])
        for id in ["b", "c"] {
            _ = leader.startStream(to: id, after: 10, now: 0).actions
            _ = leader.batchAnswered(by: id, applied: 10, now: 0)
        }
        #expect(leader.pendingChange?.new == ["a", "b", "c"] || leader.pendingChange?.new == ["a", "b"])
        while leader.pendingChange != nil { _ = leader.inSyncChangeFinished(applied: true, now: 0) }
        #expect(leader.inSyncServers == ["a", "b", "c"])
        #expect(leader.followers.values.allSatisfy { $0.phase == .inSync })
        return leader
    }

    @Test func aWriteIsAnsweredAfterEveryInSyncFollowerApplied() {
        var leader = Self.leaderInSync()
        let actions = leader.wrote(upTo: 11, token: 1)
        #expect(Set(Self.sends(actions)) == ["b", "c"])
        _ = leader.batchSent(to: "b", last: 11, now: 1)
        _ = leader.batchSent(to: "c", last: 11, now: 1)
        #expect(!leader.batchAnswered(by: "b", applied: 11, now: 2).contains(.complete(token: 1)))
        #expect(leader.batchAnswered(by: "c", applied: 11, now: 2).contains(.complete(token: 1)))
    }

    @Test func aFailedFollowerIsDroppedInTheAgencyBeforeTheWriteIsAnswered() {
        var leader = Self.leaderInSync()
        _ = leader.wrote(upTo: 11, token: 1)
        _ = leader.batchSent(to: "b", last: 11, now: 1)
        _ = leader.batchSent(to: "c", last: 11, now: 1)
        _ = leader.batchAnswered(by: "b", applied: 11, now: 2)
        // c never answers: after the timeout it is dropped; the write waits for the agency.
        let tick = leader.tick(now: 1 + leader.settings.followerTimeoutMilliseconds)
        #expect(tick.contains(.changeInSync(old: ["a", "b", "c"], new: ["a", "b"], version: 2, reason: "remove c")))
        #expect(!tick.contains(.complete(token: 1)))
        let done = leader.inSyncChangeFinished(applied: true, now: 6000)
        #expect(done.contains(.complete(token: 1)))
        #expect(done.contains(.stopStream(follower: "c", session: 10)))
    }

    @Test func anAgencyThatRefusesTheDropFailsTheWrite() {
        var leader = Self.leaderInSync()
        _ = leader.wrote(upTo: 11, token: 1)
        _ = leader.batchSent(to: "b", last: 11, now: 1)
        _ = leader.batchSent(to: "c", last: 11, now: 1)
        _ = leader.batchAnswered(by: "b", applied: 11, now: 2)
        _ = leader.batchFailed(for: "c", reason: "connection lost", now: 3)
        let refused = leader.inSyncChangeFinished(applied: false, now: 4)
        #expect(refused.contains { if case .fail(1, .couldNotDropFollower) = $0 { true } else { false } })
        // The drop is tried again after the retry delay.
        #expect(leader.tick(now: 4 + leader.settings.agencyRetryMilliseconds).contains {
            if case .changeInSync = $0 { true } else { false }
        })
    }

    @Test func tooFewCopiesInSyncRefuseWrites() {
        var leader = Self.leaderInSync(writeConcern: 3)
        #expect(leader.admission() == nil)
        _ = leader.batchFailed(for: "c", reason: "gone", now: 1)
        _ = leader.inSyncChangeFinished(applied: true, now: 1)
        #expect(leader.admission() == .readOnly(inSync: 2, writeConcern: 3))
    }

    @Test func aCatchingUpFollowerHoldsNoWriteUntilItJoins() {
        var leader = LeaderReplication(leader: "a", epoch: 1, writeConcern: 1, head: 100)
        // The leadership's first change claims the agency's in-sync version.
        #expect(leader.startStream(to: "b", after: 50, now: 0).actions.contains(.changeInSync(old: ["a"], new: ["a"], version: 0, reason: "claim epoch 1")))
        #expect(leader.admission() != nil, "no write before the claim")
        _ = leader.inSyncChangeFinished(applied: true, now: 0)
        #expect(leader.admission() == nil)
        #expect(leader.wrote(upTo: 101, token: 1).contains(.complete(token: 1)))
        _ = leader.batchSent(to: "b", last: 101, now: 1)
        let joined = leader.batchAnswered(by: "b", applied: 101, now: 2)
        #expect(leader.followers["b"]?.phase == .joining)
        #expect(joined.contains(.changeInSync(old: ["a"], new: ["a", "b"], version: 1, reason: "add b")))
        // Joining: it holds up writes already.
        #expect(!leader.wrote(upTo: 102, token: 2).contains(.complete(token: 2)))
        _ = leader.inSyncChangeFinished(applied: true, now: 3)
        #expect(leader.followers["b"]?.phase == .inSync)
    }

    @Test func aFreshLeaderForgetsFollowersTheAgencyStillLists() {
        var leader = LeaderReplication(leader: "a", epoch: 2, writeConcern: 1, head: 5, inSyncServers: ["a", "b"])
        #expect(leader.admission() != nil, "b may hold nothing of this leader's epoch")
        #expect(leader.tick(now: 0).contains(.changeInSync(old: ["a", "b"], new: ["a"], version: 0, reason: "remove b; claim epoch 2")))
        _ = leader.inSyncChangeFinished(applied: true, now: 0)
        #expect(leader.admission() == nil)
    }
}
