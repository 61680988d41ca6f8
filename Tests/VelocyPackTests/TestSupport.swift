@testable import VelocyPack

/// Builds VelocyPack from JSON text with the given options; test inputs are known-good.
func vpack(_ json: String, _ options: JSONParser.Options = .default) throws -> Slice {
    try JSONParser.parse(json, options: options).slice
}

/// Lowercase hex of a slice's bytes.
func hex(_ slice: Slice) -> String { Hex.encode(slice.bytes) }

/// Bytes from hex text written in tests.
func bytes(_ hexText: String) -> [UInt8] {
    do {
        return try Hex.decode(hexText)  // whitespace between bytes is allowed
    } catch {
        preconditionFailure("bad hex in a test: \(hexText)")
    }
}

/// JSON text of a slice with default dumper options.
func json(_ slice: Slice, _ options: JSONDumper.Options = .default) throws -> String {
    try JSONDumper.dumpString(slice, options: options)
}

/// SplitMix64: deterministic randomness for property tests (the seed is in each test).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
        return mixed ^ (mixed >> 31)
    }
}

/// Semantic equality of two values: numbers by numeric value (exact for integers), strings by
/// bytes, arrays member by member, objects by key set and per-key values, tags ignored.
func semanticallyEqual(_ lhs: Slice, _ rhs: Slice) -> Bool {
    let left = lhs.untagged
    let right = rhs.untagged
    if left.isNumber && right.isNumber {
        if left.isInteger && right.isInteger {
            if let a = left.intValue, let b = right.intValue { return a == b }
            if let a = left.uintValue, let b = right.uintValue { return a == b }
            return false
        }
        guard let a = left.numberValue, let b = right.numberValue else { return false }
        return a == b || (a.isNaN && b.isNaN)
    }
    guard left.type == right.type else { return false }
    switch left.type {
    case .array:
        guard left.count == right.count else { return false }
        return zip(left.arrayElements, right.arrayElements).allSatisfy { semanticallyEqual($0, $1) }
    case .object:
        guard left.count == right.count else { return false }
        for (key, value) in left.objectMembers {
            guard let name = key.keyName, let other = right[name], semanticallyEqual(value, other) else { return false }
        }
        return true
    default:
        return left.bytes == right.bytes
    }
}
