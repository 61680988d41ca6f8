/// Pointer-level readers shared by `Slice`, the validator, the dumper and the hash.
///
/// Everything here trusts its input: the caller has either validated the bytes (the
/// ``Validator`` is the only door from untrusted bytes) or built them itself. All multi-byte
/// integers in VelocyPack are little-endian and unaligned.
@usableFromInline
enum Raw {
    /// Reads an unsigned little-endian integer of `width` bytes (1...8).
    @inline(__always) @usableFromInline
    static func readUInt(_ pointer: UnsafePointer<UInt8>, width: Int) -> UInt64 {
        if width == 8 { return readUInt64(pointer) }
        var value: UInt64 = 0
        var shift: UInt64 = 0
        for offset in 0..<width {
            value |= UInt64(pointer[offset]) << shift
            shift += 8
        }
        return value
    }

    /// Reads an unsigned 64-bit little-endian integer.
    @inline(__always) @usableFromInline
    static func readUInt64(_ pointer: UnsafePointer<UInt8>) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(pointer).loadUnaligned(as: UInt64.self))
    }

    /// Reads a signed little-endian two's complement integer of `width` bytes and
    /// sign-extends it from bit `8·width − 1`.
    @inline(__always)
    static func readInt(_ pointer: UnsafePointer<UInt8>, width: Int) -> Int64 {
        let raw = readUInt(pointer, width: width)
        if width == 8 { return Int64(bitPattern: raw) }
        let unusedBits = UInt64(64 - 8 * width)
        return Int64(bitPattern: raw << unusedBits) >> unusedBits
    }

    /// The trusted integer at `pointer` as `Int64`, or `nil` when it is no integer or a uint
    /// above `Int64.max`.
    static func intValue(_ pointer: UnsafePointer<UInt8>) -> Int64? {
        let head = pointer[0]
        switch head {
        case 0x30...0x39: return Int64(head - 0x30)
        case 0x3a...0x3f: return Int64(head) - 0x40
        case 0x20...0x27: return readInt(pointer + 1, width: Int(head) - 0x1f)
        case 0x28...0x2f:
            let value = readUInt(pointer + 1, width: Int(head) - 0x27)
            return value <= UInt64(Int64.max) ? Int64(value) : nil
        default: return nil
        }
    }

    /// Reads a forward varint (7 bits a byte, low group first, high bit = more follows).
    /// Returns the value and the number of bytes it used. Trusted bytes only.
    @inline(__always)
    static func readVarint(_ pointer: UnsafePointer<UInt8>) -> (value: UInt64, length: Int) {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var length = 0
        while true {
            let byte = pointer[length]
            value |= UInt64(byte & 0x7f) << shift
            length += 1
            if byte & 0x80 == 0 { return (value, length) }
            shift += 7
        }
    }

    /// Reads a reverse varint whose last byte is at `last` (it grows towards lower addresses).
    @inline(__always)
    static func readReverseVarint(endingAt last: UnsafePointer<UInt8>) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var cursor = last
        while true {
            let byte = cursor.pointee
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            cursor -= 1
        }
    }

    /// The number of bytes a varint of `value` needs (1...10).
    @inline(__always)
    static func varintLength(_ value: UInt64) -> Int {
        var length = 1
        var rest = value >> 7
        while rest != 0 {
            length += 1
            rest >>= 7
        }
        return length
    }

    /// The width in bytes (1, 2, 4, 8) of the length, count and index fields of an array
    /// (`02`–`09`) or object (`0b`–`0e`) head.
    @inline(__always)
    static func compoundWidth(_ head: UInt8) -> Int {
        switch head {
        case 0x02, 0x06, 0x0b: 1
        case 0x03, 0x07, 0x0c: 2
        case 0x04, 0x08, 0x0d: 4
        default: 8
        }
    }

    /// The offset of the first member of an array `02`–`09` or object `0b`–`0e`, skipping
    /// zero padding: the natural offset is tried first, and a zero byte there means padding
    /// (VelocyPack: a member cannot start with `00` at a position padding could occupy).
    @inline(__always)
    static func firstMemberOffset(_ pointer: UnsafePointer<UInt8>) -> Int {
        let head = pointer[0]
        let width = compoundWidth(head)
        let hasCount = head >= 0x06 && head != 0x09 && head != 0x0e  // 09/0e keep it at the end
        var offset = 1 + width + (hasCount ? width : 0)
        if width == 8 { return 9 }
        while offset < 9 && pointer[offset] == 0 {
            // Padding may only bring the first member to offset 9; partial padding is
            // rejected by the validator, so for trusted bytes the loop lands on 9 or stays.
            offset = offset < 3 ? 3 : (offset < 5 ? 5 : 9)
        }
        return offset
    }

    /// The total byte size of the trusted value at `pointer`, head included.
    @inline(__always) @usableFromInline
    static func byteSize(_ pointer: UnsafePointer<UInt8>) -> Int {
        var tagBytes = 0
        // Tags prefix a value; step over them in a loop (chains may be long).
        while pointer[tagBytes] == 0xee || pointer[tagBytes] == 0xef {
            tagBytes += pointer[tagBytes] == 0xee ? 2 : 9
        }
        return tagBytes + untaggedByteSize(pointer + tagBytes)
    }

    /// The byte size of a value that is not tagged.
    @inline(__always)
    static func untaggedByteSize(_ pointer: UnsafePointer<UInt8>) -> Int {
        let head = pointer[0]
        switch head {
        case 0x00, 0x01, 0x0a, 0x17...0x1a, 0x1e, 0x1f, 0x30...0x3f:
            return 1
        case 0x02...0x09, 0x0b...0x0e:
            return Int(truncatingIfNeeded: readUInt(pointer + 1, width: compoundWidth(head)))
        case 0x13, 0x14:
            return Int(truncatingIfNeeded: readVarint(pointer + 1).value)
        case 0x1b, 0x1c, 0x1d:
            return 9
        case 0x20...0x27:
            return Int(head) - 0x1f + 1
        case 0x28...0x2f:
            return Int(head) - 0x27 + 1
        case 0x40...0xbe:
            return Int(head) - 0x40 + 1
        case 0xbf:
            return 9 + Int(truncatingIfNeeded: readUInt64(pointer + 1))
        case 0xc0...0xc7:
            let width = Int(head) - 0xbf
            return 1 + width + Int(truncatingIfNeeded: readUInt(pointer + 1, width: width))
        case 0xc8...0xd7:
            // BCD: length bytes, a 4-byte exponent, then the mantissa bytes.
            let width = Int(head) - (head < 0xd0 ? 0xc7 : 0xcf)
            return 1 + width + 4 + Int(truncatingIfNeeded: readUInt(pointer + 1, width: width))
        case 0xf0: return 2
        case 0xf1: return 3
        case 0xf2: return 5
        case 0xf3: return 9
        case 0xf4...0xf6: return 2 + Int(pointer[1])
        case 0xf7...0xf9: return 3 + Int(readUInt(pointer + 1, width: 2))
        case 0xfa...0xfc: return 5 + Int(readUInt(pointer + 1, width: 4))
        case 0xfd...0xff: return 9 + Int(truncatingIfNeeded: readUInt64(pointer + 1))
        default:
            preconditionFailure("byteSize of reserved head 0x\(String(head, radix: 16)) in trusted bytes")
        }
    }

    /// The number of members of a trusted array or pairs of a trusted object.
    @inline(__always)
    static func count(_ pointer: UnsafePointer<UInt8>) -> Int {
        let head = pointer[0]
        switch head {
        case 0x01, 0x0a:
            return 0
        case 0x02...0x05:
            let first = firstMemberOffset(pointer)
            let total = byteSize(pointer)
            return (total - first) / byteSize(pointer + first)
        case 0x06...0x08, 0x0b...0x0d:
            let width = compoundWidth(head)
            return Int(truncatingIfNeeded: readUInt(pointer + 1 + width, width: width))
        case 0x09, 0x0e:
            let total = byteSize(pointer)
            return Int(truncatingIfNeeded: readUInt64(pointer + total - 8))
        case 0x13, 0x14:
            return Int(truncatingIfNeeded: readReverseVarint(endingAt: pointer + byteSize(pointer) - 1))
        default:
            return 0
        }
    }

    /// The offset of the first byte of the index table of an indexed array or object with
    /// `count` entries (VelocyPack: the table sits at the end, before NRITEMS for `09`/`0e`).
    @inline(__always)
    static func indexTableOffset(_ pointer: UnsafePointer<UInt8>, count: Int) -> Int {
        let head = pointer[0]
        let width = compoundWidth(head)
        let total = byteSize(pointer)
        return total - count * width - (width == 8 ? 8 : 0)
    }

    /// For the trusted key at `pointer`, the bytes that name it: the string itself, or the
    /// attribute name an integer key translates to. `nil` for an unknown integer key.
    @inline(__always)
    static func withKeyName<R>(
        _ pointer: UnsafePointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> R
    ) -> R? {
        let head = pointer[0]
        switch head {
        case 0x40...0xbe:
            return body(UnsafeBufferPointer(start: pointer + 1, count: Int(head) - 0x40))
        case 0xbf:
            let length = Int(truncatingIfNeeded: readUInt64(pointer + 1))
            return body(UnsafeBufferPointer(start: pointer + 9, count: length))
        case 0x31...0x39, 0x28...0x2f:
            // SmallInt 1...9 (31-39) or UInt (28-2f); the ranges are disjoint.
            let id = head >= 0x31 ? UInt64(head - 0x30) : readUInt(pointer + 1, width: Int(head) - 0x27)
            return AttributeTranslation.withName(forId: id, body)
        default:
            return nil
        }
    }

    /// Three-way comparison of byte strings in plain lexicographic order (shorter first on a
    /// common prefix): the order of a sorted object index.
    @inline(__always)
    static func compare(_ lhs: UnsafeBufferPointer<UInt8>, _ rhs: UnsafeBufferPointer<UInt8>) -> Int {
        let common = min(lhs.count, rhs.count)
        if common > 0 {
            let result = memcmpBytes(lhs.baseAddress!, rhs.baseAddress!, common)
            if result != 0 { return result }
        }
        return lhs.count - rhs.count
    }

    @inline(__always)
    static func memcmpBytes(_ lhs: UnsafePointer<UInt8>, _ rhs: UnsafePointer<UInt8>, _ count: Int) -> Int {
        var offset = 0
        // Eight bytes at a time; the first differing word decides by its lowest differing byte
        // in memory order, which big-endian conversion turns into a numeric comparison.
        while offset + 8 <= count {
            let left = UnsafeRawPointer(lhs + offset).loadUnaligned(as: UInt64.self)
            let right = UnsafeRawPointer(rhs + offset).loadUnaligned(as: UInt64.self)
            if left != right {
                return left.bigEndian < right.bigEndian ? -1 : 1
            }
            offset += 8
        }
        while offset < count {
            if lhs[offset] != rhs[offset] { return lhs[offset] < rhs[offset] ? -1 : 1 }
            offset += 1
        }
        return 0
    }
}
