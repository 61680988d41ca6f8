import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
import VelocyPack
import Replication
@testable import Storage
import TesseraPlatform

@Suite("Shard engine")
struct ShardEngineTests {
    /// A checkpoint writes every document, so its interval grows with the shard: loading N
    /// documents writes O(log N) checkpoints, not N / interval.
    @Test func checkpointIntervalGrowsWithTheShard() {
        var options = ShardOptions()
        options.checkpointIntervalOperations = 1000
        #expect(!options.checkpointDue(operations: 999, documents: 10))
        #expect(options.checkpointDue(operations: 1000, documents: 10))
        #expect(!options.checkpointDue(operations: 250_000, documents: 600_000))
        #expect(options.checkpointDue(operations: 600_000, documents: 600_000))
        var loaded = 0, operations = 0, checkpoints = 0
        while loaded < 1_000_000 {
            loaded += 1; operations += 1
            if options.checkpointDue(operations: operations, documents: loaded) { checkpoints += 1; operations = 0 }
        }
        #expect(checkpoints <= 11, "\(checkpoints) checkpoints for 1,000,000 documents")
        options.checkpointIntervalGrowsWithDocuments = false
        #expect(options.checkpointDue(operations: 1000, documents: 600_000))
        options.checkpointIntervalOperations = 0
        #expect(!options.checkpointDue(operations: 1 << 40, documents: 0))
    }

    @Test func insertGetReplaceUpdateRemove() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        let inserted = try engine.insert(json(#"{"_key":"ada","name":"Ada","address":{"city":"London","zip":"N1"}}"#))
        #expect(inserted.previousRevision == nil && inserted.sequence == 1)
        let stored = try #require(try engine.get("ada"))
        #expect(stored.revision == inserted.revision)
        #expect(stored.document["name"]?.stringValue == "Ada")

        let replaced = try engine.replace("ada", with: json(#"{"name":"Ada L.","year":1815}"#))
        #expect(replaced.previousRevision == inserted.revision && replaced.revision > inserted.revision)
        #expect(try engine.get("ada")?.document["_key"]?.stringValue == "ada", "replace sets _key")
        #expect(try engine.get("ada")?.document["year"]?.intValue == 1815)

        let updated = try engine.update("ada", with: json(#"{"address":{"city":"Marylebone"},"year":null,"x":1}"#))
        #expect(updated.revision > replaced.revision)
        let merged = dumped(try #require(try engine.get("ada")).document)
        #expect(merged == #"{"_key":"ada","address":{"city":"Marylebone"},"name":"Ada L.","x":1,"year":null}"#, "\(merged)")
        _ = try engine.update("ada", with: json(#"{"address":{"zip":"W1"}}"#))
        #expect(try engine.get("ada")?.document.value(atPath: "address", "city")?.stringValue == "Marylebone")
        #expect(try engine.get("ada")?.document.value(atPath: "address", "zip")?.stringValue == "W1")

        #expect(engine.count == 1)
        let removed = try engine.remove("ada")
        #expect(removed.previousRevision != nil)
        #expect(try engine.get("ada") == nil && engine.count == 0)
        try engine.close()
    }

    @Test func faultsAreTypedAndChangeNothing() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = testOptions()
        options.documentByteCountMax = 1000
        let engine = try ShardEngine(directory: directory.path, options: options)
        let first = try engine.insert(document("a", [("n", 1)]))
        let before = engine.statistics

        #expect(throws: StorageError.documentExists(key: "a")) { try engine.insert(document("a")) }
        #expect(throws: StorageError.documentNotFound(key: "b")) { try engine.replace("b", with: document("b")) }
        #expect(throws: StorageError.documentNotFound(key: "b")) { try engine.update("b", with: json("{}")) }
        #expect(throws: StorageError.documentNotFound(key: "b")) { try engine.remove("b") }
        #expect(throws: StorageError.missingKey) { try engine.insert(json(#"{"x":1}"#)) }
        #expect(throws: StorageError.missingKey) { try engine.insert(json(#"{"_key":5}"#)) }
        #expect(throws: StorageError.notAnObject) { try engine.insert(json("[1,2]")) }
        #expect(throws: StorageError.invalidKey("key contains the byte 0x2f, not allowed in a key")) {
            try engine.insert(document("a/b"))
        }
        #expect(throws: StorageError.self) { try engine.insert(document(String(repeating: "k", count: 255))) }
        #expect(throws: StorageError.self) { try engine.insert(document("")) }
        let large = document("big", text: String(repeating: "x", count: 2000))
        #expect(throws: StorageError.documentTooLarge(byteCount: large.byteSize, limit: 1000)) { try engine.insert(large) }
        #expect(throws: StorageError.self) { try engine.insert(bytes: [0x0b, 0x07, 0x01, 0x41]) }
        do {
            try engine.insert(bytes: [0x14, 0x05, 0x41, 0x61])
            Issue.record("truncated VelocyPack accepted")
        } catch let error {
            guard case .invalidVelocyPack = error else { Issue.record("\(error)"); return }
            #expect(error.errorNumber == 600)
        }
        #expect(throws: StorageError.revisionConflict(key: "a", expected: 1, actual: first.revision)) {
            try engine.replace("a", with: document("a"), options: WriteOptions(expectedRevision: 1))
        }
        let after = engine.statistics
        #expect(after.lastSequence == before.lastSequence && after.logByteCount == before.logByteCount)
        #expect(try engine.get("a")?.revision == first.revision)
        // Untrusted bytes that are valid are accepted.
        try engine.insert(bytes: json(#"{"_key":"fromBytes","v":[1,2,3]}"#).copiedBytes)
        #expect(engine.count == 2)
    }

    @Test func iteratesInKeyOrderAndRevisionOrder() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        var random = SeededGenerator(seed: 3)
        var keys: [String] = []
        for number in 0..<1500 {
            let key = "k\(random.next() % 100_000)-\(number)"
            keys.append(key)
            try engine.insert(document(key, [("n", number)]))
        }
        for key in keys.prefix(300) { try engine.replace(key, with: document(key, [("n", -1)])) }
        var seen: [String] = []
        var after: String? = nil
        while true {
            let page = try engine.documentsInKeyOrder(after: after, limit: 97)
            if page.isEmpty { break }
            seen += page.map(\.key)
            after = page.last!.key
        }
        #expect(seen == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        let byRevision = try engine.documentsInRevisionOrder(limit: 10_000)
        #expect(byRevision.count == 1500)
        #expect(zip(byRevision, byRevision.dropFirst()).allSatisfy { $0.revision < $1.revision })
        #expect(Array(byRevision.suffix(300).map(\.key)) == Array(keys.prefix(300)), "replaced last")
        let middle = byRevision[700].revision
        let window = engine.revisions(in: middle...(middle + 1_000_000_000), limit: 5)
        #expect(window.map(\.revision) == byRevision[700..<705].map(\.revision))
        #expect(try engine.documentsInRevisionOrder(after: middle, limit: 1).first?.revision == byRevision[701].revision)
    }

    @Test func changeFeedListsEveryOperationInOrder() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions(segmentBytes: 4096))
        try engine.insert(document("a", [("v", 1)]))
        try engine.insert(document("b", [("v", 1)]))
        try engine.update("a", with: json(#"{"v":2}"#))
        try engine.remove("b")
        try engine.truncate()
        for number in 0..<200 { try engine.insert(document("n\(number)", [("v", number)])) }
        let all = try engine.changes(after: 0, limit: 1000)
        #expect(all.map(\.sequence) == Array(1...205))
        guard case .document(let firstDocument) = all[0].operation else { Issue.record("\(all[0])"); return }
        #expect(firstDocument.key == "a")
        guard case .document(let updated) = all[2].operation else { Issue.record("\(all[2])"); return }
        #expect(updated.document["v"]?.intValue == 2)
        guard case .removal(let key, _) = all[3].operation, key == "b" else { Issue.record("\(all[3])"); return }
        guard case .truncation = all[4].operation else { Issue.record("\(all[4])"); return }
        let tail = try engine.changes(after: 150, limit: 10)
        #expect(tail.map(\.sequence) == Array(151...160))
        #expect(try engine.changes(after: 205, limit: 10).isEmpty)
        #expect(engine.statistics.segmentCount > 1)
    }

    @Test func changeFeedStartsNearTheAskedSequenceInLargeSegments() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions(segmentBytes: 4 << 20))
        var random = SeededGenerator(seed: 8)
        for number in 0..<3000 {
            // Random text: Snappy cannot shrink it, so the segment passes several seek points.
            let text = String((0..<600).map { _ in Character(UnicodeScalar(UInt8(97 + random.next() % 26))) })
            try engine.insert(document("s\(number)", [("n", number)], text: text))
        }
        for after in [0, 1, 999, 1500, 2998, 2999] as [UInt64] {
            let changes = try engine.changes(after: after, limit: 3)
            #expect(changes.map(\.sequence) == Array((after + 1)...min(after + 3, 3000)), "after \(after)")
        }
        #expect(try engine.changes(after: 3000, limit: 3).isEmpty)
        try engine.close()
        let reopened = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(try reopened.changes(after: 2100, limit: 1).map(\.sequence) == [2101])
        try reopened.close()
    }

    @Test func reopeningRestoresEverythingWithAndWithoutCheckpoint() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var expected: [String: Int] = [:]
        do {
            let engine = try ShardEngine(directory: directory.path, options: testOptions(segmentBytes: 8192))
            try engine.createIndex(IndexDefinition(name: "byN", fields: ["n"], unique: true))
            for number in 0..<400 {
                try engine.insert(document("d\(number)", [("n", number)]))
                expected["d\(number)"] = number
            }
            try engine.checkpoint()
            for number in stride(from: 0, to: 400, by: 3) {
                try engine.remove("d\(number)")
                expected["d\(number)"] = nil
            }
            for number in 400..<450 {
                try engine.insert(document("d\(number)", [("n", number)]))
                expected["d\(number)"] = number
            }
            try engine.sync()
            // No close: the checkpoint is older than the tail.
        }
        let tree: MerkleTree
        do {
            let engine = try ShardEngine(directory: directory.path, options: testOptions())
            #expect(engine.recoveryReport.checkpointUsed)
            #expect(engine.recoveryReport.recordsReplayed == 134 + 50)
            try Self.check(engine, expected)
            tree = engine.merkleTree
            #expect(try engine.lookup(index: "byN", values: [json("[7]")[0]]).map(\.key) == ["d7"])
            #expect(throws: StorageError.uniqueConstraintViolated(index: "byN", conflictingKey: "d7")) {
                try engine.insert(document("other", [("n", 7)]))
            }
            try engine.close()
        }
        try FileManager.default.removeItem(atPath: directory.path + "/checkpoint")
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(!engine.recoveryReport.checkpointUsed)
        try Self.check(engine, expected)
        #expect(engine.merkleTree.holdsSameRevisions(as: tree))
        #expect(try engine.keysInIndexOrder(index: "byN").count == expected.count)
        try engine.close()
    }

    static func check(_ engine: ShardEngine, _ expected: [String: Int]) throws {
        #expect(engine.count == expected.count)
        for (key, number) in expected {
            #expect(try engine.get(key)?.document["n"]?.intValue == Int64(number), "\(key)")
        }
        let rebuilt = MerkleTree(revisions: try engine.documentsInRevisionOrder(limit: .max).map(\.revision),
                                 leafCountLog2: engine.options.merkleLeafCountLog2)
        #expect(engine.merkleTree.holdsSameRevisions(as: rebuilt))
    }

    @Test func persistentIndexesAreSortedSparseAndUnique() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        try engine.insert(json(#"{"_key":"a","city":"Oslo","age":30}"#))
        try engine.insert(json(#"{"_key":"b","city":"Bergen","age":25}"#))
        try engine.insert(json(#"{"_key":"c","age":-4.5}"#))
        try engine.insert(json(#"{"_key":"d","city":"Oslo","age":30}"#))
        try engine.createIndex(IndexDefinition(name: "cityAge", fields: ["city", "age"]))
        try engine.createIndex(IndexDefinition(name: "city", fields: ["city"], sparse: true))
        #expect(try engine.keysInIndexOrder(index: "cityAge") == ["c", "b", "a", "d"], "missing sorts as null, first")
        #expect(try engine.keysInIndexOrder(index: "city") == ["b", "a", "d"], "sparse leaves c out")
        #expect(try engine.lookup(index: "cityAge", values: [json(#"["Oslo"]"#)[0]]).map(\.key) == ["a", "d"])
        #expect(throws: StorageError.uniqueConstraintViolated(index: "uniqueCity", conflictingKey: "a")) {
            try engine.createIndex(IndexDefinition(name: "uniqueCity", fields: ["city"], unique: true))
        }
        try engine.createIndex(IndexDefinition(name: "age", fields: ["age"]))
        #expect(try engine.keysInIndexOrder(index: "age") == ["c", "b", "a", "d"], "numbers in numeric order")
        try engine.remove("d")
        try engine.createIndex(IndexDefinition(name: "uniqueCity", fields: ["city"], unique: true, sparse: true))
        let before = engine.statistics.lastSequence
        #expect(throws: StorageError.uniqueConstraintViolated(index: "uniqueCity", conflictingKey: "b")) {
            try engine.replace("a", with: json(#"{"city":"Bergen"}"#))
        }
        #expect(engine.statistics.lastSequence == before)
        #expect(try engine.get("a")?.document["city"]?.stringValue == "Oslo", "nothing changed")
        try engine.insert(json(#"{"_key":"e"}"#))
        try engine.insert(json(#"{"_key":"f","city":null}"#))  // Sparse unique: nulls do not collide.
        try engine.update("a", with: json(#"{"city":"Trondheim"}"#))
        #expect(try engine.lookup(index: "city", values: [json(#"["Trondheim"]"#)[0]]).map(\.key) == ["a"])
        #expect(try engine.lookup(index: "city", values: [json(#"["Oslo"]"#)[0]]).isEmpty)
        try engine.dropIndex(named: "age")
        #expect(throws: StorageError.indexNotFound("age")) { try engine.keysInIndexOrder(index: "age") }
        #expect(throws: StorageError.self) { try engine.createIndex(IndexDefinition(name: "bad name", fields: ["x"])) }
        try engine.close()
        let reopened = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(reopened.indexDefinitions.map(\.name) == ["city", "cityAge", "uniqueCity"])
        #expect(try reopened.keysInIndexOrder(index: "city") == ["b", "a"])
        try reopened.close()
    }

    @Test func creatingAnIndexWhileWritersWriteMissesNothing() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        for number in 0..<3000 { try engine.insert(document("x\(number)", [("n", number)])) }
        let group = DispatchGroup()
        group.enter()
        Thread {
            defer { group.leave() }
            for round in 0..<3000 {
                let key = "x\((round * 7919) % 3000)"
                if round % 10 == 0 {
                    _ = try? engine.remove(key)
                } else if (try? engine.replace(key, with: document(key, [("n", 100_000 + round)]))) == nil {
                    _ = try? engine.insert(document(key, [("n", 200_000 + round)]))
                }
            }
        }.start()
        try engine.createIndex(IndexDefinition(name: "byN", fields: ["n"]))
        group.wait()
        var expected: [(Int64, String)] = []
        var after: String? = nil
        while true {
            let page = try engine.documentsInKeyOrder(after: after, limit: 500)
            if page.isEmpty { break }
            expected += page.map { ($0.document["n"]!.intValue!, $0.key) }
            after = page.last!.key
        }
        expected.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) }
        #expect(try engine.keysInIndexOrder(index: "byN") == expected.map(\.1))
        try engine.close()
    }

    @Test func truncateRemovesEverythingDurably() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let engine = try ShardEngine(directory: directory.path, options: testOptions())
            for number in 0..<100 { try engine.insert(document("t\(number)")) }
            try engine.truncate(options: WriteOptions(waitForSync: true))
            try engine.insert(document("after"), options: WriteOptions(waitForSync: true))
            #expect(engine.count == 1 && engine.merkleTree.count == 1)
        }
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(engine.count == 1)
        #expect(try engine.get("after") != nil && engine.get("t5") == nil)
        try engine.close()
    }

    @Test func groupCommitSharesSyncsBetweenConcurrentWriters() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = testOptions()
        options.waitForSync = true
        let engine = try ShardEngine(directory: directory.path, options: options)
        let writers = 16, perWriter = 40
        // Real threads (not concurrentPerform, which runs only as many as there are cores):
        // while one writer syncs, the others queue up behind the next sync.
        let group = DispatchGroup()
        for writer in 0..<writers {
            group.enter()
            Thread {
                defer { group.leave() }
                for number in 0..<perWriter {
                    _ = try? engine.insert(document("w\(writer)-\(number)", [("n", number)]))
                }
            }.start()
        }
        group.wait()
        let statistics = engine.statistics
        #expect(engine.count == writers * perWriter)
        #expect(statistics.syncedWriteCount == writers * perWriter)
        #expect(statistics.syncCount < statistics.syncedWriteCount, "some syncs covered several writes")
        try engine.close()
    }

    @Test func unsyncedWritesReachTheDiskWithinTheSyncInterval() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = testOptions(background: true)
        options.syncIntervalMilliseconds = 20
        let engine = try ShardEngine(directory: directory.path, options: options)
        try engine.insert(document("lazy"))
        let deadline = Date().addingTimeInterval(5)
        while engine.statistics.syncCount == 0 && Date() < deadline { usleep(5_000) }
        #expect(engine.statistics.syncCount >= 1)
        let onDisk = try directory.segmentFiles.reduce(0) { $0 + (try fileBytes(directory.path + "/" + $1).count) }
        #expect(onDisk > 0, "the record is in the file without anyone asking for sync")
        try engine.close()
    }

    /// After a failed `fdatasync` nothing is known about the page cache: the engine must not
    /// acknowledge that write or any later one, and a reopen finds every earlier
    /// acknowledged write.
    @Test func aFailedSyncFailsTheEngineAndLosesNothingAcknowledged() throws {
        let directory = TemporaryDirectory()
        defer {
            FileIO.injectedSyncFailures.withLock { $0[directory.path] = nil }
            directory.remove()
        }
        var options = testOptions()
        options.waitForSync = true
        let engine = try ShardEngine(directory: directory.path, options: options)
        for number in 0..<20 { try engine.insert(document("ok\(number)")) }
        FileIO.injectedSyncFailures.withLock { $0[directory.path] = EIO }
        do {
            try engine.insert(document("unacknowledged"))
            Issue.record("a write was acknowledged although its sync failed")
        } catch {
            guard case .engineFailed = error else { Issue.record("\(error)"); return }
        }
        #expect(throws: StorageError.self) { try engine.insert(document("later"), options: WriteOptions(waitForSync: false)) }
        #expect(throws: StorageError.self) { try engine.remove("ok1") }
        #expect(try engine.get("ok1") != nil, "reads still work")
        FileIO.injectedSyncFailures.withLock { $0[directory.path] = nil }
        #expect(throws: StorageError.self) { try engine.insert(document("stillFailed")) }
        let reopened = try ShardEngine(directory: directory.path, options: testOptions())
        for number in 0..<20 { #expect(try reopened.get("ok\(number)") != nil) }
        #expect(try reopened.get("later") == nil && reopened.get("stillFailed") == nil)
        try reopened.close()
    }

    @Test func anEngineDroppedWithoutCloseStillWritesItsPendingRecords() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let engine = try ShardEngine(directory: directory.path, options: testOptions(background: true))
            try engine.insert(document("dropped", [("n", 1)]))
        }
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        #expect(try engine.get("dropped")?.document["n"]?.intValue == 1)
        try engine.close()
    }

    @Test func twoEnginesApplyingTheSameOperationsInDifferentOrdersHaveEqualTrees() throws {
        let first = TemporaryDirectory("first"), second = TemporaryDirectory("second")
        defer { first.remove(); second.remove() }
        let a = try ShardEngine(directory: first.path, options: testOptions())
        let b = try ShardEngine(directory: second.path, options: testOptions())
        var random = SeededGenerator(seed: 11)
        // Leader-assigned revisions (as replication applies them), per key: insert, maybe remove.
        var operations: [(key: String, revision: UInt64, remove: UInt64?)] = []
        for number in 0..<800 {
            let revision = (UInt64(1_763_000_000_000) << 20) + random.next() % (1 << 34)
            operations.append(("k\(number)", revision, random.next() % 4 == 0 ? revision + 1 : nil))
        }
        for operation in operations {
            try a.insert(document(operation.key), options: WriteOptions(revision: operation.revision))
            if let removal = operation.remove { try a.remove(operation.key, options: WriteOptions(revision: removal)) }
        }
        for operation in operations.shuffled(using: &random) where operation.remove == nil {
            try b.insert(document(operation.key), options: WriteOptions(revision: operation.revision))
        }
        #expect(a.merkleTree.holdsSameRevisions(as: b.merkleTree))
        #expect(a.merkleTree.diff(b.merkleTree).isEmpty)
        try b.remove("k0" == operations[0].key && operations[0].remove == nil ? "k0" : "k1")
        let ranges = a.merkleTree.diff(b.merkleTree)
        #expect(ranges.count == 1)
        #expect(a.rebuildMerkleTree() == false, "the incremental tree was right")
        try a.close()
        try b.close()
    }
}
