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
final class ServerConnection: ServedConnection, @unchecked Sendable {
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
    /// What the metrics count this connection as: `unknown` until the preamble arrived.
    var protocolName = "unknown"
    /// The first bytes of the VelocyStream preamble, common to both versions: a connection
    /// whose first bytes differ from them is an HTTP client.
    static let preambleMarker = Array("VST/1.".utf8)

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
            server.connectionClosed(self, protocol: protocolName)
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
            if !zip(preamble, Self.preambleMarker).allSatisfy({ $0 == $1 }) {
                // Not VelocyStream: an HTTP/1.1 client (or garbage, which the HTTP decoder
                // answers with 400). The connection carries on as HTTP from its first byte.
                draining = true
                server.continueAsHTTP(self, firstBytes: preamble + Array(rest))
                return
            }
            do throws(VSTError) {
                guard let detected = try VSTVersion.detect(preamble: preamble) else { return }
                version = detected
                protocolName = "vst"
                configuration.metrics?.connectionChanged(from: "unknown", to: "vst")
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

    /// The clock (ns) as the last request of this batch of messages ended, so that the next
    /// one starts from it; `nil` outside a batch (a reading must not outlive its loop turn).
    var batchClock: UInt64?

    /// Takes complete messages from the decoder while the in-flight limit and the output
    /// backlog allow.
    func processMessages() {
        guard decoder != nil, !closed else { return }
        batchClock = nil
        defer { batchClock = nil }
        var completedAny = false
        while !draining && !authenticating && inFlight < configuration.inFlightRequestCountMax {
            if tcp.writeQueueByteCount > tcp.writeQueueByteCountHigh {
                // Answers pile up unread: take no more requests until they drain.
                pausedForOutput = true
                break
            }
            let message: MessageView
            do throws(VSTError) {
                guard let next = try decoder!.nextMessageView() else { break }
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

    /// Reads one message where the decoder holds it: the header is validated and read in
    /// place, and only what the request keeps is copied.
    func handle(_ view: MessageView) {
        view.withUnsafeBytes { bytes in
            let message: BorrowedMessage
            do throws(VSTError) {
                message = try BorrowedMessage(bytes, limits: configuration.limits)
            } catch {
                let code: ArangoErrorCode = error.code == .invalidHeader ? .corruptedJSON : .httpBadParameter
                fail(view.id, ArangoError(status: 400, code, "invalid message header: \(error)"))
                return
            }
            switch message.type {
            case .authentication:
                authenticate(view.id, message)
            case .request:
                request(view.id, message)
            case .response, .responseMore:
                fail(view.id, ArangoError(status: 400, .httpBadParameter, "a client sends requests, not responses"))
            }
        }
    }

    func authenticate(_ id: UInt64, _ message: BorrowedMessage) {
        let credentials: Authentication
        do throws(VSTError) {
            credentials = try Authentication(message)
        } catch {
            fail(id, ArangoError(status: 400, .httpBadParameter, "malformed authentication: \(error)"))
            return
        }
        // A new authentication message resets what the connection was allowed before.
        user = nil
        guard let authenticator = configuration.authenticator else {
            send(id, Self.authenticationAccepted, json: false)
            return
        }
        switch authenticator.authenticate(credentials) {
        case .accepted(let name):
            authenticated(id, as: name)
        case .refused:
            authenticated(id, as: nil)
        case .check(let work):
            // Later messages wait until the outcome is known: they may depend on it.
            authenticating = true
            inFlight += 1
            server.inFlightTotal += 1
            eventLoop.offload(work) { [self] name in
                authenticating = false
                inFlight -= 1
                server.inFlightTotal -= 1
                authenticated(id, as: name)
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

    func request(_ id: UInt64, _ message: BorrowedMessage) {
        let header: RequestHeader
        do throws(VSTError) {
            header = try RequestHeader(message)
        } catch {
            fail(id, ArangoError(status: 400, .httpBadParameter, "malformed request header: \(error)"))
            return
        }
        // Most requests carry no meta: no lookups then.
        let wantsJSON = !header.meta.isEmpty && (header.meta["accept"].map { $0.hasPrefix("application/json") } ?? false)
        let contentType = header.meta.isEmpty ? "" : header.meta["content-type"] ?? ""
        let bodyIsJSON = !contentType.isEmpty && (contentType.hasPrefix("application/json") || contentType.hasPrefix("text/"))
        // A local copy: the property is not held in an access while a handler runs.
        var clock = batchClock
        defer { batchClock = clock }
        let response = server.dispatch(header, body: message.body, bodyIsJSON: bodyIsJSON, user: user, tcp: tcp,
                                       clock: &clock) {
            { [self] response in
                inFlight -= 1
                send(id, response, json: wantsJSON)
                afterAsyncAnswer()
            }
        }
        if let response {
            send(id, response, json: wantsJSON)
        } else {
            inFlight += 1
        }
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
        if response.meta.isEmpty && (!json || response.body.isEmpty) {
            // Most answers: a header encoded once for the status, and the body as it is (no
            // copies of either to adjust).
            let header = Self.cachedHeader(status: response.status)
            tcp.write { output in
                VSTEncoder.encode(messageID: id, header: header, body: response.body, version: version, into: &output)
            }
            return
        }
        var meta = response.meta
        var body = response.body
        if json && !body.isEmpty && !response.hasRawBody {
            let slice = Slice(trustedBytes: body)
            if let text = try? JSONDumper.dump(slice, options: .init(unsupportedTypeBehavior: .null)) {
                body = text
                meta["content-type"] = "application/json; charset=utf-8"
            }
        }
        let header = meta.isEmpty ? Self.cachedHeader(status: response.status) : ResponseHeader(responseCode: response.status, meta: meta).encoded()
        tcp.write { output in
            VSTEncoder.encode(messageID: id, header: header, body: body, version: version, into: &output)
        }
    }

    /// Response headers without meta for the statuses most answers use, encoded once.
    static let commonHeaders: [Int: [UInt8]] = Dictionary(uniqueKeysWithValues:
        [200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 412, 500, 503].map {
            ($0, ResponseHeader(responseCode: $0).encoded())
        })

    static let okHeader = ResponseHeader(responseCode: 200).encoded()

    static func cachedHeader(status: Int) -> [UInt8] {
        // 200 first: most answers, and no hashing for them.
        if status == 200 { return okHeader }
        return commonHeaders[status] ?? ResponseHeader(responseCode: status).encoded()
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

