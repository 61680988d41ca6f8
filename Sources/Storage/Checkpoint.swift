import ArangoAPI
import TesseraPlatform
import BinaryFormat
import Replication
/// A checkpoint: the primary index, the Merkle tree and the log position they reflect, so
/// that opening a shard replays only the log after it.
///
/// Layout (little-endian), written atomically (temporary file, data sync, rename, directory
/// sync) as `checkpoint` in the shard directory:
///
/// ```
/// "TSCHECK1"                        8 bytes
/// u64 lastSequence | u64 lastRevision | u64 feedFloor
/// u32 segmentCount, then per segment:  u64 order | u32 generation | u64 byteCount covered
/// u64 documentCount, then per document (in key order):
///     u8 keyByteCount | key | u64 segmentOrder | u64 offset | u32 recordByteCount | u64 revision
/// u32 treeByteCount | Merkle tree (MerkleTree.serialized)
/// u32 CRC32C of every byte before it
/// ```
///
/// The log is covered up to `byteCount` of the last listed segment; every listed segment must
/// exist with the listed generation, or the checkpoint is stale (compaction rewrote a
/// segment after it) and recovery replays the whole log instead.
struct Checkpoint {
    static let fileName = "checkpoint"
    static let magic = Array("TSCHECK1".utf8)
    /// A checkpoint file larger than this is refused before it is read.
    static let byteCountMax = 1 << 34
    static let segmentCountMax = 1 << 24

    struct SegmentEntry: Equatable {
        var order: UInt64
        var generation: UInt32
        var byteCount: Int
    }

    var lastSequence: UInt64
    var lastRevision: UInt64
    var feedFloor: UInt64
    var segments: [SegmentEntry]
    /// Keys in ascending order with their locations.
    var documents: [(key: String, location: DocumentLocation)]
    var tree: MerkleTree

    func encoded() -> [UInt8] {
        var output = Self.magic
        output.reserveCapacity(64 + segments.count * 20 + documents.count * 48)
        StorageBytes.append(lastSequence, to: &output)
        StorageBytes.append(lastRevision, to: &output)
        StorageBytes.append(feedFloor, to: &output)
        StorageBytes.append(UInt32(segments.count), to: &output)
        for segment in segments {
            StorageBytes.append(segment.order, to: &output)
            StorageBytes.append(segment.generation, to: &output)
            StorageBytes.append(UInt64(segment.byteCount), to: &output)
        }
        StorageBytes.append(UInt64(documents.count), to: &output)
        for (key, location) in documents {
            // Keys are valid document keys: 1...254 bytes.
            output.append(UInt8(key.utf8.count))
            output.append(contentsOf: key.utf8)
            StorageBytes.append(location.segmentOrder, to: &output)
            StorageBytes.append(UInt64(location.offset), to: &output)
            StorageBytes.append(UInt32(location.byteCount), to: &output)
            StorageBytes.append(location.revision, to: &output)
        }
        let tree = self.tree.serialized()
        StorageBytes.append(UInt32(tree.count), to: &output)
        output.append(contentsOf: tree)
        StorageBytes.append(CRC32C.checksum(output), to: &output)
        return output
    }

    /// Reads a checkpoint, checking the checksum first and every field after.
    static func decode(_ bytes: [UInt8]) throws(CheckpointFault) -> Checkpoint {
        guard bytes.count >= magic.count + 4, bytes.starts(with: magic) else { throw CheckpointFault("no checkpoint header") }
        let stored = bytes.withUnsafeBytes { StorageBytes.read(UInt32.self, $0, at: bytes.count - 4) }
        let computed = CRC32C.checksum(bytes[0..<(bytes.count - 4)])
        guard stored == computed else { throw CheckpointFault("CRC32C mismatch") }
        var reader = StorageByteReader(Array(bytes[0..<(bytes.count - 4)]), offset: magic.count)
        do {
            let lastSequence = try reader.read(UInt64.self)
            let lastRevision = try reader.read(UInt64.self)
            let feedFloor = try reader.read(UInt64.self)
            let segmentCount = Int(try reader.read(UInt32.self))
            guard segmentCount <= segmentCountMax, segmentCount * 20 <= reader.remainingByteCount else {
                throw CheckpointFault("\(segmentCount) segments")
            }
            var segments: [SegmentEntry] = []
            for _ in 0..<segmentCount {
                let entry = SegmentEntry(order: try reader.read(UInt64.self), generation: try reader.read(UInt32.self),
                                         byteCount: Int(truncatingIfNeeded: try reader.read(UInt64.self)))
                guard entry.byteCount >= 0, entry.byteCount <= Int(UInt32.max) * 16,
                      segments.last.map({ $0.order < entry.order }) ?? true else {
                    throw CheckpointFault("segment entry \(entry.order) out of order or range")
                }
                segments.append(entry)
            }
            let documentCount = try reader.read(UInt64.self)
            // Each document takes at least 30 bytes: refuse counts the file cannot hold.
            guard documentCount <= UInt64(reader.remainingByteCount / 30) else {
                throw CheckpointFault("\(documentCount) documents in \(reader.remainingByteCount) bytes")
            }
            var documents: [(key: String, location: DocumentLocation)] = []
            documents.reserveCapacity(Int(documentCount))
            let listed = Dictionary(uniqueKeysWithValues: segments.map { ($0.order, $0.byteCount) })
            for _ in 0..<Int(documentCount) {
                let keyCount = Int(try reader.read(UInt8.self))
                let keyBytes = try reader.readBytes(keyCount)
                guard DocumentKey.fault(keyBytes) == nil else { throw CheckpointFault("invalid key") }
                let key = String(decoding: keyBytes, as: UTF8.self)
                let location = DocumentLocation(
                    segmentOrder: try reader.read(UInt64.self),
                    offset: Int(truncatingIfNeeded: try reader.read(UInt64.self)),
                    byteCount: Int(try reader.read(UInt32.self)),
                    revision: try reader.read(UInt64.self))
                guard let covered = listed[location.segmentOrder], location.offset >= 0,
                      location.byteCount >= LogRecord.byteCountMin,
                      location.byteCount <= covered, location.offset <= covered - location.byteCount else {
                    // (Subtracting keeps a huge stored offset from overflowing the sum.)
                    throw CheckpointFault("document '\(key)' points outside the covered log")
                }
                if let previous = documents.last, !(previous.key < key) {
                    throw CheckpointFault("documents out of key order at '\(key)'")
                }
                documents.append((key, location))
            }
            let treeCount = Int(try reader.read(UInt32.self))
            guard treeCount == reader.remainingByteCount else { throw CheckpointFault("tree size \(treeCount)") }
            let tree: MerkleTree
            do { tree = try MerkleTree(serialized: Array(try reader.readBytes(treeCount))) } catch {
                throw CheckpointFault("\(error)")
            }
            return Checkpoint(lastSequence: lastSequence, lastRevision: lastRevision, feedFloor: feedFloor,
                              segments: segments, documents: documents, tree: tree)
        } catch let fault as CheckpointFault {
            throw fault
        } catch {
            throw CheckpointFault("ends early")
        }
    }
}

/// Why a checkpoint file cannot be used.
struct CheckpointFault: Error, CustomStringConvertible {
    let reason: String
    init(_ reason: String) { self.reason = reason }
    var description: String { reason }
}
