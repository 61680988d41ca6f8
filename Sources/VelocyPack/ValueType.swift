/// The kind of a VelocyPack value, decided by its head byte.
///
/// ```
/// 00        none            17        illegal       30-39 smallInt 0...9
/// 01-09     array           18        null          3a-3f smallInt -6...-1
/// 0a-0e     object          19 1a     bool          40-be short string (length head-0x40)
/// 0f-12     (obsolete)      1b        double        bf    long string (u64 length)
/// 13        compact array   1c        utcDate       c0-c7 binary (1...8 length bytes)
/// 14        compact object  1d        external      c8-d7 BCD (rejected)
/// 15 16     (reserved)      1e 1f     minKey maxKey d8-ed (reserved)
/// 20-27     int (1...8 B)   28-2f     uint (1...8 B)  ee ef tagged; f0-ff custom
/// ```
public enum ValueType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case none, illegal, null, bool, double, utcDate, external, minKey, maxKey
    case int, uint, smallInt, string, binary, bcd, array, object, tagged, custom
    /// A head byte that VelocyPack reserves or declared obsolete; never valid.
    case reserved

    /// The type of the value whose head byte is `head`.
    @inline(__always)
    public init(head: UInt8) {
        switch head {
        case 0x00: self = .none
        case 0x01...0x09, 0x13: self = .array
        case 0x0a...0x0e, 0x14: self = .object
        case 0x17: self = .illegal
        case 0x18: self = .null
        case 0x19, 0x1a: self = .bool
        case 0x1b: self = .double
        case 0x1c: self = .utcDate
        case 0x1d: self = .external
        case 0x1e: self = .minKey
        case 0x1f: self = .maxKey
        case 0x20...0x27: self = .int
        case 0x28...0x2f: self = .uint
        case 0x30...0x3f: self = .smallInt
        case 0x40...0xbf: self = .string
        case 0xc0...0xc7: self = .binary
        case 0xc8...0xd7: self = .bcd
        case 0xee, 0xef: self = .tagged
        case 0xf0...0xff: self = .custom
        default: self = .reserved  // 0f-12, 15, 16, d8-ed
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .illegal: "illegal"
        case .null: "null"
        case .bool: "bool"
        case .double: "double"
        case .utcDate: "utc-date"
        case .external: "external"
        case .minKey: "min-key"
        case .maxKey: "max-key"
        case .int: "int"
        case .uint: "uint"
        case .smallInt: "smallint"
        case .string: "string"
        case .binary: "binary"
        case .bcd: "bcd"
        case .array: "array"
        case .object: "object"
        case .tagged: "tagged"
        case .custom: "custom"
        case .reserved: "reserved"
        }
    }

    /// Whether the value is a number (int, uint, smallint or double).
    public var isNumber: Bool {
        switch self {
        case .int, .uint, .smallInt, .double: true
        default: false
        }
    }
}
