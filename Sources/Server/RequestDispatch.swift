import Transport
import TesseraPlatform
import VelocyPack
import ArangoAPI
import VelocyStream

/// The one way a request reaches its handler, whatever protocol carried it: VelocyStream and
/// HTTP connections decode their bytes into a ``RequestHeader`` and a body, then call
/// ``VSTServer/dispatch(_:body:bodyIsJSON:user:tcp:later:)``, which checks what every request
/// must pass (shutdown, authentication, the database, the body), routes it, runs the handler,
/// and records the answer in ``Metrics``. One route table serves both protocols.
extension VSTServer {
    /// Routes one request and runs its handler, on the loop thread.
    /// - Parameters:
    ///   - body: the body bytes as received; parsed as JSON when `bodyIsJSON`, otherwise
    ///     validated as VelocyPack.
    ///   - user: the authenticated user (`nil` when none is).
    ///   - tcp: the connection, for handlers that hold an answer until the loop turn's
    ///     writes are out (``AnswerGate``).
    ///   - later: makes the function that gets, once and on the loop thread, the answer of a
    ///     handler that answers after returning (the connection sends it). Called only for
    ///     such handlers: an escaping closure per request would be an allocation and a retain
    ///     of each capture, which immediate answers do not need.
    ///   - clock: the monotonic clock (ns) as the caller last read it in this loop turn, or
    ///     `nil`; the request's time is measured from it. On return it holds the reading that
    ///     ended an immediate answer, so that a connection taking several requests in one turn
    ///     reads the clock once per request, not twice.
    /// - Returns: the answer when it is known at once; `nil` when `later` will get it.
    func dispatch(_ header: RequestHeader, body bytes: UnsafeRawBufferPointer, bodyIsJSON: Bool, user: String?,
                  tcp: TCPConnection, clock: inout UInt64?, later: () -> (ServerResponse) -> Void) -> ServerResponse? {
        let startedNanoseconds = clock ?? MonotonicClock.nanoseconds()
        let (response, pattern) = route(header, body: bytes, bodyIsJSON: bodyIsJSON, user: user, tcp: tcp,
                                        started: startedNanoseconds, later: later)
        if let response {
            clock = record(header, pattern: pattern, status: response.status, user: user, started: startedNanoseconds)
        } else {
            clock = nil
        }
        return response
    }

    func route(_ header: RequestHeader, body bytes: UnsafeRawBufferPointer, bodyIsJSON: Bool, user: String?, tcp: TCPConnection,
               started: UInt64, later makeLater: () -> (ServerResponse) -> Void) -> (ServerResponse?, String?) {
        if isShuttingDown { return (ServerResponse(.shuttingDown), nil) }
        if requiresAuthentication && user == nil && !configuration.openPaths.contains(header.path) {
            return (ServerResponse(.unauthorized), nil)
        }
        guard configuration.databaseExists(header.database) else {
            return (ServerResponse(.databaseNotFound(header.database)), nil)
        }
        let body: Slice?
        do throws(ArangoError) {
            body = try RequestBody.decode(bytes, json: bodyIsJSON, limits: configuration.limits)
        } catch {
            return (ServerResponse(error), nil)
        }
        let (match, pattern) = router.resolve(header.method, header.path, exactRoute: exactRoute(header.path))
        switch match {
        case .notFound:
            return (ServerResponse(.unknownPath(header.path)), nil)
        case .methodNotAllowed:
            return (ServerResponse(.methodNotAllowed("\(header.method)", header.path)), pattern)
        case let .handler(handler, pathParameters):
            let request = ServerRequest(header: header, body: body, user: user, pathParameters: pathParameters,
                                        answerGate: AnswerGate(eventLoop: eventLoop, tcp: tcp))
            // Made only for answers that come later: a closure context per request is an
            // allocation and a retain of every capture, which immediate answers do not need.
            func makeFinish() -> (ServerResponse) -> Void {
                let later = makeLater()
                return { [self] response in
                    inFlightTotal -= 1
                    record(header, pattern: pattern, status: response.status, user: user, started: started)
                    later(response)
                    requestFinished()
                }
            }
            switch handler {
            case .immediate(let run):
                do throws(ArangoError) {
                    return (try run(request), pattern)
                } catch {
                    return (ServerResponse(error), pattern)
                }
            case .async(let run):
                inFlightTotal += 1
                let eventLoop = self.eventLoop
                let box = LoopBound(makeFinish())
                Task {
                    let response: ServerResponse
                    do throws(ArangoError) {
                        response = try await run(request)
                    } catch {
                        response = ServerResponse(error)
                    }
                    // The loop only refuses jobs when the process is going down; the answer then
                    // has nowhere to go.
                    eventLoop.execute { box.value(response) }
                }
                return (nil, pattern)
            case .deferrable(let run):
                let reply: Reply
                do throws(ArangoError) {
                    reply = try run(request)
                } catch {
                    reply = .now(ServerResponse(error))
                }
                switch reply {
                case .now(let response):
                    return (response, pattern)
                case .offload(let work):
                    inFlightTotal += 1
                    let finish = makeFinish()
                    eventLoop.offload(work) { response in finish(response) }
                    return (nil, pattern)
                case .later(let start):
                    inFlightTotal += 1
                    // Always queued, even on the loop thread: the caller may be in the middle of
                    // its own work (an agent applying committed entries), and sending resumes
                    // this connection, which can run further handlers. The loop only refuses
                    // jobs when the process is going down.
                    let eventLoop = self.eventLoop
                    let box = LoopBound(makeFinish())
                    start { response in
                        eventLoop.execute { box.value(response) }
                    }
                    return (nil, pattern)
                }
            }
        }
    }

    /// The router's exact route for `path`, through a one-entry memory of the last path that
    /// had one (most requests in a row take the same path).
    func exactRoute(_ path: String) -> Int? {
        if let last = lastExactRoute, last.path == path { return last.index }
        guard let index = router.exactRoute(path) else { return nil }
        lastExactRoute = (path, index)
        return index
    }

    /// Counts the answer in the metrics; one slower than `slowRequestMilliseconds` is logged.
    /// Returns the clock reading (ns) that ended the request.
    @discardableResult
    func record(_ header: RequestHeader, pattern: String?, status: Int, user: String?, started: UInt64) -> UInt64 {
        let ended = MonotonicClock.nanoseconds()
        let nanoseconds = ended &- started
        if nanoseconds / 1_000_000 >= configuration.slowRequestMilliseconds {
            log.warning("slow request: \(header.method) \(header.path) answered \(status) after \(nanoseconds / 1_000_000) ms")
        }
        configuration.metrics?.recordRequest(route: pattern ?? "unmatched", method: header.method, status: status,
                                             seconds: Double(nanoseconds) / 1e9, user: user)
        return ended
    }
}

/// A value made on the loop thread and used only there, carried through a `@Sendable`
/// closure that hops back to the loop (a task's or another thread's completion).
///
/// `@unchecked Sendable`: the value is only touched on the loop thread that made it.
struct LoopBound<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Request bodies as handlers see them: VelocyPack.
enum RequestBody {
    /// The body as VelocyPack: the text parsed when `json`, otherwise validated VelocyPack (one
    /// value, or several concatenated as imports send). `nil` for an empty body.
    /// The bytes may be held elsewhere (a message where the connection's decoder holds it):
    /// what is kept is copied.
    static func decode(_ bytes: UnsafeRawBufferPointer, json: Bool, limits: VSTLimits) throws(ArangoError) -> Slice? {
        guard !bytes.isEmpty else { return nil }
        if json {
            do throws(VPackError) {
                var options = JSONParser.Options()
                options.validateUTF8 = true
                options.rejectDuplicateKeys = true
                options.nestingLimit = limits.bodyNestingMax
                var builder = Builder()
                try JSONParser.parse(bytes.assumingMemoryBound(to: UInt8.self), into: &builder, options: options)
                return builder.slice
            } catch {
                throw .badBody("invalid JSON: \(error)")
            }
        }
        let storage = Array(bytes)
        var options = Validator.Options.default
        options.byteCountMax = limits.messageByteCountMax
        options.nestingLimit = limits.bodyNestingMax
        // Bodies become stored documents: strings must be UTF-8 and no object may repeat a
        // key (which of two equal keys a reader sees would depend on its lookup path).
        options.validateUTF8 = true
        options.checkUniqueKeys = true
        let validator = Validator(options: options)
        do throws(VPackError) {
            try storage.withUnsafeBufferPointer { (buffer) throws(VPackError) in
                var offset = 0
                while offset < buffer.count {
                    offset += try validator.validatePrefix(UnsafeBufferPointer(rebasing: buffer[offset...]))
                }
            }
        } catch {
            throw .badBody("invalid VelocyPack: \(error)")
        }
        return Slice(trustedBytes: storage)
    }
}
