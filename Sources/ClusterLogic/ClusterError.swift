public import ArangoAPI

/// A refusal or a decoding failure of the cluster logic, with ArangoDB's error number so a
/// coordinator can answer `{error, errorNum, errorMessage, code}` as ArangoDB would.
public struct ClusterError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong. Each case carries ArangoDB's number (`lib/Basics/errors.dat`).
    public enum Code: Sendable, Equatable, CaseIterable {
        /// A parameter is out of range (`TRI_ERROR_BAD_PARAMETER`, 10).
        case badParameter
        /// A database or collection name cannot be an agency key (`TRI_ERROR_ARANGO_ILLEGAL_NAME`, 1208).
        case illegalName
        /// A document is not an object (`TRI_ERROR_ARANGO_DOCUMENT_TYPE_INVALID`, 1227).
        case documentTypeInvalid
        /// A `_key` was given for a collection sharded by other attributes
        /// (`TRI_ERROR_CLUSTER_MUST_NOT_SPECIFY_KEY`, 1466).
        case mustNotSpecifyKey
        /// A replace, update or remove lacks a shard-key value
        /// (`TRI_ERROR_CLUSTER_NOT_ALL_SHARDING_ATTRIBUTES_GIVEN`, 1468).
        case notAllShardingAttributesGiven
        /// An update or replace would change a shard-key value
        /// (`TRI_ERROR_CLUSTER_MUST_NOT_CHANGE_SHARDING_ATTRIBUTES`, 1469).
        case mustNotChangeShardingAttributes
        /// Not supported in a cluster: a unique index without all shard keys, a replication
        /// factor above what the cluster can serve, a sharding strategy other than `hash`
        /// (`TRI_ERROR_CLUSTER_UNSUPPORTED`, 1470).
        case unsupported
        /// What the agency holds is not in the expected format, or an agency answer has an
        /// unexpected shape (`TRI_ERROR_CLUSTER_READING_PLAN_AGENCY`, 1472).
        case agencyDataInvalid
        /// Fewer DBServers than the replication factor
        /// (`TRI_ERROR_CLUSTER_INSUFFICIENT_DBSERVERS`, 1487).
        case insufficientDBServers

        /// The catalogue entry (``ArangoErrorCode``) of this kind of failure.
        public var arangoCode: ArangoErrorCode {
            switch self {
            case .badParameter: .badParameter
            case .illegalName: .illegalName
            case .documentTypeInvalid: .documentTypeInvalid
            case .mustNotSpecifyKey: .clusterMustNotSpecifyKey
            case .notAllShardingAttributesGiven: .clusterNotAllShardingAttributesGiven
            case .mustNotChangeShardingAttributes: .clusterMustNotChangeShardingAttributes
            case .unsupported: .clusterUnsupported
            case .agencyDataInvalid: .clusterReadingPlanAgency
            case .insufficientDBServers: .clusterInsufficientDBServers
            }
        }

        /// ArangoDB's error number.
        public var errorNumber: Int { arangoCode.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// A message for the user or the log that names the offending value.
    public let message: String

    /// An error of kind `code` with `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// ArangoDB's error number of ``code``.
    public var errorNumber: Int { code.errorNumber }

    public var description: String { "\(message) (\(code.errorNumber))" }
}
