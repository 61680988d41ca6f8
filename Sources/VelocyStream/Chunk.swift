/// The two VelocyStream versions. Both use little-endian integers.
public enum VSTVersion: Sendable, Equatable {
    /// 1.0: the message length appears only in the first chunk of a multi-chunk message.
    case v1_0
    /// 1.1: every chunk has the full 24-byte header.
    case v1_1

    /// The 11 bytes a client sends first to choose this version.
    public var preamble: [UInt8] {
        switch self {
        case .v1_0: Array("VST/1.0\r\n\r\n".utf8)
        case .v1_1: Array("VST/1.1\r\n\r\n".utf8)
        }
    }

    /// The length of every preamble.
    public static let preambleByteCount = 11

    /// The version the preamble at the start of `bytes` names, or `nil` when fewer than 11
    /// bytes have arrived and they could still become a preamble (need more bytes).
    /// - Throws: `invalidPreamble` as soon as the bytes cannot be a preamble.
    public static func detect(preamble bytes: some Collection<UInt8>) throws(VSTError) -> VSTVersion? {
        let received = Array(bytes.prefix(preambleByteCount))
        if received == VSTVersion.v1_1.preamble { return .v1_1 }
        if received == VSTVersion.v1_0.preamble { return .v1_0 }
        if received.count < preambleByteCount
            && (VSTVersion.v1_1.preamble.starts(with: received) || VSTVersion.v1_0.preamble.starts(with: received)) {
            return nil
        }
        throw VSTError(.invalidPreamble, at: 0, "expected VST/1.1 or VST/1.0 preamble")
    }
}

/// The fixed header in front of every chunk's data.
///
/// ```
/// VST 1.1 (every chunk)                     VST 1.0
///  0        4        8                16     first chunk of a multi-chunk message: as 1.1
/// +--------+--------+----------------+----------------+   every other chunk: the first 16
/// | length | chunkX | messageID      | messageLength  |   bytes only (no messageLength)
/// | u32    | u32    | u64            | u64            |
/// +--------+--------+----------------+----------------+
/// length: chunk bytes including this header
/// chunkX: first chunk  = (numberOfChunks << 1) | 1
///         later chunks = (index << 1)            index = 1, 2, ...
/// ```
public struct ChunkHeader: Sendable, Equatable {
    /// Total chunk size in bytes, header included.
    public var length: UInt32
    /// Whether this is the first chunk of its message.
    public var isFirst: Bool
    /// For a first chunk, the number of chunks of the message; otherwise this chunk's index.
    public var countOrIndex: UInt32
    /// The message this chunk belongs to.
    public var messageID: UInt64
    /// The whole message's byte count, when the header carries it.
    public var messageLength: UInt64?

    /// The 1.1 header size (and the 1.0 size of a first chunk of a multi-chunk message).
    public static let byteCountLong = 24
    /// The 1.0 size of every other chunk header.
    public static let byteCountShort = 16

    public init(length: UInt32, isFirst: Bool, countOrIndex: UInt32, messageID: UInt64, messageLength: UInt64?) {
        self.length = length
        self.isFirst = isFirst
        self.countOrIndex = countOrIndex
        self.messageID = messageID
        self.messageLength = messageLength
    }

    /// The header's size on the wire: 24 bytes when it carries the message length, else 16.
    public var byteCount: Int {
        messageLength == nil ? Self.byteCountShort : Self.byteCountLong
    }

    /// The chunkX field: `count << 1 | 1` for a first chunk, `index << 1` otherwise.
    public var chunkX: UInt32 { countOrIndex << 1 | (isFirst ? 1 : 0) }

    /// Appends the header's bytes.
    public func write(into bytes: inout [UInt8]) {
        // One append of the fields laid out as on the wire (4 + 4 + 8 + 8 bytes, no padding),
        // not one append per byte: this runs for every message sent.
        let fields = (length.littleEndian, chunkX.littleEndian, messageID.littleEndian, (messageLength ?? 0).littleEndian)
        withUnsafeBytes(of: fields) { raw in bytes.append(contentsOf: raw.prefix(byteCount)) }
    }

    /// Reads the first 16 bytes of a header (length, chunkX, messageID).
    static func readCommon(_ bytes: UnsafeRawBufferPointer) -> (length: UInt32, chunkX: UInt32, messageID: UInt64) {
        (UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
         UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
         UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }
}

/// The limits a receiver enforces on a connection. Every one has a name and a default.
public struct VSTLimits: Sendable, Equatable {
    /// The largest chunk accepted, header included.
    public var chunkByteCountMax: Int
    /// The largest message accepted (header VelocyPack plus body).
    public var messageByteCountMax: Int
    /// How many messages may be partly received at once on one connection.
    public var partialMessageCountMax: Int
    /// The largest message header (the VelocyPack array in front of the body).
    public var headerByteCountMax: Int
    /// The most data held for all partly received messages of one connection together, so
    /// that many partial messages cannot add up to many times the message limit.
    public var partialByteCountMax: Int
    /// The deepest nesting of arrays and objects accepted in a request body (VelocyPack or
    /// JSON). Bodies are decoded and later walked by recursive code on the loop thread and on
    /// the task pool's small stacks, so this can be lowered (`--body-nesting-max`) but not
    /// raised past ``bodyNestingMaxDefault``. The offline `tessera vpack` tools have their
    /// own, much higher limit (`--max-depth`).
    public var bodyNestingMax = VSTLimits.bodyNestingMaxDefault
    /// 256 levels: the VelocyPack parser's and validator's default limit.
    public static let bodyNestingMaxDefault = 256

    /// 1 MiB chunks, 128 MiB messages, 64 partial messages, 64 KiB headers, 256 MiB of
    /// partial data, bodies nested at most 256 levels.
    public static let `default` = VSTLimits(
        chunkByteCountMax: 1 << 20, messageByteCountMax: 128 << 20,
        partialMessageCountMax: 64, headerByteCountMax: 64 << 10, partialByteCountMax: 256 << 20)

    public init(chunkByteCountMax: Int, messageByteCountMax: Int, partialMessageCountMax: Int, headerByteCountMax: Int,
                partialByteCountMax: Int = 256 << 20) {
        self.chunkByteCountMax = chunkByteCountMax
        self.messageByteCountMax = messageByteCountMax
        self.partialMessageCountMax = partialMessageCountMax
        self.headerByteCountMax = headerByteCountMax
        self.partialByteCountMax = partialByteCountMax
    }
}
