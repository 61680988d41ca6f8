package import VelocyPack

/// Typed reads of an object's fields for the decoders of agency data. Whatever another
/// process wrote, a wrong type or a missing field is a ``ClusterError/Code/agencyDataInvalid``
/// that names the place (`context`) and the field, never a trap.
struct AgencyFieldReader {
    let object: Slice
    let context: String

    /// A reader of `slice`, which must be an object.
    init(_ slice: Slice, context: String) throws(ClusterError) {
        guard slice.isObject else { throw ClusterError(.agencyDataInvalid, "\(context): expected an object") }
        object = slice
        self.context = context
    }

    func invalid(_ field: String, _ expectation: String) -> ClusterError {
        ClusterError(.agencyDataInvalid, "\(context): '\(field)' \(expectation)")
    }

    /// The field, untagged, or `nil` when absent.
    func optional(_ field: String) -> Slice? { object[field].map(\.untagged) }

    func string(_ field: String) throws(ClusterError) -> String {
        guard let value = optional(field) else { throw invalid(field, "is missing") }
        guard let string = value.stringValue else { throw invalid(field, "must be a string") }
        return string
    }

    func optionalString(_ field: String) throws(ClusterError) -> String? {
        guard let value = optional(field), !value.isNull else { return nil }
        guard let string = value.stringValue else { throw invalid(field, "must be a string") }
        return string
    }

    /// An integer field in `range`; a double with an integral value counts (JSON writers may
    /// produce `3.0`).
    func int(_ field: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws(ClusterError) -> Int {
        guard let value = optional(field) else {
            guard let fallback else { throw invalid(field, "is missing") }
            return fallback
        }
        guard let number = Self.integer(value), range.contains(number) else {
            throw invalid(field, "must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    func bool(_ field: String, default fallback: Bool) throws(ClusterError) -> Bool {
        guard let value = optional(field) else { return fallback }
        guard let bool = value.boolValue else { throw invalid(field, "must be a boolean") }
        return bool
    }

    func stringArray(_ field: String, default fallback: [String]? = nil) throws(ClusterError) -> [String] {
        guard let value = optional(field) else {
            guard let fallback else { throw invalid(field, "is missing") }
            return fallback
        }
        return try Self.strings(value, orThrow: invalid(field, "must be an array of strings"))
    }

    /// The integer value of a number slice, or `nil` when it is none or not integral.
    static func integer(_ value: Slice) -> Int? {
        if let int = value.intValue { return Int(exactly: int) }
        if let double = value.doubleValue, double.rounded() == double, abs(double) < 0x1p53 { return Int(double) }
        return nil
    }

    static func strings(_ value: Slice, orThrow error: ClusterError) throws(ClusterError) -> [String] {
        guard value.isArray else { throw error }
        var strings: [String] = []
        strings.reserveCapacity(value.count)
        for member in value.arrayElements {
            guard let string = member.untagged.stringValue else { throw error }
            strings.append(string)
        }
        return strings
    }
}

extension Builder {
    /// Writes an array of strings.
    package mutating func add(strings: [String]) {
        openArray()
        for string in strings { add(string) }
        closeTrusted()
    }

    /// Writes `key` and an array of strings.
    package mutating func add(key: String, strings: [String]) {
        add(key: key)
        add(strings: strings)
    }
}

/// The bytes of one VelocyPack value written by `body`.
package func vpackBytes(_ body: (inout Builder) -> Void) -> [UInt8] {
    var builder = Builder()
    body(&builder)
    precondition(builder.isClosed, "vpackBytes: the body left a compound open")
    return builder.bytes
}
