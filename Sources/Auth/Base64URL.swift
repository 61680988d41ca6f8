/// The URL-safe base64 alphabet without padding (RFC 4648 §5), as JSON Web Tokens use it
/// (RFC 7515 §2, "Base64url Encoding").
///
/// Decoding is strict: no padding, no whitespace, no other alphabet, and the unused low bits
/// of the last character must be zero. Every byte string then has exactly one text, so a
/// token cannot be altered into a second spelling that still carries the same signature.
public enum Base64URL {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// The bytes as base64url text without padding.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity((bytes.count * 4 + 2) / 3)
        var accumulator: UInt32 = 0
        var bitCount = 0
        for byte in bytes {
            accumulator = accumulator << 8 | UInt32(byte)
            bitCount += 8
            while bitCount >= 6 {
                bitCount -= 6
                text.append(alphabet[Int(accumulator >> UInt32(bitCount) & 0x3f)])
            }
        }
        // The 2 or 4 bits left over go in the high bits of one last character.
        if bitCount > 0 { text.append(alphabet[Int(accumulator << UInt32(6 - bitCount) & 0x3f)]) }
        return String(decoding: text, as: UTF8.self)
    }

    /// Decodes base64url text without padding, or `nil` when it is not the canonical text of
    /// some bytes.
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        // A length of 4k+1 characters would leave 6 bits: less than one byte.
        guard text.count % 4 != 1 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bitCount = 0
        for character in text {
            guard let value = sextet(character) else { return nil }
            accumulator = (accumulator << 6 | UInt32(value)) & 0xfff  // at most 12 bits are pending
            bitCount += 6
            if bitCount >= 8 {
                bitCount -= 8
                // Truncation keeps exactly the byte just completed; the rest stays pending.
                bytes.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bitCount)))
            }
        }
        // The 2 or 4 bits that remain are padding bits; RFC 4648 §3.5 lets a decoder demand zeros.
        guard accumulator & ((1 << UInt32(bitCount)) - 1) == 0 else { return nil }
        return bytes
    }

    static func sextet(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: nil
        }
    }
}
