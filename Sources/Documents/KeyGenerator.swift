public import ArangoAPI
public import VelocyPack
import TesseraPlatform

/// Makes keys for one collection. Generated values only grow; numeric user keys move the
/// counter past them so a generated key never collides with one a user chose.
///
/// Not thread-safe: the collection guards it.
struct KeyGenerator: Sendable {
    let options: KeyOptions
    private(set) var lastValue: UInt64

    init(options: KeyOptions, lastValue: UInt64) {
        self.options = options
        self.lastValue = lastValue
    }

    mutating func next<R: RandomNumberGenerator>(using random: inout R) -> String {
        switch options.kind {
        case .traditional:
            lastValue += 1
            return String(lastValue)
        case .autoincrement:
            if lastValue < options.offset {
                lastValue = max(options.offset, 1)
            } else {
                lastValue += options.increment - ((lastValue - options.offset) % options.increment)
            }
            return String(lastValue)
        case .padded:
            lastValue += 1
            return Self.padded(lastValue)
        case .uuid:
            return RandomUUID.string(using: &random)
        }
    }

    /// Notes a key a user supplied (or that already exists on disk).
    mutating func track(_ key: String) {
        if let value = numericValue(of: key) { lastValue = max(lastValue, value) }
    }

    /// The counter value a key stands for under this generator, if any.
    func numericValue(of key: String) -> UInt64? {
        switch options.kind {
        case .traditional, .autoincrement:
            // Only canonical decimals (no sign, no leading zero) can collide with ours.
            guard let first = key.utf8.first, first != UInt8(ascii: "0") || key.utf8.count == 1 else { return nil }
            return UInt64(key)
        case .padded:
            guard key.utf8.count == 16 else { return nil }
            return UInt64(key, radix: 16)
        case .uuid:
            return nil
        }
    }

    static func padded(_ value: UInt64) -> String {
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.utf8.count) + hex
    }
}
