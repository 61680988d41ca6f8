public import Transport
public import VelocyPack
public import VelocyStream

/// The Swift driver: async/await requests to one Tessera server over a small pool of
/// multiplexed VelocyStream connections.
///
/// Connections are opened on demand (up to ``Configuration/poolSize``) and a closed one is
/// replaced by the next request, so a client survives a server restart: requests in flight
/// on the old connection fail with ``ClientError/connectionClosed(reason:)``, later ones
/// reconnect. Call ``shutdown()`` when done.
public final class VSTClient: Sendable {
    public struct Configuration: Sendable {
        public var endpoint: Endpoint
        /// The database requests name unless they say otherwise.
        public var database = "_system"
        /// Sent on every new connection; `nil` sends none (a server with authentication off).
        public var credentials: Authentication?
        /// The most connections open at once; a new one is opened only while every open one
        /// has requests in flight.
        public var poolSize = 4
        /// Default for requests that give none; `nil` waits forever.
        public var requestTimeoutSeconds: Double? = 60
        /// Connection-level options (VST version, chunk size, limits, connect timeout).
        public var connection = VSTConnection.Options()

        public init(endpoint: Endpoint, credentials: Authentication? = nil) {
            self.endpoint = endpoint
            self.credentials = credentials
        }
    }

    public let configuration: Configuration
    public let eventLoop: EventLoop
    let ownsLoop: Bool
    let pool: ConnectionPool

    /// A client on its own loop thread (`eventLoop` nil) or on a loop the caller owns.
    public init(configuration: Configuration, eventLoop: EventLoop? = nil) {
        self.configuration = configuration
        self.ownsLoop = eventLoop == nil
        let loop = eventLoop ?? EventLoop()
        self.eventLoop = loop
        var connectionOptions = configuration.connection
        connectionOptions.credentials = configuration.credentials
        self.pool = ConnectionPool(eventLoop: loop, endpoint: configuration.endpoint,
                                   options: connectionOptions, size: configuration.poolSize)
    }

    /// Sends one request and returns the answer, whatever its status (see
    /// ``ClientResponse/checked()`` to turn error answers into thrown errors).
    public func request(
        _ method: RequestMethod, _ path: String, parameters: [String: [String]] = [:],
        meta: [String: String] = [:], body: [UInt8] = [], database: String? = nil,
        timeoutSeconds: Double?? = .none
    ) async throws(ClientError) -> ClientResponse {
        let header = RequestHeader(database: database ?? configuration.database, method: method, path: path,
                                   parameters: parameters, meta: meta)
        let message = header.encoded() + body
        let timeout = timeoutSeconds ?? configuration.requestTimeoutSeconds
        let pool = self.pool
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<ClientResponse, ClientError>, Never>) in
            let accepted = pool.eventLoop.execute {
                pool.send(message: message, timeoutSeconds: timeout) { continuation.resume(returning: $0) }
            }
            if !accepted { continuation.resume(returning: .failure(.shutDown)) }
        }
        return try result.get()
    }

    /// Sends one request and calls `completion` with the answer, whatever its status. On the
    /// client's loop thread the request goes out at once and `completion` runs on that thread
    /// when the answer arrives: no task, no thread change (a server forwarding requests on the
    /// same loop, as a coordinator does); from any other thread it hops to the loop first.
    public func send(
        _ method: RequestMethod, _ path: String, parameters: [String: [String]] = [:],
        meta: [String: String] = [:], body: [UInt8] = [], database: String? = nil,
        timeoutSeconds: Double?? = .none,
        completion: @escaping @Sendable (Result<ClientResponse, ClientError>) -> Void
    ) {
        let header = RequestHeader(database: database ?? configuration.database, method: method, path: path,
                                   parameters: parameters, meta: meta)
        let message = header.encoded() + body
        let timeout = timeoutSeconds ?? configuration.requestTimeoutSeconds
        let pool = self.pool
        if pool.eventLoop.inLoopThread {
            pool.send(message: message, timeoutSeconds: timeout, completion: completion)
        } else if !pool.eventLoop.execute({ pool.send(message: message, timeoutSeconds: timeout, completion: completion) }) {
            completion(.failure(.shutDown))
        }
    }

    /// Sends `body` as the request body.
    public func request(
        _ method: RequestMethod, _ path: String, parameters: [String: [String]] = [:],
        meta: [String: String] = [:], body: Slice, database: String? = nil,
        timeoutSeconds: Double?? = .none
    ) async throws(ClientError) -> ClientResponse {
        try await request(method, path, parameters: parameters, meta: meta, body: Array(body.bytes),
                          database: database, timeoutSeconds: timeoutSeconds)
    }

    /// A client that owns its loop and was not shut down still stops its loop thread.
    deinit {
        if ownsLoop && !eventLoop.inLoopThread { eventLoop.shutdown() }
    }

    /// Closes every connection (requests in flight fail) and, when the client
    /// made its own loop, stops it.
    public func shutdown() async {
        let pool = self.pool
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = pool.eventLoop.execute {
                pool.shutdown()
                continuation.resume()
            }
            if !accepted { continuation.resume() }  // the loop is stopped: nothing is open
        }
        if ownsLoop { eventLoop.shutdown() }
    }
}

/// The client's connections, on the loop thread.
///
/// `@unchecked Sendable`: confined to the loop thread; ``VSTClient`` reaches it only through
/// ``EventLoop/execute(_:)``.
final class ConnectionPool: @unchecked Sendable {
    let eventLoop: EventLoop
    let endpoint: Endpoint
    let options: VSTConnection.Options
    let size: Int
    var connections: [VSTConnection] = []
    var connecting = 0
    /// Requests waiting for a first connection.
    var waiting: [(message: [UInt8], timeoutSeconds: Double?, completion: VSTConnection.Completion)] = []
    var isShutDown = false

    init(eventLoop: EventLoop, endpoint: Endpoint, options: VSTConnection.Options, size: Int) {
        self.eventLoop = eventLoop
        self.endpoint = endpoint
        self.options = options
        self.size = max(1, size)
    }

    func send(message: [UInt8], timeoutSeconds: Double?, completion: @escaping VSTConnection.Completion) {
        guard !isShutDown else {
            completion(.failure(.shutDown))
            return
        }
        let least = connections.min { $0.pendingCount < $1.pendingCount }
        let wantsAnother = (least == nil || least!.pendingCount > 0) && connections.count + connecting < size
        if let least {
            least.send(message: message, timeoutSeconds: timeoutSeconds, completion: completion)
        } else {
            waiting.append((message, timeoutSeconds, completion))
        }
        // After queueing: a connect that fails at once must find the request waiting.
        if wantsAnother { openConnection() }
    }

    func openConnection() {
        connecting += 1
        VSTConnection.connect(on: eventLoop, to: endpoint, options: options) { [self] result in
            connecting -= 1
            switch result {
            case .success(let connection):
                guard !isShutDown else {
                    connection.close()
                    return
                }
                connection.onClose = { [self, unowned connection] in
                    connections.removeAll { $0 === connection }
                }
                connections.append(connection)
                let ready = waiting
                waiting.removeAll()
                for request in ready {
                    connection.send(message: request.message, timeoutSeconds: request.timeoutSeconds,
                                    completion: request.completion)
                }
            case .failure(let error):
                // Only when no connection is left to carry them do the waiting requests fail.
                guard connections.isEmpty && connecting == 0 else { return }
                let failed = waiting
                waiting.removeAll()
                for request in failed { request.completion(.failure(error)) }
            }
        }
    }

    func shutdown() {
        isShutDown = true
        let failed = waiting
        waiting.removeAll()
        for request in failed { request.completion(.failure(.shutDown)) }
        for connection in connections { connection.close() }
        connections.removeAll()
    }
}
