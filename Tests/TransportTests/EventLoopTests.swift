import Testing
import TesseraPlatform
@testable import Transport

/// Waits for `body` to call its completion on the loop, or fails after `seconds`; the
/// timeout is a loop timer, so a test can never hang.
func onLoop<T: Sendable>(_ loop: EventLoop, seconds: UInt64 = 10,
                         _ body: @escaping @Sendable (EventLoop, @escaping (T) -> Void) -> Void) async -> T? {
    await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
        loop.execute {
            var finished = false
            let timer = LoopTimer(on: loop)
            timer.start(after: seconds * 1000) {
                guard !finished else { return }
                finished = true
                timer.close()
                continuation.resume(returning: nil)
            }
            body(loop) { value in
                guard !finished else { return }
                finished = true
                timer.close()
                continuation.resume(returning: value)
            }
        }
    }
}

/// Jobs' records from many threads.
final class Recorder: Sendable {
    let seen = Locked<[Int: [Int]]>([:])
}

/// An actor whose methods run on the event loop's thread.
actor LoopBound {
    let loop: EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    var counter = 0
    init(loop: EventLoop) { self.loop = loop }
    func increment() -> (Int, Bool) {
        counter += 1
        return (counter, loop.inLoopThread)
    }
}

@Suite("Event loop")
struct EventLoopTests {
    @Test func jobsFromManyThreadsRunOnTheLoopThreadInOrder() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let recorder = Recorder()
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<4 {
                group.addTask {
                    for i in 0..<500 {
                        loop.execute {
                            precondition(loop.inLoopThread)
                            recorder.seen.withLock { $0[producer, default: []].append(i) }
                        }
                    }
                }
            }
        }
        let done: Bool? = await onLoop(loop) { _, finish in finish(true) }
        #expect(done == true)
        let results = recorder.seen.withLock { $0 }
        for producer in 0..<4 { #expect(results[producer] == Array(0..<500)) }
    }

    @Test func timersFireInDeadlineOrderAndRepeat() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let order: [String]? = await onLoop(loop) { loop, finish in
            var fired: [String] = []
            let late = LoopTimer(on: loop)
            let early = LoopTimer(on: loop)
            let repeating = LoopTimer(on: loop)
            late.start(after: 60) {
                fired.append("late")
                late.close()
                finish(fired)
            }
            early.start(after: 10) {
                fired.append("early")
                early.close()
            }
            var count = 0
            repeating.start(after: 5, repeatEvery: 5) {
                count += 1
                fired.append("tick")
                if count == 3 { repeating.close() }
            }
        }
        #expect(order?.filter { $0 != "tick" } == ["early", "late"])
        #expect(order?.filter { $0 == "tick" }.count == 3)
    }

    @Test func actorsRunOnTheLoopThroughItsExecutor() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let actor = LoopBound(loop: loop)
        for expected in 1...50 {
            let (value, onLoopThread) = await actor.increment()
            #expect(value == expected)
            #expect(onLoopThread)
        }
    }

    @Test func endpointsParse() {
        #expect(Endpoint("tcp://127.0.0.1:8529") == Endpoint(host: "127.0.0.1", port: 8529))
        #expect(Endpoint("localhost:1") == Endpoint(host: "localhost", port: 1))
        #expect(Endpoint("tcp://[::1]:80") == Endpoint(host: "::1", port: 80))
        #expect(Endpoint("tcp://127.0.0.1") == nil)
        #expect(Endpoint(":80") == nil)
        #expect(Endpoint("tcp://127.0.0.1:70000") == nil)
        #expect(Endpoint(host: "::1", port: 80).description == "tcp://[::1]:80")
    }
}

@Suite("TCP on loopback")
struct TCPTests {
    /// Starts an echo server; returns its port.
    static func startEcho(_ loop: EventLoop) async -> UInt16? {
        await onLoop(loop) { loop, finish in
            do {
                let listener = try TCPListener(on: loop, endpoint: Endpoint(host: "127.0.0.1", port: 0)) { connection in
                    connection.onRead = { bytes in connection.write(Array(bytes)) }
                    connection.startReading()
                }
                finish(listener.port)
            } catch {
                Issue.record("listen failed: \(error)")
                finish(0)
            }
        }
    }

    @Test func echoOfManyMegabytesArrivesWholeAndInOrder() async throws {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let port = try #require(await Self.startEcho(loop))
        #expect(port != 0)
        let payload = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let received: [UInt8]? = await onLoop(loop, seconds: 30) { loop, finish in
            TCPConnection.connect(on: loop, to: Endpoint(host: "127.0.0.1", port: port)) { result in
                guard case .success(let connection) = result else {
                    Issue.record("connect failed: \(result)")
                    return finish([])
                }
                var echoed: [UInt8] = []
                echoed.reserveCapacity(payload.count)
                connection.onRead = { bytes in
                    echoed.append(contentsOf: bytes)
                    if echoed.count == payload.count {
                        connection.close()
                        finish(echoed)
                    }
                }
                connection.startReading()
                // Many writes, queued faster than the peer reads: exercises backpressure.
                var offset = 0
                while offset < payload.count {
                    let end = min(offset + 100_000, payload.count)
                    connection.write(Array(payload[offset..<end]))
                    offset = end
                }
            }
        }
        #expect(received?.count == payload.count)
        #expect(received == payload)
    }

    @Test func connectingToAClosedPortFails() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        // Bind a port, then close it, so nothing listens there.
        let port: UInt16? = await onLoop(loop) { loop, finish in
            let listener = try? TCPListener(on: loop, endpoint: Endpoint(host: "127.0.0.1", port: 0)) { _ in }
            let port = listener?.port ?? 0
            listener?.close()
            finish(port)
        }
        let failure: String? = await onLoop(loop) { loop, finish in
            TCPConnection.connect(on: loop, to: Endpoint(host: "127.0.0.1", port: port ?? 1)) { result in
                switch result {
                case .success(let connection):
                    connection.close()
                    finish("connected")
                case .failure(let error):
                    finish(error.description)
                }
            }
        }
        #expect(failure?.contains("ECONNREFUSED") == true)
    }

    @Test func bindingAnInvalidAddressIsAnError() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let message: String? = await onLoop(loop) { loop, finish in
            do {
                _ = try TCPListener(on: loop, endpoint: Endpoint(host: "not-an-address", port: 0)) { _ in }
                finish("bound")
            } catch {
                finish("\(error)")
            }
        }
        #expect(message?.contains("EINVAL") == true)
    }

    @Test func peerCloseIsReportedOnceAndShutdownClosesEverything() async throws {
        let loop = EventLoop()
        let port = try #require(await Self.startEcho(loop))
        let closes: Int? = await onLoop(loop) { loop, finish in
            TCPConnection.connect(on: loop, to: Endpoint(host: "127.0.0.1", port: port)) { result in
                guard case .success(let connection) = result else { return finish(-1) }
                var count = 0
                connection.onClose = { error in
                    count += 1
                    #expect(error == nil)
                }
                connection.close()
                connection.close()
                finish(count)
            }
        }
        #expect(closes == 1)
        // A connection left open is closed by shutdown, which must return.
        let _: Bool? = await onLoop(loop) { loop, finish in
            TCPConnection.connect(on: loop, to: Endpoint(host: "127.0.0.1", port: port)) { _ in finish(true) }
        }
        loop.shutdown()
        loop.shutdown()
    }
}
