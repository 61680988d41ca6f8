/// ArangoDB's error catalogue, as far as Tessera answers with it or reads it: each case is one
/// entry of ArangoDB's `lib/Basics/errors.dat` with its number written out, so drivers and
/// users' habits carry over.
///
/// Every number is explicit and is ArangoDB's (`errorNum` on the wire): a case is never
/// renumbered and never reordered into meaning. A number Tessera does not know still travels
/// as an ``ErrorNumber``; this enum names the ones it does. `ErrorCatalogueTests` checks every
/// case against a table written from ArangoDB's list.
///
/// Add a case only for a number ArangoDB defines, with ArangoDB's name and message, and the
/// status ArangoDB's `GeneralResponse::responseCode` gives it.
public enum ArangoErrorCode: Int, Sendable, CaseIterable, CustomStringConvertible {
    // General errors.
    case noError = 0
    case internalError = 4
    /// Also what a valid query outside Tessera's AQL subset gets.
    case notImplemented = 9
    case badParameter = 10
    /// Also what a request without valid authentication gets, with HTTP status 401.
    case forbidden = 11
    case requestCanceled = 21
    case shuttingDown = 30
    case resourceLimit = 32

    // HTTP errors: the number is the status.
    case httpBadParameter = 400
    case httpUnauthorized = 401
    case httpNotFound = 404
    case httpMethodNotAllowed = 405
    case httpRequestTimeout = 408
    /// A precondition of the request does not hold (`removeServer` of a server that is not FAILED).
    case httpPreconditionFailed = 412
    case httpServerError = 500
    case httpServiceUnavailable = 503

    // HTTP processing errors.
    /// The body is not valid JSON or VelocyPack.
    case corruptedJSON = 600

    // ArangoDB storage errors.
    /// A shard with fewer in-sync copies than its `writeConcern` refuses writes.
    case readOnly = 1004

    // Storage errors met in a user request.
    case conflict = 1200
    case documentNotFound = 1202
    case dataSourceNotFound = 1203
    case documentHandleBad = 1205
    case duplicateName = 1207
    case illegalName = 1208
    case uniqueConstraintViolated = 1210
    case indexNotFound = 1212
    case crossCollectionRequest = 1213
    case indexHandleBad = 1214
    case documentTooLarge = 1216
    case collectionTypeInvalid = 1218
    case documentKeyBad = 1221
    case documentKeyUnexpected = 1222
    case documentTypeInvalid = 1227
    case databaseNotFound = 1228
    case databaseNameInvalid = 1229
    case useSystemDatabase = 1230
    case invalidEdgeAttribute = 1233

    // Cluster errors.
    case clusterTimeout = 1457
    case clusterMustNotSpecifyKey = 1466
    case clusterNotAllShardingAttributesGiven = 1468
    case clusterMustNotChangeShardingAttributes = 1469
    case clusterUnsupported = 1470
    case clusterReadingPlanAgency = 1472
    case clusterOnlyOnDBServer = 1477
    case clusterBackendUnavailable = 1478
    case clusterInsufficientDBServers = 1487
    /// The agency did not take a leader's drop of a failed follower: the write fails.
    case clusterCouldNotDropFollower = 1488
    /// Replication traffic sent to a server that leads the shard.
    case clusterShardLeaderRefusesReplication = 1489
    /// A follower refuses a client write, or replication from a server that is not its leader.
    case clusterShardFollowerRefusesOperation = 1490
    /// The server led the shard once but no longer does.
    case clusterShardLeaderResigned = 1491
    case clusterLeadershipChallengeOngoing = 1495
    case clusterNotLeader = 1496

    // Query errors.
    case queryKilled = 1500
    case queryParse = 1501
    case queryEmpty = 1502
    case queryBindParameterMissing = 1551
    case queryBindParameterUndeclared = 1552
    case queryBindParameterType = 1553

    // Cursor errors.
    case cursorNotFound = 1600

    // User management errors.
    case userInvalidName = 1700
    /// Gone from ArangoDB's current list, still in the 3.x lists and used by Tessera.
    case userInvalidPassword = 1701
    case userDuplicate = 1702
    case userNotFound = 1703

    /// ArangoDB's number (`errorNum`).
    public var number: ErrorNumber { ErrorNumber(rawValue: rawValue) }

    /// The case's number, as ``ErrorNumber`` prints it.
    public var description: String { String(rawValue) }
}

extension ArangoErrorCode {
    /// ArangoDB's name for the error in `errors.dat` (`ERROR_ARANGO_DOCUMENT_NOT_FOUND`); its C++
    /// constant adds the prefix `TRI_`.
    public var name: String {
        switch self {
        case .noError: "ERROR_NO_ERROR"
        case .internalError: "ERROR_INTERNAL"
        case .notImplemented: "ERROR_NOT_IMPLEMENTED"
        case .badParameter: "ERROR_BAD_PARAMETER"
        case .forbidden: "ERROR_FORBIDDEN"
        case .requestCanceled: "ERROR_REQUEST_CANCELED"
        case .shuttingDown: "ERROR_SHUTTING_DOWN"
        case .resourceLimit: "ERROR_RESOURCE_LIMIT"
        case .httpBadParameter: "ERROR_HTTP_BAD_PARAMETER"
        case .httpUnauthorized: "ERROR_HTTP_UNAUTHORIZED"
        case .httpNotFound: "ERROR_HTTP_NOT_FOUND"
        case .httpMethodNotAllowed: "ERROR_HTTP_METHOD_NOT_ALLOWED"
        case .httpRequestTimeout: "ERROR_HTTP_REQUEST_TIMEOUT"
        case .httpPreconditionFailed: "ERROR_HTTP_PRECONDITION_FAILED"
        case .httpServerError: "ERROR_HTTP_SERVER_ERROR"
        case .httpServiceUnavailable: "ERROR_HTTP_SERVICE_UNAVAILABLE"
        case .corruptedJSON: "ERROR_HTTP_CORRUPTED_JSON"
        case .readOnly: "ERROR_ARANGO_READ_ONLY"
        case .conflict: "ERROR_ARANGO_CONFLICT"
        case .documentNotFound: "ERROR_ARANGO_DOCUMENT_NOT_FOUND"
        case .dataSourceNotFound: "ERROR_ARANGO_DATA_SOURCE_NOT_FOUND"
        case .documentHandleBad: "ERROR_ARANGO_DOCUMENT_HANDLE_BAD"
        case .duplicateName: "ERROR_ARANGO_DUPLICATE_NAME"
        case .illegalName: "ERROR_ARANGO_ILLEGAL_NAME"
        case .uniqueConstraintViolated: "ERROR_ARANGO_UNIQUE_CONSTRAINT_VIOLATED"
        case .indexNotFound: "ERROR_ARANGO_INDEX_NOT_FOUND"
        case .crossCollectionRequest: "ERROR_ARANGO_CROSS_COLLECTION_REQUEST"
        case .indexHandleBad: "ERROR_ARANGO_INDEX_HANDLE_BAD"
        case .documentTooLarge: "ERROR_ARANGO_DOCUMENT_TOO_LARGE"
        case .collectionTypeInvalid: "ERROR_ARANGO_COLLECTION_TYPE_INVALID"
        case .documentKeyBad: "ERROR_ARANGO_DOCUMENT_KEY_BAD"
        case .documentKeyUnexpected: "ERROR_ARANGO_DOCUMENT_KEY_UNEXPECTED"
        case .documentTypeInvalid: "ERROR_ARANGO_DOCUMENT_TYPE_INVALID"
        case .databaseNotFound: "ERROR_ARANGO_DATABASE_NOT_FOUND"
        case .databaseNameInvalid: "ERROR_ARANGO_DATABASE_NAME_INVALID"
        case .useSystemDatabase: "ERROR_ARANGO_USE_SYSTEM_DATABASE"
        case .invalidEdgeAttribute: "ERROR_ARANGO_INVALID_EDGE_ATTRIBUTE"
        case .clusterTimeout: "ERROR_CLUSTER_TIMEOUT"
        case .clusterMustNotSpecifyKey: "ERROR_CLUSTER_MUST_NOT_SPECIFY_KEY"
        case .clusterNotAllShardingAttributesGiven: "ERROR_CLUSTER_NOT_ALL_SHARDING_ATTRIBUTES_GIVEN"
        case .clusterMustNotChangeShardingAttributes: "ERROR_CLUSTER_MUST_NOT_CHANGE_SHARDING_ATTRIBUTES"
        case .clusterUnsupported: "ERROR_CLUSTER_UNSUPPORTED"
        case .clusterReadingPlanAgency: "ERROR_CLUSTER_READING_PLAN_AGENCY"
        case .clusterOnlyOnDBServer: "ERROR_CLUSTER_ONLY_ON_DBSERVER"
        case .clusterBackendUnavailable: "ERROR_CLUSTER_BACKEND_UNAVAILABLE"
        case .clusterInsufficientDBServers: "ERROR_CLUSTER_INSUFFICIENT_DBSERVERS"
        case .clusterCouldNotDropFollower: "ERROR_CLUSTER_COULD_NOT_DROP_FOLLOWER"
        case .clusterShardLeaderRefusesReplication: "ERROR_CLUSTER_SHARD_LEADER_REFUSES_REPLICATION"
        case .clusterShardFollowerRefusesOperation: "ERROR_CLUSTER_SHARD_FOLLOWER_REFUSES_OPERATION"
        case .clusterShardLeaderResigned: "ERROR_CLUSTER_SHARD_LEADER_RESIGNED"
        case .clusterLeadershipChallengeOngoing: "ERROR_CLUSTER_LEADERSHIP_CHALLENGE_ONGOING"
        case .clusterNotLeader: "ERROR_CLUSTER_NOT_LEADER"
        case .queryKilled: "ERROR_QUERY_KILLED"
        case .queryParse: "ERROR_QUERY_PARSE"
        case .queryEmpty: "ERROR_QUERY_EMPTY"
        case .queryBindParameterMissing: "ERROR_QUERY_BIND_PARAMETER_MISSING"
        case .queryBindParameterUndeclared: "ERROR_QUERY_BIND_PARAMETER_UNDECLARED"
        case .queryBindParameterType: "ERROR_QUERY_BIND_PARAMETER_TYPE"
        case .cursorNotFound: "ERROR_CURSOR_NOT_FOUND"
        case .userInvalidName: "ERROR_USER_INVALID_NAME"
        case .userInvalidPassword: "ERROR_USER_INVALID_PASSWORD"
        case .userDuplicate: "ERROR_USER_DUPLICATE"
        case .userNotFound: "ERROR_USER_NOT_FOUND"
        }
    }

    /// The HTTP status ArangoDB answers the error with when nothing more specific applies
    /// (`GeneralResponse::responseCode`; 500 for numbers it does not list, the number itself
    /// for the HTTP errors, 200 for ``noError``). A call site may answer with another status
    /// where ArangoDB does (a revision conflict from `If-Match` is 412, not 409).
    public var defaultStatus: Int {
        switch self {
        case .noError: 200
        case .badParameter, .corruptedJSON, .documentHandleBad, .illegalName, .crossCollectionRequest,
             .indexHandleBad, .documentTooLarge, .collectionTypeInvalid, .documentKeyBad,
             .documentKeyUnexpected, .documentTypeInvalid, .databaseNameInvalid, .invalidEdgeAttribute,
             .clusterMustNotSpecifyKey, .clusterNotAllShardingAttributesGiven,
             .clusterMustNotChangeShardingAttributes, .queryParse, .queryEmpty,
             .queryBindParameterMissing, .queryBindParameterUndeclared, .queryBindParameterType,
             .userInvalidName, .userInvalidPassword:
            400
        case .forbidden, .useSystemDatabase, .readOnly: 403
        case .clusterShardLeaderRefusesReplication, .clusterShardFollowerRefusesOperation: 406
        case .dataSourceNotFound, .documentNotFound, .indexNotFound, .databaseNotFound,
             .cursorNotFound, .userNotFound:
            404
        case .requestCanceled, .queryKilled: 410
        case .conflict, .duplicateName, .uniqueConstraintViolated, .userDuplicate: 409
        case .internalError, .resourceLimit, .clusterTimeout, .clusterReadingPlanAgency,
             .clusterInsufficientDBServers, .clusterCouldNotDropFollower:
            500
        case .notImplemented, .clusterUnsupported, .clusterOnlyOnDBServer: 501
        case .shuttingDown, .clusterBackendUnavailable, .clusterLeadershipChallengeOngoing,
             .clusterNotLeader, .clusterShardLeaderResigned:
            503
        case .httpBadParameter, .httpUnauthorized, .httpNotFound, .httpMethodNotAllowed,
             .httpRequestTimeout, .httpPreconditionFailed, .httpServerError, .httpServiceUnavailable:
            rawValue
        }
    }

    /// ArangoDB's message for the error, verbatim; `%s` and `%d` are the places where
    /// ArangoDB fills in details.
    public var defaultMessage: String {
        switch self {
        case .noError: "no error"
        case .internalError: "internal error"
        case .notImplemented: "not implemented"
        case .badParameter: "bad parameter"
        case .forbidden: "forbidden"
        case .requestCanceled: "canceled request"
        case .shuttingDown: "shutdown in progress"
        case .resourceLimit: "resource limit exceeded"
        case .httpBadParameter: "bad parameter"
        case .httpUnauthorized: "unauthorized"
        case .httpNotFound: "not found"
        case .httpMethodNotAllowed: "method not supported"
        case .httpRequestTimeout: "request timeout"
        case .httpPreconditionFailed: "precondition failed"
        case .httpServerError: "internal server error"
        case .httpServiceUnavailable: "service unavailable"
        case .corruptedJSON: "invalid JSON object"
        case .readOnly: "read only"
        case .conflict: "conflict"
        case .documentNotFound: "document not found"
        case .dataSourceNotFound: "collection or view not found"
        case .documentHandleBad: "illegal document identifier"
        case .duplicateName: "duplicate name"
        case .illegalName: "illegal name"
        case .uniqueConstraintViolated: "unique constraint violated"
        case .indexNotFound: "index not found"
        case .crossCollectionRequest: "cross collection request not allowed"
        case .indexHandleBad: "illegal index identifier"
        case .documentTooLarge: "document too large"
        case .collectionTypeInvalid: "collection type invalid"
        case .documentKeyBad: "illegal document key"
        case .documentKeyUnexpected: "unexpected document key"
        case .documentTypeInvalid: "invalid document type"
        case .databaseNotFound: "database not found"
        case .databaseNameInvalid: "database name invalid"
        case .useSystemDatabase: "operation only allowed in system database"
        case .invalidEdgeAttribute: "edge attribute missing or invalid"
        case .clusterTimeout: "timeout in cluster operation"
        case .clusterMustNotSpecifyKey: "must not specify _key for this collection"
        case .clusterNotAllShardingAttributesGiven: "not all sharding attributes given"
        case .clusterMustNotChangeShardingAttributes: "must not change the value of a shard key attribute"
        case .clusterUnsupported: "unsupported operation or parameter for clusters"
        case .clusterReadingPlanAgency: "error reading Plan in agency"
        case .clusterOnlyOnDBServer: "this operation is only valid on a DBserver in a cluster"
        case .clusterBackendUnavailable: "A cluster backend which was required for the operation could not be reached"
        case .clusterInsufficientDBServers: "the number of current dbservers is lower than the requested replicationFactor"
        case .clusterCouldNotDropFollower: "a follower could not be dropped in agency"
        case .clusterShardLeaderRefusesReplication: "a shard leader refuses to perform a replication operation"
        case .clusterShardFollowerRefusesOperation: "a shard follower refuses to perform an operation"
        case .clusterShardLeaderResigned: "a (former) shard leader refuses to perform an operation, because it has resigned in the meantime"
        case .clusterLeadershipChallengeOngoing: "leadership challenge is ongoing"
        case .clusterNotLeader: "not a leader"
        case .queryKilled: "query killed"
        case .queryParse: "%s"
        case .queryEmpty: "query is empty"
        case .queryBindParameterMissing: "no value specified for declared bind parameter '%s'"
        case .queryBindParameterUndeclared: "bind parameter '%s' was not declared in the query"
        case .queryBindParameterType: "bind parameter '%s' has an invalid value or type"
        case .cursorNotFound: "cursor not found"
        case .userInvalidName: "invalid user name"
        case .userInvalidPassword: "invalid password"
        case .userDuplicate: "duplicate user"
        case .userNotFound: "user not found"
        }
    }
}
