public import Transport
import VelocyPack
import ArangoAPI
public import VelocyStream

/// One client connection to a VelocyStream server, multiplexing many requests by message id.
/// Answers may arrive in any order; each completion gets its own.
///
/// Loop-level API: create and use it on the loop thread (completions run there). The async
/// ``VSTClient`` builds on it; so does `tessera bench`, which needs no task per request.
///
/// `@unchecked Sendable`: confined to the loop thread (asserted on every entry point).
public final class VSTConnection: @unchecked Sendable {
    public struct Options: Sendable {
        public var version: VSTVersion = .v1_1
        /// The largest chunk this side sends, header included.
        public var chunkByteCount = VSTEncoder.chunkByteCountDefault
        /// Limits on what the server may send.
        public var limits: VSTLimits = .default
        /// Sent right after the preamble; `nil` sends none.
        public var credentials: Authentication?
        public var connectTimeoutSeconds: Double = 5

        public init(credentials: Authentication? = nil) {
            self.credentials = credentials
        }
    }

    public typealias Completion = (Result<ClientResponse, ClientError>) -> Void

    struct Pending {
        let completion: Completion
        /// Loop clock (ms) after which the request times out; `nil` for none.
        let deadline: UInt64?
        let timeoutSeconds: Double
    }

    public let eventLoop: EventLoop
    public let endpoint: Endpoint
    public let options: Options
    let tcp: TCPConnection
    var decoder: VSTDecoder
    /// Requests waiting for answers; their message ids count up from 1.
    var pending = PendingRequests<Pending>()
    var timeoutTimer: LoopTimer?
    /// The deadline the timer is armed for.
    var armedDeadline: UInt64?
    var closeReason: String?
    /// Runs once when the connection closes, after pending requests were failed.
    public var onClose: (() -> Void)?

    init(eventLoop: EventLoop, endpoint: Endpoint, options: Options, tcp: TCPConnection) {
        self.eventLoop = eventLoop
        self.endpoint = endpoint
        self.options = options
        self.tcp = tcp
        self.decoder = VSTDecoder(version: options.version, limits: options.limits)
    }

    /// Requests sent and not yet answered.
    public var pendingCount: Int { pending.count }
    /// Whether requests can be sent.
    public var isConnected: Bool { closeReason == nil && tcp.isConnected }

    /// Connects, sends the preamble and, with credentials, authenticates; `completion` runs on
    /// the loop thread with a connection ready for requests.
    public static func connect(on eventLoop: EventLoop, to endpoint: Endpoint, options: Options = Options(),
                               completion: @escaping (Result<VSTConnection, ClientError>) -> Void) {
        eventLoop.assertInLoopThread("VSTConnection.connect")
        ConnectAttempt.start(on: eventLoop, to: endpoint, timeoutSeconds: options.connectTimeoutSeconds,
                             completion: completion) { tcp, finish in
            let connection = VSTConnection(eventLoop: eventLoop, endpoint: endpoint, options: options, tcp: tcp)
            connection.start()
            guard let credentials = options.credentials else {
                finish(.success(connection))
                return
            }
            connection.send(message: credentials.encoded(), timeoutSeconds: nil) { answer in
                switch answer {
                case .success(let response) where response.status == 200:
                    finish(.success(connection))
                case .success(let response):
                    connection.close()
                    finish(.failure(.authenticationFailed(response.error ?? ArangoError(status: response.status, .httpUnauthorized, "refused"))))
                case .failure(let error):
                    connection.close()
                    finish(.failure(error))
                }
            }
        }
    }

    func start() {
        // Requests queued faster than the server answers must not stop this side reading the
        // answers (see TCPConnection.pausesReadingWhenBacklogged).
        tcp.pausesReadingWhenBacklogged = false
        tcp.onRead = { [self] bytes in received(bytes) }
        tcp.onClose = { [self] error in
            closed(reason: closeReason ?? error?.description ?? "closed by the server")
        }
        tcp.write(options.version.preamble)
        tcp.startReading()
    }

    // MARK: Sending

    /// Sends a request; `completion` runs on the loop thread with the answer or the error.
    public func send(_ header: RequestHeader, body: [UInt8] = [], timeoutSeconds: Double?,
                     completion: @escaping Completion) {
        var message = header.encoded()
        message.append(contentsOf: body)
        send(message: message, timeoutSeconds: timeoutSeconds, completion: completion)
    }

    /// Sends a message already encoded as header plus body (what a benchmark sends many times).
    public func send(message: [UInt8], timeoutSeconds: Double?, completion: @escaping Completion) {
        eventLoop.assertInLoopThread("VSTConnection.send")
        guard isConnected else {
            completion(.failure(.connectionClosed(reason: closeReason ?? "not connected")))
            return
        }
        var deadline: UInt64?
        if let timeoutSeconds {
            deadline = eventLoop.nowMilliseconds + UInt64(max(0, timeoutSeconds) * 1000)
        }
        let id = pending.add(Pending(completion: completion, deadline: deadline, timeoutSeconds: timeoutSeconds ?? 0))
        if let deadline { armTimer(for: deadline) }
        let version = options.version
        let chunkByteCount = options.chunkByteCount
        tcp.write { output in
            VSTEncoder.encode(messageID: id, message: message, version: version, chunkByteCount: chunkByteCount, into: &output)
        }
    }

    /// Closes the connection; pending requests fail with `connectionClosed`.
    public func close() {
        eventLoop.assertInLoopThread("VSTConnection.close")
        if closeReason == nil { closeReason = "closed by the client" }
        tcp.close()
    }

    // MARK: Receiving

    func received(_ bytes: UnsafeRawBufferPointer) {
        decoder.append(bytes)
        while true {
            guard let message = decoder.nextMessageView(reportingFaultTo: { violation("\($0)") }) else { return }
            // An answer to a request that timed out (or was never sent) is dropped.
            guard let request = pending.remove(message.id) else { continue }
            request.completion(message.withUnsafeBytes { Self.response(from: $0, limits: options.limits) })
            if closeReason != nil { return }
        }
    }

    /// Reads an answer where the decoder holds it: the header is validated and read in place,
    /// and only the body is copied (once), after it was checked.
    static func response(from bytes: UnsafeRawBufferPointer, limits: VSTLimits) -> Result<ClientResponse, ClientError> {
        do throws(VSTError) {
            let message = try BorrowedMessage(bytes, limits: limits)
            let header = try ResponseHeader(message)
            let body = message.body
            guard !body.isEmpty else { return .success(ClientResponse(status: header.responseCode, meta: header.meta, body: nil)) }
            let contentType = header.meta.isEmpty ? "" : header.meta["content-type"] ?? ""
            if contentType.hasPrefix("application/json") {
                var builder = Builder()
                do throws(VPackError) {
                    try JSONParser.parse(body.assumingMemoryBound(to: UInt8.self), into: &builder)
                } catch {
                    return .failure(.protocolViolation("response body is not valid JSON"))
                }
                return .success(ClientResponse(status: header.responseCode, meta: header.meta, body: builder.slice))
            }
            do throws(VPackError) {
                _ = try Validator().validatePrefix(body.assumingMemoryBound(to: UInt8.self))
            } catch {
                return .failure(.protocolViolation("response body is not valid VelocyPack: \(error)"))
            }
            return .success(ClientResponse(status: header.responseCode, meta: header.meta, body: Slice(trustedBytes: Array(body))))
        } catch {
            return .failure(.protocolViolation("\(error)"))
        }
    }

    func violation(_ detail: String) {
        closeReason = "protocol violation: \(detail)"
        for (_, request) in pending.removeAll() {
            request.completion(.failure(.protocolViolation(detail)))
        }
        tcp.close()
    }

    func closed(reason: String) {
        if closeReason == nil { closeReason = reason }
        timeoutTimer?.close()
        timeoutTimer = nil
        for (_, request) in pending.removeAll() {
            request.completion(.failure(.connectionClosed(reason: reason)))
        }
        let onClose = self.onClose
        self.onClose = nil
        onClose?()
    }

    // MARK: Timeouts

    func armTimer(for deadline: UInt64) {
        if let armed = armedDeadline, armed <= deadline { return }
        if timeoutTimer == nil { timeoutTimer = LoopTimer(on: eventLoop) }
        armedDeadline = deadline
        let now = eventLoop.nowMilliseconds
        timeoutTimer!.start(after: deadline > now ? deadline - now : 0) { [self] in expireRequests() }
    }

    func expireRequests() {
        armedDeadline = nil
        let now = eventLoop.nowMilliseconds
        var next: UInt64?
        var expired: [(UInt64, Pending)] = []
        for (id, request) in pending.entries() {
            guard let deadline = request.deadline else { continue }
            if deadline <= now {
                expired.append((id, request))
            } else {
                next = min(next ?? deadline, deadline)
            }
        }
        for (id, _) in expired { _ = pending.remove(id) }
        if let next { armTimer(for: next) }
        for (_, request) in expired.sorted(by: { $0.0 < $1.0 }) {
            request.completion(.failure(.timeout(seconds: request.timeoutSeconds)))
        }
    }
}

/// Opening a client connection: TCP, then the protocol's own first steps (`connected`), all
/// within `timeoutSeconds`; `completion` runs once, on the loop thread. On the timeout the TCP
/// connection, if any, is closed.
package enum ConnectAttempt {
    package static func start<Connection>(
        on eventLoop: EventLoop, to endpoint: Endpoint, timeoutSeconds: Double,
        completion: @escaping (Result<Connection, ClientError>) -> Void,
        connected: @escaping (TCPConnection, _ finish: @escaping (Result<Connection, ClientError>) -> Void) -> Void
    ) {
        var finished = false
        let timer = LoopTimer(on: eventLoop)
        var attempt: TCPConnection?
        let finish: (Result<Connection, ClientError>) -> Void = { result in
            guard !finished else { return }
            finished = true
            timer.close()
            completion(result)
        }
        timer.start(after: UInt64(timeoutSeconds * 1000)) {
            attempt?.close()
            finish(.failure(.connectFailed(endpoint: endpoint.description, reason: "no connection within \(timeoutSeconds) s")))
        }
        TCPConnection.connect(on: eventLoop, to: endpoint) { result in
            switch result {
            case .failure(let error):
                finish(.failure(.connectFailed(endpoint: endpoint.description, reason: error.description)))
            case .success(let tcp):
                guard !finished else { tcp.close(); return }
                attempt = tcp
                connected(tcp, finish)
            }
        }
    }
}
