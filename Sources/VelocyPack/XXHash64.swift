/// xxHash64 (Yann Collet's published algorithm): a fast, well-mixed 64-bit hash whose output
/// is the same on every platform and in every process, so it is safe for shard routing.
enum XXHash64 {
    static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inline(__always)
    static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        var value = accumulator &+ input &* prime2
        value = (value << 31) | (value >> 33)
        return value &* prime1
    }

    @inline(__always)
    static func merge(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        (accumulator ^ round(0, lane)) &* prime1 &+ prime4
    }

    @inline(__always)
    static func load64(_ pointer: UnsafePointer<UInt8>) -> UInt64 { Raw.readUInt64(pointer) }

    @inline(__always)
    static func load32(_ pointer: UnsafePointer<UInt8>) -> UInt64 {
        UInt64(UInt32(littleEndian: UnsafeRawPointer(pointer).loadUnaligned(as: UInt32.self)))
    }

    /// The hash of `count` bytes at `pointer`.
    static func hash(_ pointer: UnsafePointer<UInt8>, count: Int, seed: UInt64) -> UInt64 {
        var position = 0
        var hash: UInt64
        if count >= 32 {
            var lanes = (seed &+ prime1 &+ prime2, seed &+ prime2, seed, seed &- prime1)
            while count - position >= 32 {
                lanes.0 = round(lanes.0, load64(pointer + position))
                lanes.1 = round(lanes.1, load64(pointer + position + 8))
                lanes.2 = round(lanes.2, load64(pointer + position + 16))
                lanes.3 = round(lanes.3, load64(pointer + position + 24))
                position += 32
            }
            hash = ((lanes.0 << 1) | (lanes.0 >> 63)) &+ ((lanes.1 << 7) | (lanes.1 >> 57))
                &+ ((lanes.2 << 12) | (lanes.2 >> 52)) &+ ((lanes.3 << 18) | (lanes.3 >> 46))
            hash = merge(hash, lanes.0)
            hash = merge(hash, lanes.1)
            hash = merge(hash, lanes.2)
            hash = merge(hash, lanes.3)
        } else {
            hash = seed &+ prime5
        }
        hash &+= UInt64(count)
        while count - position >= 8 {
            hash ^= round(0, load64(pointer + position))
            hash = ((hash << 27) | (hash >> 37)) &* prime1 &+ prime4
            position += 8
        }
        if count - position >= 4 {
            hash ^= load32(pointer + position) &* prime1
            hash = ((hash << 23) | (hash >> 41)) &* prime2 &+ prime3
            position += 4
        }
        while position < count {
            hash ^= UInt64(pointer[position]) &* prime5
            hash = ((hash << 11) | (hash >> 53)) &* prime1
            position += 1
        }
        return avalanche(hash)
    }

    /// The final mixing step: every input bit affects every output bit.
    @inline(__always)
    static func avalanche(_ value: UInt64) -> UInt64 {
        var hash = value
        hash ^= hash >> 33
        hash &*= prime2
        hash ^= hash >> 29
        hash &*= prime3
        hash ^= hash >> 32
        return hash
    }

    /// The hash of one 64-bit word, as xxHash64 hashes its 8 little-endian bytes.
    static func hash(word: UInt64, seed: UInt64) -> UInt64 {
        withUnsafeBytes(of: word.littleEndian) {
            hash($0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 8, seed: seed)
        }
    }
}

/// xxHash64 of bytes, for callers outside this module (checksums of keys, tests).
public func xxHash64(_ bytes: some Collection<UInt8>, seed: UInt64 = 0) -> UInt64 {
    let direct = bytes.withContiguousStorageIfAvailable { buffer in
        XXHash64.hash(buffer.baseAddress ?? UnsafePointer(JSONParser.emptyByte), count: buffer.count, seed: seed)
    }
    if let direct { return direct }
    return Array(bytes).withUnsafeBufferPointer {
        XXHash64.hash($0.baseAddress ?? UnsafePointer(JSONParser.emptyByte), count: $0.count, seed: seed)
    }
}
