public import VelocyPack
public import ArangoAPI
import VelocyStream

/// A server's answer to one request.
public struct ClientResponse: Sendable {
    /// The response code (200, 404, …).
    public let status: Int
    /// Meta entries (HTTP-like headers), keys in lowercase.
    public let meta: [String: String]
    /// The body as VelocyPack (JSON bodies are parsed); `nil` when the answer has none.
    public let body: Slice?

    public init(status: Int, meta: [String: String], body: Slice?) {
        self.status = status
        self.meta = meta
        self.body = body
    }

    /// The ArangoDB error this response carries, if its status is 400 or more.
    public var error: ArangoError? {
        guard status >= 400 else { return nil }
        if let body, let error = ArangoError(status: status, body: body) { return error }
        // ArangoDB's HTTP errors are numbered by their status (404 is ERROR_HTTP_NOT_FOUND).
        return ArangoError(status: status, ErrorNumber(rawValue: status), "status \(status) without an error body")
    }

    /// The response itself when it is a success; the server's error otherwise.
    public func checked() throws(ClientError) -> ClientResponse {
        if let error { throw .server(error) }
        return self
    }
}

/// Why a request got no answer, or (from ``ClientResponse/checked()``) an error answer.
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The TCP connection could not be made.
    case connectFailed(endpoint: String, reason: String)
    /// The server refused the credentials.
    case authenticationFailed(ArangoError)
    /// No answer within the request's timeout (the connection stays usable; a late answer
    /// is dropped).
    case timeout(seconds: Double)
    /// The connection closed before the answer arrived.
    case connectionClosed(reason: String)
    /// The server sent bytes that break the protocol; the connection was closed.
    case protocolViolation(String)
    /// The server answered with an error (see ``ClientResponse/checked()``).
    case server(ArangoError)
    /// The client was shut down.
    case shutDown

    public var description: String {
        switch self {
        case let .connectFailed(endpoint, reason): "cannot connect to \(endpoint): \(reason)"
        case let .authenticationFailed(error): "authentication failed: \(error.message) (\(error.status))"
        case let .timeout(seconds): "no answer within \(seconds) s"
        case let .connectionClosed(reason): "connection closed: \(reason)"
        case let .protocolViolation(detail): "protocol violation by the server: \(detail)"
        case let .server(error): "server error \(error.status), errorNum \(error.number): \(error.message)"
        case .shutDown: "the client was shut down"
        }
    }
}
