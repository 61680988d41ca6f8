/// A hash of a value's *meaning* rather than its bytes, for shard routing: two values that
/// are equal as data hash alike whatever their encoding.
///
/// - Numbers hash by numeric value: `1` as SmallInt, as UInt `28 01`, as Int `20 01` and as
///   double `1.0` hash the same (integers are hashed as the double they convert to; `-0.0`
///   as `0.0`; every NaN alike).
/// - Strings hash by their bytes; object keys by their name (integer keys by the system
///   attribute they stand for).
/// - Arrays hash their members in order, whatever the layout (`02`–`09`, `13`).
/// - Objects hash their pairs independently of order and layout: the pair hashes are
///   combined with XOR, then mixed with the pair count.
/// - Tags are ignored (the inner value is hashed), as JSON ignores them.
///
/// The hash is xxHash64-based and fixed by `Protocol/VelocyPack.md`: it is the same on every
/// machine and in every version, because shard placement depends on it.
extension Slice {
    /// The seed shard routing uses when none is given.
    public static let normalizedHashSeedDefault: UInt64 = 0xdead_beef

    /// The normalized hash of this value; see the type's documentation for what is equal.
    public func normalizedHash(seed: UInt64 = Slice.normalizedHashSeedDefault) -> UInt64 {
        read { NormalizedHasher.hash($0, seed: seed) }
    }
}

/// The rules of ``Slice/normalizedHash(seed:)`` over trusted bytes.
enum NormalizedHasher {
    /// Type tags keep, for example, the string "1" and the number 1 apart.
    enum Kind: UInt64 {
        case null = 1, bool, number, string, array, object, date, binary, minKey, maxKey, illegal, none
        case custom, bcd, external
    }

    @inline(__always)
    static func tagged(_ kind: Kind, _ seed: UInt64) -> UInt64 {
        seed ^ (kind.rawValue &* XXHash64.prime3)
    }

    static func hash(_ start: UnsafePointer<UInt8>, seed: UInt64) -> UInt64 {
        var pointer = start
        // Tags are ignored: step over them in a loop (chains may be long).
        while pointer[0] == 0xee || pointer[0] == 0xef { pointer += pointer[0] == 0xee ? 2 : 9 }
        let head = pointer[0]
        switch ValueType(head: head) {
        case .null: return XXHash64.hash(word: 0, seed: tagged(.null, seed))
        case .bool: return XXHash64.hash(word: head == 0x1a ? 1 : 0, seed: tagged(.bool, seed))
        case .none: return XXHash64.hash(word: 0, seed: tagged(.none, seed))
        case .illegal: return XXHash64.hash(word: 0, seed: tagged(.illegal, seed))
        case .minKey: return XXHash64.hash(word: 0, seed: tagged(.minKey, seed))
        case .maxKey: return XXHash64.hash(word: 0, seed: tagged(.maxKey, seed))
        case .int, .uint, .smallInt, .double:
            return XXHash64.hash(word: numberBits(pointer), seed: tagged(.number, seed))
        case .utcDate:
            return XXHash64.hash(word: Raw.readUInt64(pointer + 1), seed: tagged(.date, seed))
        case .string:
            let (start, count) = head == 0xbf
                ? (9, Int(truncatingIfNeeded: Raw.readUInt64(pointer + 1)))
                : (1, Int(head) - 0x40)
            return XXHash64.hash(pointer + start, count: count, seed: tagged(.string, seed))
        case .binary:
            let width = Int(head) - 0xbf
            let count = Int(truncatingIfNeeded: Raw.readUInt(pointer + 1, width: width))
            return XXHash64.hash(pointer + 1 + width, count: count, seed: tagged(.binary, seed))
        case .tagged:
            preconditionFailure("tags were stepped over above")
        case .array:
            return arrayHash(pointer, seed: seed)
        case .object:
            return objectHash(pointer, seed: seed)
        case .custom:
            return XXHash64.hash(pointer, count: Raw.byteSize(pointer), seed: tagged(.custom, seed))
        case .bcd:
            return XXHash64.hash(pointer, count: Raw.byteSize(pointer), seed: tagged(.bcd, seed))
        case .external:
            return XXHash64.hash(pointer, count: 9, seed: tagged(.external, seed))
        case .reserved:
            preconditionFailure("normalizedHash of a reserved head in trusted bytes")
        }
    }

    /// The bits of the number as a double, with -0.0 folded into 0.0 and one NaN.
    @inline(__always)
    static func numberBits(_ pointer: UnsafePointer<UInt8>) -> UInt64 {
        let head = pointer[0]
        let value: Double
        switch head {
        case 0x1b: value = Double(bitPattern: Raw.readUInt64(pointer + 1))
        case 0x30...0x39: value = Double(head - 0x30)
        case 0x3a...0x3f: value = Double(Int(head) - 0x40)
        case 0x20...0x27: value = Double(Raw.readInt(pointer + 1, width: Int(head) - 0x1f))
        default: value = Double(Raw.readUInt(pointer + 1, width: Int(head) - 0x27))
        }
        if value.isNaN { return Double.nan.bitPattern }
        return value == 0 ? 0 : value.bitPattern
    }

    static func arrayHash(_ pointer: UnsafePointer<UInt8>, seed: UInt64) -> UInt64 {
        let count = Raw.count(pointer)
        var state = tagged(.array, seed) &+ UInt64(count)
        if count > 0 {
            var position = pointer[0] == 0x13 ? 1 + Raw.readVarint(pointer + 1).length : Raw.firstMemberOffset(pointer)
            for _ in 0..<count {
                // Chain: each member's hash is seeded by everything before it, so order counts.
                state = hash(pointer + position, seed: state)
                position += Raw.byteSize(pointer + position)
            }
        }
        return XXHash64.avalanche(state)
    }

    static func objectHash(_ pointer: UnsafePointer<UInt8>, seed: UInt64) -> UInt64 {
        let count = Raw.count(pointer)
        var combined: UInt64 = 0
        if count > 0 {
            var position = pointer[0] == 0x14 ? 1 + Raw.readVarint(pointer + 1).length : Raw.firstMemberOffset(pointer)
            for _ in 0..<count {
                let keyHash = Raw.withKeyName(pointer + position) {
                    XXHash64.hash($0.baseAddress ?? pointer, count: $0.count, seed: tagged(.string, seed))
                } ?? hash(pointer + position, seed: seed)
                position += Raw.byteSize(pointer + position)
                // The value's hash is seeded by its key, so {a:1,b:2} and {a:2,b:1} differ.
                combined ^= hash(pointer + position, seed: keyHash)
                position += Raw.byteSize(pointer + position)
            }
        }
        return XXHash64.hash(word: combined, seed: tagged(.object, seed) &+ UInt64(count))
    }
}
