public import VelocyPack

/// ArangoDB's error numbers (`errorNum` in an error body) that Tessera answers with. The
/// numbers are ArangoDB's, so drivers and users' habits carry over; the list grows as the
/// API does.
public struct ErrorNumber: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }

    public static let noError = ErrorNumber(rawValue: 0)
    public static let internalError = ErrorNumber(rawValue: 4)
    public static let badParameter = ErrorNumber(rawValue: 10)
    /// Also what a request without valid authentication gets, with HTTP status 401.
    public static let forbidden = ErrorNumber(rawValue: 11)
    public static let requestCanceled = ErrorNumber(rawValue: 21)
    public static let shuttingDown = ErrorNumber(rawValue: 30)
    public static let resourceLimit = ErrorNumber(rawValue: 32)
    public static let httpBadParameter = ErrorNumber(rawValue: 400)
    public static let httpUnauthorized = ErrorNumber(rawValue: 401)
    public static let httpNotFound = ErrorNumber(rawValue: 404)
    public static let httpMethodNotAllowed = ErrorNumber(rawValue: 405)
    public static let httpRequestTimeout = ErrorNumber(rawValue: 408)
    public static let httpServerError = ErrorNumber(rawValue: 500)
    public static let httpServiceUnavailable = ErrorNumber(rawValue: 503)
    /// The body is not valid JSON or VelocyPack.
    public static let corruptedJSON = ErrorNumber(rawValue: 600)
    public static let documentNotFound = ErrorNumber(rawValue: 1202)
    public static let dataSourceNotFound = ErrorNumber(rawValue: 1203)
    public static let databaseNotFound = ErrorNumber(rawValue: 1228)
}

/// An error as ArangoDB reports it: an HTTP-like status and the body
/// `{"error": true, "errorNum": N, "errorMessage": "…", "code": STATUS}`.
public struct ArangoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The response status (`code` in the body).
    public var status: Int
    public var number: ErrorNumber
    public var message: String

    public init(status: Int, _ number: ErrorNumber, _ message: String) {
        self.status = status
        self.number = number
        self.message = message
    }

    public var description: String { "\(status) \(number): \(message)" }

    /// The error body's VelocyPack bytes.
    public func body() -> [UInt8] {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "code", status)
        builder.add(key: "error", true)
        builder.add(key: "errorMessage", message)
        builder.add(key: "errorNum", number.rawValue)
        closeKnownGood(&builder)
        return builder.bytes
    }

    /// Reads an error body; `nil` when `body` is not an object with `error: true` and a
    /// numeric `errorNum` (then it is not an ArangoDB error body). `status` comes from the
    /// response header when the body has no `code`.
    public init?(status: Int, body: Slice) {
        guard body.isObject, body["error"]?.boolValue == true,
              let number = body["errorNum"]?.intValue else { return nil }
        self.status = body["code"]?.intValue.map(Int.init) ?? status
        self.number = ErrorNumber(rawValue: Int(number))
        self.message = body["errorMessage"]?.stringValue ?? ""
    }

    // Common errors, worded as ArangoDB words them where it has a wording.

    public static func unknownPath(_ path: String) -> ArangoError {
        ArangoError(status: 404, .httpNotFound, "unknown path '\(path)'")
    }
    public static func methodNotAllowed(_ method: RequestMethod, _ path: String) -> ArangoError {
        ArangoError(status: 405, .httpMethodNotAllowed, "method \(method) not allowed for '\(path)'")
    }
    public static let unauthorized = ArangoError(status: 401, .forbidden, "not authorized to execute this request")
    public static func badBody(_ detail: String) -> ArangoError {
        ArangoError(status: 400, .corruptedJSON, "body is not valid: \(detail)")
    }
    public static func databaseNotFound(_ name: String) -> ArangoError {
        ArangoError(status: 404, .databaseNotFound, "database not found: '\(name)'")
    }
    public static let shuttingDown = ArangoError(status: 503, .shuttingDown, "the server is shutting down")
}
