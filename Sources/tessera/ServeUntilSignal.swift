import ArgumentParser
import Server
import Transport
import TesseraPlatform

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What every server role does once its router is ready: listen, print the line tests and
/// scripts wait for, serve until SIGINT or SIGTERM, then finish the requests in flight.
enum ServeUntilSignal {
    /// A new event loop, with libuv's thread pool sized for a server first.
    static func makeLoop() -> EventLoop {
        EventLoop.sizeThreadPool()
        return EventLoop()
    }

    /// Listens on `endpoint` with `configuration` and `router` until a signal; `started`
    /// runs on the loop thread once listening, `stopping` on the loop thread when the signal
    /// came (before in-flight requests are finished). Returns after the loop has stopped.
    /// Every role serves `GET /_admin/metrics/v2` from `metrics` (which the role may have
    /// given collectors of its own).
    static func run(role: String, on loop: EventLoop, endpoint: String, detail: String, configuration: ServerConfiguration,
                    router: Router, metrics: Metrics = Metrics(), started: @escaping @Sendable (EventLoop) -> Void = { _ in },
                    stopping: @escaping @Sendable () -> Void = {}) async throws {
        var configuration = configuration
        configuration.metrics = metrics
        var router = router
        MetricsRoutes.register(in: &router, metrics: metrics)
        let server: VSTServer
        do {
            server = try await VSTServer.start(on: loop, configuration: configuration, router: router)
        } catch {
            ProcessLog.logger(role).critical("cannot listen on \(endpoint): \(error)")
            loop.shutdown()
            throw ExitCode(1)
        }
        let port = await withCheckedContinuation { continuation in
            loop.execute { continuation.resume(returning: server.port) }
        }
        var listening = Endpoint(endpoint)!
        listening.port = port
        // Tests and scripts wait for this line (and read the port from it).
        print("tessera \(role): listening on \(listening), \(detail)")
        ProcessLog.logger(role).info("listening on \(listening), \(detail)")
        fflush(nil)  // flushes stdout (naming the C global is not concurrency-safe)

        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute {
                started(loop)
                var watchers: [SignalWatcher] = []
                var stopped = false
                for signal in [SIGINT, SIGTERM] {
                    let watcher = try? SignalWatcher(on: loop, signal: signal) { number in
                        guard !stopped else { return }
                        stopped = true
                        ProcessLog.logger(role).notice("signal \(number), finishing requests in flight")
                        stopping()
                        server.shutdown {
                            for watcher in watchers { watcher.close() }
                            continuation.resume()
                        }
                    }
                    if let watcher { watchers.append(watcher) }
                }
            }
        }
        loop.shutdown()
    }
}
