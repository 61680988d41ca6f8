/// Why a query was refused, with ArangoDB's error number.
public struct QueryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// ArangoDB's numbers for the query faults Tessera reports.
    public enum Kind: Int, Sendable {
        /// The text is not a query of the supported language (ArangoDB's parse error).
        case parse = 1501
        /// The query is empty.
        case empty = 1502
        /// A bind parameter the query uses was not given.
        case bindParameterMissing = 1551
        /// A bind parameter was given that the query does not use.
        case bindParameterUndeclared = 1552
        /// A bind parameter has a type the place it is used in cannot take.
        case bindParameterType = 1553
        /// Valid AQL, but outside the subset Tessera runs (ArangoDB's "not implemented").
        case notSupported = 9
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var errorNumber: Int { kind.rawValue }
    public var description: String { "\(message) (\(kind.rawValue))" }
}
