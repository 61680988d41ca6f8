import Client
import Foundation
import Testing
import TesseraPlatform
@testable import Transport
import VelocyPack
import ArangoAPI
import VelocyStream

/// A client for `server` as root with the empty default password.
func makeClient(_ server: ServerProcess, poolSize: Int = 1, chunkByteCount: Int? = nil,
                credentials: Authentication? = .plain(user: "root", password: "")) -> VSTClient {
    var configuration = VSTClient.Configuration(endpoint: server.endpoint, credentials: credentials)
    configuration.poolSize = poolSize
    configuration.requestTimeoutSeconds = 20
    if let chunkByteCount { configuration.connection.chunkByteCount = chunkByteCount }
    return VSTClient(configuration: configuration)
}

func vpack(_ json: String) -> [UInt8] { try! JSONParser.parse(json).bytes }

/// The request message (header and body) for a raw socket.
func requestMessage(_ method: RequestMethod, _ path: String, body: [UInt8] = []) -> [UInt8] {
    RequestHeader(method: method, path: path).encoded() + body
}

/// Preamble and the plain root authentication message as message 1 of a raw connection.
func authenticatedPreamble() -> [UInt8] {
    VSTVersion.v1_1.preamble + VSTEncoder.encode(messageID: 1, message: Authentication.plain(user: "root", password: "").encoded())
}

/// The status in a raw response message.
func status(of message: VSTMessage) throws -> Int {
    try ResponseHeader(ReceivedMessage(message)).responseCode
}

/// The error body in a raw response message.
func errorBody(of message: VSTMessage) throws -> ArangoError? {
    let received = try ReceivedMessage(message)
    let header = try ResponseHeader(received)
    return ArangoError(status: header.responseCode, body: Slice(trustedBytes: Array(received.body)))
}

@Suite("tessera single over VelocyStream", .serialized)
struct ServerTests {
    @Test func versionAuthenticationAndErrors() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = makeClient(server)
        let version = try await client.request(.get, "/_api/version").checked()
        #expect(version.status == 200)
        #expect(version.body?["server"]?.stringValue == "tessera")
        #expect(version.body?["version"]?.stringValue?.isEmpty == false)
        #expect(version.body?["license"]?.stringValue != nil)

        let unknown = try await client.request(.get, "/_api/does-not-exist")
        #expect(unknown.status == 404)
        #expect(unknown.error?.code == .httpNotFound)
        let wrongMethod = try await client.request(.delete, "/_api/version")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.error?.code == .httpMethodNotAllowed)
        let noDatabase = try await client.request(.get, "/_api/version", database: "nope")
        #expect(noDatabase.error == ArangoError(status: 404, .databaseNotFound, "database not found: 'nope'"))
        let badBody = try await client.request(.post, "/_admin/echo", body: [0x0b, 0x00])
        #expect(badBody.status == 400)
        #expect(badBody.error?.code == .corruptedJSON)
        let badJSON = try await client.request(.post, "/_admin/echo", meta: ["content-type": "application/json"],
                                               body: Array("{\"a\":".utf8))
        #expect(badJSON.error?.code == .corruptedJSON)
        let json = try await client.request(.post, "/_admin/echo", meta: ["content-type": "application/json", "accept": "application/json"],
                                            body: Array("{\"a\":[1,2]}".utf8)).checked()
        #expect(json.meta["content-type"]?.hasPrefix("application/json") == true)
        #expect(json.body?["requestBody"]?["a"]?[1]?.intValue == 2)
        await client.shutdown()

        let wrongPassword = makeClient(server, credentials: .plain(user: "root", password: "wrong"))
        await #expect(throws: ClientError.self) { try await wrongPassword.request(.get, "/_api/version") }
        do {
            _ = try await wrongPassword.request(.get, "/_api/version")
        } catch {
            guard case .authenticationFailed(let refusal) = error else { Issue.record("expected authenticationFailed, got \(error)"); return }
            #expect(refusal.status == 401)
        }
        await wrongPassword.shutdown()

        let anonymous = makeClient(server, credentials: nil)
        let refused = try await anonymous.request(.get, "/_api/version")
        #expect(refused.status == 401)
        #expect(refused.error?.code == .forbidden)
        await anonymous.shutdown()
    }

    @Test func manyConcurrentRequestsOnOneConnection() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = makeClient(server, poolSize: 1)
        let count = 2000
        try await withThrowingTaskGroup(of: (Int, Int64?).self) { group in
            for index in 0..<count {
                group.addTask {
                    let answer = try await client.request(.post, "/_admin/echo", body: vpack("{\"n\":\(index)}")).checked()
                    return (index, answer.body?["requestBody"]?["n"]?.intValue)
                }
            }
            var seen = 0
            for try await (index, echoed) in group {
                #expect(echoed == Int64(index))
                seen += 1
            }
            #expect(seen == count)
        }
        await client.shutdown()
    }

    @Test func tinyChunksCarryLargeBodies() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        // 25-byte chunks: one data byte per chunk.
        let client = makeClient(server, chunkByteCount: 25)
        let text = String(repeating: "tessera-", count: 300)
        let answer = try await client.request(.post, "/_admin/echo", body: vpack("{\"text\":\"\(text)\"}")).checked()
        #expect(answer.body?["requestBody"]?["text"]?.stringValue == text)
        await client.shutdown()
    }

    @Test func answersLeaveAsTheyComplete() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = makeClient(server, poolSize: 1)
        let order = Locked<[String]>([])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // 3 s: room for a full suite's load to delay the fast request's task.
                _ = try? await client.request(.get, "/_admin/sleep", parameters: ["duration": ["3"]])
                order.withLock { $0.append("slow") }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(100))  // the slow one is sent first
                _ = try? await client.request(.get, "/_api/version")
                order.withLock { $0.append("fast") }
            }
        }
        #expect(order.withLock { $0 } == ["fast", "slow"])
        await client.shutdown()
    }

    @Test func interleavedChunksOfTwoMessages() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let socket = try RawSocket(port: server.port)
        let first = VSTEncoder.encode(messageID: 2, message: requestMessage(.post, "/_admin/echo", body: vpack("{\"who\":\"first\"}")), chunkByteCount: 40)
        let second = VSTEncoder.encode(messageID: 3, message: requestMessage(.post, "/_admin/echo", body: vpack("{\"who\":\"second\"}")), chunkByteCount: 40)
        // Split both into their chunks and alternate them on the wire.
        func chunks(_ bytes: [UInt8]) -> [[UInt8]] {
            var result: [[UInt8]] = []
            var offset = 0
            while offset < bytes.count {
                let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
                result.append(Array(bytes[offset..<(offset + length)]))
                offset += length
            }
            return result
        }
        let a = chunks(first), b = chunks(second)
        #expect(a.count > 3 && b.count > 3)
        var wire = authenticatedPreamble()
        for index in 0..<max(a.count, b.count) {
            if index < a.count { wire += a[index] }
            if index < b.count { wire += b[index] }
        }
        socket.send(wire)
        let messages = try socket.readMessages(3)
        #expect(Set(messages.map(\.id)) == [1, 2, 3])
        for message in messages {
            #expect(try status(of: message) == 200)
            let received = try ReceivedMessage(message)
            let body = Slice(trustedBytes: Array(received.body))
            if message.id == 2 { #expect(body["requestBody"]?["who"]?.stringValue == "first") }
            if message.id == 3 { #expect(body["requestBody"]?["who"]?.stringValue == "second") }
        }
    }

    @Test func requestTimeoutLeavesTheConnectionUsable() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = makeClient(server, poolSize: 1)
        do {
            _ = try await client.request(.get, "/_admin/sleep", parameters: ["duration": ["3"]], timeoutSeconds: 0.3)
            Issue.record("the sleep answered within its timeout")
        } catch {
            #expect(error == .timeout(seconds: 0.3))
        }
        let version = try await client.request(.get, "/_api/version").checked()
        #expect(version.status == 200)
        await client.shutdown()
    }

    @Test func clientReconnectsAfterTheServerRestarts() async throws {
        let first = try ServerProcess()
        let port = first.port
        let data = first.dataDirectory
        let client = makeClient(first, poolSize: 2)
        #expect(try await client.request(.get, "/_api/version").status == 200)
        #expect(first.stop() == 0)
        // The old connections are gone; with no server a request fails cleanly.
        do {
            _ = try await client.request(.get, "/_api/version", timeoutSeconds: 2)
            Issue.record("a request succeeded with the server stopped")
        } catch {
            switch error {
            case .connectFailed, .connectionClosed: break
            default: Issue.record("unexpected error \(error)")
            }
        }
        let second = try ServerProcess(port: port, dataDirectory: data)
        defer { second.stop() }
        #expect(try await client.request(.get, "/_api/version").status == 200)
        await client.shutdown()
    }

    @Test func shutdownFinishesRequestsInFlight() async throws {
        let server = try ServerProcess()
        let client = makeClient(server)
        #expect(try await client.request(.get, "/_api/version").status == 200)
        async let slow = client.request(.get, "/_admin/sleep", parameters: ["duration": ["0.7"]])
        try await Task.sleep(for: .milliseconds(200))
        let exit = server.stop(signal: SIGINT)
        let answer = try await slow
        #expect(answer.status == 200)
        #expect(exit == 0)
        #expect(server.output.contains("stopped"))
        await client.shutdown()
    }

    @Test func dataDirectoryIsLockedAgainstASecondServer() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        #expect(throws: ServerProcess.Failure.self) { try ServerProcess(dataDirectory: server.dataDirectory) }
    }
}
