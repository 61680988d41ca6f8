public import VelocyPack

// A batch request (an array of documents or keys) is answered with one entry per element, in
// order; an element that failed gets an error entry in its place, and the header
// `x-arango-error-codes` counts the failures by number. The answer's status is the batch's,
// so an entry carries no `code`.

extension ArangoError {
    /// Adds the error as one entry of a batch answer:
    ///
    /// ```
    /// {"error": true, "errorNum": N, "errorMessage": "…"}   (keys written in this order)
    /// ```
    public func addBatchEntry(to builder: inout Builder) {
        builder.openObject()
        builder.add(key: "error", true)
        builder.add(key: "errorNum", number.rawValue)
        builder.add(key: "errorMessage", message)
        builder.closeTrusted()
    }
}

/// How often each error number occurred in a batch answer: ArangoDB's `x-arango-error-codes`
/// header, `{"1202":2,"1210":1}` with the numbers in ascending order.
public struct ErrorCodeCounts: Sendable, Equatable {
    /// The response header (meta key) that carries the counts.
    public static let headerName = "x-arango-error-codes"

    private var counts: [ErrorNumber: Int] = [:]

    /// No failures counted.
    public init() {}

    /// Counts one failure with `number`.
    public mutating func count(_ number: ErrorNumber) {
        counts[number, default: 0] += 1
    }

    /// True when no failure was counted.
    public var isEmpty: Bool { counts.isEmpty }

    /// The header's value; `nil` when no failure was counted (then ArangoDB sends no header).
    public var headerValue: String? {
        guard !counts.isEmpty else { return nil }
        // Sorted by number: the header must not depend on dictionary order.
        let pairs = counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\"\($0.key.rawValue)\":\($0.value)" }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    /// The header as response meta: one entry, or none when no failure was counted.
    public var meta: [String: String] {
        headerValue.map { [Self.headerName: $0] } ?? [:]
    }
}
