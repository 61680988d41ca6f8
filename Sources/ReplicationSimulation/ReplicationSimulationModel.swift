public import Raft
public import Replication

/// What the simulation draws from the seed.
public struct ReplicationSimulationSettings: Sendable, CustomStringConvertible {
    /// Copies of the shard, leader included (2 or 3).
    public var copies: Int
    public var writeConcern: Int
    public var faultMilliseconds: UInt64
    public var settleMilliseconds: UInt64 = 20_000
    /// The mean gap between fault draws.
    public var faultGapMilliseconds: UInt64
    public var lossPercent: UInt64
    public var slowPercent: UInt64
    public var duplicatePercent: UInt64
    public var leaderSettings: LeaderReplication.Settings
    /// A deliberate bug, to show that the checkers catch it (tests only).
    public var sabotage: Sabotage?

    public enum Sabotage: Sendable, CaseIterable {
        /// The leader answers writes without waiting for its followers.
        case answerBeforeFollowers
        /// Followers apply every batch, whoever sent it under whatever epoch.
        case acceptAnyLeader
        /// A resync copies what differs but does not remove what the leader no longer has.
        case keepExtrasOnResync
    }

    public static func drawn(from random: inout SeededGenerator) -> ReplicationSimulationSettings {
        let copies = 2 + Int(random.next() % 2)
        var leader = LeaderReplication.Settings()
        leader.followerTimeoutMilliseconds = 300 + random.next() % 700
        leader.batchesInFlightMax = 1 + Int(random.next() % 8)
        return ReplicationSimulationSettings(
            copies: copies, writeConcern: 1 + Int(random.next() % UInt64(copies)),
            faultMilliseconds: 3_000 + random.next() % 12_000, faultGapMilliseconds: 200 + random.next() % 1_500,
            lossPercent: random.next() % 6, slowPercent: random.next() % 10, duplicatePercent: random.next() % 5,
            leaderSettings: leader)
    }

    public var description: String {
        "copies \(copies), writeConcern \(writeConcern), faults \(faultMilliseconds) ms (gap \(faultGapMilliseconds)), " +
            "loss \(lossPercent)%, slow \(slowPercent)%, duplicates \(duplicatePercent)%, " +
            "follower timeout \(leaderSettings.followerTimeoutMilliseconds) ms, \(leaderSettings.batchesInFlightMax) batches in flight"
    }
}

/// What a run did and what its checkers found.
public struct ReplicationSimulationReport: Sendable {
    public var violations: [String] = []
    public var writes = 0
    public var acknowledged = 0
    public var failed = 0
    public var refused = 0
    public var readOnlyRefusals = 0
    public var unanswered = 0
    public var crashes = 0
    public var wipes = 0
    public var restarts = 0
    public var pauses = 0
    public var leaderRestarts = 0
    public var agencyOutages = 0
    public var lost = 0
    public var resyncs = 0
    public var resyncDocuments = 0
    public var staleBatches = 0
    public var finalDocuments = 0
    public var trace: [String] = []

    public var summary: String {
        "\(writes) writes (\(acknowledged) acknowledged, \(failed) failed, \(refused) refused, \(unanswered) cut by leader restarts); " +
            "\(crashes) crashes (\(wipes) wiped), \(pauses) pauses, \(leaderRestarts) leader restarts, \(agencyOutages) agency outages, " +
            "\(lost) messages lost, \(resyncs) resyncs (\(resyncDocuments) documents copied), \(staleBatches) stale batches, " +
            "\(finalDocuments) documents at the end"
    }
}

/// A document version in the model shard.
struct StoredVersion: Equatable {
    let revision: UInt64
    let body: [UInt8]
}

/// The shard engine as the replication sees it: documents by key, the Merkle tree of their
/// revisions, the last sequence written.
struct ModelShard {
    var documents: [String: StoredVersion] = [:]
    var tree = MerkleTree(leafCountLog2: 6)
    var lastSequence: UInt64 = 0

    mutating func apply(_ operation: ReplicatedOperation) {
        let key = String(decoding: operation.key, as: UTF8.self)
        switch operation.kind {
        case .document:
            if let old = documents[key] { tree.remove(old.revision) }
            documents[key] = StoredVersion(revision: operation.revision, body: operation.payload)
            tree.insert(operation.revision)
        case .removal:
            if let old = documents.removeValue(forKey: key) { tree.remove(old.revision) }
        case .truncation:
            documents.removeAll()
            tree.removeAll()
        }
        lastSequence = max(lastSequence, operation.sequence)
    }

    /// The revisions of the current documents in `ranges`, sorted.
    func revisions(in ranges: [ClosedRange<UInt64>]) -> [UInt64] {
        documents.values.map(\.revision).filter { revision in ranges.contains { $0.contains(revision) } }.sorted()
    }

    /// The current documents with these revisions, as operations.
    func documents(withRevisions wanted: Set<UInt64>) -> [ReplicatedOperation] {
        documents.filter { wanted.contains($0.value.revision) }
            .sorted { $0.value.revision < $1.value.revision }
            .map { key, version in
                ReplicatedOperation(kind: .document, sequence: 1, revision: version.revision, key: Array(key.utf8), flags: 0,
                                    documentByteCount: UInt32(version.body.count), payload: version.body)
            }
    }

    /// Removes the documents in `ranges` whose revisions are not in `kept` (resync step 4).
    mutating func removeAbsent(in ranges: [ClosedRange<UInt64>], keeping kept: Set<UInt64>) {
        for (key, version) in documents where ranges.contains(where: { $0.contains(version.revision) }) && !kept.contains(version.revision) {
            documents[key] = nil
            tree.remove(version.revision)
        }
    }
}

/// The leader: its core, its log (every operation it ever wrote, kept across restarts as a
/// process crash keeps the log) and its shard.
struct SimulatedLeader {
    var core: LeaderReplication
    var shard = ModelShard()
    var log: [ReplicatedOperation] = []
    /// The in-sync change awaiting the agency's answer.
    var agencyRequest: (id: UInt64, old: [String], new: [String], version: UInt64)?

    var stream: StreamIdentity { StreamIdentity(database: "db", shard: "s1", leader: "L", epoch: core.epoch) }

    func operations(after sequence: UInt64, limit: Int) -> [ReplicatedOperation] {
        var low = 0, high = log.count
        while low < high {
            let middle = (low + high) / 2
            if log[middle].sequence <= sequence { low = middle + 1 } else { high = middle }
        }
        return Array(log[low..<min(log.count, low + limit)])
    }

    func operation(at sequence: UInt64) -> ReplicatedOperation? {
        operations(after: sequence - 1, limit: 1).first.flatMap { $0.sequence == sequence ? $0 : nil }
    }
}

/// A follower: its core, its shard, and what the checkers know of it.
struct SimulatedFollower {
    let id: String
    var core = FollowerReplication()
    var shard = ModelShard()
    var down = false
    var pausedUntil: UInt64 = 0
    var resyncing = false
    var resyncAttempt = 0
    /// The answer the resync waits for: 1 the snapshot, 2 the revision list, 3 the documents,
    /// 4 the stream start
    /// (a duplicated or late answer of another step is ignored, as the driver's sequential
    /// requests would).
    var resyncStep = 0
    var unlistedSince: UInt64?
    /// The snapshot sequence the current stream started after.
    var sessionStart: UInt64?
    /// The leader sequence up to which this follower's data is known complete (0: unknown).
    var dataPosition: UInt64 = 0
    /// The position the last disk loss destroyed: what this follower had acknowledged
    /// before it (a write acknowledged on it then is lost by hardware, not by the protocol).
    var lostPosition: UInt64 = 0
    /// Counts crashes; answers carry it.
    var incarnation = 0
    /// The incarnation a disk loss ended: answers sent before it are lost with the machine.
    var wipedIncarnation = -1

    init(id: String) { self.id = id }

    func reachable(at now: UInt64) -> Bool { !down && now >= pausedUntil }

    mutating func crash(wipe: Bool) {
        down = true
        if wipe { wipedIncarnation = incarnation }
        incarnation += 1
        core = FollowerReplication()
        resyncing = false
        unlistedSince = nil
        if wipe {
            shard = ModelShard()
            lostPosition = max(lostPosition, dataPosition)
            dataPosition = 0
        }
    }
}

/// The agency's view of the shard: the in-sync list, changed by compare-and-set.
struct SimulatedAgency {
    var inSync: [String]
    /// The epoch of the leadership that changed the list last.
    var epoch: UInt64 = 0
    /// The in-sync version every change moves on by one.
    var version: UInt64 = 0
    var available = true
    var changes = 0
}

enum Message {
    case batch(ApplyBatch, to: String)
    case batchAnswer(from: String, incarnation: Int, epoch: UInt64, Result<UInt64, ReplicationError>)
    case resyncBegin(from: String, attempt: Int)
    case snapshot(ResyncSnapshot, to: String, attempt: Int)
    case rangeFetch(from: String, attempt: Int, stream: StreamIdentity, ranges: [ClosedRange<UInt64>], sequence: UInt64)
    case revisionList(to: String, attempt: Int, stream: StreamIdentity, [UInt64]?, ranges: [ClosedRange<UInt64>], sequence: UInt64)
    case documentFetch(from: String, attempt: Int, stream: StreamIdentity, revisions: [UInt64], leaderRevisions: [UInt64],
                       ranges: [ClosedRange<UInt64>], sequence: UInt64)
    case rangeDocuments(to: String, attempt: Int, stream: StreamIdentity, [ReplicatedOperation]?, leaderRevisions: [UInt64],
                        ranges: [ClosedRange<UInt64>], sequence: UInt64)
    case streamStart(from: String, attempt: Int, stream: StreamIdentity, after: UInt64)
    case streamStartAnswer(to: String, attempt: Int, accepted: Bool)
    case streamStopped(StreamIdentity, session: UInt64, to: String)
    case agencyChange(epoch: UInt64, request: UInt64, old: [String], new: [String], version: UInt64)
    case agencyAnswer(epoch: UInt64, request: UInt64, applied: Bool, actual: [String], version: UInt64)
}

enum EventKind {
    case tick
    case clientWrite
    case staleLeader
    case maintenance(String)
    case fault
    case restartFollower(String)
    case unpause(String)
    case agencyBack
    case deliver(Message)
    case resyncTimeout(String, attempt: Int)
    case agencyTimeout(epoch: UInt64, request: UInt64)
}

extension SeededGenerator {
    /// A number in `0..<bound` (0 when `bound` is 0).
    mutating func next(below bound: UInt64) -> UInt64 { bound == 0 ? 0 : next() % bound }
}
