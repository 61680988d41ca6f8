import Client
import Testing
import VelocyPack
import ArangoAPI
import VelocyStream
@testable import Server
@testable import Transport

/// Server and client on loops in this process: the async-handler and thread-pool paths.
@Suite("server and client in one process")
struct InProcessTests {
    @Test func asyncHandlersUseTheThreadPoolAndAnswerOutOfOrder() async throws {
        let loop = EventLoop()
        defer { loop.shutdown() }
        var router = Router()
        // CPU work on the pool: sum 1...n off the loop thread, then answer from the loop.
        router.addAsync(.get, "/sum") { request throws(ArangoError) in
            guard let n = request.parameter("n").flatMap(Int.init), n >= 0 else {
                throw ArangoError(status: 400, .httpBadParameter, "n must be a number")
            }
            let onPoolThread = await loop.offload { (Array(1...max(n, 1)).reduce(0, +), loop.inLoopThread) }
            var builder = Builder()
            builder.openObject()
            builder.add(key: "sum", onPoolThread.0)
            builder.add(key: "onLoop", onPoolThread.1)
            try! builder.close()
            return ServerResponse(status: 200, builder)
        }
        router.addAsync(.get, "/wait") { _ in
            try? await Task.sleep(for: .milliseconds(300))
            return ServerResponse(status: 204)
        }
        var configuration = ServerConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        configuration.authenticator = StaticUsers(["root": "pw"])
        let server = try await VSTServer.start(on: loop, configuration: configuration, router: router)
        let port = await withCheckedContinuation { continuation in loop.execute { continuation.resume(returning: server.port) } }

        let client = VSTClient(configuration: VSTClient.Configuration(
            endpoint: Endpoint(host: "127.0.0.1", port: port), credentials: .plain(user: "root", password: "pw")))
        async let slow = client.request(.get, "/wait")
        let sum = try await client.request(.get, "/sum", parameters: ["n": ["1000"]]).checked()
        #expect(sum.body?["sum"]?.intValue == 500_500)
        #expect(sum.body?["onLoop"]?.boolValue == false)
        let bad = try await client.request(.get, "/sum", parameters: ["n": ["x"]])
        #expect(bad.status == 400)
        #expect(try await slow.status == 204)
        await client.shutdown()
        await server.shutdown()
        let open = await withCheckedContinuation { continuation in loop.execute { continuation.resume(returning: server.openConnectionCount) } }
        #expect(open == 0)
    }

    @Test func failuresAreReportedNotHung() async throws {
        // A host name that is not an address fails inside the connect call itself.
        let client = VSTClient(configuration: VSTClient.Configuration(endpoint: Endpoint(host: "not-an-address", port: 1)))
        let outcome = await withTaskGroup(of: String.self) { group in
            group.addTask {
                do {
                    _ = try await client.request(.get, "/_api/version")
                    return "answered"
                } catch {
                    if case ClientError.connectFailed = error { return "connectFailed" }
                    return "\(error)"
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                return "hung"
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        #expect(outcome == "connectFailed")
        await client.shutdown()
        // After shutdown, requests fail at once and a second shutdown returns.
        do {
            _ = try await client.request(.get, "/_api/version")
            Issue.record("a request after shutdown was answered")
        } catch {
            #expect(error == .shutDown)
        }
        await client.shutdown()
    }
}
