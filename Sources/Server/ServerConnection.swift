import Transport
import VelocyPack
import ArangoAPI
import VelocyStream

/// One client connection of a ``VSTServer``: preamble, chunk decoding, authentication,
/// routing, and answering each request as its handler completes (not in arrival order).
///
/// A fault in the byte stream (framing, an invalid or malformed header) is the peer's: the
/// connection is answered with an error when the message id is known, then closed after
/// what is queued has been sent. Other connections are not affected.
///
/// `@unchecked Sendable`: confined to the loop thread; async handlers hand their answers back
/// through ``EventLoop/execute(_:)``.
final class ServerConnection: @unchecked Sendable {
    /// Strong: the server drops its reference to the connection when it closes.
    let server: VSTServer
    /// Copies taken once, so the per-request path does not copy the configuration (its
    /// closures and existential cost a retain each) from the server every time.
    let configuration: ServerConfiguration
    let router: Router
    let eventLoop: EventLoop
    let tcp: TCPConnection
    var version: VSTVersion?
    var preamble: [UInt8] = []
    var decoder: VSTDecoder?
    /// The authenticated user; `nil` until an authentication message succeeds.
    var user: String?
    /// Set while a slow credential check runs; no further message is taken meanwhile.
    var authenticating = false
    /// Requests whose async handlers have not answered yet.
    var inFlight = 0
    /// Loop clock (ms) of the last byte received or answer sent.
    var lastActivity: UInt64
    /// Loop clock (ms) since which a preamble or message has been incomplete; `nil` when the
    /// decoder holds no partial bytes.
    var incompleteSince: UInt64?
    /// Set when no more messages are taken (an error, a shutdown or the peer's close);
    /// answers still go out while the connection is open.
    var draining = false
    var closed = false
    /// Set while message processing waits for queued answers to drain (the peer reads
    /// slowly): complete messages stay in the decoder meanwhile.
    var pausedForOutput = false
    /// Loop clock (ms) when a graceful close began; a peer that never reads its last answers
    /// is cut off after ``closeGraceMilliseconds``.
    var closingSince: UInt64?
    static let closeGraceMilliseconds: UInt64 = 10_000

    init(server: VSTServer, tcp: TCPConnection, now: UInt64) {
        self.server = server
        self.configuration = server.configuration
        self.router = server.router
        self.eventLoop = server.eventLoop
        self.tcp = tcp
        self.lastActivity = now
        self.incompleteSince = now  // the preamble is due
    }

    func start() {
        tcp.onRead = { [self] bytes in received(bytes) }
        tcp.onClose = { [self] _ in
            closed = true
            draining = true
            server.connectionClosed(self)
        }
        tcp.onDrain = { [self] in
            guard pausedForOutput else { return }
            pausedForOutput = false
            processMessages()
        }
        tcp.startReading()
    }

    // MARK: Receiving

    func received(_ bytes: UnsafeRawBufferPointer) {
        guard !draining else { return }
        lastActivity = eventLoop.nowMilliseconds
        var rest = bytes[...]
        if decoder == nil {
            let needed = VSTVersion.preambleByteCount - preamble.count
            preamble.append(contentsOf: rest.prefix(needed))
            rest = rest.dropFirst(needed)
            do throws(VSTError) {
                guard let detected = try VSTVersion.detect(preamble: preamble) else { return }
                version = detected
                decoder = VSTDecoder(version: detected, limits: configuration.limits)
                incompleteSince = nil
            } catch {
                // Without a valid preamble there is no protocol to answer in.
                fail(nil)
                return
            }
        }
        decoder!.append(UnsafeRawBufferPointer(rebasing: rest))
        processMessages()
    }

    /// Takes complete messages from the decoder while the in-flight limit and the output
    /// backlog allow.
    func processMessages() {
        guard decoder != nil, !closed else { return }
        var completedAny = false
        while !draining && !authenticating && inFlight < configuration.inFlightRequestCountMax {
            if tcp.writeQueueByteCount > tcp.writeQueueByteCountHigh {
                // Answers pile up unread: take no more requests until they drain.
                pausedForOutput = true
                break
            }
            let message: VSTMessage
            do throws(VSTError) {
                guard let next = try decoder!.nextMessage() else { break }
                message = next
            } catch {
                // A framing fault: the message id is not reliably known, so no answer is
                // possible; answers already queued still go out.
                fail(nil)
                return
            }
            completedAny = true
            handle(message)
        }
        let pausedByServer = inFlight >= configuration.inFlightRequestCountMax || pausedForOutput || authenticating
        if pausedByServer {
            tcp.stopReading()
        } else if !draining {
            tcp.startReading()
        }
        // The message timeout measures the peer: it runs while the peer owes the rest of a
        // message, restarts whenever a message completes, and stops while the server itself
        // is not reading.
        let peerOwesBytes = decoder!.bufferedByteCount > 0 || decoder!.partialMessageCount > 0
        if pausedByServer || !peerOwesBytes {
            incompleteSince = nil
        } else if completedAny || incompleteSince == nil {
            incompleteSince = eventLoop.nowMilliseconds
        }
    }

    func handle(_ message: VSTMessage) {
        let received: ReceivedMessage
        do throws(VSTError) {
            received = try ReceivedMessage(message, limits: configuration.limits)
        } catch {
            let code: ArangoErrorCode = error.code == .invalidHeader ? .corruptedJSON : .httpBadParameter
            fail(message.id, ArangoError(status: 400, code, "invalid message header: \(error)"))
            return
        }
        switch received.type {
        case .authentication:
            authenticate(received)
        case .request:
            request(received)
        case .response, .responseMore:
            fail(message.id, ArangoError(status: 400, .httpBadParameter, "a client sends requests, not responses"))
        }
    }

    func authenticate(_ received: ReceivedMessage) {
        let credentials: Authentication
        do throws(VSTError) {
            credentials = try Authentication(received)
        } catch {
            fail(received.message.id, ArangoError(status: 400, .httpBadParameter, "malformed authentication: \(error)"))
            return
        }
        // A new authentication message resets what the connection was allowed before.
        user = nil
        guard let authenticator = configuration.authenticator else {
            send(received.message.id, Self.authenticationAccepted, json: false)
            return
        }
        switch authenticator.authenticate(credentials) {
        case .accepted(let name):
            authenticated(received.message.id, as: name)
        case .refused:
            authenticated(received.message.id, as: nil)
        case .check(let work):
            // Later messages wait until the outcome is known: they may depend on it.
            authenticating = true
            inFlight += 1
            server.inFlightTotal += 1
            eventLoop.offload(work) { [self] name in
                authenticating = false
                inFlight -= 1
                server.inFlightTotal -= 1
                authenticated(received.message.id, as: name)
                afterAsyncAnswer()
                server.requestFinished()
            }
        }
    }

    func authenticated(_ id: UInt64, as name: String?) {
        user = name
        if name != nil {
            send(id, Self.authenticationAccepted, json: false)
        } else {
            send(id, ServerResponse(ArangoError(status: 401, .httpUnauthorized, "wrong credentials")), json: false)
        }
    }

    static let authenticationAccepted: ServerResponse = {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "code", 200)
        builder.add(key: "error", false)
        builder.add(key: "errorNum", ArangoErrorCode.noError.rawValue)
        try! builder.close()  // keys written here are distinct
        return ServerResponse(status: 200, builder)
    }()

    func request(_ received: ReceivedMessage) {
        let id = received.message.id
        let header: RequestHeader
        do throws(VSTError) {
            header = try RequestHeader(received)
        } catch {
            fail(id, ArangoError(status: 400, .httpBadParameter, "malformed request header: \(error)"))
            return
        }
        let wantsJSON = header.meta["accept"].map { $0.hasPrefix("application/json") } ?? false
        if server.isShuttingDown {
            send(id, ServerResponse(.shuttingDown), json: wantsJSON)
            return
        }
        if configuration.authenticator != nil && user == nil && !configuration.openPaths.contains(header.path) {
            send(id, ServerResponse(.unauthorized), json: wantsJSON)
            return
        }
        guard configuration.databaseExists(header.database) else {
            send(id, ServerResponse(.databaseNotFound(header.database)), json: wantsJSON)
            return
        }
        let body: Slice?
        do throws(ArangoError) {
            body = try Self.body(of: received, header: header, limits: configuration.limits)
        } catch {
            send(id, ServerResponse(error), json: wantsJSON)
            return
        }
        // The loop's cached time: free, and precise enough for spotting slow answers.
        let started = eventLoop.nowMilliseconds
        switch router.match(header.method, header.path) {
        case .notFound:
            send(id, ServerResponse(.unknownPath(header.path)), json: wantsJSON)
        case .methodNotAllowed:
            send(id, ServerResponse(.methodNotAllowed("\(header.method)", header.path)), json: wantsJSON)
        case let .handler(handler, pathParameters):
            let request = ServerRequest(header: header, body: body, user: user, pathParameters: pathParameters,
                                        answerGate: AnswerGate(connection: self))
            switch handler {
            case .immediate(let run):
                let response: ServerResponse
                do throws(ArangoError) {
                    response = try run(request)
                } catch {
                    response = ServerResponse(error)
                }
                send(id, response, json: wantsJSON)
            case .async(let run):
                inFlight += 1
                server.inFlightTotal += 1
                Task {
                    let response: ServerResponse
                    do throws(ArangoError) {
                        response = try await run(request)
                    } catch {
                        response = ServerResponse(error)
                    }
                    // The loop only refuses jobs when the process is going down; the answer then
                    // has nowhere to go.
                    eventLoop.execute { [self] in
                        finishLater(id, response, json: wantsJSON, started: started, method: header.method, path: header.path)
                    }
                }
            case .deferrable(let run):
                let reply: Reply
                do throws(ArangoError) {
                    reply = try run(request)
                } catch {
                    reply = .now(ServerResponse(error))
                }
                switch reply {
                case .now(let response):
                    send(id, response, json: wantsJSON)
                case .offload(let work):
                    inFlight += 1
                    server.inFlightTotal += 1
                    eventLoop.offload(work) { [self] response in
                        finishLater(id, response, json: wantsJSON, started: started, method: header.method, path: header.path)
                    }
                case .later(let start):
                    inFlight += 1
                    server.inFlightTotal += 1
                    // Always queued, even on the loop thread: the caller may be in the middle of
                    // its own work (an agent applying committed entries), and sending resumes
                    // this connection, which can run further handlers. The loop only refuses
                    // jobs when the process is going down.
                    let eventLoop = self.eventLoop
                    start { [self] response in
                        eventLoop.execute { [self] in
                            finishLater(id, response, json: wantsJSON, started: started, method: header.method, path: header.path)
                        }
                    }
                }
            }
        }
    }

    /// Sends the answer of a request that finished after its handler returned (on the loop);
    /// one that took longer than `slowRequestMilliseconds` is logged.
    func finishLater(_ id: UInt64, _ response: ServerResponse, json: Bool, started: UInt64, method: RequestMethod, path: String) {
        inFlight -= 1
        server.inFlightTotal -= 1
        let elapsed = eventLoop.nowMilliseconds &- started
        if elapsed >= configuration.slowRequestMilliseconds {
            server.log.warning("slow request: \(method) \(path) answered \(response.status) after \(elapsed) ms")
        }
        send(id, response, json: json)
        afterAsyncAnswer()
        server.requestFinished()
    }

    /// The request body as VelocyPack: JSON text parsed when `content-type` says JSON,
    /// otherwise validated VelocyPack (one value, or several concatenated as imports send).
    static func body(of received: ReceivedMessage, header: RequestHeader, limits: VSTLimits) throws(ArangoError) -> Slice? {
        let bytes = received.body
        guard !bytes.isEmpty else { return nil }
        let contentType = header.meta["content-type"] ?? ""
        if contentType.hasPrefix("application/json") || contentType.hasPrefix("text/") {
            do throws(VPackError) {
                var options = JSONParser.Options()
                options.validateUTF8 = true
                options.rejectDuplicateKeys = true
                return try JSONParser.parse(bytes, options: options).slice
            } catch {
                throw .badBody("invalid JSON: \(error)")
            }
        }
        let storage = Array(bytes)
        var options = Validator.Options.default
        options.byteCountMax = limits.messageByteCountMax
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

    func afterAsyncAnswer() {
        if closed { return }
        if draining {
            if inFlight == 0 { closeGracefully() }
        } else {
            processMessages()
        }
    }

    /// Sends what is queued, then closes; a peer that does not read is cut off after the grace.
    func closeGracefully() {
        if closingSince == nil { closingSince = eventLoop.nowMilliseconds }
        tcp.closeAfterWriting()
    }

    // MARK: Sending

    /// Queues the answer to message `id`; JSON text when the request asked for it.
    func send(_ id: UInt64, _ response: ServerResponse, json: Bool) {
        guard !closed, let version else { return }
        lastActivity = eventLoop.nowMilliseconds
        var meta = response.meta
        var body = response.body
        if json && !body.isEmpty {
            let slice = Slice(trustedBytes: body)
            if let text = try? JSONDumper.dump(slice, options: .init(unsupportedTypeBehavior: .null)) {
                body = text
                meta["content-type"] = "application/json; charset=utf-8"
            }
        }
        var message = meta.isEmpty ? Self.cachedHeader(status: response.status) : ResponseHeader(responseCode: response.status, meta: meta).encoded()
        message.append(contentsOf: body)
        tcp.write { output in
            VSTEncoder.encode(messageID: id, message: message, version: version, into: &output)
        }
    }

    /// Response headers without meta for the statuses most answers use, encoded once.
    static let commonHeaders: [Int: [UInt8]] = Dictionary(uniqueKeysWithValues:
        [200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 412, 500, 503].map {
            ($0, ResponseHeader(responseCode: $0).encoded())
        })

    static func cachedHeader(status: Int) -> [UInt8] {
        commonHeaders[status] ?? ResponseHeader(responseCode: status).encoded()
    }

    // MARK: Ending

    /// Answers `id` with `error` when the id is known, then stops taking messages and closes
    /// once the queued answers are sent.
    func fail(_ id: UInt64?, _ error: ArangoError? = nil) {
        if let id, let error { send(id, ServerResponse(error), json: false) }
        draining = true
        closeGracefully()
    }

    func beginShutdown() {
        draining = true
        tcp.stopReading()
        if inFlight == 0 { closeGracefully() }
    }

    func forceClose() { tcp.close() }

    func checkTimeouts(now: UInt64) {
        if let since = closingSince {
            if now &- since > Self.closeGraceMilliseconds { tcp.close() }
        } else if let since = incompleteSince, now &- since > UInt64(configuration.messageTimeoutSeconds * 1000) {
            fail(nil)
        } else if inFlight == 0 && incompleteSince == nil,
                  now &- lastActivity > UInt64(configuration.idleTimeoutSeconds * 1000) {
            draining = true
            closeGracefully()
        }
    }
}

