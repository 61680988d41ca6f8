public import Transport
import VelocyStream
import TesseraPlatform
import Logging

/// The request server on an ``EventLoop``: accepts connections, tells VelocyStream from
/// HTTP/1.1 by their first bytes (``ServerConnection``, ``HTTPServerConnection``), decodes
/// their requests, authenticates, routes them to handlers through one route table and sends
/// the answers as they complete.
///
/// Create, start and shut it down on the loop thread (or use ``start(on:configuration:router:)``
/// from anywhere).
///
/// `@unchecked Sendable`: confined to the loop thread (asserted on every entry point).
public final class VSTServer: @unchecked Sendable {
    public let eventLoop: EventLoop
    public let configuration: ServerConfiguration
    public let router: Router
    /// The server's log (slow requests, refused connections).
    let log = ProcessLog.logger("server")
    var listener: TCPListener?
    var connections: [ObjectIdentifier: any ServedConnection] = [:]
    var sweepTimer: LoopTimer?
    var graceTimer: LoopTimer?
    var shutdownWaiters: [() -> Void] = []
    /// Whether ``shutdown(_:)`` began: no new connections, no new requests.
    public private(set) var isShuttingDown = false
    /// Whether shutdown finished (every connection closed, every handler done).
    var isShutDown = false
    /// Async handlers running, on all connections (closed ones included): shutdown waits
    /// for them.
    var inFlightTotal = 0
    /// The port the server listens on (the bound one when the endpoint asked for port 0).
    public private(set) var port: UInt16 = 0

    /// Counters for tests and operators.
    public private(set) var acceptedConnectionCount = 0
    public private(set) var refusedConnectionCount = 0
    public var openConnectionCount: Int { connections.count }

    /// The last path that matched a route without parameters, and that route.
    var lastExactRoute: (path: String, index: Int)?
    /// Whether requests need an authenticated user (outside the open paths). Kept apart from
    /// `configuration.authenticator`: testing that existential for nil copied it every request.
    let requiresAuthentication: Bool

    public init(on eventLoop: EventLoop, configuration: ServerConfiguration, router: Router) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.router = router
        self.requiresAuthentication = configuration.authenticator != nil
    }

    /// Binds and starts accepting connections.
    public func start() throws(TransportError) {
        eventLoop.assertInLoopThread("VSTServer.start")
        let listener = try TCPListener(on: eventLoop, endpoint: configuration.endpoint) { [self] connection in
            accept(connection)
        }
        self.listener = listener
        port = listener.port
        let timer = LoopTimer(on: eventLoop)
        timer.start(after: Self.sweepIntervalMilliseconds, repeatEvery: Self.sweepIntervalMilliseconds) { [self] in
            sweep()
        }
        sweepTimer = timer
    }

    /// Creates and starts a server on `eventLoop`'s thread, from any context.
    public static func start(on eventLoop: EventLoop, configuration: ServerConfiguration,
                             router: Router) async throws(TransportError) -> VSTServer {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<VSTServer, TransportError>, Never>) in
            eventLoop.execute {
                let server = VSTServer(on: eventLoop, configuration: configuration, router: router)
                do throws(TransportError) {
                    try server.start()
                    continuation.resume(returning: .success(server))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// How often idle and message timeouts are checked.
    static let sweepIntervalMilliseconds: UInt64 = 250

    func accept(_ tcp: TCPConnection) {
        guard !isShuttingDown, connections.count < configuration.connectionCountMax else {
            // Nothing can be said before the client's first bytes tell the protocol.
            refusedConnectionCount += 1
            configuration.metrics?.connectionRefused()
            tcp.close()
            return
        }
        acceptedConnectionCount += 1
        configuration.metrics?.connectionOpened(protocol: "unknown")
        let connection = ServerConnection(server: self, tcp: tcp, now: eventLoop.nowMilliseconds)
        connections[ObjectIdentifier(connection)] = connection
        connection.start()
    }

    /// A connection whose first bytes are not VelocyStream's preamble continues as HTTP/1.1
    /// with those bytes.
    func continueAsHTTP(_ sniffer: ServerConnection, firstBytes: [UInt8]) {
        connections[ObjectIdentifier(sniffer)] = nil
        configuration.metrics?.connectionChanged(from: "unknown", to: "http")
        let connection = HTTPServerConnection(server: self, tcp: sniffer.tcp, now: eventLoop.nowMilliseconds)
        connections[ObjectIdentifier(connection)] = connection
        connection.start(firstBytes: firstBytes)
    }

    func connectionClosed(_ connection: any ServedConnection, protocol name: String) {
        connections[ObjectIdentifier(connection)] = nil
        configuration.metrics?.connectionClosed(protocol: name)
        finishShutdownIfDone()
    }

    func requestFinished() { finishShutdownIfDone() }

    func finishShutdownIfDone() {
        if isShuttingDown && !isShutDown && connections.isEmpty && inFlightTotal == 0 { finishShutdown() }
    }

    func sweep() {
        let now = eventLoop.nowMilliseconds
        for connection in Array(connections.values) { connection.checkTimeouts(now: now) }
    }

    /// Stops accepting, lets requests in flight finish (up to the configured grace), sends
    /// their answers, closes every connection, then calls `completion` on the loop thread.
    public func shutdown(_ completion: @escaping () -> Void) {
        eventLoop.assertInLoopThread("VSTServer.shutdown")
        if isShutDown {
            completion()
            return
        }
        shutdownWaiters.append(completion)
        guard !isShuttingDown else { return }
        isShuttingDown = true
        listener?.close()
        listener = nil
        for connection in Array(connections.values) { connection.beginShutdown() }
        let grace = LoopTimer(on: eventLoop)
        grace.start(after: UInt64(configuration.shutdownGraceSeconds * 1000)) { [self] in
            // Handlers still running after the grace are abandoned: their answers have no
            // connection left to go to.
            for connection in Array(connections.values) { connection.forceClose() }
            if !isShutDown { finishShutdown() }
        }
        graceTimer = grace
        finishShutdownIfDone()
    }

    /// ``shutdown(_:)`` from any context. Returns at once when the loop already stopped.
    public func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = eventLoop.execute { [self] in shutdown { continuation.resume() } }
            if !accepted { continuation.resume() }
        }
    }

    func finishShutdown() {
        isShutDown = true
        sweepTimer?.close()
        sweepTimer = nil
        graceTimer?.close()
        graceTimer = nil
        let waiters = shutdownWaiters
        shutdownWaiters = []
        for waiter in waiters { waiter() }
    }
}

/// What the server asks of every connection, whatever its protocol.
protocol ServedConnection: AnyObject {
    /// Closes a connection whose peer owes bytes for too long, or that has been idle too long.
    func checkTimeouts(now: UInt64)
    /// Stops taking requests; closes once the ones in progress are answered.
    func beginShutdown()
    func forceClose()
}
