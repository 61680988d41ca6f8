import Testing
@testable import Transport

@Suite("graceful close and thread-pool offload")
struct GracefulCloseTests {
    /// A server that writes `payload` in many pieces and closes right after queuing them: the
    /// peer must receive every byte before the end of stream.
    @Test func closeAfterWritingSendsEverythingQueuedFirst() async throws {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let payload = (0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        let received: [UInt8]? = await onLoop(loop, seconds: 30) { loop, finish in
            do {
                let listener = try TCPListener(on: loop, endpoint: Endpoint(host: "127.0.0.1", port: 0)) { server in
                    var offset = 0
                    while offset < payload.count {
                        let end = min(offset + 65_536, payload.count)
                        server.write { $0.append(contentsOf: payload[offset..<end]) }
                        offset = end
                    }
                    server.closeAfterWriting()
                    // Writes after the close request are ignored, not sent.
                    server.write([0xff])
                }
                TCPConnection.connect(on: loop, to: Endpoint(host: "127.0.0.1", port: listener.port)) { result in
                    guard case .success(let client) = result else {
                        Issue.record("connect failed: \(result)")
                        return finish([])
                    }
                    var bytes: [UInt8] = []
                    client.onRead = { bytes.append(contentsOf: $0) }
                    client.onClose = { error in
                        #expect(error == nil)
                        listener.close()
                        finish(bytes)
                    }
                    client.startReading()
                }
            } catch {
                Issue.record("listen failed: \(error)")
                finish([])
            }
        }
        let same = received == payload  // not inside #expect: it would print megabytes
        #expect(received?.count == payload.count)
        #expect(same)
    }

    @Test func offloadedWorkRunsOffTheLoopAndCompletesOnIt() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let results: [Int]? = await onLoop(loop) { loop, finish in
            var finished: [Int] = []
            for index in 0..<16 {
                loop.offload({ () -> (Int, Bool) in
                    (index * index, loop.inLoopThread)
                }, then: { value in
                    #expect(value.1 == false, "work ran on the loop thread")
                    #expect(loop.inLoopThread, "completion ran off the loop thread")
                    finished.append(value.0)
                    if finished.count == 16 { finish(finished.sorted()) }
                })
            }
        }
        #expect(results == (0..<16).map { $0 * $0 })
        let viaAsync = await loop.offload { 6 * 7 }
        #expect(viaAsync == 42)
    }
}
