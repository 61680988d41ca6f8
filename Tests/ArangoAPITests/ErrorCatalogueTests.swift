import ArangoAPI
import Testing
import VelocyPack

/// One line of ArangoDB's `lib/Basics/errors.dat` (name, number, message), written out by
/// hand, and the status ArangoDB's `GeneralResponse::responseCode` answers with.
struct DocumentedError: Sendable, CustomTestStringConvertible {
    let code: ArangoErrorCode
    let number: Int
    let name: String
    let status: Int
    let message: String

    init(_ code: ArangoErrorCode, _ number: Int, _ name: String, _ status: Int, _ message: String) {
        self.code = code
        self.number = number
        self.name = name
        self.status = status
        self.message = message
    }

    var testDescription: String { "\(name) (\(number))" }
}

/// ArangoDB's values for every catalogue case. A case added to ``ArangoErrorCode`` must be
/// added here too, from ArangoDB's list, or `everyCaseIsDocumented` fails.
let documentedErrors: [DocumentedError] = [
    DocumentedError(.noError, 0, "ERROR_NO_ERROR", 200, "no error"),
    DocumentedError(.internalError, 4, "ERROR_INTERNAL", 500, "internal error"),
    DocumentedError(.notImplemented, 9, "ERROR_NOT_IMPLEMENTED", 501, "not implemented"),
    DocumentedError(.badParameter, 10, "ERROR_BAD_PARAMETER", 400, "bad parameter"),
    DocumentedError(.forbidden, 11, "ERROR_FORBIDDEN", 403, "forbidden"),
    DocumentedError(.requestCanceled, 21, "ERROR_REQUEST_CANCELED", 410, "canceled request"),
    DocumentedError(.shuttingDown, 30, "ERROR_SHUTTING_DOWN", 503, "shutdown in progress"),
    DocumentedError(.resourceLimit, 32, "ERROR_RESOURCE_LIMIT", 500, "resource limit exceeded"),
    DocumentedError(.httpBadParameter, 400, "ERROR_HTTP_BAD_PARAMETER", 400, "bad parameter"),
    DocumentedError(.httpUnauthorized, 401, "ERROR_HTTP_UNAUTHORIZED", 401, "unauthorized"),
    DocumentedError(.httpNotFound, 404, "ERROR_HTTP_NOT_FOUND", 404, "not found"),
    DocumentedError(.httpMethodNotAllowed, 405, "ERROR_HTTP_METHOD_NOT_ALLOWED", 405, "method not supported"),
    DocumentedError(.httpRequestTimeout, 408, "ERROR_HTTP_REQUEST_TIMEOUT", 408, "request timeout"),
    DocumentedError(.httpPreconditionFailed, 412, "ERROR_HTTP_PRECONDITION_FAILED", 412, "precondition failed"),
    DocumentedError(.httpServerError, 500, "ERROR_HTTP_SERVER_ERROR", 500, "internal server error"),
    DocumentedError(.httpServiceUnavailable, 503, "ERROR_HTTP_SERVICE_UNAVAILABLE", 503, "service unavailable"),
    DocumentedError(.corruptedJSON, 600, "ERROR_HTTP_CORRUPTED_JSON", 400, "invalid JSON object"),
    DocumentedError(.readOnly, 1004, "ERROR_ARANGO_READ_ONLY", 403, "read only"),
    DocumentedError(.conflict, 1200, "ERROR_ARANGO_CONFLICT", 409, "conflict"),
    DocumentedError(.documentNotFound, 1202, "ERROR_ARANGO_DOCUMENT_NOT_FOUND", 404, "document not found"),
    DocumentedError(.dataSourceNotFound, 1203, "ERROR_ARANGO_DATA_SOURCE_NOT_FOUND", 404, "collection or view not found"),
    DocumentedError(.documentHandleBad, 1205, "ERROR_ARANGO_DOCUMENT_HANDLE_BAD", 400, "illegal document identifier"),
    DocumentedError(.duplicateName, 1207, "ERROR_ARANGO_DUPLICATE_NAME", 409, "duplicate name"),
    DocumentedError(.illegalName, 1208, "ERROR_ARANGO_ILLEGAL_NAME", 400, "illegal name"),
    DocumentedError(.uniqueConstraintViolated, 1210, "ERROR_ARANGO_UNIQUE_CONSTRAINT_VIOLATED", 409, "unique constraint violated"),
    DocumentedError(.indexNotFound, 1212, "ERROR_ARANGO_INDEX_NOT_FOUND", 404, "index not found"),
    DocumentedError(.crossCollectionRequest, 1213, "ERROR_ARANGO_CROSS_COLLECTION_REQUEST", 400, "cross collection request not allowed"),
    DocumentedError(.indexHandleBad, 1214, "ERROR_ARANGO_INDEX_HANDLE_BAD", 400, "illegal index identifier"),
    DocumentedError(.documentTooLarge, 1216, "ERROR_ARANGO_DOCUMENT_TOO_LARGE", 400, "document too large"),
    DocumentedError(.collectionTypeInvalid, 1218, "ERROR_ARANGO_COLLECTION_TYPE_INVALID", 400, "collection type invalid"),
    DocumentedError(.documentKeyBad, 1221, "ERROR_ARANGO_DOCUMENT_KEY_BAD", 400, "illegal document key"),
    DocumentedError(.documentKeyUnexpected, 1222, "ERROR_ARANGO_DOCUMENT_KEY_UNEXPECTED", 400, "unexpected document key"),
    DocumentedError(.documentTypeInvalid, 1227, "ERROR_ARANGO_DOCUMENT_TYPE_INVALID", 400, "invalid document type"),
    DocumentedError(.databaseNotFound, 1228, "ERROR_ARANGO_DATABASE_NOT_FOUND", 404, "database not found"),
    DocumentedError(.databaseNameInvalid, 1229, "ERROR_ARANGO_DATABASE_NAME_INVALID", 400, "database name invalid"),
    DocumentedError(.useSystemDatabase, 1230, "ERROR_ARANGO_USE_SYSTEM_DATABASE", 403, "operation only allowed in system database"),
    DocumentedError(.invalidEdgeAttribute, 1233, "ERROR_ARANGO_INVALID_EDGE_ATTRIBUTE", 400, "edge attribute missing or invalid"),
    DocumentedError(.clusterTimeout, 1457, "ERROR_CLUSTER_TIMEOUT", 500, "timeout in cluster operation"),
    DocumentedError(.clusterMustNotSpecifyKey, 1466, "ERROR_CLUSTER_MUST_NOT_SPECIFY_KEY", 400, "must not specify _key for this collection"),
    DocumentedError(.clusterNotAllShardingAttributesGiven, 1468, "ERROR_CLUSTER_NOT_ALL_SHARDING_ATTRIBUTES_GIVEN", 400,
                    "not all sharding attributes given"),
    DocumentedError(.clusterMustNotChangeShardingAttributes, 1469, "ERROR_CLUSTER_MUST_NOT_CHANGE_SHARDING_ATTRIBUTES", 400,
                    "must not change the value of a shard key attribute"),
    DocumentedError(.clusterUnsupported, 1470, "ERROR_CLUSTER_UNSUPPORTED", 501, "unsupported operation or parameter for clusters"),
    DocumentedError(.clusterReadingPlanAgency, 1472, "ERROR_CLUSTER_READING_PLAN_AGENCY", 500, "error reading Plan in agency"),
    DocumentedError(.clusterOnlyOnDBServer, 1477, "ERROR_CLUSTER_ONLY_ON_DBSERVER", 501,
                    "this operation is only valid on a DBserver in a cluster"),
    DocumentedError(.clusterBackendUnavailable, 1478, "ERROR_CLUSTER_BACKEND_UNAVAILABLE", 503,
                    "A cluster backend which was required for the operation could not be reached"),
    DocumentedError(.clusterInsufficientDBServers, 1487, "ERROR_CLUSTER_INSUFFICIENT_DBSERVERS", 500,
                    "the number of current dbservers is lower than the requested replicationFactor"),
    DocumentedError(.clusterCouldNotDropFollower, 1488, "ERROR_CLUSTER_COULD_NOT_DROP_FOLLOWER", 500,
                    "a follower could not be dropped in agency"),
    DocumentedError(.clusterShardLeaderRefusesReplication, 1489, "ERROR_CLUSTER_SHARD_LEADER_REFUSES_REPLICATION", 406,
                    "a shard leader refuses to perform a replication operation"),
    DocumentedError(.clusterShardFollowerRefusesOperation, 1490, "ERROR_CLUSTER_SHARD_FOLLOWER_REFUSES_OPERATION", 406,
                    "a shard follower refuses to perform an operation"),
    DocumentedError(.clusterShardLeaderResigned, 1491, "ERROR_CLUSTER_SHARD_LEADER_RESIGNED", 503,
                    "a (former) shard leader refuses to perform an operation, because it has resigned in the meantime"),
    DocumentedError(.clusterLeadershipChallengeOngoing, 1495, "ERROR_CLUSTER_LEADERSHIP_CHALLENGE_ONGOING", 503,
                    "leadership challenge is ongoing"),
    DocumentedError(.clusterNotLeader, 1496, "ERROR_CLUSTER_NOT_LEADER", 503, "not a leader"),
    DocumentedError(.queryKilled, 1500, "ERROR_QUERY_KILLED", 410, "query killed"),
    DocumentedError(.queryParse, 1501, "ERROR_QUERY_PARSE", 400, "%s"),
    DocumentedError(.queryEmpty, 1502, "ERROR_QUERY_EMPTY", 400, "query is empty"),
    DocumentedError(.queryBindParameterMissing, 1551, "ERROR_QUERY_BIND_PARAMETER_MISSING", 400,
                    "no value specified for declared bind parameter '%s'"),
    DocumentedError(.queryBindParameterUndeclared, 1552, "ERROR_QUERY_BIND_PARAMETER_UNDECLARED", 400,
                    "bind parameter '%s' was not declared in the query"),
    DocumentedError(.queryBindParameterType, 1553, "ERROR_QUERY_BIND_PARAMETER_TYPE", 400,
                    "bind parameter '%s' has an invalid value or type"),
    DocumentedError(.cursorNotFound, 1600, "ERROR_CURSOR_NOT_FOUND", 404, "cursor not found"),
    DocumentedError(.userInvalidName, 1700, "ERROR_USER_INVALID_NAME", 400, "invalid user name"),
    DocumentedError(.userInvalidPassword, 1701, "ERROR_USER_INVALID_PASSWORD", 400, "invalid password"),
    DocumentedError(.userDuplicate, 1702, "ERROR_USER_DUPLICATE", 409, "duplicate user"),
    DocumentedError(.userNotFound, 1703, "ERROR_USER_NOT_FOUND", 404, "user not found"),
]

@Suite("error catalogue")
struct ErrorCatalogueTests {
    @Test(arguments: documentedErrors)
    func caseMatchesArangoDB(_ documented: DocumentedError) {
        #expect(documented.code.rawValue == documented.number)
        #expect(documented.code.name == documented.name)
        #expect(documented.code.defaultStatus == documented.status)
        #expect(documented.code.defaultMessage == documented.message)
        #expect(ArangoErrorCode(rawValue: documented.number) == documented.code)
    }

    @Test func everyCaseIsDocumented() {
        let documented = documentedErrors.map(\.code)
        #expect(documented.count == ArangoErrorCode.allCases.count)
        for code in ArangoErrorCode.allCases {
            #expect(documented.filter { $0 == code }.count == 1, "\(code.name) is not in the table exactly once")
        }
    }

    @Test func numbersAreUnique() {
        let numbers = ArangoErrorCode.allCases.map(\.rawValue)
        #expect(Set(numbers).count == numbers.count)
    }

    @Test func namesAreUniqueAndShapedLikeArangoDBs() {
        let names = ArangoErrorCode.allCases.map(\.name)
        #expect(Set(names).count == names.count)
        for name in names {
            #expect(name.hasPrefix("ERROR_") && name.allSatisfy { $0.isUppercase || $0 == "_" }, "\(name)")
        }
    }

    @Test func statusesAreHTTPStatuses() {
        for code in ArangoErrorCode.allCases {
            #expect((100...599).contains(code.defaultStatus), "\(code.name): \(code.defaultStatus)")
            // An error answer is a client or server error; only "no error" is a success.
            #expect((code.defaultStatus >= 400) == (code != .noError), "\(code.name)")
        }
    }

    @Test func httpErrorNumbersAreTheirStatus() {
        for code in ArangoErrorCode.allCases where (400..<600).contains(code.rawValue) {
            #expect(code.defaultStatus == code.rawValue, "\(code.name)")
        }
    }

    @Test func everyCaseHasAMessage() {
        for code in ArangoErrorCode.allCases {
            #expect(!code.defaultMessage.isEmpty, "\(code.name)")
        }
    }

    @Test func numbersFindTheirCaseAndUnknownNumbersStayOpen() {
        #expect(ErrorNumber(rawValue: 1202).code == .documentNotFound)
        #expect(ErrorNumber(.documentNotFound).rawValue == 1202)
        let unknown = ErrorNumber(rawValue: 1999)
        #expect(unknown.code == nil)
        #expect(ArangoError(status: 500, unknown, "x").code == nil)
        #expect(ArangoError(status: 500, unknown, "x").number.rawValue == 1999)
    }

    @Test func defaultsComeFromTheCatalogue() {
        let error = ArangoError(.documentNotFound)
        #expect(error == ArangoError(status: 404, .documentNotFound, "document not found"))
        #expect(ArangoError(.userDuplicate, "duplicate user: 'x'").status == 409)
    }
}

@Suite("batch answers")
struct BatchAnswerTests {
    @Test func entryKeepsArangoDBsKeyOrder() throws {
        var builder = Builder()
        ArangoError(status: 409, .uniqueConstraintViolated, "u").addBatchEntry(to: &builder)
        // Derived by hand: object 0b, byte length 0x28, 3 members in insertion order
        // error (true), errorNum (signed 1210: 21 ba 04), errorMessage ("u"); the index
        // sorted by key bytes: error (3), errorMessage (0x16), errorNum (0x0a).
        let expected = try Hex.decode(
            "0b 28 03 45 6572726f72 1a 48 6572726f724e756d 21 ba 04 4c 6572726f724d657373616765 41 75 03 16 0a")
        #expect(builder.bytes == expected)
    }

    @Test func countsAreSortedByNumber() {
        var counts = ErrorCodeCounts()
        #expect(counts.headerValue == nil && counts.meta.isEmpty)
        counts.count(ErrorNumber(.uniqueConstraintViolated))
        counts.count(ErrorNumber(.documentTypeInvalid))
        counts.count(ErrorNumber(.uniqueConstraintViolated))
        counts.count(ErrorNumber(.documentKeyBad))
        #expect(counts.headerValue == #"{"1210":2,"1221":1,"1227":1}"#)
        #expect(counts.meta == ["x-arango-error-codes": #"{"1210":2,"1221":1,"1227":1}"#])
    }
}
