public import VelocyPack

/// An error number as it travels in an error body (`errorNum`): ArangoDB's number, which may
/// be one Tessera does not know (a driver talking to ArangoDB, a newer peer). The known ones
/// are the cases of ``ArangoErrorCode``.
public struct ErrorNumber: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The number of a catalogue entry.
    public init(_ code: ArangoErrorCode) { self.rawValue = code.rawValue }
    public var description: String { String(rawValue) }

    /// The catalogue entry with this number; `nil` for a number Tessera does not know.
    public var code: ArangoErrorCode? { ArangoErrorCode(rawValue: rawValue) }
}

/// An error as ArangoDB reports it: an HTTP-like status and the body
/// `{"error": true, "errorNum": N, "errorMessage": "…", "code": STATUS}`.
///
/// ```
/// body (VelocyPack object, keys in sorted order as written):
///   code          int     the response status, repeated
///   error         bool    true
///   errorMessage  string  for people; never parsed
///   errorNum      int     ArangoDB's error number
/// ```
public struct ArangoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The response status (`code` in the body).
    public var status: Int
    public var number: ErrorNumber
    public var message: String

    /// An error with any number, known or not: what a body read from a peer or a lower
    /// layer's number turns into.
    public init(status: Int, _ number: ErrorNumber, _ message: String) {
        self.status = status
        self.number = number
        self.message = message
    }

    /// An error from the catalogue, answered with `status`.
    public init(status: Int, _ code: ArangoErrorCode, _ message: String) {
        self.init(status: status, ErrorNumber(code), message)
    }

    /// An error from the catalogue with ArangoDB's default status, and ArangoDB's default
    /// message when `message` is `nil`.
    public init(_ code: ArangoErrorCode, _ message: String? = nil) {
        self.init(status: code.defaultStatus, ErrorNumber(code), message ?? code.defaultMessage)
    }

    /// The catalogue entry of ``number``; `nil` for a number Tessera does not know.
    public var code: ArangoErrorCode? { number.code }

    public var description: String { "\(status) \(number): \(message)" }

    /// The error body's VelocyPack bytes.
    public func body() -> [UInt8] {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "code", status)
        builder.add(key: "error", true)
        builder.add(key: "errorMessage", message)
        builder.add(key: "errorNum", number.rawValue)
        builder.closeTrusted()
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
    /// `method` as the request named it (`GET`, `POST`, …).
    public static func methodNotAllowed(_ method: String, _ path: String) -> ArangoError {
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
