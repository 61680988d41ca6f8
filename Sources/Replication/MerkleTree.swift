import BinaryFormat
/// A shard's Merkle revision tree: the revision ids of its live documents hashed into leaves
/// keyed by revision range, so two replicas can find the revision ranges they disagree on
/// without exchanging the revisions themselves.
///
/// Shape: `leafCount` leaves (default 2^18 = 262,144, eight-way depth 6), each covering
/// `leafWidth` consecutive revision ids (a power of two, initially 64). A leaf holds the XOR of
/// a 64-bit FNV-1a hash of every revision in it and how many there are; XOR makes insert and
/// remove the same O(1) step, independent of order. Above the leaves sit 64 chunk summaries
/// and a root, so `diff` skips equal chunks without looking at their leaves.
///
/// Range: the leaves cover `[spanIndex << s, (spanIndex + 1) << s)` with
/// `s = log2(leafCount) + log2(leafWidth)`; spans are aligned to their own size. A revision
/// outside the span grows the tree: the width doubles and neighbouring leaf pairs fold into
/// one (hash XOR, counts add), into the left or right half of the doubled span as alignment
/// says. No revision is re-read. Because spans are aligned, the shape after any history is
/// the smallest aligned span that holds every revision ever seen, whatever the order; two
/// trees of different shapes are compared after growing the narrower one (``diff(_:)``).
///
/// Memory: leaves live in 64 chunks of `leafCount / 64` leaves (64 KiB each by default),
/// allocated on first touch, so a tree uses at most `leafCount × 16` bytes (4 MiB by
/// default) plus 1 KiB of summaries, and a small shard touches only a few chunks.
public struct MerkleTree: Sendable, CustomStringConvertible {
    /// One leaf or summary: XOR of revision hashes and the number of revisions.
    public struct Node: Sendable, Equatable, Hashable {
        public var hash: UInt64
        public var count: UInt64

        public static let empty = Node(hash: 0, count: 0)

        @inline(__always)
        mutating func toggle(_ revisionHash: UInt64, adding: Bool) {
            hash ^= revisionHash
            count = adding ? count &+ 1 : count &- 1
        }

        @inline(__always)
        static func combined(_ left: Node, _ right: Node) -> Node {
            Node(hash: left.hash ^ right.hash, count: left.count &+ right.count)
        }
    }

    public static let chunkCount = 64
    public static let leafCountLog2Default = 18
    public static let leafWidthLog2Default = 6
    /// Bounds for a tree read from bytes: 2^6 ... 2^24 leaves.
    public static let leafCountLog2Range = 6...24

    public let leafCountLog2: Int
    public let initialLeafWidthLog2: Int
    public private(set) var leafWidthLog2: Int
    /// The aligned span the leaves cover; `nil` until the first revision arrives.
    public private(set) var spanIndex: UInt64?
    private var chunks: [[Node]?]
    private var chunkSummaries: [Node]
    /// The whole tree: XOR of every live revision hash and the live count.
    public private(set) var root: Node

    public var leafCount: Int { 1 << leafCountLog2 }
    var leavesPerChunk: Int { leafCount / Self.chunkCount }
    /// log2 of the span's size in revision ids.
    var spanLog2: Int { leafCountLog2 + leafWidthLog2 }
    /// How many live revisions the tree holds.
    public var count: UInt64 { root.count }

    /// An empty tree.
    public init(leafCountLog2: Int = leafCountLog2Default, leafWidthLog2: Int = leafWidthLog2Default) {
        precondition(Self.leafCountLog2Range.contains(leafCountLog2), "leafCountLog2 \(leafCountLog2)")
        precondition(leafWidthLog2 >= 0 && leafCountLog2 + leafWidthLog2 <= 64, "leafWidthLog2 \(leafWidthLog2)")
        self.leafCountLog2 = leafCountLog2
        self.initialLeafWidthLog2 = leafWidthLog2
        self.leafWidthLog2 = leafWidthLog2
        self.spanIndex = nil
        self.chunks = Array(repeating: nil, count: Self.chunkCount)
        self.chunkSummaries = Array(repeating: .empty, count: Self.chunkCount)
        self.root = .empty
    }

    /// A tree of the given revisions (the repair path: rebuild from the data).
    public init(revisions: some Sequence<UInt64>, leafCountLog2: Int = leafCountLog2Default,
                leafWidthLog2: Int = leafWidthLog2Default) {
        self.init(leafCountLog2: leafCountLog2, leafWidthLog2: leafWidthLog2)
        for revision in revisions { insert(revision) }
    }

    /// The 64-bit FNV-1a hash of the revision's eight little-endian bytes.
    @inline(__always)
    public static func hash(_ revision: UInt64) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var value = revision
        for _ in 0..<8 {
            hash = (hash ^ (value & 0xff)) &* 0x0000_0100_0000_01b3
            value >>= 8
        }
        return hash
    }

    /// Adds a live revision. O(1) unless the revision lies outside the span (then one O(leaves)
    /// fold per doubling).
    public mutating func insert(_ revision: UInt64) { toggle(revision, adding: true) }

    /// Removes a live revision (one that was inserted). O(1) unless the span must grow.
    public mutating func remove(_ revision: UInt64) { toggle(revision, adding: false) }

    private mutating func toggle(_ revision: UInt64, adding: Bool) {
        growToInclude(revision)
        let leaf = leafIndex(of: revision)
        let chunk = leaf >> (leafCountLog2 - 6)
        let revisionHash = Self.hash(revision)
        if chunks[chunk] == nil { chunks[chunk] = Array(repeating: .empty, count: leavesPerChunk) }
        chunks[chunk]![leaf & (leavesPerChunk - 1)].toggle(revisionHash, adding: adding)
        chunkSummaries[chunk].toggle(revisionHash, adding: adding)
        root.toggle(revisionHash, adding: adding)
    }

    /// Empties the tree but keeps its shape (truncate).
    public mutating func removeAll() {
        chunks = Array(repeating: nil, count: Self.chunkCount)
        chunkSummaries = Array(repeating: .empty, count: Self.chunkCount)
        root = .empty
    }

    @inline(__always)
    func leafIndex(of revision: UInt64) -> Int {
        Int(truncatingIfNeeded: (revision >> UInt64(leafWidthLog2))) & (leafCount - 1)
    }

    /// The leaf at `index` (an empty node for an unallocated chunk).
    public func leaf(_ index: Int) -> Node {
        chunks[index >> (leafCountLog2 - 6)]?[index & (leavesPerChunk - 1)] ?? .empty
    }

    /// The first revision id of the span (0 before the first revision).
    public var rangeMin: UInt64 {
        guard let spanIndex else { return 0 }
        return spanLog2 >= 64 ? 0 : spanIndex << UInt64(spanLog2)
    }

    /// The revision ids covered by leaf `index`.
    public func leafRange(_ index: Int) -> ClosedRange<UInt64> {
        let start = rangeMin &+ (UInt64(index) << UInt64(leafWidthLog2))
        return start...(start &+ ((1 << UInt64(leafWidthLog2)) &- 1))
    }

    /// The revision ids of the leaf that holds `revision` (which must lie in the span).
    public func leafRange(containing revision: UInt64) -> ClosedRange<UInt64> {
        precondition(spanContains(revision), "revision \(revision) outside the tree's span")
        return leafRange(leafIndex(of: revision))
    }

    func spanContains(_ revision: UInt64) -> Bool {
        guard let spanIndex else { return false }
        return (revision >> UInt64(spanLog2)) == spanIndex  // `>>` by 64 gives 0: one span for all.
    }

    /// Doubles the width until the span holds `revision`.
    mutating func growToInclude(_ revision: UInt64) {
        guard spanIndex != nil else {
            spanIndex = revision >> UInt64(spanLog2)
            return
        }
        while !spanContains(revision) { growOnce() }
    }

    /// Doubles the leaf width: leaf pairs fold into one, into the half of the doubled (aligned)
    /// span where the old span lies.
    mutating func growOnce() {
        precondition(spanLog2 < 64, "tree already spans every revision")
        let oldSpan = spanIndex ?? 0
        let offset = oldSpan & 1 == 0 ? 0 : leafCount / 2
        if root.count != 0 || root.hash != 0 || chunks.contains(where: { $0 != nil }) {
            var folded = MerkleTree(leafCountLog2: leafCountLog2, leafWidthLog2: initialLeafWidthLog2)
            for pair in 0..<(leafCount / 2) {
                let node = Node.combined(leaf(2 * pair), leaf(2 * pair + 1))
                if node != .empty { folded.setLeaf(offset + pair, node) }
            }
            chunks = folded.chunks
            chunkSummaries = folded.chunkSummaries
        }
        leafWidthLog2 += 1
        spanIndex = oldSpan >> 1
    }

    private mutating func setLeaf(_ index: Int, _ node: Node) {
        let chunk = index >> (leafCountLog2 - 6)
        if chunks[chunk] == nil { chunks[chunk] = Array(repeating: .empty, count: leavesPerChunk) }
        chunks[chunk]![index & (leavesPerChunk - 1)] = node
        chunkSummaries[chunk] = Node.combined(chunkSummaries[chunk], node)
    }

    /// Brings two trees to the same shape (width and span) by growing, without changing what
    /// they hold.
    public static func commonShape(_ first: MerkleTree, _ second: MerkleTree) -> (MerkleTree, MerkleTree) {
        precondition(first.leafCountLog2 == second.leafCountLog2,
                     "trees of \(first.leafCount) and \(second.leafCount) leaves cannot be compared")
        var a = first, b = second
        // Same width first: a tree that never saw a revision is empty at any shape and simply
        // takes the width; the other grows to it.
        let width = max(a.leafWidthLog2, b.leafWidthLog2)
        if a.spanIndex == nil { a.leafWidthLog2 = width } else { while a.leafWidthLog2 < width { a.growOnce() } }
        if b.spanIndex == nil { b.leafWidthLog2 = width } else { while b.leafWidthLog2 < width { b.growOnce() } }
        // Then the same span: the empty one takes the other's, else both grow until aligned
        // spans meet (at the latest when one span holds every revision).
        if a.spanIndex == nil { a.spanIndex = b.spanIndex ?? 0 }
        if b.spanIndex == nil { b.spanIndex = a.spanIndex }
        while a.spanIndex != b.spanIndex { a.growOnce(); b.growOnce() }
        return (a, b)
    }

    /// The revision ranges in which the two trees differ: differing leaves, neighbours merged,
    /// sorted. Empty when both hold the same revisions (up to 64-bit hash collisions).
    ///
    /// Trees with different leaf counts give `[0...UInt64.max]`.
    ///
    /// Complexity: O(chunks) when equal; otherwise O(leaves per differing chunk) plus the growth
    /// of the narrower tree.
    public func diff(_ other: MerkleTree) -> [ClosedRange<UInt64>] {
        // Trees of different leaf counts (differently configured replicas) cannot be compared
        // leaf by leaf; the safe answer is that everything may differ.
        guard leafCountLog2 == other.leafCountLog2 else { return [0...UInt64.max] }
        let (a, b) = Self.commonShape(self, other)
        guard a.root != b.root || a.chunkSummaries != b.chunkSummaries else { return [] }
        var ranges: [ClosedRange<UInt64>] = []
        // Equal summaries mean equal leaves unless 64-bit XORs collide, which the count check
        // makes rarer still; the same bet every Merkle sync makes at the root.
        for chunk in 0..<Self.chunkCount where a.chunkSummaries[chunk] != b.chunkSummaries[chunk] {
            let first = chunk * a.leavesPerChunk
            for leaf in first..<(first + a.leavesPerChunk) where a.leaf(leaf) != b.leaf(leaf) {
                let range = a.leafRange(leaf)
                if let last = ranges.last, last.upperBound &+ 1 == range.lowerBound {
                    ranges[ranges.count - 1] = last.lowerBound...range.upperBound
                } else {
                    ranges.append(range)
                }
            }
        }
        return ranges
    }

    /// Whether both trees hold the same revisions (compared at a common shape).
    public func holdsSameRevisions(as other: MerkleTree) -> Bool {
        root == other.root && diff(other).isEmpty
    }

    public var description: String {
        "MerkleTree(count: \(root.count), hash: \(String(root.hash, radix: 16)), leaves: \(leafCount), "
            + "width: 2^\(leafWidthLog2), rangeMin: \(rangeMin))"
    }

    /// The bytes the tree uses for leaves right now (allocated chunks).
    public var allocatedLeafByteCount: Int {
        chunks.reduce(0) { $0 + ($1 == nil ? 0 : leavesPerChunk * MemoryLayout<Node>.stride) }
    }
}

// MARK: - Serialization

extension MerkleTree {
    /// Serialized form (little-endian), only populated leaves:
    ///
    /// ```
    /// u8 version (1) | u8 leafCountLog2 | u8 initialLeafWidthLog2 | u8 leafWidthLog2
    /// u8 hasSpan | 3 × u8 zero | u64 spanIndex | u32 populatedLeafCount
    /// populatedLeafCount × (u32 leafIndex (strictly increasing) | u64 hash | u64 count)
    /// ```
    public func serialized() -> [UInt8] {
        var output: [UInt8] = [1, UInt8(leafCountLog2), UInt8(initialLeafWidthLog2), UInt8(leafWidthLog2),
                               spanIndex == nil ? 0 : 1, 0, 0, 0]
        StorageBytes.append(spanIndex ?? 0, to: &output)
        let countOffset = output.count
        StorageBytes.append(UInt32(0), to: &output)
        var populated: UInt32 = 0
        for chunk in 0..<Self.chunkCount {
            guard let leaves = chunks[chunk] else { continue }
            for (index, node) in leaves.enumerated() where node != .empty {
                StorageBytes.append(UInt32(chunk * leavesPerChunk + index), to: &output)
                StorageBytes.append(node.hash, to: &output)
                StorageBytes.append(node.count, to: &output)
                populated += 1
            }
        }
        StorageBytes.write(populated, into: &output, at: countOffset)
        return output
    }

    /// Reads a serialized tree, checking every field; summaries and root are recomputed.
    public init(serialized bytes: [UInt8]) throws(MerkleTreeFault) {
        do {
            self = try Self.parse(bytes)
        } catch is StorageByteReader.Overrun {
            throw MerkleTreeFault("ends early")
        } catch let fault as MerkleTreeFault {
            throw fault
        } catch {
            throw MerkleTreeFault("\(error)")
        }
    }

    private static func parse(_ bytes: [UInt8]) throws -> MerkleTree {
        var reader = StorageByteReader(bytes)
        let version = try reader.read(UInt8.self)
        guard version == 1 else { throw MerkleTreeFault("version \(version)") }
        let leafCountLog2 = Int(try reader.read(UInt8.self))
        let initialWidthLog2 = Int(try reader.read(UInt8.self))
        let widthLog2 = Int(try reader.read(UInt8.self))
        guard leafCountLog2Range.contains(leafCountLog2), initialWidthLog2 <= widthLog2,
              leafCountLog2 + widthLog2 <= 64 else {
            throw MerkleTreeFault("shape 2^\(leafCountLog2) leaves, width 2^\(widthLog2)")
        }
        let hasSpan = try reader.read(UInt8.self)
        guard try reader.readBytes(3).allSatisfy({ $0 == 0 }) else { throw MerkleTreeFault("padding not zero") }
        let spanIndex = try reader.read(UInt64.self)
        guard hasSpan <= 1 else { throw MerkleTreeFault("span flag \(hasSpan)") }
        var tree = MerkleTree(leafCountLog2: leafCountLog2, leafWidthLog2: initialWidthLog2)
        tree.leafWidthLog2 = widthLog2
        if hasSpan == 1 {
            let spanLog2 = tree.spanLog2
            guard spanLog2 == 64 ? spanIndex == 0 : spanIndex < (1 << UInt64(64 - spanLog2)) else {
                throw MerkleTreeFault("span index \(spanIndex) out of range")
            }
            tree.spanIndex = spanIndex
        } else {
            guard spanIndex == 0 else { throw MerkleTreeFault("span index without a span") }
        }
        let populated = Int(try reader.read(UInt32.self))
        guard populated <= tree.leafCount, reader.remainingByteCount == populated * 20 else {
            throw MerkleTreeFault("\(populated) leaves in \(reader.remainingByteCount) bytes")
        }
        guard populated == 0 || hasSpan == 1 else { throw MerkleTreeFault("leaves without a span") }
        var previous = -1
        for _ in 0..<populated {
            let index = Int(try reader.read(UInt32.self))
            let node = Node(hash: try reader.read(UInt64.self), count: try reader.read(UInt64.self))
            guard index > previous, index < tree.leafCount, node != .empty else {
                throw MerkleTreeFault("leaf \(index) out of order, out of range or empty")
            }
            previous = index
            tree.setLeaf(index, node)
            tree.root = Node.combined(tree.root, node)
        }
        return tree
    }
}

/// Why bytes are not a serialized Merkle tree.
public struct MerkleTreeFault: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { "Merkle tree: \(reason)" }
}
