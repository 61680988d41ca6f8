public import ArangoAPI
public import VelocyPack
import TesseraPlatform

/// How a collection makes `_key` values for documents that come without one
/// (ArangoDB's `keyOptions`).
public struct KeyOptions: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Ascending decimal integers.
        case traditional
        /// `offset`, then steps of `increment`.
        case autoincrement
        /// Ascending integers as 16 lowercase hex digits, so string order is numeric order.
        case padded
        /// Random version-4 UUIDs.
        case uuid
    }

    public var kind: Kind = .traditional
    /// Whether a document may bring its own `_key`.
    public var allowUserKeys = true
    public var increment: UInt64 = 1
    public var offset: UInt64 = 0

    public init() {}

    /// Reads `keyOptions` from a request.
    public init(slice: Slice) throws(DocumentError) {
        guard slice.isObject else { throw .badParameter("keyOptions must be an object") }
        if let type = slice["type"] {
            guard let name = type.stringValue, let kind = Kind(rawValue: name) else {
                throw .badParameter("keyOptions.type must be one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.kind = kind
        }
        if let allow = slice["allowUserKeys"] {
            guard let value = allow.boolValue else { throw .badParameter("keyOptions.allowUserKeys must be a boolean") }
            allowUserKeys = value
        }
        if kind == .autoincrement {
            if let value = slice["increment"] {
                guard let number = value.uintValue, (1...65_535).contains(number) else {
                    throw .badParameter("keyOptions.increment must be an integer in 1...65535")
                }
                increment = number
            }
            if let value = slice["offset"] {
                guard let number = value.uintValue, number < (1 << 53) else {
                    throw .badParameter("keyOptions.offset must be a non-negative integer")
                }
                offset = number
            }
        }
    }

    /// The `keyOptions` object of a collection's properties, with the last generated value.
    public func write(into builder: inout Builder, lastValue: UInt64) {
        builder.openObject()
        builder.add(key: "type", kind.rawValue)
        builder.add(key: "allowUserKeys", allowUserKeys)
        if kind == .autoincrement {
            builder.add(key: "increment", increment)
            builder.add(key: "offset", offset)
        }
        if kind != .uuid { builder.add(key: "lastValue", lastValue) }
        builder.closeTrusted()
    }
}

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
