public import Transport
public import TesseraPlatform
public import VelocyPack
import ArangoAPI
public import VelocyStream

/// One HTTP/1.1 client connection to a Tessera (or ArangoDB) server: the same requests as a
/// ``VSTConnection``, written as HTTP with VelocyPack bodies both ways, kept alive and
/// pipelined (answers come back in request order, so each completion takes the oldest).
///
/// Loop-level API: create and use it on the loop thread (completions run there); `tessera
/// bench --http` drives it without a task per request, ``HTTPClient`` wraps it for async code.
///
/// `@unchecked Sendable`: confined to the loop thread (asserted on every entry point).
public final class HTTPClientConnection: @unchecked Sendable {
    public struct Options: Sendable {
        /// Sent with every request as `Authorization`; `nil` sends none.
        public var credentials: Authentication?
        public var connectTimeoutSeconds: Double = 5
        /// Limits on what the server may send.
        public var limits: HTTPLimits = .default

        public init(credentials: Authentication? = nil) {
            self.credentials = credentials
        }
    }

    public typealias Completion = VSTConnection.Completion

    struct Pending {
        let completion: Completion
        let isHead: Bool
        /// Loop clock (ms) after which the request times out; `nil` for none.
        let deadline: UInt64?
        let timeoutSeconds: Double
    }

    public let eventLoop: EventLoop
    public let endpoint: Endpoint
    public let options: Options
    let tcp: TCPConnection
    let decoder: HTTPMessageDecoder
    /// The `Authorization` field line, made once.
    let authorizationLine: String
    var pending: [Pending] = []
    var pendingStart = 0
    var timeoutTimer: LoopTimer?
    var closeReason: String?
    /// Runs once when the connection closes, after pending requests were failed.
    public var onClose: (() -> Void)?

    init(eventLoop: EventLoop, endpoint: Endpoint, options: Options, tcp: TCPConnection) {
        self.eventLoop = eventLoop
        self.endpoint = endpoint
        self.options = options
        self.tcp = tcp
        self.decoder = HTTPMessageDecoder(kind: .response, limits: options.limits)
        switch options.credentials {
        case .plain(let user, let password)?:
            authorizationLine = "Authorization: Basic \(Self.base64(Array("\(user):\(password)".utf8)))\r\n"
        case .jwt(let token)?:
            authorizationLine = "Authorization: bearer \(token)\r\n"
        case nil:
            authorizationLine = ""
        }
    }

    /// Requests sent and not yet answered.
    public var pendingCount: Int { pending.count - pendingStart }
    /// Whether requests can be sent.
    public var isConnected: Bool { closeReason == nil && tcp.isConnected }

    /// Connects; `completion` runs on the loop thread with a connection ready for requests.
    public static func connect(on eventLoop: EventLoop, to endpoint: Endpoint, options: Options = Options(),
                               completion: @escaping (Result<HTTPClientConnection, ClientError>) -> Void) {
        eventLoop.assertInLoopThread("HTTPClientConnection.connect")
        ConnectAttempt.start(on: eventLoop, to: endpoint, timeoutSeconds: options.connectTimeoutSeconds,
                             completion: completion) { tcp, finish in
            // A client must not stop reading while its requests queue up (see
            // TCPConnection.pausesReadingWhenBacklogged).
            tcp.pausesReadingWhenBacklogged = false
            let connection = HTTPClientConnection(eventLoop: eventLoop, endpoint: endpoint, options: options, tcp: tcp)
            connection.start()
            finish(.success(connection))
        }
    }

    func start() {
        tcp.onRead = { [self] bytes in received(bytes) }
        tcp.onClose = { [self] error in closed(error.map { "\($0)" } ?? "closed by the server") }
        tcp.startReading()
    }

    /// Sends one request; `completion` runs on the loop thread with its answer.
    public func send(_ header: RequestHeader, body: [UInt8] = [], timeoutSeconds: Double?, completion: @escaping Completion) {
        eventLoop.assertInLoopThread("HTTPClientConnection.send")
        guard isConnected else {
            completion(.failure(.connectionClosed(reason: closeReason ?? "not connected")))
            return
        }
        let deadline = timeoutSeconds.map { eventLoop.nowMilliseconds + UInt64($0 * 1000) }
        pending.append(Pending(completion: completion, isHead: header.method == .head, deadline: deadline,
                               timeoutSeconds: timeoutSeconds ?? 0))
        if deadline != nil && timeoutTimer == nil { armTimer() }
        let line = Self.requestHead(header, bodyByteCount: body.count, host: endpoint, authorizationLine: authorizationLine)
        tcp.write { output in
            output.append(contentsOf: line.utf8)
            output.append(contentsOf: body)
        }
    }

    /// Sends a request given as a VelocyStream message (header and body), as `tessera bench`
    /// builds them.
    public func send(message: [UInt8], timeoutSeconds: Double?, completion: @escaping Completion) {
        let header: RequestHeader
        let body: ArraySlice<UInt8>
        do throws(VSTError) {
            let received = try ReceivedMessage(VSTMessage(id: 0, bytes: message))
            header = try RequestHeader(received)
            body = received.body
        } catch {
            completion(.failure(.protocolViolation("not a request message: \(error)")))
            return
        }
        send(header, body: Array(body), timeoutSeconds: timeoutSeconds, completion: completion)
    }

    /// The request line and fields: `/_db/<database>` before the path, parameters as a query,
    /// meta as fields, VelocyPack both ways.
    static func requestHead(_ header: RequestHeader, bodyByteCount: Int, host: Endpoint, authorizationLine: String) -> String {
        var target = "/_db/" + percentEscaped(header.database) + header.path
        if !header.parameters.isEmpty {
            var pairs: [String] = []
            for name in header.parameters.keys.sorted() {
                for value in header.parameters[name]! { pairs.append(percentEscaped(name) + "=" + percentEscaped(value)) }
            }
            target += "?" + pairs.joined(separator: "&")
        }
        var text = "\(header.method) \(target) HTTP/1.1\r\nHost: \(host.host):\(host.port)\r\n" + authorizationLine
        text += "Accept: application/x-velocypack\r\n"
        if bodyByteCount > 0 || header.method == .post || header.method == .put || header.method == .patch {
            text += "Content-Type: application/x-velocypack\r\nContent-Length: \(bodyByteCount)\r\n"
        }
        for (name, value) in header.meta.sorted(by: { $0.key < $1.key }) where name != "content-type" && name != "accept" {
            text += "\(name): \(value)\r\n"
        }
        return text + "\r\n"
    }

    /// Everything but unreserved characters (RFC 3986 §2.3) percent-escaped.
    static func percentEscaped(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return result
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var group: UInt32 = 0
            for offset in 0..<3 { group = group << 8 | UInt32(offset < count ? bytes[index + offset] : 0) }
            for position in 0..<4 {
                if position <= count {
                    output.append(alphabet[Int((group >> UInt32(18 - 6 * position)) & 63)])
                } else {
                    output.append(UInt8(ascii: "="))
                }
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    func received(_ bytes: UnsafeRawBufferPointer) {
        decoder.append(bytes)
        while pendingCount > 0 {
            decoder.nextResponseHasNoBody = pending[pendingStart].isHead
            let message: HTTPMessage
            do throws(HTTPDecodeError) {
                guard let next = try decoder.nextMessage() else { return }
                message = next
            } catch {
                fail("the server's answer is not HTTP: \(error)")
                return
            }
            // Interim answers (100 Continue) precede the real one.
            if (100..<200).contains(message.head.status) { continue }
            let request = pending[pendingStart]
            pendingStart += 1
            if pendingStart == pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingStart = 0
            }
            request.completion(.success(Self.response(message)))
        }
        if decoder.unparsedByteCount > 0 { fail("the server sent an answer to no request") }
    }

    /// The answer as a ``ClientResponse``: VelocyPack bodies as they are, JSON bodies parsed,
    /// other text as one VelocyPack string.
    static func response(_ message: HTTPMessage) -> ClientResponse {
        var meta: [String: String] = [:]
        for field in message.head.fields { meta[field.name] = meta[field.name].map { $0 + ", " + field.value } ?? field.value }
        guard !message.body.isEmpty else { return ClientResponse(status: message.head.status, meta: meta, body: nil) }
        let type = meta["content-type"] ?? ""
        var body: Slice?
        if type.hasPrefix("application/x-velocypack") {
            var validator = Validator.Options.default
            validator.byteCountMax = message.body.count
            if (try? Validator(options: validator).validate(message.body)) != nil { body = Slice(trustedBytes: message.body) }
        } else if type.hasPrefix("application/json") {
            body = try? JSONParser.parse(message.body).slice
        }
        if body == nil {
            var builder = Builder()
            builder.add(String(decoding: message.body, as: UTF8.self))
            body = builder.slice
        }
        return ClientResponse(status: message.head.status, meta: meta, body: body)
    }

    func armTimer() {
        let timer = LoopTimer(on: eventLoop)
        timer.start(after: 250, repeatEvery: 250) { [self] in
            guard pendingCount > 0 else { return }
            let oldest = pending[pendingStart]
            if let deadline = oldest.deadline, eventLoop.nowMilliseconds > deadline {
                // Answers come in order: a late one would be taken for the next request's.
                fail("no answer within \(oldest.timeoutSeconds) s", timeout: oldest.timeoutSeconds)
            }
        }
        timeoutTimer = timer
    }

    func fail(_ reason: String, timeout: Double? = nil) {
        closed(reason, timeout: timeout)
        tcp.close()
    }

    func closed(_ reason: String, timeout: Double? = nil) {
        guard closeReason == nil else { return }
        closeReason = reason
        timeoutTimer?.close()
        timeoutTimer = nil
        let failed = pending[pendingStart...]
        pending = []
        pendingStart = 0
        for (index, request) in failed.enumerated() {
            if index == 0, let timeout {
                request.completion(.failure(.timeout(seconds: timeout)))
            } else {
                request.completion(.failure(.connectionClosed(reason: reason)))
            }
        }
        onClose?()
        onClose = nil
    }

    /// Closes the connection; pending requests fail.
    public func close() {
        eventLoop.assertInLoopThread("HTTPClientConnection.close")
        fail("closed by the client")
    }
}

/// The async face of ``HTTPClientConnection``: one kept-alive connection on a loop of its own,
/// opened on the first request and again after it closed. For `tessera call --http`.
public final class HTTPClient: Sendable {
    public let eventLoop: EventLoop
    let endpoint: Endpoint
    let options: HTTPClientConnection.Options
    let database: String
    let holder: Holder

    /// `@unchecked Sendable`: touched only on the loop thread.
    final class Holder: @unchecked Sendable {
        var connection: HTTPClientConnection?
    }

    public init(endpoint: Endpoint, credentials: Authentication?, database: String = "_system") {
        eventLoop = EventLoop()
        self.endpoint = endpoint
        self.options = HTTPClientConnection.Options(credentials: credentials)
        self.database = database
        holder = Holder()
    }

    /// Sends one request and returns the answer, whatever its status.
    public func request(_ method: RequestMethod, _ path: String, parameters: [String: [String]] = [:],
                        meta: [String: String] = [:], body: [UInt8] = [], timeoutSeconds: Double? = 60) async throws(ClientError) -> ClientResponse {
        let header = RequestHeader(database: database, method: method, path: path, parameters: parameters, meta: meta)
        let (eventLoop, endpoint, options, holder) = (self.eventLoop, self.endpoint, self.options, self.holder)
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<ClientResponse, ClientError>, Never>) in
            let accepted = eventLoop.execute {
                func send(on connection: HTTPClientConnection) {
                    connection.send(header, body: body, timeoutSeconds: timeoutSeconds) { continuation.resume(returning: $0) }
                }
                if let connection = holder.connection, connection.isConnected {
                    send(on: connection)
                    return
                }
                HTTPClientConnection.connect(on: eventLoop, to: endpoint, options: options) { result in
                    switch result {
                    case .success(let connection):
                        holder.connection = connection
                        send(on: connection)
                    case .failure(let error):
                        continuation.resume(returning: .failure(error))
                    }
                }
            }
            if !accepted { continuation.resume(returning: .failure(.shutDown)) }
        }
        return try result.get()
    }

    /// Closes the connection and stops the loop.
    public func shutdown() async {
        let holder = self.holder
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = eventLoop.execute {
                holder.connection?.close()
                holder.connection = nil
                continuation.resume()
            }
            if !accepted { continuation.resume() }
        }
        eventLoop.shutdown()
    }
}
