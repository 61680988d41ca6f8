public import ArangoAPI

/// Why a query was refused, with ArangoDB's error number.
public struct QueryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The query faults Tessera reports, each one number of ArangoDB's catalogue.
    public enum Kind: Sendable {
        /// The text is not a query of the supported language (ArangoDB's parse error).
        case parse
        /// The query is empty.
        case empty
        /// A bind parameter the query uses was not given.
        case bindParameterMissing
        /// A bind parameter was given that the query does not use.
        case bindParameterUndeclared
        /// A bind parameter has a type the place it is used in cannot take.
        case bindParameterType
        /// Valid AQL, but outside the subset Tessera runs (ArangoDB's "not implemented").
        case notSupported

        /// The catalogue entry of this kind.
        public var arangoCode: ArangoErrorCode {
            switch self {
            case .parse: .queryParse
            case .empty: .queryEmpty
            case .bindParameterMissing: .queryBindParameterMissing
            case .bindParameterUndeclared: .queryBindParameterUndeclared
            case .bindParameterType: .queryBindParameterType
            case .notSupported: .notImplemented
            }
        }
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var errorNumber: Int { kind.arangoCode.rawValue }
    public var description: String { "\(message) (\(errorNumber))" }
}
