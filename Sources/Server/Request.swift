import Transport
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
    /// For handlers that answer at once on the loop (`.deferrable` routes' `.now` answers):
    /// lets them make the answer depend on work done at the end of the loop turn. Nil when
    /// the request did not come through a connection (tests).
    public let answerGate: AnswerGate?

    public var method: RequestMethod { header.method }
    public var path: String { header.path }
    public var database: String { header.database }

    public init(header: RequestHeader, body: Slice?, user: String?, pathParameters: [String: String] = [:],
                answerGate: AnswerGate? = nil) {
        self.header = header
        self.body = body
        self.user = user
        self.pathParameters = pathParameters
        self.answerGate = answerGate
    }

    /// The first value of query parameter `name`.
    public func parameter(_ name: String) -> String? { header.parameters[name]?.first }
}

/// A handler's answer: a status, meta entries and an optional VelocyPack body.
///
/// A body is VelocyPack and goes out as VelocyPack or JSON, whichever the client asked for,
/// unless `meta` has a `content-type`: then the body is sent as it is, with that type (the
/// Prometheus text of `/_admin/metrics/v2`).
public struct ServerResponse: Sendable {
    public var status: Int
    public var meta: [String: String]
    /// VelocyPack bytes of one value, or empty for no body; raw bytes when `meta` names a
    /// `content-type`.
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

    /// A response whose body is `text`, sent as it is with `contentType`.
    public init(status: Int = 200, text: String, contentType: String) {
        self.init(status: status, meta: ["content-type": contentType], body: Array(text.utf8))
    }

    /// Whether the body is raw bytes of the type `meta` names rather than VelocyPack.
    public var hasRawBody: Bool { meta["content-type"] != nil }

    /// The response for an ArangoDB error.
    public init(_ error: ArangoError) {
        self.init(status: error.status, body: error.body())
    }
}

/// Holds back the answers a connection queued in this loop turn until a condition is
/// checked at the end of the turn. Every answer of a turn leaves in one system call after the
/// turn's I/O callbacks; `beforeAnswerLeaves` runs its check before that, and when the check
/// fails the connection is closed and nothing queued on it leaves (the client sees the
/// connection end, as after a crash, never a false answer).
///
/// `@unchecked Sendable`: used only on the loop thread, by handlers that run there.
public struct AnswerGate: @unchecked Sendable {
    let eventLoop: EventLoop
    let tcp: TCPConnection

    /// Runs `check` at the end of this loop turn, before the answer queued now leaves; when it
    /// returns false the answer (and the connection's other queued output) never leaves.
    public func beforeAnswerLeaves(_ check: @escaping () -> Bool) {
        let tcp = self.tcp
        eventLoop.beforeOutputLeaves {
            if !check() { tcp.close() }
        }
    }
}
