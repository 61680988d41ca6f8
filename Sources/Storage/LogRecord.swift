import ArangoAPI
import TesseraPlatform
import BinaryFormat
/// One record of a shard's log: a document version, a removal, or a truncation.
///
/// Layout (all integers little-endian; see `Protocol/Storage.md`):
///
/// ```
///  0       4      5      6        8          16         24           28        28+k
///  +-------+------+------+--------+----------+----------+------------+---------+---------+-------+
///  | bytes | kind | flags| keyLen | revision | sequence | docBytes   | key (k) | payload | CRC32C|
///  |  u32  |  u8  |  u8  |  u16   |   u64    |   u64    | u32        |         |         |  u32  |
///  +-------+------+------+--------+----------+----------+------------+---------+---------+-------+
///  bytes:    the whole record, this field and the CRC included
///  flags:    bit 0 = payload is one Snappy block; other bits must be 0
///  docBytes: the uncompressed document size (0 for removal and truncation)
///  CRC32C:   over every byte before it
/// ```
///
/// The decoder in this file is pure (no Snappy, no I/O) so that the fuzz build can compile it
/// alone; decompression and VelocyPack validation happen one layer up.
public struct LogRecord: Sendable, Equatable {
    /// What a record does to the shard.
    public enum Kind: UInt8, Sendable {
        /// A new version of a document (insert, replace or update).
        case document = 1
        /// The document with the key is gone.
        case removal = 2
        /// Every document written before this record is gone.
        case truncation = 3
    }

    public static let headerByteCount = 28
    public static let checksumByteCount = 4
    /// The smallest possible record: a truncation (no key, no payload).
    public static let byteCountMin = headerByteCount + checksumByteCount
    /// Flag bit 0: the payload is Snappy-compressed.
    public static let flagSnappy: UInt8 = 0x01

    public var kind: Kind
    public var flags: UInt8
    public var revision: UInt64
    public var sequence: UInt64
    /// The document's uncompressed size in bytes; 0 unless `kind == .document`.
    public var documentByteCount: UInt32
    /// The document key as UTF-8; empty for a truncation.
    public var key: [UInt8]
    /// The stored document bytes (Snappy-compressed when `flags` says so); empty unless a
    /// document.
    public var payload: [UInt8]

    public init(kind: Kind, flags: UInt8 = 0, revision: UInt64, sequence: UInt64,
                documentByteCount: UInt32 = 0, key: [UInt8], payload: [UInt8] = []) {
        self.kind = kind
        self.flags = flags
        self.revision = revision
        self.sequence = sequence
        self.documentByteCount = documentByteCount
        self.key = key
        self.payload = payload
    }

    /// The record's size on disk.
    public var encodedByteCount: Int { Self.byteCountMin + key.count + payload.count }

    /// Appends the encoded record to `output`.
    public func encode(into output: inout [UInt8]) {
        precondition(key.count <= LogRecordLimits.keyByteCountMax, "record key of \(key.count) bytes")
        let start = output.count
        let total = encodedByteCount
        precondition(total <= LogRecordLimits.recordByteCountMax, "record of \(total) bytes")
        // No reserveCapacity here: an exact reservation on every append would defeat the
        // array's geometric growth and copy the whole pending buffer each time.
        // Both fit: checked against the limits just above (254 and recordByteCountMax < 2^32).
        StorageBytes.append(UInt32(total), to: &output)
        output.append(kind.rawValue)
        output.append(flags)
        StorageBytes.append(UInt16(key.count), to: &output)
        StorageBytes.append(revision, to: &output)
        StorageBytes.append(sequence, to: &output)
        StorageBytes.append(documentByteCount, to: &output)
        output.append(contentsOf: key)
        output.append(contentsOf: payload)
        let crc = output.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        StorageBytes.append(crc, to: &output)
    }

    /// The encoded record in a new array.
    public var encoded: [UInt8] {
        var output: [UInt8] = []
        encode(into: &output)
        return output
    }
}

/// The limits every record decoder enforces before it trusts a length.
public enum LogRecordLimits {
    /// ArangoDB's key rule: at most 254 bytes.
    public static let keyByteCountMax = DocumentKey.byteCountMax
    /// The largest document the engine stores, uncompressed (also `ShardOptions`' ceiling).
    public static let documentByteCountMax = 64 << 20
    /// The largest record: a document at the limit that Snappy could not shrink (Snappy's
    /// worst case is 32 + n + n/6 bytes), its key and the framing.
    public static let recordByteCountMax =
        LogRecord.byteCountMin + keyByteCountMax + 32 + documentByteCountMax + documentByteCountMax / 6
}

/// Why bytes are not a record.
public enum LogRecordFault: Error, Equatable, Sendable, CustomStringConvertible {
    /// The length field is below the minimum or above `recordByteCountMax`.
    case badLength(UInt32)
    case unknownKind(UInt8)
    case unknownFlags(UInt8)
    /// The key length breaks the rules for the kind (documents and removals need 1...254
    /// bytes, a truncation none) or does not fit in the record.
    case badKeyLength(UInt16)
    /// The document size is above the limit, or not 0 for a record without a document.
    case badDocumentByteCount(UInt32)
    /// A document record without payload, or a payload where none belongs.
    case badPayload
    case checksumMismatch(stored: UInt32, computed: UInt32)

    public var description: String {
        switch self {
        case .badLength(let length): "record length \(length) out of range"
        case .unknownKind(let kind): "unknown record kind \(kind)"
        case .unknownFlags(let flags): "unknown record flags 0x\(String(flags, radix: 16))"
        case .badKeyLength(let length): "key length \(length) invalid for this record"
        case .badDocumentByteCount(let count): "document size \(count) invalid for this record"
        case .badPayload: "payload present or missing against the record kind"
        case .checksumMismatch(let stored, let computed):
            "CRC32C mismatch: stored 0x\(String(stored, radix: 16)), computed 0x\(String(computed, radix: 16))"
        }
    }
}

/// A checked record's fields, with its key and payload as ranges of the bytes it was read from.
public struct LogRecordHeader: Sendable, Equatable {
    public var kind: LogRecord.Kind
    public var flags: UInt8
    public var revision: UInt64
    public var sequence: UInt64
    public var documentByteCount: UInt32
    public var keyRange: Range<Int>
    public var payloadRange: Range<Int>
    public var byteCount: Int

    /// The outcome of looking for a record header (and its CRC-checked body).
    public enum Decoding: Equatable, Sendable {
        case header(LogRecordHeader)
        case needMoreBytes(byteCount: Int)
    }
}

/// The outcome of looking for a record at the start of some bytes.
public enum LogRecordDecoding: Equatable, Sendable {
    /// A whole, checksummed record of `byteCount` bytes.
    case record(LogRecord, byteCount: Int)
    /// The bytes end before the record does: `byteCount` is what the length field asks for,
    /// or the header size when not even that is there.
    case needMoreBytes(byteCount: Int)
}

extension LogRecord {
    /// Decodes the record at the start of `bytes`.
    ///
    /// Every length is checked against `LogRecordLimits` before it is used, and the CRC32C
    /// before anything is returned. Fewer bytes than the record needs is not an error but
    /// `.needMoreBytes` (the caller decides whether that is a torn tail).
    ///
    /// - Throws: `LogRecordFault` naming the first rule the bytes break.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(LogRecordFault) -> LogRecordDecoding {
        switch try decodeHeader(bytes) {
        case .needMoreBytes(let count):
            return .needMoreBytes(byteCount: count)
        case .header(let header):
            let record = LogRecord(
                kind: header.kind, flags: header.flags, revision: header.revision, sequence: header.sequence,
                documentByteCount: header.documentByteCount,
                key: Array(bytes[header.keyRange]), payload: Array(bytes[header.payloadRange]))
            return .record(record, byteCount: header.byteCount)
        }
    }

    /// Checks the record at the start of `bytes` exactly as ``decode(_:)-(UnsafeRawBufferPointer)``
    /// does (CRC32C included) but copies nothing: the key and payload stay where they are.
    public static func decodeHeader(_ bytes: UnsafeRawBufferPointer) throws(LogRecordFault) -> LogRecordHeader.Decoding {
        guard bytes.count >= headerByteCount else { return .needMoreBytes(byteCount: headerByteCount) }
        let length = StorageBytes.read(UInt32.self, bytes, at: 0)
        guard length >= UInt32(byteCountMin), length <= UInt32(LogRecordLimits.recordByteCountMax) else {
            throw .badLength(length)
        }
        guard let kind = Kind(rawValue: bytes[4]) else { throw .unknownKind(bytes[4]) }
        let flags = bytes[5]
        guard flags & ~flagSnappy == 0 else { throw .unknownFlags(flags) }
        let keyLength = StorageBytes.read(UInt16.self, bytes, at: 6)
        let documentByteCount = StorageBytes.read(UInt32.self, bytes, at: 24)
        let total = Int(length)
        let payloadLength = total - byteCountMin - Int(keyLength)
        switch kind {
        case .document, .removal:
            guard keyLength >= 1, Int(keyLength) <= LogRecordLimits.keyByteCountMax, payloadLength >= 0 else {
                throw .badKeyLength(keyLength)
            }
        case .truncation:
            guard keyLength == 0 else { throw .badKeyLength(keyLength) }
        }
        if kind == .document {
            guard documentByteCount >= 1, Int(documentByteCount) <= LogRecordLimits.documentByteCountMax else {
                throw .badDocumentByteCount(documentByteCount)
            }
            guard payloadLength > 0 else { throw .badPayload }
            // Raw documents must match their size exactly; compressed ones are checked by Snappy.
            if flags & flagSnappy == 0 && payloadLength != Int(documentByteCount) { throw .badPayload }
        } else {
            guard documentByteCount == 0 else { throw .badDocumentByteCount(documentByteCount) }
            guard payloadLength == 0, flags == 0 else { throw .badPayload }
        }
        guard bytes.count >= total else { return .needMoreBytes(byteCount: total) }
        let stored = StorageBytes.read(UInt32.self, bytes, at: total - checksumByteCount)
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(total - checksumByteCount)]))
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }
        let payloadStart = headerByteCount + Int(keyLength)
        return .header(LogRecordHeader(
            kind: kind, flags: flags,
            revision: StorageBytes.read(UInt64.self, bytes, at: 8),
            sequence: StorageBytes.read(UInt64.self, bytes, at: 16),
            documentByteCount: documentByteCount,
            keyRange: headerByteCount..<payloadStart,
            payloadRange: payloadStart..<(payloadStart + payloadLength),
            byteCount: total))
    }

    /// Decodes the record at the start of `bytes`; see ``decode(_:)-(UnsafeRawBufferPointer)``.
    public static func decode(_ bytes: some Collection<UInt8>) throws(LogRecordFault) -> LogRecordDecoding {
        let result: Result<LogRecordDecoding, LogRecordFault>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(LogRecordFault) in try decode(UnsafeRawBufferPointer(buffer)) }
        }
        if let result { return try result.get() }
        return try decode(Array(bytes))
    }
}
