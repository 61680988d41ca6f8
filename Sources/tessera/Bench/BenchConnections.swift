import ArangoAPI
import Client
import Transport
import VelocyPack
import VelocyStream

/// What a benchmark connection reports for each request it sent.
enum BenchAnswer {
    /// An answer arrived: its status, the server's error message when the status is 400 or
    /// more, and when the request left and the answer came (monotonic microseconds).
    case answered(status: Int, errorMessage: String?, sentAt: UInt64, receivedAt: UInt64)
    /// The request got no answer.
    case failed(ClientError, sentAt: UInt64)
}

/// A client connection the load runs on. Answers go to `onAnswer`, one per request sent,
/// on the loop thread.
protocol BenchConnection: AnyObject {
    /// Sends one request message (header and body, encoded); `sentAt` is the clock as the
    /// caller last read it.
    func send(message: [UInt8], sentAt: UInt64)
    var onAnswer: ((BenchAnswer) -> Void)? { get set }
    var isConnected: Bool { get }
    func close()
}

/// A VelocyStream connection made for load: it keeps `pipeline` requests in flight the way
/// `redis-benchmark` does, without what a general client needs per request. There is no
/// completion closure and no response value: each answer is read where the decoder holds it.
/// Nothing is skipped in checking the server's bytes:
/// - the framing goes through ``VSTDecoder``, with its limits;
/// - the answer header is validated strictly and read as ``ResponseHeader`` reads it;
/// - the body is validated as VelocyPack (or parsed, when the server sent JSON);
/// - an answer to an id that waits for none breaks the protocol and closes the connection.
/// Latency is measured per request: from its send to the read that brought its answer
/// (every answer in one read arrived at the same moment, so the clock is read once per read).
///
/// `@unchecked Sendable`: confined to the loop thread.
final class PipelinedVSTConnection: BenchConnection, @unchecked Sendable {
    let tcp: TCPConnection
    let limits: VSTLimits
    var decoder: VSTDecoder
    /// The send time of each request waiting for its answer, by message id.
    var waiting = PendingSendTimes()
    var onAnswer: ((BenchAnswer) -> Void)?
    /// Set while the credentials' answer is awaited; it runs once with the outcome.
    var onAuthenticated: ((Result<Void, ClientError>) -> Void)?
    var closeReason: String?

    init(tcp: TCPConnection, limits: VSTLimits) {
        self.tcp = tcp
        self.limits = limits
        self.decoder = VSTDecoder(version: .v1_1, limits: limits)
    }

    var isConnected: Bool { closeReason == nil && tcp.isConnected }

    /// Connects, sends the preamble and, with credentials, authenticates; `completion` runs on
    /// the loop thread.
    static func connect(on eventLoop: EventLoop, to endpoint: Endpoint, credentials: Authentication?,
                        limits: VSTLimits = .default, timeoutSeconds: Double,
                        completion: @escaping (Result<PipelinedVSTConnection, ClientError>) -> Void) {
        ConnectAttempt.start(on: eventLoop, to: endpoint, timeoutSeconds: timeoutSeconds,
                             completion: completion) { tcp, finish in
            let connection = PipelinedVSTConnection(tcp: tcp, limits: limits)
            connection.start()
            guard let credentials else {
                finish(.success(connection))
                return
            }
            connection.onAuthenticated = { result in
                switch result {
                case .success: finish(.success(connection))
                case .failure(let error):
                    connection.close()
                    finish(.failure(error))
                }
            }
            connection.send(message: credentials.encoded(), sentAt: 0)
        }
    }

    func start() {
        // Requests queued faster than the server answers must not stop this side reading.
        tcp.pausesReadingWhenBacklogged = false
        tcp.onRead = { [self] bytes in received(bytes) }
        tcp.onClose = { [self] error in closed(reason: closeReason ?? error?.description ?? "closed by the server") }
        tcp.write(VSTVersion.v1_1.preamble)
        tcp.startReading()
    }

    func send(message: [UInt8], sentAt: UInt64) {
        guard isConnected else {
            onAnswer?(.failed(.connectionClosed(reason: closeReason ?? "not connected"), sentAt: sentAt))
            return
        }
        let id = waiting.add(sentAt)
        tcp.write { output in
            VSTEncoder.encode(messageID: id, message: message, version: .v1_1, into: &output)
        }
    }

    func close() {
        if closeReason == nil { closeReason = "closed by the client" }
        tcp.close()
    }

    func received(_ bytes: UnsafeRawBufferPointer) {
        decoder.append(bytes)
        let receivedAt = BenchRunner.monotonicMicroseconds()
        while closeReason == nil {
            guard let message = decoder.nextMessageView(reportingFaultTo: { violation("\($0)") }) else { return }
            guard let sentAt = waiting.remove(message.id) else {
                violation("an answer to message \(message.id), which waits for none")
                return
            }
            let answer = message.withUnsafeBytes { Self.read($0, limits: limits) }
            switch answer {
            case .failure(let error):
                // This request's answer was unusable; the connection can no longer be trusted.
                onAnswer?(.failed(error, sentAt: sentAt))
                if case .protocolViolation(let detail) = error { violation(detail) } else { violation(error.description) }
                return
            case .success(let (status, errorMessage)):
                if let onAuthenticated {
                    self.onAuthenticated = nil
                    onAuthenticated(status == 200 ? .success(()) : .failure(.authenticationFailed(
                        ArangoError(status: status, .httpUnauthorized, errorMessage ?? "refused"))))
                } else {
                    onAnswer?(.answered(status: status, errorMessage: errorMessage, sentAt: sentAt, receivedAt: receivedAt))
                }
            }
        }
    }

    /// Checks one answer in place: its status, and the server's error message for a status
    /// of 400 or more.
    static func read(_ bytes: UnsafeRawBufferPointer, limits: VSTLimits) -> Result<(Int, String?), ClientError> {
        do throws(ClientError) {
            let message: BorrowedMessage
            let header: ResponseHeader
            do throws(VSTError) {
                message = try BorrowedMessage(bytes, limits: limits)
                header = try ResponseHeader(message)
            } catch {
                throw .protocolViolation("\(error)")
            }
            let body = message.body.assumingMemoryBound(to: UInt8.self)
            guard !body.isEmpty else { return .success((header.responseCode, nil)) }
            let contentType = header.meta.isEmpty ? "" : header.meta["content-type"] ?? ""
            var errorBody: Slice?
            do throws(VPackError) {
                if contentType.hasPrefix("application/json") {
                    var builder = Builder()
                    try JSONParser.parse(body, into: &builder)
                    errorBody = builder.slice
                } else {
                    _ = try Validator().validatePrefix(body)
                    if header.responseCode >= 400 { errorBody = Slice(trustedBytes: Array(body)) }
                }
            } catch {
                throw .protocolViolation("answer body: \(error)")
            }
            guard header.responseCode >= 400 else { return .success((header.responseCode, nil)) }
            let error = errorBody.flatMap { ArangoError(status: header.responseCode, body: $0) }
            return .success((header.responseCode, error?.message))
        } catch {
            return .failure(error)
        }
    }

    func violation(_ detail: String) {
        closeReason = "protocol violation by the server: \(detail)"
        failWaiting(.protocolViolation(detail))
        tcp.close()
    }

    func closed(reason: String) {
        if closeReason == nil { closeReason = reason }
        failWaiting(.connectionClosed(reason: reason))
    }

    func failWaiting(_ error: ClientError) {
        if let onAuthenticated {
            self.onAuthenticated = nil
            onAuthenticated(.failure(error))
        }
        for (_, sentAt) in waiting.removeAll() { onAnswer?(.failed(error, sentAt: sentAt)) }
    }
}

/// An HTTP/1.1 connection under load (`--http`): the general client, one completion per
/// request (HTTP answers in order, one request at a time on the wire side).
final class HTTPBenchConnection: BenchConnection {
    let connection: HTTPClientConnection
    let timeoutSeconds: Double?
    var onAnswer: ((BenchAnswer) -> Void)?

    init(_ connection: HTTPClientConnection, timeoutSeconds: Double?) {
        self.connection = connection
        self.timeoutSeconds = timeoutSeconds
    }

    var isConnected: Bool { connection.isConnected }
    func close() { connection.close() }

    func send(message: [UInt8], sentAt: UInt64) {
        connection.send(message: message, timeoutSeconds: timeoutSeconds) { [self] result in
            switch result {
            case .success(let response):
                onAnswer?(.answered(status: response.status, errorMessage: response.error?.message, sentAt: sentAt,
                                    receivedAt: BenchRunner.monotonicMicroseconds()))
            case .failure(let error):
                onAnswer?(.failed(error, sentAt: sentAt))
            }
        }
    }
}
