public import VelocyPack
public import ArangoAPI
public import VelocyStream

/// One request as a handler sees it: the decoded header, the validated body and who sent it.
public struct ServerRequest: Sendable {
    public let header: RequestHeader
    /// The body as VelocyPack: the message's body when it was sent as VelocyPack, or the body
    /// text parsed when its `content-type` is JSON. `nil` when the request had no body.
    public let body: Slice?
    /// The authenticated user, `nil` when authentication is off.
    public let user: String?
    /// Values of the `:name` segments of the route that matched.
    public let pathParameters: [String: String]

    public var method: RequestMethod { header.method }
    public var path: String { header.path }
    public var database: String { header.database }

    public init(header: RequestHeader, body: Slice?, user: String?, pathParameters: [String: String] = [:]) {
        self.header = header
        self.body = body
        self.user = user
        self.pathParameters = pathParameters
    }

    /// The first value of query parameter `name`.
    public func parameter(_ name: String) -> String? { header.parameters[name]?.first }
}

/// A handler's answer: a status, meta entries and an optional VelocyPack body.
public struct ServerResponse: Sendable {
    public var status: Int
    public var meta: [String: String]
    /// VelocyPack bytes of one value, or empty for no body.
    public var body: [UInt8]

    public init(status: Int = 200, meta: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.meta = meta
        self.body = body
    }

    /// A response with `builder`'s value as body.
    public init(status: Int = 200, _ builder: Builder) {
        self.init(status: status, body: builder.bytes)
    }

    /// The response for an ArangoDB error.
    public init(_ error: ArangoError) {
        self.init(status: error.status, body: error.body())
    }
}
