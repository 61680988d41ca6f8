public import ArangoAPI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import VelocyStream

/// How a route answers.
public enum RouteHandler: Sendable {
    /// Runs on the loop thread and answers at once. Only for work that is cheap and never
    /// blocks: everything else on the connection's loop waits while it runs.
    case immediate(@Sendable (ServerRequest) throws(ArangoError) -> ServerResponse)
    /// Runs as a task on the loop's executor and may await (thread-pool work, other servers);
    /// the connection goes on serving other requests meanwhile and this answer is sent when
    /// it is ready.
    case async(@Sendable (ServerRequest) async throws(ArangoError) -> ServerResponse)
    /// Runs on the loop thread and either answers at once or hands blocking work (an fsync,
    /// a scan) to the loop's thread pool, whose result is then the answer. The cheapest way
    /// to serve requests that only sometimes block.
    case deferrable(@Sendable (ServerRequest) throws(ArangoError) -> Reply)
}

/// A ``RouteHandler/deferrable`` handler's decision.
public enum Reply: Sendable {
    case now(ServerResponse)
    /// Run on a thread-pool thread; its value is the answer.
    case offload(@Sendable () -> ServerResponse)
    /// Called at once on the loop thread with a `respond` function that takes the answer
    /// later, from any thread, exactly once (for work that completes through a callback,
    /// such as a durable write waiting for its group commit, without holding a thread).
    case later(@Sendable (_ respond: @escaping @Sendable (ServerResponse) -> Void) -> Void)
}

/// Maps (method, path) to handlers. Patterns are paths whose segments are literal or
/// `:name` (one segment, bound in ``ServerRequest/pathParameters``); literal segments win over
/// parameters. A path that matches no pattern is 404; a path that matches but not for this
/// method is 405.
public struct Router: Sendable {
    struct Route: Sendable {
        /// The pattern as registered (`/_api/document/:collection/:key`), the label of its metrics.
        let pattern: String
        let segments: [Segment]
        /// Indexed by the method's raw value (0...6): no hashing per request.
        var handlers: [RouteHandler?]
    }
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    var routes: [Route] = []
    /// Exact paths without parameters, for a lookup without splitting (the common case).
    var exact: [String: Int] = [:]
    /// Routes with parameters by their number of segments: a path is only compared with
    /// patterns of its own length.
    var bySegmentCount: [Int: [Int]] = [:]
    /// The literal segments of each route as bytes, by route index (empty for routes without
    /// parameters): matching compares bytes without making a string per segment.
    var literalBytes: [[Literal]] = []

    /// A literal segment of a pattern: where it stands and its bytes.
    struct Literal: Sendable {
        let position: Int
        let bytes: [UInt8]
    }

    public init() {}

    /// Adds `handler` for `method` on `pattern` (for example `/_api/document/:collection/:key`).
    public mutating func add(_ method: RequestMethod, _ pattern: String, _ handler: RouteHandler) {
        precondition(pattern.hasPrefix("/"), "route patterns start with /")
        let segments = Self.split(pattern).map { part -> Segment in
            part.hasPrefix(":") ? .parameter(String(part.dropFirst())) : .literal(String(part))
        }
        if let index = routes.firstIndex(where: { $0.segments == segments }) {
            precondition(routes[index].handlers[Int(method.rawValue)] == nil, "\(method) \(pattern) registered twice")
            routes[index].handlers[Int(method.rawValue)] = handler
            return
        }
        var handlers = [RouteHandler?](repeating: nil, count: RequestMethod.allCases.count)
        handlers[Int(method.rawValue)] = handler
        routes.append(Route(pattern: pattern, segments: segments, handlers: handlers))
        literalBytes.append(segments.enumerated().compactMap { position, segment in
            if case .literal(let text) = segment { Literal(position: position, bytes: Array(text.utf8)) } else { nil }
        })
        if !segments.contains(where: { if case .parameter = $0 { true } else { false } }) {
            exact[Self.normalized(pattern)] = routes.count - 1
        } else {
            bySegmentCount[segments.count, default: []].append(routes.count - 1)
        }
    }

    /// Shorthand for an immediate handler.
    public mutating func add(_ method: RequestMethod, _ pattern: String,
                             _ handler: @escaping @Sendable (ServerRequest) throws(ArangoError) -> ServerResponse) {
        add(method, pattern, .immediate(handler))
    }

    /// Shorthand for an async handler.
    public mutating func addAsync(_ method: RequestMethod, _ pattern: String,
                                  _ handler: @escaping @Sendable (ServerRequest) async throws(ArangoError) -> ServerResponse) {
        add(method, pattern, .async(handler))
    }

    /// Shorthand for a deferrable handler.
    public mutating func addDeferrable(_ method: RequestMethod, _ pattern: String,
                                       _ handler: @escaping @Sendable (ServerRequest) throws(ArangoError) -> Reply) {
        add(method, pattern, .deferrable(handler))
    }

    /// The outcome of routing one request.
    public enum Match: Sendable {
        case handler(RouteHandler, pathParameters: [String: String])
        case methodNotAllowed
        case notFound
    }

    /// Finds the handler for `method` and `path`.
    public func match(_ method: RequestMethod, _ path: String) -> Match {
        resolve(method, path).match
    }

    /// Finds the handler for `method` and `path`, and the pattern of the route that matched
    /// (`nil` when none did).
    func resolve(_ method: RequestMethod, _ path: String) -> (match: Match, pattern: String?) {
        resolve(method, path, exactRoute: exactRoute(path))
    }

    /// The route without parameters whose pattern is `path` (normalised), or `nil`.
    func exactRoute(_ path: String) -> Int? { exact[Self.normalized(path)] }

    /// ``resolve(_:_:)`` when ``exactRoute(_:)`` of `path` is known (a server remembers it
    /// for the path it saw last: comparing a path costs less than hashing it).
    func resolve(_ method: RequestMethod, _ path: String, exactRoute index: Int?) -> (match: Match, pattern: String?) {
        if let index {
            if let handler = routes[index].handlers[Int(method.rawValue)] { return (.handler(handler, pathParameters: [:]), routes[index].pattern) }
            return (.methodNotAllowed, routes[index].pattern)
        }
        var path = path
        return path.withUTF8 { bytes in resolveParameterized(method, bytes) }
    }

    /// Matches `bytes` (a path) against the routes with parameters of its segment count; the
    /// route with the most literal segments wins.
    func resolveParameterized(_ method: RequestMethod, _ bytes: UnsafeBufferPointer<UInt8>) -> (match: Match, pattern: String?) {
        // Segment boundaries as byte ranges; empty segments (`//`, a trailing `/`) are skipped
        // as `split` would.
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(8)
        var start = 0
        for index in 0...bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: "/") {
                if index > start { ranges.append(start..<index) }
                start = index + 1
            }
        }
        guard let candidates = bySegmentCount[ranges.count] else { return (.notFound, nil) }
        var best: (route: Int, literals: Int)?
        for index in candidates {
            let literals = literalBytes[index]
            var matches = true
            for literal in literals {
                let range = ranges[literal.position]
                guard range.count == literal.bytes.count,
                      literal.bytes.withUnsafeBufferPointer({ expected in
                          memcmp(expected.baseAddress!, bytes.baseAddress! + range.lowerBound, range.count) == 0
                      }) else {
                    matches = false
                    break
                }
            }
            if matches && (best == nil || literals.count > best!.literals) { best = (index, literals.count) }
        }
        guard let best else { return (.notFound, nil) }
        let route = routes[best.route]
        guard let handler = route.handlers[Int(method.rawValue)] else { return (.methodNotAllowed, route.pattern) }
        var parameters: [String: String] = [:]
        for (position, segment) in route.segments.enumerated() {
            if case .parameter(let name) = segment {
                parameters[name] = String(decoding: UnsafeBufferPointer(rebasing: bytes[ranges[position]]), as: UTF8.self)
            }
        }
        return (.handler(handler, pathParameters: parameters), route.pattern)
    }

    static func split(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    /// `/a/b/` and `/a//b` route like `/a/b`.
    static func normalized(_ path: String) -> String {
        // One pass over the bytes: most paths need no change and must not pay for a search.
        var path = path
        let clean = path.withUTF8 { bytes in
            var previousWasSlash = false
            for byte in bytes {
                let slash = byte == UInt8(ascii: "/")
                if slash && previousWasSlash { return false }
                previousWasSlash = slash
            }
            return !(previousWasSlash && bytes.count > 1)
        }
        if clean { return path }
        return "/" + split(path).joined(separator: "/")
    }
}
