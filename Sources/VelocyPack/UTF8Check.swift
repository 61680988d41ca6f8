/// Strict UTF-8 checking (RFC 3629): no overlong forms, no surrogates (U+D800–U+DFFF), nothing
/// above U+10FFFF. Shared by the JSON parser and the validator.
enum UTF8Check {
    /// The length of the valid UTF-8 sequence that starts at `pointer` (with `available`
    /// bytes readable), or `nil` when the bytes there are not valid UTF-8.
    @inline(__always)
    static func sequenceLength(_ pointer: UnsafePointer<UInt8>, available: Int) -> Int? {
        let first = pointer[0]
        if first < 0x80 { return 1 }
        @inline(__always) func continuation(_ i: Int) -> Bool {
            i < available && pointer[i] & 0xc0 == 0x80
        }
        switch first {
        case 0xc2...0xdf:
            return continuation(1) ? 2 : nil
        case 0xe0...0xef:
            guard continuation(1), continuation(2) else { return nil }
            let second = pointer[1]
            if first == 0xe0 && second < 0xa0 { return nil }  // overlong
            if first == 0xed && second >= 0xa0 { return nil }  // surrogate
            return 3
        case 0xf0...0xf4:
            guard continuation(1), continuation(2), continuation(3) else { return nil }
            let second = pointer[1]
            if first == 0xf0 && second < 0x90 { return nil }  // overlong
            if first == 0xf4 && second >= 0x90 { return nil }  // above U+10FFFF
            return 4
        default:
            return nil
        }
    }

    /// The offset of the first byte that starts an invalid sequence, or `nil` if all of
    /// `count` bytes are valid UTF-8.
    static func firstInvalidOffset(_ pointer: UnsafePointer<UInt8>, count: Int) -> Int? {
        var position = 0
        while position < count {
            // Skip ASCII eight bytes at a time.
            while position + 8 <= count,
                  UnsafeRawPointer(pointer + position).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                position += 8
            }
            guard position < count else { break }
            guard let length = sequenceLength(pointer + position, available: count - position) else {
                return position
            }
            position += length
        }
        return nil
    }
}
