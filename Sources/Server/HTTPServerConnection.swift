import Transport
import TesseraPlatform
import VelocyPack
import ArangoAPI
import VelocyStream

/// One HTTP/1.1 client connection of a ``VSTServer``: a connection whose first bytes were not
/// the VelocyStream preamble. Each request is decoded (``HTTPMessageDecoder``, within
/// ``ServerConfiguration/httpLimits``), authenticated by its `Authorization` field, turned
/// into the ``RequestHeader`` a VelocyStream request carries, and handed to the same
/// dispatch and route table (``VSTServer/dispatch(_:body:bodyIsJSON:user:tcp:later:)``).
///
/// Requests are served one at a time, in order: a pipelining client's later requests wait,
/// unparsed, until the answer before them is sent (HTTP/1.1 answers in request order), and
/// reading stops while more than ``pipelinedByteCountMax`` bytes wait that way. A request the
/// decoder refuses is answered with its status (400, 413, 414, 431) and the connection closed.
///
/// `@unchecked Sendable`: confined to the loop thread; answers of async handlers come back
/// through ``EventLoop/execute(_:)``.
final class HTTPServerConnection: ServedConnection, @unchecked Sendable {
    let server: VSTServer
    let configuration: ServerConfiguration
    let eventLoop: EventLoop
    let tcp: TCPConnection
    let decoder: HTTPMessageDecoder
    /// A request is being handled (its answer not sent yet); nothing else is parsed meanwhile.
    var busy = false
    var draining = false
    var closed = false
    var pausedForOutput = false
    /// `100 Continue` went out for the request whose body is arriving.
    var continueSent = false
    /// Loop clock (ms) of the last byte received or answer sent.
    var lastActivity: UInt64
    /// Loop clock (ms) since which the peer owes the rest of a request.
    var incompleteSince: UInt64?
    var closingSince: UInt64?
    /// The last `Authorization` value that was accepted and whom it names: the same value on
    /// the next request is not checked again (a password hash costs milliseconds).
    var acceptedAuthorization: (value: String, user: String)?

    /// Unparsed bytes held behind a request in progress before reading stops.
    static let pipelinedByteCountMax = 1 << 20
    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    init(server: VSTServer, tcp: TCPConnection, now: UInt64) {
        self.server = server
        self.configuration = server.configuration
        self.eventLoop = server.eventLoop
        self.tcp = tcp
        self.decoder = HTTPMessageDecoder(kind: .request, limits: server.configuration.httpLimits)
        self.lastActivity = now
        self.incompleteSince = now
    }

    /// Takes the connection over from the sniffing VelocyStream connection with the bytes it
    /// has seen.
    func start(firstBytes: [UInt8]) {
        tcp.onRead = { [self] bytes in received(bytes) }
        tcp.onClose = { [self] _ in
            closed = true
            draining = true
            server.connectionClosed(self, protocol: "http")
        }
        tcp.onDrain = { [self] in
            guard pausedForOutput else { return }
            pausedForOutput = false
            process()
        }
        decoder.append(firstBytes)
        process()
    }

    func received(_ bytes: UnsafeRawBufferPointer) {
        guard !draining else { return }
        lastActivity = eventLoop.nowMilliseconds
        decoder.append(bytes)
        process()
    }

    /// Serves complete requests while none is in progress and the output is not backlogged.
    func process() {
        guard !closed else { return }
        while !draining && !busy {
            if tcp.writeQueueByteCount > tcp.writeQueueByteCountHigh {
                pausedForOutput = true
                break
            }
            let message: HTTPMessage
            do throws(HTTPDecodeError) {
                guard let next = try decoder.nextMessage() else { break }
                message = next
            } catch {
                refuse(error)
                return
            }
            continueSent = false
            incompleteSince = nil
            handle(message)
        }
        guard !closed, !draining else { return }
        if !busy, !continueSent, let head = decoder.headWaitingForBody, head.expectsContinue {
            // RFC 9110 §10.1.1: the head passed every check that does not need the body.
            continueSent = true
            tcp.write(Self.continueLine)
        }
        if pausedForOutput || (busy && decoder.unparsedByteCount > Self.pipelinedByteCountMax) {
            tcp.stopReading()
        } else {
            tcp.startReading()
        }
        // The message timeout measures the peer: it runs while the peer owes the rest of a
        // request and the server is reading.
        if busy || pausedForOutput || !decoder.isInsideMessage {
            incompleteSince = nil
        } else if incompleteSince == nil {
            incompleteSince = eventLoop.nowMilliseconds
        }
    }

    // MARK: One request

    func handle(_ message: HTTPMessage) {
        busy = true
        let head = message.head
        let keepAlive = head.keepAlive
        let meta = HTTPMapping.meta(head)
        let velocyPack = HTTPMapping.wantsVelocyPack(meta)
        let isHead = head.method == "HEAD"
        let answer: (ServerResponse) -> Void = { [self] response in
            respond(response, head: isHead, velocyPack: velocyPack, keepAlive: keepAlive)
        }
        guard let method = RequestMethod(name: head.method) else {
            answer(ServerResponse(.methodNotAllowed(head.method, head.target)))
            return
        }
        let target: HTTPMapping.Target
        do throws(ArangoError) {
            target = try HTTPMapping.target(head.target)
        } catch {
            answer(ServerResponse(error))
            return
        }
        if meta["x-arango-async"] != nil {
            answer(ServerResponse(ArangoError(status: 501, .notImplemented,
                                              "x-arango-async is not supported: send the request without it and wait for its answer")))
            return
        }
        var header = RequestHeader(database: target.database, method: method, path: target.path,
                                   parameters: target.parameters, meta: meta)
        // HEAD is GET without the body (RFC 9110 §9.3.2) where a route has no HEAD of its own.
        if method == .head, case .methodNotAllowed = server.router.match(.head, header.path),
           case .handler = server.router.match(.get, header.path) {
            header.method = .get
        }
        authenticate(head.value("authorization")) { [self] user in
            let response = message.body.withUnsafeBytes { body in
                var clock: UInt64?
                return server.dispatch(header, body: body, bodyIsJSON: HTTPMapping.bodyIsJSON(meta),
                                       user: user, tcp: tcp, clock: &clock) {
                    { [self] response in
                        answer(response)
                        if !closed && !draining { process() }
                    }
                }
            }
            if let response { answer(response) }
        }
    }

    /// Finds the user an `Authorization` value names and continues with it (`nil`: none, or
    /// refused; the dispatch then answers 401 unless the path is open). A check that costs
    /// time runs on the thread pool; `next` then runs later, on the loop.
    func authenticate(_ authorization: String?, _ next: @escaping (String?) -> Void) {
        guard let authenticator = configuration.authenticator, let authorization else {
            next(nil)
            return
        }
        if let accepted = acceptedAuthorization, accepted.value == authorization {
            next(accepted.user)
            return
        }
        guard let credentials = HTTPMapping.credentials(authorization) else {
            next(nil)
            return
        }
        switch authenticator.authenticate(credentials) {
        case .accepted(let user):
            acceptedAuthorization = (authorization, user)
            next(user)
        case .refused:
            next(nil)
        case .check(let work):
            server.inFlightTotal += 1
            eventLoop.offload(work) { [self] user in
                server.inFlightTotal -= 1
                if let user { acceptedAuthorization = (authorization, user) }
                if closed {
                    server.requestFinished()
                    return
                }
                next(user)
                if !busy && !draining { process() }
                server.requestFinished()
            }
        }
    }

    /// Sends the answer of the request in progress; the next request may then be served.
    func respond(_ response: ServerResponse, head: Bool, velocyPack: Bool, keepAlive: Bool) {
        busy = false
        guard !closed else { return }
        lastActivity = eventLoop.nowMilliseconds
        let keepOpen = keepAlive && !draining
        tcp.write { output in
            HTTPMapping.encode(response, head: head, velocyPack: velocyPack, keepAlive: keepOpen, into: &output)
        }
        if !keepOpen {
            draining = true
            closeGracefully()
        }
    }

    /// Answers a request the decoder refused with its status and an ArangoDB error body, then
    /// closes: after a framing fault no later byte can be trusted to start a request.
    func refuse(_ error: HTTPDecodeError) {
        configuration.metrics?.protocolError("http-" + error.kind.rawValue)
        sendFinal(ArangoError(status: error.status, .httpBadParameter, "HTTP request refused: \(error.detail)"))
    }

    /// Sends `error` with `Connection: close` and closes once it is out.
    func sendFinal(_ error: ArangoError) {
        guard !closed else { return }
        draining = true
        if !busy {
            tcp.write { output in
                HTTPMapping.encode(ServerResponse(error), head: false, velocyPack: false, keepAlive: false, into: &output)
            }
        }
        closeGracefully()
    }

    func closeGracefully() {
        if closingSince == nil { closingSince = eventLoop.nowMilliseconds }
        tcp.closeAfterWriting()
    }

    // MARK: ServedConnection

    func beginShutdown() {
        draining = true
        tcp.stopReading()
        if !busy { closeGracefully() }
    }

    func forceClose() { tcp.close() }

    func checkTimeouts(now: UInt64) {
        if let since = closingSince {
            if now &- since > ServerConnection.closeGraceMilliseconds { tcp.close() }
        } else if let since = incompleteSince, now &- since > UInt64(configuration.messageTimeoutSeconds * 1000) {
            configuration.metrics?.protocolError("http-timeout")
            sendFinal(ArangoError(status: 408, .httpRequestTimeout,
                                  "the request did not arrive in full within \(configuration.messageTimeoutSeconds) s"))
        } else if !busy && incompleteSince == nil,
                  now &- lastActivity > UInt64(configuration.idleTimeoutSeconds * 1000) {
            draining = true
            closeGracefully()
        }
    }
}
