public import Raft
import TesseraPlatform
import BinaryFormat

/// Sizes and limits of the agent's Raft disk. Every limit applies to what is read back, so a
/// damaged or hostile file cannot make recovery allocate without bound.
public struct RaftDiskOptions: Sendable, Equatable {
    /// A new log segment is started before an append would take the current one past this
    /// many bytes (a segment holds at least one record, so one record may pass it).
    public var segmentByteCountTarget: Int
    /// The largest entry encoding a record may carry. An entry arrives in one message, so the
    /// default is the Raft codec's message limit.
    public var recordPayloadByteCountMax: Int
    /// The largest segment file recovery reads.
    public var segmentByteCountMax: Int
    /// The largest snapshot file recovery reads.
    public var snapshotByteCountMax: Int
    /// The most log entries recovery accepts (all segments together).
    public var entryCountMax: Int
    /// The most segment files recovery accepts.
    public var segmentCountMax: Int

    /// The defaults: 8 MiB segments; 64 MiB entries; 1 GiB segment and snapshot files;
    /// 16 Mi entries; 10 000 segments.
    public init(segmentByteCountTarget: Int = 8 << 20,
                recordPayloadByteCountMax: Int = RaftCodecLimits.default.messageByteCountMax,
                segmentByteCountMax: Int = 1 << 30, snapshotByteCountMax: Int = 1 << 30,
                entryCountMax: Int = 1 << 24, segmentCountMax: Int = 10_000) {
        self.segmentByteCountTarget = segmentByteCountTarget
        self.recordPayloadByteCountMax = recordPayloadByteCountMax
        self.segmentByteCountMax = segmentByteCountMax
        self.snapshotByteCountMax = snapshotByteCountMax
        self.entryCountMax = entryCountMax
        self.segmentCountMax = segmentCountMax
    }

    /// Traps on settings under which a segment this process writes could not be read back.
    func validate() {
        precondition(segmentByteCountTarget > RaftDiskFormat.segmentHeaderByteCount, "segment target \(segmentByteCountTarget) holds no record")
        precondition(recordPayloadByteCountMax > 0 && recordPayloadByteCountMax <= Int(UInt32.max), "record limit \(recordPayloadByteCountMax)")
        precondition(segmentByteCountTarget + RaftDiskFormat.recordHeaderByteCount + recordPayloadByteCountMax <= segmentByteCountMax,
                     "a segment of target \(segmentByteCountTarget) plus one record may pass segmentByteCountMax \(segmentByteCountMax)")
        precondition(entryCountMax > 0 && segmentCountMax > 0, "entry and segment limits must be positive")
    }
}

/// The on-disk formats of the agent's Raft disk (`Protocol/AgentStorage.md`): log segments,
/// the two-slot hard-state file, the snapshot file. Pure (no I/O): the fuzz build compiles
/// this file with the Raft and the pure Storage files.
///
/// All integers little-endian. A log segment:
///
/// ```
///  header (28 bytes)
///  0          8             12            16              24          28
///  +----------+-------------+-------------+---------------+-----------+
///  | TSRAFTLG | version u32 | reserved u32| firstIndex u64| CRC32C u32|   CRC over bytes 0..<24
///  +----------+-------------+-------------+---------------+-----------+
///  then records, each:
///  0                 4            8
///  +-----------------+------------+---------------------------------+
///  | payloadBytes u32| CRC32C u32 | payload: RaftCodec entry        |   CRC over the length
///  +-----------------+------------+---------------------------------+   field, then the payload
/// ```
public enum RaftDiskFormat {
    /// The version every header of this layout carries.
    public static let version: UInt32 = 1

    public static let segmentMagic: [UInt8] = Array("TSRAFTLG".utf8)
    public static let segmentHeaderByteCount = 28
    public static let recordHeaderByteCount = 8

    // MARK: - Log segments

    /// The header of a segment whose first entry (when it has one) is `firstIndex`.
    public static func segmentHeader(firstIndex: LogIndex) -> [UInt8] {
        var bytes = segmentMagic
        StorageBytes.append(version, to: &bytes)
        StorageBytes.append(UInt32(0), to: &bytes)
        StorageBytes.append(firstIndex, to: &bytes)
        StorageBytes.append(CRC32C.checksum(bytes), to: &bytes)
        return bytes
    }

    /// The first index a segment header names, or why the header is refused. `bytes` must hold
    /// at least ``segmentHeaderByteCount`` bytes.
    public static func decodeSegmentHeader(_ bytes: [UInt8]) -> Result<LogIndex, HeaderFault> {
        precondition(bytes.count >= segmentHeaderByteCount, "header read from \(bytes.count) bytes")
        return bytes.withUnsafeBytes { raw in
            let stored = StorageBytes.read(UInt32.self, raw, at: 24)
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<24])) == stored else {
                return .failure(HeaderFault(reason: "header checksum mismatch"))
            }
            guard bytes[0..<8].elementsEqual(segmentMagic) else { return .failure(HeaderFault(reason: "not a Raft log segment (magic)")) }
            let fileVersion = StorageBytes.read(UInt32.self, raw, at: 8)
            guard fileVersion == version else { return .failure(HeaderFault(reason: "unsupported version \(fileVersion)")) }
            guard StorageBytes.read(UInt32.self, raw, at: 12) == 0 else { return .failure(HeaderFault(reason: "reserved header field is not 0")) }
            return .success(StorageBytes.read(UInt64.self, raw, at: 16))
        }
    }

    /// Why a header was refused.
    public struct HeaderFault: Error, Equatable, Sendable {
        public var reason: String
    }

    /// Appends the record of one entry to `output`.
    public static func appendRecord(of entry: LogEntry, to output: inout [UInt8]) {
        let payload = RaftCodec.encode(entry)
        // Fits: an entry's encoding is bounded by the message limit, far below 4 GiB.
        let length = UInt32(payload.count)
        StorageBytes.append(length, to: &output)
        StorageBytes.append(recordChecksum(length: length, payload: payload[...]), to: &output)
        output.append(contentsOf: payload)
    }

    /// The checksum of a record: CRC32C over the little-endian length, then the payload, so a
    /// damaged length cannot pass as a shorter valid record.
    static func recordChecksum(length: UInt32, payload: ArraySlice<UInt8>) -> UInt32 {
        let start = withUnsafeBytes(of: length.littleEndian) { CRC32C.checksum($0) }
        return payload.withUnsafeBytes { CRC32C.update(start, $0) }
    }

    /// The outcome of reading one record at an offset.
    public enum RecordRead: Equatable, Sendable {
        /// An intact record: its payload's range and its whole size.
        case record(payload: Range<Int>, byteCount: Int)
        /// The bytes end inside the record (or its header): a write that never finished, if
        /// it is at the end of the log.
        case incomplete
        /// The record is damaged.
        case invalid(reason: String)
    }

    /// Reads the record at `offset` of `bytes` (checks length and checksum, not the payload).
    public static func readRecord(_ bytes: [UInt8], at offset: Int, payloadByteCountMax: Int) -> RecordRead {
        precondition(offset >= 0 && offset <= bytes.count, "record offset \(offset) outside \(bytes.count)")
        guard bytes.count - offset >= recordHeaderByteCount else { return .incomplete }
        let (length, stored) = bytes.withUnsafeBytes { raw in
            (StorageBytes.read(UInt32.self, raw, at: offset), StorageBytes.read(UInt32.self, raw, at: offset + 4))
        }
        // An entry encodes to at least one byte; a zero length is what a hole of zeros reads as.
        guard length > 0 else { return .invalid(reason: "zero record length") }
        guard Int(length) <= payloadByteCountMax else {
            return .invalid(reason: "record length \(length) above the limit \(payloadByteCountMax)")
        }
        let start = offset + recordHeaderByteCount
        guard bytes.count - start >= Int(length) else { return .incomplete }
        let payload = start..<(start + Int(length))
        guard recordChecksum(length: length, payload: bytes[payload]) == stored else {
            return .invalid(reason: "record checksum mismatch")
        }
        return .record(payload: payload, byteCount: recordHeaderByteCount + Int(length))
    }

    /// What a scan of one segment's bytes found.
    public struct SegmentScan: Equatable, Sendable {
        /// The first index the header names.
        public var firstIndex: LogIndex
        /// The entries of the intact records, in file order, with their offsets.
        public var entries: [LogEntry]
        public var offsets: [Int]
        /// Where the intact records end.
        public var validByteCount: Int
        /// Why reading stopped before the end of the bytes: nil when every byte was read.
        public var stop: Stop?

        /// Why a scan stopped early.
        public enum Stop: Equatable, Sendable {
            /// The bytes end inside a record.
            case incomplete
            /// A damaged record.
            case invalid(reason: String)
        }
    }

    /// Scans a whole segment: header, then records until the end or the first bad record.
    ///
    /// - Throws: `corruptFile` for a bad header; `corruptRecord` for a record whose checksum
    ///   holds but whose payload is not an entry (not a torn write: damage or a bug);
    ///   `inconsistentLog` when an entry's index is not the next one.
    /// - Precondition: `bytes` holds at least a header's worth.
    public static func scanSegment(_ bytes: [UInt8], file: String, payloadByteCountMax: Int) throws(RaftDiskError) -> SegmentScan {
        let firstIndex: LogIndex
        switch decodeSegmentHeader(bytes) {
        case .success(let index): firstIndex = index
        case .failure(let fault): throw .corruptFile(file: file, reason: fault.reason)
        }
        var scan = SegmentScan(firstIndex: firstIndex, entries: [], offsets: [], validByteCount: segmentHeaderByteCount, stop: nil)
        var offset = segmentHeaderByteCount
        while offset < bytes.count {
            switch readRecord(bytes, at: offset, payloadByteCountMax: payloadByteCountMax) {
            case .incomplete:
                scan.stop = .incomplete
                return scan
            case .invalid(let reason):
                scan.stop = .invalid(reason: reason)
                return scan
            case .record(let payload, let byteCount):
                let entry: LogEntry
                do {
                    entry = try RaftCodec.decodeEntry(Array(bytes[payload]), byteCountMax: payloadByteCountMax)
                } catch {
                    throw .corruptRecord(file: file, offset: offset, reason: "checksum holds but the payload is no entry: \(error)")
                }
                // Overflow-safe: the count is bounded by the byte count of the file.
                let expected = firstIndex &+ LogIndex(scan.entries.count)
                guard entry.index == expected else {
                    throw .inconsistentLog(file: file, offset: offset, reason: "entry \(entry.index) where \(expected) belongs")
                }
                if let previous = scan.entries.last, entry.term < previous.term {
                    throw .inconsistentLog(file: file, offset: offset,
                                           reason: "entry \(entry.index) has term \(entry.term), below \(previous.term) of the entry before it")
                }
                scan.entries.append(entry)
                scan.offsets.append(offset)
                offset += byteCount
                scan.validByteCount = offset
            }
        }
        return scan
    }

    /// True when an intact record starts at some offset after `offset`: then a bad record at
    /// `offset` is damage in the middle of the log, not a torn tail.
    public static func intactRecordExists(in bytes: [UInt8], after offset: Int, payloadByteCountMax: Int) -> Bool {
        var candidate = offset + 1
        while candidate + recordHeaderByteCount < bytes.count {
            if case .record = readRecord(bytes, at: candidate, payloadByteCountMax: payloadByteCountMax) { return true }
            candidate += 1
        }
        return false
    }

    // MARK: - Hard state

    /// The hard-state file: two slots, each in its own 512-byte sector, written alternately
    /// in place. A write goes to the slot that does not hold the latest state and is synced
    /// before the next write, so a torn write damages only the slot being written and the
    /// other still holds the previous durable state.
    ///
    /// ```
    ///  slot k at offset k × 512 (44 bytes used, the rest zero)
    ///  0          8              16         24              32                40          44
    ///  +----------+--------------+----------+---------------+-----------------+-----------+
    ///  | TSRHARD1 | sequence u64 | term u64 | votedFor u64  | commitIndex u64 | CRC32C u32|
    ///  +----------+--------------+----------+---------------+-----------------+-----------+
    ///  sequence: 1, 2, 3, … ; slot = sequence % 2 ; votedFor 0 = nobody
    /// ```
    public static let hardStateMagic: [UInt8] = Array("TSRHARD1".utf8)
    public static let hardStateSlotByteCount = 44
    public static let hardStateSlotStride = 512
    public static let hardStateFileByteCount = 2 * hardStateSlotStride

    /// One slot's bytes.
    public static func hardStateSlot(_ state: HardState, sequence: UInt64) -> [UInt8] {
        var bytes = hardStateMagic
        StorageBytes.append(sequence, to: &bytes)
        StorageBytes.append(state.term, to: &bytes)
        StorageBytes.append(state.votedFor?.rawValue ?? 0, to: &bytes)
        StorageBytes.append(state.commitIndex, to: &bytes)
        StorageBytes.append(CRC32C.checksum(bytes), to: &bytes)
        return bytes
    }

    /// A slot's state and sequence, or nil when the slot is not intact.
    public static func decodeHardStateSlot(_ bytes: ArraySlice<UInt8>) -> (state: HardState, sequence: UInt64)? {
        guard bytes.count >= hardStateSlotByteCount else { return nil }
        let slot = Array(bytes.prefix(hardStateSlotByteCount))
        return slot.withUnsafeBytes { raw in
            guard slot[0..<8].elementsEqual(hardStateMagic),
                  CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<40])) == StorageBytes.read(UInt32.self, raw, at: 40)
            else { return nil }
            let sequence = StorageBytes.read(UInt64.self, raw, at: 8)
            let voted = StorageBytes.read(UInt64.self, raw, at: 24)
            // Sequence 0 is never written: a slot claiming it is damage that happens to check.
            guard sequence > 0 else { return nil }
            let state = HardState(term: StorageBytes.read(UInt64.self, raw, at: 16),
                                  votedFor: voted == 0 ? nil : NodeID(voted),
                                  commitIndex: StorageBytes.read(UInt64.self, raw, at: 32))
            return (state, sequence)
        }
    }

    /// What a hard-state file holds: the newest intact slot's state and sequence (sequence 0
    /// and the default state for a file never written), and whether a slot was damaged.
    public struct HardStateRead: Equatable, Sendable {
        public var state: HardState
        public var sequence: UInt64
        /// A slot that is neither intact nor blank: the torn last write, normally.
        public var damagedSlot: Int?
    }

    /// Reads the whole hard-state file.
    ///
    /// - Throws: `corruptFile` when the size is wrong, or when neither slot is intact although
    ///   slot 0 was written (only the very first write, to slot 1, can leave no intact slot).
    public static func decodeHardStateFile(_ bytes: [UInt8], file: String) throws(RaftDiskError) -> HardStateRead {
        guard bytes.count == hardStateFileByteCount else {
            throw .corruptFile(file: file, reason: "\(bytes.count) bytes, expected \(hardStateFileByteCount)")
        }
        let slots = (0..<2).map { bytes[($0 * hardStateSlotStride)..<(($0 + 1) * hardStateSlotStride)] }
        let decoded = slots.map(decodeHardStateSlot)
        let damaged = (0..<2).first { decoded[$0] == nil && slots[$0].contains { $0 != 0 } }
        for index in 0..<2 {
            // Slot k holds sequences ≡ k (mod 2); anything else was not written by this format.
            if let slot = decoded[index], slot.sequence % 2 != UInt64(index) {
                throw .corruptFile(file: file, reason: "slot \(index) holds sequence \(slot.sequence)")
            }
        }
        let newest = decoded.compactMap { $0 }.max { $0.sequence < $1.sequence }
        if let newest {
            return HardStateRead(state: newest.state, sequence: newest.sequence, damagedSlot: damaged)
        }
        guard !slots[0].contains(where: { $0 != 0 }) else {
            throw .corruptFile(file: file, reason: "no intact hard-state slot")
        }
        return HardStateRead(state: HardState(), sequence: 0, damagedSlot: damaged)
    }

    // MARK: - Snapshot

    /// The snapshot file, written atomically (temporary file, sync, rename, directory sync):
    ///
    /// ```
    ///  0          8             12            16          24         32                  40
    ///  +----------+-------------+-------------+-----------+----------+-------------------+------+-----------+
    ///  | TSRSNAP1 | version u32 | reserved u32| index u64 | term u64 | dataByteCount u64 | data | CRC32C u32|
    ///  +----------+-------------+-------------+-----------+----------+-------------------+------+-----------+
    ///  CRC over every byte before it
    /// ```
    public static let snapshotMagic: [UInt8] = Array("TSRSNAP1".utf8)
    public static let snapshotHeaderByteCount = 40

    /// The bytes of a snapshot file.
    public static func snapshotFile(_ snapshot: RaftSnapshot) -> [UInt8] {
        var bytes = snapshotMagic
        bytes.reserveCapacity(snapshotHeaderByteCount + snapshot.data.count + 4)
        StorageBytes.append(version, to: &bytes)
        StorageBytes.append(UInt32(0), to: &bytes)
        StorageBytes.append(snapshot.index, to: &bytes)
        StorageBytes.append(snapshot.term, to: &bytes)
        StorageBytes.append(UInt64(snapshot.data.count), to: &bytes)
        bytes.append(contentsOf: snapshot.data)
        StorageBytes.append(CRC32C.checksum(bytes), to: &bytes)
        return bytes
    }

    /// Decodes a snapshot file.
    ///
    /// - Throws: `corruptFile` for a wrong checksum, magic, version or length, or a snapshot
    ///   at index 0 or in term 0 (never written).
    public static func decodeSnapshotFile(_ bytes: [UInt8], file: String) throws(RaftDiskError) -> RaftSnapshot {
        guard bytes.count >= snapshotHeaderByteCount + 4 else {
            throw .corruptFile(file: file, reason: "\(bytes.count) bytes, shorter than a snapshot header")
        }
        let body = bytes.count - 4
        let stored = bytes.withUnsafeBytes { StorageBytes.read(UInt32.self, $0, at: body) }
        guard CRC32C.checksum(bytes[..<body]) == stored else { throw .corruptFile(file: file, reason: "snapshot checksum mismatch") }
        var reader = StorageByteReader(Array(bytes[..<body]))
        do {
            guard try reader.readBytes(8).elementsEqual(snapshotMagic) else { throw RaftDiskError.corruptFile(file: file, reason: "not a snapshot file (magic)") }
            let fileVersion = try reader.read(UInt32.self)
            guard fileVersion == version else { throw RaftDiskError.corruptFile(file: file, reason: "unsupported version \(fileVersion)") }
            guard try reader.read(UInt32.self) == 0 else { throw RaftDiskError.corruptFile(file: file, reason: "reserved field is not 0") }
            let index = try reader.read(UInt64.self)
            let term = try reader.read(UInt64.self)
            let dataByteCount = try reader.read(UInt64.self)
            guard index > 0, term > 0 else { throw RaftDiskError.corruptFile(file: file, reason: "snapshot at index \(index), term \(term)") }
            guard dataByteCount == UInt64(reader.remainingByteCount) else {
                throw RaftDiskError.corruptFile(file: file, reason: "data length \(dataByteCount), \(reader.remainingByteCount) bytes present")
            }
            return RaftSnapshot(index: index, term: term, data: Array(try reader.readBytes(reader.remainingByteCount)))
        } catch let error as RaftDiskError {
            throw error
        } catch {
            throw .corruptFile(file: file, reason: "snapshot header cut short")
        }
    }
}
