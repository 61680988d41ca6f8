import Testing
@testable import Replication
import TestRandomness

@Suite("Merkle revision tree")
struct MerkleTreeTests {
    /// Revisions like an HLC makes them: a base time, clustered, with occasional far outliers.
    static func revisions(_ count: Int, _ random: inout SeededGenerator) -> Set<UInt64> {
        let base: UInt64 = 1_763_000_000_000 << 20
        var result = Set<UInt64>()
        while result.count < count {
            switch random.next() % 10 {
            case 0: result.insert(base &+ random.next() % (1 << 40))          // hours later
            case 1: result.insert(base &- random.next() % (1 << 36))          // before
            default: result.insert(base &+ random.next() % (1 << 22))         // same few ms
            }
        }
        return result
    }

    /// The naive answer: leaves (at the common shape) holding a revision in the symmetric
    /// difference, neighbours merged.
    static func naiveDiff(_ a: MerkleTree, _ b: MerkleTree, _ left: Set<UInt64>, _ right: Set<UInt64>) -> [ClosedRange<UInt64>] {
        let (shaped, _) = MerkleTree.commonShape(a, b)
        let leaves = Set(left.symmetricDifference(right).map { shaped.leafRange(containing: $0) })
        var merged: [ClosedRange<UInt64>] = []
        for range in leaves.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, last.upperBound &+ 1 == range.lowerBound {
                merged[merged.count - 1] = last.lowerBound...range.upperBound
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    @Test(arguments: 1...24)
    func diffEqualsTheNaiveSetDifference(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let leafCountLog2 = seed % 3 == 0 ? 18 : 8
        let left = Self.revisions(Int(random.next() % 3000) + 1, &random)
        var right = left
        // Remove some, add some, in a history that differs from the left tree's.
        for revision in left.sorted() where random.next() % 7 == 0 { right.remove(revision) }
        right.formUnion(Self.revisions(Int(random.next() % 40), &random))
        var a = MerkleTree(leafCountLog2: Int(leafCountLog2))
        for revision in left.shuffled(using: &random) { a.insert(revision) }
        var b = MerkleTree(leafCountLog2: Int(leafCountLog2))
        for revision in left.union(right).shuffled(using: &random) { b.insert(revision) }
        for revision in left.subtracting(right) { b.remove(revision) }

        let ranges = a.diff(b)
        #expect(ranges == Self.naiveDiff(a, b, left, right), "seed \(seed)")
        #expect(b.diff(a) == ranges, "diff is symmetric (seed \(seed))")
        #expect(a.count == UInt64(left.count) && b.count == UInt64(right.count))
        // Every differing revision lies in a range; every range holds one.
        let differing = left.symmetricDifference(right)
        for revision in differing { #expect(ranges.contains { $0.contains(revision) }) }
        for range in ranges { #expect(differing.contains { range.contains($0) }) }
        #expect(a.diff(a).isEmpty && (left == right) == ranges.isEmpty)
    }

    @Test(arguments: 1...8)
    func orderOfOperationsDoesNotMatter(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let all = Self.revisions(2000, &random)
        let removed = Set(all.filter { _ in random.next() % 3 == 0 })
        // Tree 1: all inserts, then removals. Tree 2: interleaved in another order.
        var first = MerkleTree(leafCountLog2: 10)
        for revision in all.sorted() { first.insert(revision) }
        for revision in removed.sorted() { first.remove(revision) }
        var second = MerkleTree(leafCountLog2: 10)
        for revision in all.shuffled(using: &random) {
            second.insert(revision)
            if removed.contains(revision) { second.remove(revision) }
        }
        #expect(first.serialized() == second.serialized(), "same revisions seen: identical trees")
        #expect(first.holdsSameRevisions(as: MerkleTree(revisions: all.subtracting(removed), leafCountLog2: 10)))
    }

    @Test func growingKeepsEveryRevisionInItsLeaf() {
        var tree = MerkleTree(leafCountLog2: 8, leafWidthLog2: 2)
        var inserted: [UInt64] = []
        var value: UInt64 = 1 << 40
        for step in 0..<60 {
            tree.insert(value)
            inserted.append(value)
            value = step % 2 == 0 ? value &* 3 : value / 5 + 7
        }
        tree.insert(0)
        tree.insert(UInt64.max)
        inserted += [0, UInt64.max]
        #expect(tree.count == UInt64(inserted.count))
        var leaves: [Int: MerkleTree.Node] = [:]
        for revision in inserted {
            let range = tree.leafRange(containing: revision)
            #expect(range.contains(revision))
            let leaf = Int((range.lowerBound &- tree.rangeMin) >> UInt64(tree.leafWidthLog2))
            leaves[leaf, default: .empty].toggle(MerkleTree.hash(revision), adding: true)
        }
        for (leaf, node) in leaves { #expect(tree.leaf(leaf) == node) }
        #expect(tree.holdsSameRevisions(as: MerkleTree(revisions: inserted, leafCountLog2: 8, leafWidthLog2: 2)))
    }

    /// Found by FuzzStorageCheckpoint: an empty tree that is wider than the other one took
    /// the other's span index at the wrong width, and the trees grew past 64 bits.
    @Test func emptyTreeOfAnotherWidthComparesWithoutGrowingForever() throws {
        var wideEmpty = MerkleTree(leafCountLog2: 6, leafWidthLog2: 0)
        for _ in 0..<20 { wideEmpty.growOnce() }
        wideEmpty.removeAll()
        let wide = try MerkleTree(serialized: [1, 6, 0, 20, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 12))
        var narrow = MerkleTree(leafCountLog2: 6, leafWidthLog2: 0)
        narrow.insert(0xdead_beef)
        #expect(wide.diff(narrow) == [narrow.leafRange(containing: 0xdead_beef)].map { _ in
            MerkleTree.commonShape(wide, narrow).0.leafRange(containing: 0xdead_beef)
        })
        #expect(narrow.diff(wide).count == 1 && wideEmpty.diff(narrow).count == 1)
        #expect(wide.diff(MerkleTree(leafCountLog2: 6)).isEmpty)
    }

    @Test func serializationRoundTripsAndRejectsDamage() throws {
        var random = SeededGenerator(seed: 99)
        let tree = MerkleTree(revisions: Self.revisions(500, &random), leafCountLog2: 9)
        let bytes = tree.serialized()
        let back = try MerkleTree(serialized: bytes)
        #expect(back.serialized() == bytes)
        #expect(back.holdsSameRevisions(as: tree) && back.root == tree.root)
        #expect(throws: MerkleTreeFault.self) { try MerkleTree(serialized: Array(bytes.dropLast())) }
        #expect(throws: MerkleTreeFault.self) { try MerkleTree(serialized: [2] + bytes.dropFirst()) }
        for position in stride(from: 0, to: bytes.count, by: 7) {
            var damaged = bytes
            damaged[position] ^= 0x5a
            _ = try? MerkleTree(serialized: damaged)  // Never traps; checked fields throw.
        }
        let empty = MerkleTree()
        #expect(try MerkleTree(serialized: empty.serialized()).count == 0)
    }

    @Test func memoryStaysWithinTheStatedBound() {
        var tree = MerkleTree()
        #expect(tree.allocatedLeafByteCount == 0)
        for revision in stride(from: UInt64(1) << 60, to: (UInt64(1) << 60) + 1000, by: 1) { tree.insert(revision) }
        #expect(tree.allocatedLeafByteCount == 64 << 10, "one 64 KiB chunk for a small dense shard")
        var random = SeededGenerator(seed: 5)
        for _ in 0..<200_000 { tree.insert(random.next()) }
        #expect(tree.allocatedLeafByteCount <= (1 << 18) * 16, "never more than 4 MiB")
    }
}
