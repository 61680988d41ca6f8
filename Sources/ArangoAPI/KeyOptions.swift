public import VelocyPack

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

    /// Options with a generator kind and the user-key rule (the others at their defaults).
    public init(kind: Kind, allowUserKeys: Bool = true) {
        self.kind = kind
        self.allowUserKeys = allowUserKeys
    }

    /// Reads `keyOptions` from a request.
    public init(slice: Slice) throws(ArangoError) {
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
