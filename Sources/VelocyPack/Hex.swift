/// Lowercase hexadecimal text for bytes, as the golden vectors and `--hex` use it.
public enum Hex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The bytes as lowercase hex, two digits a byte, no separators.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// A fault in hex text: the offset of the offending character.
    public struct DecodingError: Error, Equatable, Sendable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "invalid hex at character \(offset): \(reason)" }
    }

    /// Decodes hex text; whitespace between byte pairs is ignored, case does not matter.
    public static func decode(_ text: some Sequence<UInt8>) throws(DecodingError) -> [UInt8] {
        var bytes: [UInt8] = []
        var high: UInt8? = nil
        for (offset, character) in text.enumerated() {
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
            case 0x20, 0x09, 0x0a, 0x0d:
                guard high == nil else { throw DecodingError(offset: offset, reason: "whitespace inside a byte") }
                continue
            default:
                throw DecodingError(offset: offset, reason: "not a hex digit")
            }
            if let pending = high {
                bytes.append(pending << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        if high != nil { throw DecodingError(offset: bytes.count * 2, reason: "odd number of hex digits") }
        return bytes
    }

    /// Decodes hex text given as a string.
    public static func decode(_ text: String) throws(DecodingError) -> [UInt8] {
        try decode(text.utf8)
    }
}
