import Foundation
import Testing
import VelocyPack
import Replication
@testable import Storage
import TesseraPlatform

/// What a shard holds, for comparing a leader with a follower: every document's key,
/// revision and bytes in key order.
private func image(_ engine: ShardEngine) throws -> [String] {
    try engine.documentsInKeyOrder(limit: Int.max).map { "\($0.key) \($0.revision) \(Hex.encode($0.document.copiedBytes))" }
}

/// Checks that `follower` holds exactly what `leader` holds.
private func expectSameShard(_ follower: ShardEngine, _ leader: ShardEngine, _ comment: Comment? = nil,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(try image(follower) == image(leader), comment, sourceLocation: sourceLocation)
    #expect(follower.count == leader.count, comment, sourceLocation: sourceLocation)
    #expect(follower.merkleTree.holdsSameRevisions(as: leader.merkleTree), comment, sourceLocation: sourceLocation)
}

/// Applies every record of `leader` after `sequence` to `follower`, in pages as a driver would.
private func stream(_ leader: ShardEngine, after sequence: UInt64 = 0, to follower: ShardEngine,
                    limit: Int = 13, byteLimit: Int = 3000) throws {
    var after = sequence
    while true {
        let records = try leader.records(after: after, limit: limit, byteLimit: byteLimit)
        guard let last = records.last else { return }
        for record in records { try follower.applyReplicated(record) }
        after = last.sequence
    }
}

/// A document whose `text` compresses well (stored with Snappy) when `long`, else raw.
private func versioned(_ key: String, _ version: Int, email: Int? = nil, long: Bool = false) -> Slice {
    var builder = Builder()
    builder.openObject()
    builder.add(key: "_key", key)
    builder.add(key: "version", version)
    if let email { builder.add(key: "email", "user\(email)@example.org") }
    if long { builder.add(key: "text", String(repeating: "replicated \(version) ", count: 40)) }
    try! builder.close()
    return builder.slice
}

private let emailIndex = IndexDefinition(name: "email", fields: ["email"], unique: true, sparse: true)
private let versionIndex = IndexDefinition(name: "version", fields: ["version"])

/// Inserts, replaces, updates, removes and one truncation, some documents Snappy-compressed.
private func writeHistory(_ engine: ShardEngine, count: Int = 120, prefix: String = "k", emailBase: Int = 0) throws {
    let k = { (i: Int) in "\(prefix)\(i)" }
    for i in 0..<count { try engine.insert(versioned(k(i), 0, email: emailBase + i, long: i % 3 == 0)) }
    for i in stride(from: 0, to: count, by: 4) {
        try engine.replace(k(i), with: versioned(k(i), 1, email: emailBase + i + 1000, long: i % 8 == 0))
    }
    for i in stride(from: 1, to: count, by: 5) { try engine.update(k(i), with: json(#"{"patched":true}"#)) }
    for i in stride(from: 2, to: count, by: 3) { try engine.remove(k(i)) }
    try engine.truncate()
    for i in 0..<count { try engine.insert(versioned(k(i), 2, email: emailBase + i, long: i % 2 == 0)) }
    for i in stride(from: 0, to: count, by: 7) { try engine.remove(k(i)) }
    // Two keys trade a unique value: k1's old value is taken by k3 after k1 moved on.
    try engine.replace(k(1), with: versioned(k(1), 3, email: emailBase + 5000))
    try engine.replace(k(3), with: versioned(k(3), 3, email: emailBase + 1))
}

/// Text Snappy cannot shrink (letters from a linear congruential generator).
private func incompressible(_ count: Int) -> String {
    var state: UInt32 = 12345
    return String(decoding: (0..<count).map { _ in
        state = state &* 1_103_515_245 &+ 12345
        return UInt8(ascii: "a") + UInt8((state >> 16) % 26)
    }, as: UTF8.self)
}

@Suite("Storage replication")
struct ReplicationTests {
    // MARK: records(after:)

    @Test(arguments: [true, false])
    func recordsFromTheTailAndFromDiskAreTheSame(tailEnabled: Bool) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions(segmentBytes: 4096))
        if tailEnabled { engine.enableReplicationTail() }
        try writeHistory(engine)
        // The last writes stay in the pending buffer: the tail must show them too.
        for i in 0..<5 { try engine.insert(versioned("pending\(i)", 0, long: true), options: WriteOptions(defersFileWrite: true)) }
        let last = engine.statistics.lastSequence
        let everything = try engine.records(after: 0, limit: Int.max, byteLimit: Int.max)
        #expect(everything.map(\.sequence) == Array(1...last), "every record, pending ones included, in order")
        #expect(engine.statistics.segmentCount > 3, "the history spans several segments")
        #expect(everything.contains { $0.flags == LogRecord.flagSnappy } && everything.contains { $0.flags == 0 })

        for after in stride(from: UInt64(0), through: last, by: 3) {
            for (limit, byteLimit) in [(Int.max, Int.max), (7, 300), (1, 0), (50, 0)] {
                let served = try engine.records(after: after, limit: limit, byteLimit: byteLimit)
                let fromDisk = try engine.recordsFromLog(after: after, limit: limit, byteLimit: byteLimit)
                #expect(served == fromDisk, "after \(after), limit \(limit), byteLimit \(byteLimit)")
                #expect(served.count <= limit && (served.count == 1 || served.map(\.payload.count).reduce(0, +) <= byteLimit))
                #expect(served.first?.sequence == (after < last ? after + 1 : nil))
            }
        }
        // The same records as the change feed, raw.
        let changes = try engine.changes(after: 0, limit: Int.max)
        #expect(changes.map(\.sequence) == everything.map(\.sequence))
        try engine.close()
    }

    @Test func aFollowerBehindTheTailIsServedFromDisk() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = testOptions(segmentBytes: 4096)
        options.replicationTailByteCountMax = 3000
        let engine = try ShardEngine(directory: directory.path, options: options)
        try engine.insert(versioned("before", 0))
        engine.enableReplicationTail()
        try writeHistory(engine, count: 40)
        let (coveredAfter, tailBytes) = engine.state.withLock { ($0.replicationTail!.coveredAfter, $0.replicationTail!.byteCount) }
        #expect(coveredAfter > 1 && tailBytes <= 3000, "the tail keeps only the newest 3000 bytes")
        let last = engine.statistics.lastSequence
        for after in [0, 1, coveredAfter - 1, coveredAfter, coveredAfter + 1, last - 1, last] {
            #expect(try engine.records(after: after, limit: 20, byteLimit: 2000)
                    == engine.recordsFromLog(after: after, limit: 20, byteLimit: 2000), "after \(after)")
        }
        // A record larger than the whole tail is read from disk.
        try engine.insert(versioned("huge", 0).withText(incompressible(5000)))
        #expect(try engine.records(after: last, limit: 5, byteLimit: 0).map(\.sequence) == [last + 1])
        engine.disableReplicationTail()
        #expect(engine.state.withLock { $0.replicationTail == nil })
        #expect(try engine.records(after: 0, limit: Int.max, byteLimit: Int.max).count == Int(last + 1))
        try engine.close()
    }

    @Test(arguments: [true, false])
    func compactedRecordsThrowAsTheChangeFeedDoes(tailEnabled: Bool) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions(segmentBytes: 4096))
        if tailEnabled { engine.enableReplicationTail() }
        for i in 0..<40 { try engine.insert(versioned("gone\(i)", 0)) }
        for i in 0..<40 { try engine.remove("gone\(i)") }
        for i in 0..<80 { try engine.insert(versioned("kept\(i)", 0, long: true)) }
        let report = try engine.compact(liveShareBelow: 0.9)
        #expect(report.segmentsCompacted >= 1)
        let floor = engine.state.withLock { $0.feedFloor }
        #expect(floor > 0, "compacting the first segment dropped its removals")
        for after in [0, floor - 1] {
            let expected = StorageError.changesCompacted(requestedAfter: after, oldestAvailable: floor + 1)
            #expect(throws: expected) { try engine.changes(after: after, limit: 10) }
            #expect(throws: expected) { try engine.records(after: after, limit: 10, byteLimit: 1000) }
        }
        let served = try engine.records(after: floor, limit: Int.max, byteLimit: Int.max)
        #expect(served.first.map { $0.sequence > floor } ?? false)
        #expect(try engine.recordsFromLog(after: floor, limit: Int.max, byteLimit: Int.max).map(\.sequence)
                == engine.changes(after: floor, limit: Int.max).map(\.sequence))
        try engine.close()
    }

    // MARK: Applying a leader's records

    @Test func applyingEveryRecordReproducesTheShardByteForByte() throws {
        let leaderDirectory = TemporaryDirectory(), followerDirectory = TemporaryDirectory()
        defer { leaderDirectory.remove(); followerDirectory.remove() }
        let leader = try ShardEngine(directory: leaderDirectory.path, options: testOptions(segmentBytes: 4096))
        leader.enableReplicationTail()
        try leader.createIndex(emailIndex)
        try leader.createIndex(versionIndex)
        try writeHistory(leader)
        var follower = try ShardEngine(directory: followerDirectory.path, options: testOptions(segmentBytes: 8192))
        try follower.createIndex(emailIndex)
        try follower.createIndex(versionIndex)
        try stream(leader, to: follower)
        try expectSameShard(follower, leader)
        for index in ["email", "version"] {
            #expect(try follower.keysInIndexOrder(index: index) == leader.keysInIndexOrder(index: index))
        }
        // Stored as the leader stored them: same flags, payloads and sizes.
        let stored = { (engine: ShardEngine) in
            try engine.storedRecords(revisionsIn: 0...UInt64.max, limit: Int.max, byteLimit: Int.max)
                .map { "\($0.key) \($0.revision) \($0.flags) \($0.documentByteCount) \($0.payload)" }
        }
        #expect(try stored(follower) == stored(leader))
        // Nothing more to apply: the same records again change nothing.
        let before = follower.statistics.lastSequence
        for record in try leader.records(after: 0, limit: Int.max, byteLimit: Int.max) where record.kind == .document {
            if leader.revision(of: String(decoding: record.key, as: UTF8.self)) == record.revision {
                #expect(try follower.applyReplicated(record) == 0)
            }
        }
        #expect(follower.statistics.lastSequence == before)

        try follower.close()
        follower = try ShardEngine(directory: followerDirectory.path, options: testOptions(segmentBytes: 8192))
        try expectSameShard(follower, leader, "after reopening")
        #expect(try follower.keysInIndexOrder(index: "email") == leader.keysInIndexOrder(index: "email"))
        try follower.close()
        try leader.close()
    }

    @Test func replayingOlderVersionsOverNewerStateConverges() throws {
        let leaderDirectory = TemporaryDirectory(), followerDirectory = TemporaryDirectory()
        defer { leaderDirectory.remove(); followerDirectory.remove() }
        let leader = try ShardEngine(directory: leaderDirectory.path, options: testOptions())
        try leader.createIndex(emailIndex)
        // One unique value passes from key to key.
        try leader.insert(versioned("x", 0, email: 1))
        try leader.replace("x", with: versioned("x", 1, email: 2))
        try leader.insert(versioned("y", 0, email: 1))
        try leader.replace("y", with: versioned("y", 1, email: 3))
        try leader.insert(versioned("z", 0, email: 1))
        try leader.replace("x", with: versioned("x", 2, email: 3 + 100))
        try leader.replace("y", with: versioned("y", 2, email: 2))
        let (snapshotTree, snapshotSequence) = leader.merkleTreeAndSequence()
        try writeHistory(leader, count: 30, emailBase: 10_000)

        let follower = try ShardEngine(directory: followerDirectory.path, options: testOptions())
        try follower.createIndex(emailIndex)
        // Resync: the current versions first, then the whole stream from the start replays
        // older versions over newer ones (unique conflicts on the way).
        for record in try leader.storedRecords(revisionsIn: 0...UInt64.max, limit: Int.max, byteLimit: Int.max) {
            try follower.applyReplicated(record)
        }
        try expectSameShard(follower, leader, "after copying the current versions")
        try stream(leader, to: follower, limit: 3, byteLimit: 500)
        try expectSameShard(follower, leader, "after replaying the stream")
        #expect(try follower.keysInIndexOrder(index: "email") == leader.keysInIndexOrder(index: "email"))
        // And once more from the snapshot point.
        try stream(leader, after: snapshotSequence, to: follower)
        try expectSameShard(follower, leader, "after replaying from the snapshot")
        #expect(snapshotTree.count == 3)
        try follower.close()
        try leader.close()
    }

    @Test func treeAtASequencePlusTheRecordsAfterItIsTheWholeShard() throws {
        let leaderDirectory = TemporaryDirectory(), followerDirectory = TemporaryDirectory()
        defer { leaderDirectory.remove(); followerDirectory.remove() }
        let leader = try ShardEngine(directory: leaderDirectory.path, options: testOptions(segmentBytes: 4096))
        leader.enableReplicationTail()
        try writeHistory(leader, count: 60)
        let (tree, sequence) = leader.merkleTreeAndSequence()
        #expect(sequence == leader.statistics.lastSequence && tree.holdsSameRevisions(as: leader.merkleTree))
        let copied = try leader.storedRecords(revisionsIn: 0...UInt64.max, limit: Int.max, byteLimit: Int.max)
        try writeHistory(leader, count: 45, prefix: "m")

        let follower = try ShardEngine(directory: followerDirectory.path, options: testOptions())
        for record in copied { try follower.applyReplicated(record) }
        #expect(follower.merkleTree.holdsSameRevisions(as: tree), "the copy is the tree's state")
        try stream(leader, after: sequence, to: follower)
        try expectSameShard(follower, leader)
        try follower.close()
        try leader.close()
    }

    @Test func storedRecordsOfEveryRangeCopyTheShard() throws {
        let leaderDirectory = TemporaryDirectory(), followerDirectory = TemporaryDirectory()
        defer { leaderDirectory.remove(); followerDirectory.remove() }
        let leader = try ShardEngine(directory: leaderDirectory.path, options: testOptions(segmentBytes: 4096))
        try writeHistory(leader, count: 150)
        // The last versions still in the pending buffer.
        for i in 0..<4 { try leader.insert(versioned("late\(i)", 0, long: true), options: WriteOptions(defersFileWrite: true)) }
        let follower = try ShardEngine(directory: followerDirectory.path, options: testOptions())
        let ranges = leader.merkleTree.diff(MerkleTree(leafCountLog2: 12))
        #expect(ranges.count > 1)
        var copied = 0
        for range in ranges {
            var lower = range.lowerBound
            while lower <= range.upperBound {
                let page = try leader.storedRecords(revisionsIn: lower...range.upperBound, limit: 7, byteLimit: 500)
                guard let last = page.last else { break }
                #expect(page.count <= 7 && (page.count == 1 || page.map(\.payload.count).reduce(0, +) <= 500))
                #expect(page.map(\.revision) == page.map(\.revision).sorted() && page.allSatisfy { range.contains($0.revision) })
                for record in page {
                    #expect(record.kind == .document)
                    #expect(leader.revision(of: String(decoding: record.key, as: UTF8.self)) == record.revision)
                    try follower.applyReplicated(record)
                }
                copied += page.count
                if last.revision == UInt64.max { break }
                lower = last.revision + 1
            }
        }
        #expect(copied == leader.count)
        try expectSameShard(follower, leader)
        #expect(follower.merkleTree.diff(leader.merkleTree).isEmpty)
        try follower.close()
        try leader.close()
    }

    @Test func removeIfCurrentRemovesOnlyThatRevision() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        let first = try engine.insert(versioned("a", 0))
        let second = try engine.replace("a", with: versioned("a", 1))
        #expect(try engine.removeIfCurrent("a", revision: first.revision) == false)
        #expect(engine.revision(of: "a") == second.revision)
        #expect(try engine.removeIfCurrent("b", revision: first.revision) == false)
        #expect(try engine.removeIfCurrent("a", revision: second.revision) == true)
        #expect(engine.count == 0 && engine.merkleTree.count == 0)
        #expect(throws: StorageError.self) { try engine.removeIfCurrent("a/b", revision: 1) }
        try engine.close()
    }

    // MARK: Validation

    @Test func invalidRecordsThrowAndChangeNothing() throws {
        let leaderDirectory = TemporaryDirectory(), followerDirectory = TemporaryDirectory()
        defer { leaderDirectory.remove(); followerDirectory.remove() }
        let leader = try ShardEngine(directory: leaderDirectory.path, options: testOptions())
        try leader.insert(versioned("packed", 0, long: true))
        try leader.insert(versioned("plain", 0))
        try leader.insert(versioned("large", 0).withText(String(repeating: "ab", count: 1500)))
        try leader.remove("plain")
        try leader.truncate()
        let records = try leader.records(after: 0, limit: Int.max, byteLimit: Int.max)
        let packed = records[0], plain = records[1], large = records[2], removal = records[3], truncation = records[4]
        #expect(packed.flags == LogRecord.flagSnappy && plain.flags == 0)

        var options = testOptions()
        options.documentByteCountMax = 2000
        let follower = try ShardEngine(directory: followerDirectory.path, options: options)
        try follower.insert(versioned("resident", 0, email: 1))
        let before = (follower.count, follower.merkleTree.serialized(), follower.statistics)

        func changed(_ record: LogRecord, _ change: (inout LogRecord) -> Void) -> LogRecord {
            var record = record
            change(&record)
            return record
        }
        let array = json("[1,2]")
        let noKey = json(#"{"name":"x"}"#).copiedBytes
        let otherKey = versioned("other", 0).copiedBytes
        let badKey = versioned("a/b", 0).copiedBytes
        let cases: [(String, LogRecord, (StorageError) -> Bool)] = [
            ("unknown flag", changed(plain) { $0.flags = 0x02 }, { $0.errorNumber == 1107 }),
            ("Snappy and an unknown flag", changed(packed) { $0.flags = 0x03 }, { $0.errorNumber == 1107 }),
            ("truncated Snappy", changed(packed) { $0.payload.removeLast(3) }, { $0.errorNumber == 1107 }),
            ("Snappy size mismatch", changed(packed) { $0.documentByteCount += 1 }, { $0.errorNumber == 1107 }),
            ("raw size mismatch", changed(plain) { $0.documentByteCount -= 1 }, { $0.errorNumber == 1107 }),
            ("document size 0", changed(plain) { $0.documentByteCount = 0 }, { $0.errorNumber == 1107 }),
            ("oversized", large, { $0 == .documentTooLarge(byteCount: Int(large.documentByteCount), limit: 2000) }),
            ("not VelocyPack", changed(plain) { $0.payload = [0x0b, 0x07, 0x01, 0x41]; $0.documentByteCount = 4 },
             { if case .invalidVelocyPack = $0 { true } else { false } }),
            ("not an object", changed(plain) { $0.payload = array.copiedBytes; $0.documentByteCount = UInt32(array.byteSize) },
             { $0 == .notAnObject }),
            ("no _key", changed(plain) { $0.payload = noKey; $0.documentByteCount = UInt32(noKey.count) }, { $0 == .missingKey }),
            ("_key differs", changed(plain) { $0.payload = otherKey; $0.documentByteCount = UInt32(otherKey.count) },
             { $0.errorNumber == 1107 }),
            ("record key differs", changed(plain) { $0.key = Array("other".utf8) }, { $0.errorNumber == 1107 }),
            ("invalid key", changed(plain) { $0.key = Array("a/b".utf8); $0.payload = badKey; $0.documentByteCount = UInt32(badKey.count) },
             { if case .invalidKey = $0 { true } else { false } }),
            ("empty key", changed(removal) { $0.key = [] }, { if case .invalidKey = $0 { true } else { false } }),
            ("removal with payload", changed(removal) { $0.payload = [1] }, { $0.errorNumber == 1107 }),
            ("removal with a size", changed(removal) { $0.documentByteCount = 1 }, { $0.errorNumber == 1107 }),
            ("truncation with a key", changed(truncation) { $0.key = Array("a".utf8) }, { $0.errorNumber == 1107 }),
            ("truncation with flags", changed(truncation) { $0.flags = LogRecord.flagSnappy }, { $0.errorNumber == 1107 }),
            ("revision 0", changed(plain) { $0.revision = 0 }, { $0.errorNumber == 1107 }),
            ("payload beyond the record limit", changed(packed) { $0.payload = Array(repeating: 0, count: LogRecordLimits.recordByteCountMax) },
             { $0.errorNumber == 1107 }),
        ]
        for (name, record, isExpected) in cases {
            do {
                try follower.applyReplicated(record)
                Issue.record("\(name): accepted")
            } catch {
                #expect(isExpected(error), "\(name): \(error)")
                #expect(!error.description.isEmpty)
            }
            let after = (follower.count, follower.merkleTree.serialized(), follower.statistics)
            #expect(after.0 == before.0 && after.1 == before.1 && after.2 == before.2, "\(name) changed the shard")
        }

        // A wrong kind byte never becomes a record: the bytes are refused when decoded.
        var bytes = plain.encoded
        bytes[4] = 9
        let crc = CRC32C.checksum(bytes[0..<(bytes.count - 4)])
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
        #expect(throws: StorageError.invalidReplicatedRecord("unknown record kind 9")) { try ReplicatedRecord.decode(bytes) }
        #expect(throws: StorageError.self) { try ReplicatedRecord.decode(Array(plain.encoded.dropLast())) }
        #expect(throws: StorageError.self) { try ReplicatedRecord.decode(plain.encoded + [0]) }
        #expect(try ReplicatedRecord.decode(packed.encoded) == packed)

        // The untouched records apply.
        for record in [packed, plain] { #expect(try follower.applyReplicated(record) > 0) }
        #expect(follower.count == 3)
        #expect(try follower.applyReplicated(removal) > 0)
        #expect(try follower.applyReplicated(removal) == 0, "removing an absent key changes nothing")
        #expect(try follower.applyReplicated(truncation) > 0 && follower.count == 0)
        try follower.close()
        try leader.close()
    }
}

private extension Slice {
    /// The object with a `text` attribute added.
    func withText(_ text: String) -> Slice {
        var builder = Builder()
        builder.openObject()
        for member in objectMembers { builder.add(key: member.key.keyName ?? "", member.value) }
        builder.add(key: "text", text)
        try! builder.close()
        return builder.slice
    }
}
