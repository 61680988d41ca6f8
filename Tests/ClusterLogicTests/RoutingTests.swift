import Testing
import VelocyPack
@testable import ClusterLogic

@Suite("Shard routing")
struct RoutingTests {
    static func shards(_ count: Int) -> [String] { (1...count).map { "s\(1000 + $0)" } }
    static func router(_ count: Int, keys: [String] = ["_key"]) throws -> ShardRouter {
        try ShardRouter(shardKeys: keys, shards: shards(count).reversed())
    }

    /// Pinned routing values: changing them moves stored documents to other shards, a
    /// protocol change (`Protocol/Cluster.md` §5).
    @Test func routingHashIsPinned() throws {
        let router = try Self.router(5)
        #expect(router.hash(of: vpack(#"{"_key": "k1"}"#)) == 0x798d02fe45668827)
        #expect(router.hash(of: vpack(#"{}"#)) == 0x58b0f82eda169586)
    }

    @Test func shardsAreIndexedInNumericOrder() throws {
        let router = try ShardRouter(shardKeys: ["_key"], shards: ["s10", "s9", "s11"])
        #expect(router.shards == ["s9", "s10", "s11"])
        let document = vpack(#"{"_key": "abc"}"#)
        #expect(router.shard(of: document) == router.shards[Int(router.hash(of: document) % 3)])
    }

    @Test(arguments: [3, 5, 16])
    func documentsSpreadEvenly(shardCount: Int) throws {
        let router = try Self.router(shardCount)
        var counts = Array(repeating: 0, count: shardCount)
        for number in 0..<10_000 {
            counts[router.shardIndex(of: vpack(#"{"_key": "key\#(number)"}"#))] += 1
        }
        let expected = 10_000.0 / Double(shardCount)
        let chiSquare = counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        // 99.9 % quantiles of chi-square with 2, 4 and 15 degrees of freedom.
        let limit = [3: 13.82, 5: 18.47, 16: 37.70][shardCount]!
        #expect(chiSquare < limit, "counts \(counts), chi-square \(chiSquare)")
    }

    @Test func routingIsStableAndKeyFromURLMatchesTheDocument() throws {
        let router = try Self.router(16)
        for number in 0..<200 {
            let document = vpack(#"{"_key": "u\#(number)", "x": \#(number)}"#)
            #expect(router.shard(of: document) == router.shard(of: document))
            #expect(router.shard(of: vpack("{}"), key: "u\(number)") == router.shard(of: document))
        }
    }

    @Test func equalNumbersAndReorderedObjectsRouteAlike() throws {
        let router = try Self.router(16, keys: ["n", "o"])
        let base = router.shard(of: vpack(#"{"n": 1, "o": {"a": 1, "b": [1, 2]}}"#))
        for variant in [#"{"n": 1.0, "o": {"b": [1, 2.0], "a": 1}}"#, #"{"o": {"b": [1.0, 2], "a": 1.0}, "n": 1, "z": 5}"#] {
            #expect(router.shard(of: vpack(variant)) == base)
        }
        // UInt and Int encodings of 1, too.
        var builder = Builder()
        builder.openObject()
        builder.add(key: "n", UInt64(1))
        builder.add(key: "o", vpack(#"{"a": 1, "b": [1, 2]}"#))
        try builder.close()
        #expect(router.shard(of: builder.slice) == base)
        // The order of the shard keys themselves matters, and missing counts as null.
        let missing = try Self.router(16, keys: ["n"])
        #expect(missing.hash(of: vpack("{}")) == missing.hash(of: vpack(#"{"n": null}"#)))
    }

    @Test func customShardKeysRefuseUserKeysAndPartialModifications() throws {
        let router = try Self.router(4, keys: ["country"])
        #expect { try router.shardForInsert(vpack(#"{"_key": "a", "country": "de"}"#)) }
            throws: { ($0 as? ClusterError)?.errorNumber == 1466 }
        #expect(try router.shardForInsert(vpack(#"{"country": "de"}"#)) == router.shardIndex(of: vpack(#"{"country": "de"}"#)))
        #expect { try router.shardForModification(vpack(#"{"_key": "a"}"#), key: "a") }
            throws: { ($0 as? ClusterError)?.errorNumber == 1468 }
        #expect(throws: Never.self) { try router.shardForModification(vpack(#"{"country": "fr"}"#), key: "a") }
        #expect { try router.shardForInsert(vpack("[1]")) } throws: { ($0 as? ClusterError)?.errorNumber == 1227 }

        #expect { try router.checkShardKeysUnchanged(old: vpack(#"{"country": "de"}"#), new: vpack(#"{"country": "fr"}"#), isPatch: true) }
            throws: { ($0 as? ClusterError)?.errorNumber == 1469 }
        #expect(throws: Never.self) {
            try router.checkShardKeysUnchanged(old: vpack(#"{"country": "de"}"#), new: vpack(#"{"x": 1}"#), isPatch: true)
        }
        #expect(throws: ClusterError.self) {
            try router.checkShardKeysUnchanged(old: vpack(#"{"country": "de"}"#), new: vpack(#"{"x": 1}"#), isPatch: false)
        }
    }

    @Test func defaultShardingAllowsUserKeysAndUsesGeneratedOnes() throws {
        let router = try Self.router(8)
        #expect(try router.shardForInsert(vpack(#"{"_key": "a"}"#)) == router.shardIndex(of: vpack(#"{"_key": "a"}"#)))
        #expect(try router.shardForInsert(vpack("{}"), generatedKey: "g1") == router.shardIndex(of: vpack(#"{"_key": "g1"}"#)))
        #expect { try router.shardForModification(vpack("{}")) } throws: { ($0 as? ClusterError)?.errorNumber == 1468 }
    }

    @Test func uniqueIndexesMustContainTheShardKeys() throws {
        let router = try Self.router(3, keys: ["a", "b"])
        #expect(throws: Never.self) { try router.checkIndex(fields: ["b", "a", "c"], unique: true) }
        #expect(throws: Never.self) { try router.checkIndex(fields: ["c"], unique: false) }
        #expect { try router.checkIndex(fields: ["a"], unique: true) } throws: { ($0 as? ClusterError)?.errorNumber == 1470 }
        // With one shard uniqueness is local, as in ArangoDB.
        #expect(throws: Never.self) { try Self.router(1, keys: ["a"]).checkIndex(fields: ["c"], unique: true) }
        #expect { try Self.router(2).checkIndex(fields: ["email"], unique: true) } throws: { ($0 as? ClusterError)?.errorNumber == 1470 }
    }

    @Test func arraySplitAndMergeKeepTheCallersOrder() throws {
        let router = try Self.router(5, keys: ["c"])
        let documents = (0..<40).map { number in
            number % 13 == 0 ? vpack(#"{"_key": "x", "c": \#(number)}"#) : vpack(#"{"c": \#(number)}"#)
        }
        let split = router.split(documents, operation: .insert)
        #expect(split.failures.map(\.position) == [0, 13, 26, 39])
        #expect(split.failures.allSatisfy { $0.error.errorNumber == 1466 })
        #expect(split.batches.map(\.shard) == ShardName.sorted(split.batches.map(\.shard)))
        for batch in split.batches {
            #expect(batch.positions == batch.positions.sorted())
            for position in batch.positions { #expect(router.shard(of: documents[position]) == batch.shard) }
        }
        // Each "shard" answers with the c value of its documents, in batch order.
        let answers = split.batches.map { batch in batch.positions.map { "ok \(documents[$0]["c"]!.intValue!)" } }
        let merged = split.merge(answers: answers) { "error \($0.errorNumber)" }
        #expect(merged == (0..<40).map { $0 % 13 == 0 ? "error 1466" : "ok \($0)" })
    }

    @Test func removeByKeysSplitsStringsAsKeys() throws {
        let router = try Self.router(4)
        let split = router.split([vpack(#""a""#), vpack(#"{"_key": "b"}"#), vpack("{}")], operation: .modify)
        #expect(split.failures.map(\.position) == [2])
        let placed = split.batches.flatMap { batch in batch.positions.map { ($0, batch.shard) } }
        #expect(placed.first { $0.0 == 0 }?.1 == router.shard(of: vpack(#"{"_key": "a"}"#)))
    }
}
