public import Transport
public import VelocyStream
public import TesseraPlatform

/// What a ``VSTServer`` listens on and the limits it enforces (VelocyStream and HTTP/1.1 share
/// the port, the timeouts and the connection limit). Every limit is named here so
/// an operator can find and change it.
public struct ServerConfiguration: Sendable {
    public var endpoint: Endpoint
    /// VelocyStream limits per connection: chunk, message and header size, partial messages.
    public var limits: VSTLimits = .default
    /// HTTP/1.1 limits per request: target, header count and size, body size.
    public var httpLimits: HTTPLimits = .default
    /// Where requests and connections are counted; `nil` counts nothing.
    public var metrics: Metrics?
    /// Connections above this many are closed at once when accepted.
    public var connectionCountMax = 1024
    /// A connection with no traffic and nothing in flight for this long is closed.
    public var idleTimeoutSeconds: Double = 300
    /// The preamble, and each message once its first bytes arrived, must arrive in full within
    /// this time, or the connection is closed (a peer that stops mid-chunk holds nothing
    /// forever). An HTTP request (head and body) likewise, answered 408 before the close.
    public var messageTimeoutSeconds: Double = 60
    /// A connection with this many requests being handled is not read from until some finish.
    public var inFlightRequestCountMax = 1024
    /// On shutdown, requests in flight get this long to finish before connections are closed.
    public var shutdownGraceSeconds: Double = 10
    /// A request answered after this long is logged as slow (a warning with its path).
    public var slowRequestMilliseconds: UInt64 = 1000
    /// `nil` turns authentication off: every request is served without credentials.
    public var authenticator: (any Authenticator)?
    /// Paths served without authentication (where a client gets its token).
    public var openPaths: Set<String> = ["/_open/auth"]
    /// The databases requests may name; others get 404 / 1228.
    public var databaseExists: @Sendable (String) -> Bool = { $0 == "_system" }

    public init(endpoint: Endpoint) {
        self.endpoint = endpoint
    }
}
