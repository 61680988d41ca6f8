// libFuzzer target: the readers of a shard's metadata from disk: the checkpoint
// (`Checkpoint.decode`) and the serialized Merkle tree (`MerkleTree(serialized:)`), which a
// replica may also receive from a peer (untrusted bytes).
//
// Input: a mode byte, then the bytes. Mode bit 0 set: the last 4 bytes are replaced by the
// CRC32C of the rest (so the checkpoint's checksum holds and its fields get explored); mode
// bit 1 set: the bytes after the mode byte are read as a tree instead.
//
// Properties beyond "does not crash":
//
// - An accepted checkpoint re-encodes to exactly the input bytes (its encoding is
//   canonical: sorted keys and segments, only populated leaves); its documents point inside
//   the covered log of a listed segment, and its keys follow the key rules.
// - An accepted tree serializes back to exactly the input bytes; its root count is the sum
//   of its leaves; diff with itself is empty and diff with an empty tree covers every leaf
//   that holds something.
// - Refusals carry a reason; nothing is allocated from a count before the bytes for it are
//   known to be there.
//
// Build and run with `Fuzz/run.sh` (compiled with the pure Storage files).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    StorageCheckpointFuzz.check(input)
    return 0
}

func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzStorageCheckpoint property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum StorageCheckpointFuzz {
    static func check(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        var bytes = Array(input.dropFirst())
        if mode & 2 == 2 {
            checkTree(bytes, input: input)
            return
        }
        if mode & 1 == 1 && bytes.count >= 12 {
            let crc = CRC32C.checksum(bytes[0..<(bytes.count - 4)])
            withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
        }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.decode(bytes)
        } catch {
            if error.reason.isEmpty { violated("refusal without reason", input) }
            return
        }
        if checkpoint.encoded() != bytes { violated("re-encoding differs", input) }
        let covered = Dictionary(uniqueKeysWithValues: checkpoint.segments.map { ($0.order, $0.byteCount) })
        for (key, location) in checkpoint.documents {
            if DocumentKey.fault(key.utf8) != nil { violated("invalid key accepted", input) }
            guard let end = covered[location.segmentOrder], location.offset + location.byteCount <= end else {
                violated("document outside the covered log", input)
            }
        }
    }

    static func checkTree(_ bytes: [UInt8], input: [UInt8]) {
        let tree: MerkleTree
        do {
            tree = try MerkleTree(serialized: bytes)
        } catch {
            if error.reason.isEmpty { violated("refusal without reason", input) }
            return
        }
        if tree.serialized() != bytes { violated("re-serialization differs", input) }
        var sum: UInt64 = 0
        var populated = 0
        for leaf in 0..<tree.leafCount where tree.leaf(leaf) != .empty {
            sum = sum &+ tree.leaf(leaf).count
            populated += 1
        }
        if sum != tree.count { violated("root count \(tree.count) is not the sum \(sum) of the leaves", input) }
        if !tree.diff(tree).isEmpty { violated("diff with itself not empty", input) }
        let empty = MerkleTree(leafCountLog2: tree.leafCountLog2)
        let ranges = tree.diff(empty)
        for leaf in 0..<tree.leafCount where tree.leaf(leaf) != .empty {
            let range = tree.leafRange(leaf)
            if !ranges.contains(where: { $0.lowerBound <= range.lowerBound && range.upperBound <= $0.upperBound }) {
                violated("diff with an empty tree misses leaf \(leaf)", input)
            }
        }
        _ = populated
    }
}
