import ArangoAPI
import Client
import Transport
import VelocyPack
import VelocyStream

/// One VelocyStream connection per other DBServer, on the DBServer's event loop, for the
/// replication stream. One connection per peer keeps a shard's batches in order: the
/// follower's server handles a connection's requests in the order they arrive.
///
/// `@unchecked Sendable`: confined to the loop thread.
final class PeerLinks: @unchecked Sendable {
    typealias Completion = (Result<Slice, ArangoError>) -> Void

    final class Link {
        var connection: VSTConnection?
        var connecting = false
        /// Requests waiting for the connection.
        var queued: [(message: [UInt8], timeout: Double, completion: Completion)] = []
    }

    let loop: EventLoop
    let token: String
    /// The endpoint of a DBServer, looked up when a link (re)connects.
    let endpoint: @Sendable (String) -> Endpoint?
    var links: [String: Link] = [:]

    init(loop: EventLoop, token: String, endpoint: @escaping @Sendable (String) -> Endpoint?) {
        self.loop = loop
        self.token = token
        self.endpoint = endpoint
    }

    /// Sends `body` to `path` on `server` (database `database`); `completion` runs on the loop
    /// with the answer body of a 2xx answer, or the error (the peer's, or a transport one).
    func send(to server: String, database: String, path: String, body: [UInt8], timeoutSeconds: Double,
              completion: @escaping Completion) {
        loop.assertInLoopThread("PeerLinks.send")
        let header = RequestHeader(database: database, method: .post, path: path, meta: ["content-type": "application/x-velocypack"])
        var message = header.encoded()
        message.append(contentsOf: body)
        let link = links[server] ?? Link()
        links[server] = link
        if let connection = link.connection, connection.isConnected {
            transmit(message, on: connection, timeout: timeoutSeconds, completion: completion)
            return
        }
        link.queued.append((message, timeoutSeconds, completion))
        guard !link.connecting else { return }
        guard let endpoint = endpoint(server) else {
            fail(link, ArangoError(status: 503, .clusterBackendUnavailable, "DBServer \(server) has no registered endpoint"))
            return
        }
        link.connecting = true
        var options = VSTConnection.Options(credentials: .jwt(token: token))
        options.connectTimeoutSeconds = 2
        VSTConnection.connect(on: loop, to: endpoint, options: options) { [self] result in
            link.connecting = false
            switch result {
            case .success(let connection):
                link.connection = connection
                let queued = link.queued
                link.queued = []
                for request in queued { transmit(request.message, on: connection, timeout: request.timeout, completion: request.completion) }
            case .failure(let error):
                fail(link, ArangoError(status: 503, .clusterBackendUnavailable, "cannot reach DBServer \(server): \(error)"))
            }
        }
    }

    func transmit(_ message: [UInt8], on connection: VSTConnection, timeout: Double, completion: @escaping Completion) {
        connection.send(message: message, timeoutSeconds: timeout) { result in
            switch result {
            case .success(let response):
                if let error = response.error {
                    completion(.failure(error))
                } else if (200..<300).contains(response.status) {
                    completion(.success(response.body ?? Slice(trustedBytes: [0x0a])))
                } else {
                    completion(.failure(ArangoError(status: response.status, .httpServerError, "answer status \(response.status)")))
                }
            case .failure(let error):
                completion(.failure(ArangoError(status: 503, .clusterBackendUnavailable, "\(error)")))
            }
        }
    }

    func fail(_ link: Link, _ error: ArangoError) {
        let queued = link.queued
        link.queued = []
        for request in queued { request.completion(.failure(error)) }
    }

    /// Closes every link (the server stops).
    func closeAll() {
        for link in links.values { link.connection?.close() }
        links.removeAll()
    }
}
