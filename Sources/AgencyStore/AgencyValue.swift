public import VelocyPack

/// Value comparison and small builders for the values the agency stores.
///
/// The agency compares values as data, the way ArangoDB compares VelocyPack for `old`,
/// `in`, `erase` and `replace`: numbers by numeric value whatever their encoding (`1`,
/// `1.0` and a UInt 1 are equal), strings by their bytes, arrays member by member, objects
/// by their key/value pairs regardless of order and layout. Foreign bytes are validated
/// without tags and custom types (``Validator/Options/agency(byteCountMax:nestingLimit:)``), so no other
/// kinds need meaning; anything else compares by its bytes.
public enum AgencyValue {
    /// Whether `a` and `b` are equal as data.
    public static func equal(_ a: Slice, _ b: Slice) -> Bool {
        if a.isNumber && b.isNumber && a.type != .utcDate && b.type != .utcDate {
            return numbersEqual(a, b)
        }
        guard a.type == b.type else { return false }
        switch a.type {
        case .string:
            return a.stringBytes!.elementsEqual(b.stringBytes!)
        case .array:
            guard a.count == b.count else { return false }
            return zip(a.arrayElements, b.arrayElements).allSatisfy { equal($0, $1) }
        case .object:
            guard a.count == b.count else { return false }
            for (key, value) in a.objectMembers {
                guard let name = key.keyName, let other = b[name], equal(value, other) else { return false }
            }
            return true
        default:
            return a.bytes.elementsEqual(b.bytes)
        }
    }

    /// Numbers compare exactly when both are integers (of either sign), as doubles otherwise.
    static func numbersEqual(_ a: Slice, _ b: Slice) -> Bool {
        if a.isInteger && b.isInteger {
            if let x = a.intValue, let y = b.intValue { return x == y }
            if let x = a.uintValue, let y = b.uintValue { return x == y }
            return false  // one is above Int64.max, the other negative
        }
        return a.numberValue == b.numberValue
    }

    /// Whether the array `array` holds a member equal to `value`.
    static func arrayContains(_ array: Slice, _ value: Slice) -> Bool {
        array.arrayElements.contains { equal($0, value) }
    }

    /// The bytes of an array with `elements`, in order.
    static func arrayBytes(_ elements: some Sequence<Slice>) -> [UInt8] {
        var builder = Builder()
        builder.openArray()
        for element in elements { builder.add(element) }
        builder.closeBuilt()
        return builder.bytes
    }

    /// The bytes of one value written by `body`.
    static func bytes(_ body: (inout Builder) -> Void) -> [UInt8] {
        var builder = Builder()
        body(&builder)
        precondition(builder.isClosed, "AgencyValue.bytes: the body left a compound open")
        return builder.bytes
    }

    static let emptyArray: [UInt8] = [0x01]
    static let emptyObject: [UInt8] = [0x0a]
}

extension Builder {
    /// Closes the innermost compound. The agency's builders never ask for key uniqueness, the
    /// only reason `close()` throws, so a throw here is a broken invariant.
    mutating func closeBuilt() {
        do {
            try close()
        } catch {
            preconditionFailure("Builder.close() failed without a uniqueness check: \(error)")
        }
    }
}
