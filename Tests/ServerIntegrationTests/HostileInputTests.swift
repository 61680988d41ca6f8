import Client
import Foundation
import Testing
import VelocyPack
import ArangoAPI
import VelocyStream

/// Bytes no well-behaved client sends. Each case gets an error answer or a clean close, and
/// the server keeps serving everyone else.
@Suite("hostile input", .serialized)
struct HostileInputTests {
    /// A chunk header for a single-chunk message with arbitrary fields.
    static func chunkHeader(length: UInt32, messageID: UInt64 = 7, messageLength: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        ChunkHeader(length: length, isFirst: true, countOrIndex: 1, messageID: messageID, messageLength: messageLength).write(into: &bytes)
        return bytes
    }

    /// Sends `bytes` on a new connection and returns what came back before the server closed
    /// it (`nil`: it stayed open), then checks that the server still answers a normal client.
    static func exchange(_ server: ServerProcess, _ bytes: [UInt8], timeoutSeconds: Int = 10) async throws -> [UInt8]? {
        let socket = try RawSocket(port: server.port, receiveTimeoutSeconds: timeoutSeconds)
        socket.send(bytes)
        let answer = socket.readUntilClosed()
        try await expectServing(server)
        return answer
    }

    static func expectServing(_ server: ServerProcess) async throws {
        let client = makeClient(server)
        let version = try await client.request(.get, "/_api/version")
        #expect(version.status == 200)
        await client.shutdown()
    }

    /// The one error answer in `bytes` (a response stream without preamble).
    static func singleError(_ bytes: [UInt8]) throws -> ArangoError? {
        var decoder = VSTDecoder(version: .v1_1)
        decoder.append(bytes)
        var messages: [VSTMessage] = []
        while let message = try decoder.nextMessage() { messages.append(message) }
        let answers = messages.filter { $0.id != 1 }  // 1 is the authentication answer
        #expect(answers.count == 1)
        return try answers.first.flatMap(errorBody(of:))
    }

    @Test func everyCaseIsAnsweredOrClosedAndOthersAreServed() async throws {
        let server = try ServerProcess(arguments: ["--message-timeout", "1"])
        defer { server.stop() }
        // A preamble of an unknown version: closed without an answer (an HTTP request on the
        // same port is served as HTTP instead: HTTPFrontTests).
        let unknownVersion = try await Self.exchange(server, Array("VST/1.7\r\n\r\n".utf8))
        #expect(unknownVersion == [])
        // A chunk length below the header size.
        let short = try await Self.exchange(server, authenticatedPreamble() + Self.chunkHeader(length: 10, messageLength: 10) + [1, 2])
        #expect(short != nil)
        // A chunk length above the chunk limit (1 MiB by default).
        let long = try await Self.exchange(server, authenticatedPreamble() + Self.chunkHeader(length: 64 << 20, messageLength: 64 << 20))
        #expect(long != nil)
        // A message length that disagrees with the single chunk carrying it.
        let body = requestMessage(.get, "/_api/version")
        let mismatch = try await Self.exchange(
            server, authenticatedPreamble() + Self.chunkHeader(length: UInt32(24 + body.count), messageLength: UInt64(body.count + 100)) + body)
        #expect(mismatch != nil)
        // A header that is not an array: a 400 answer, then the close.
        let object = try await Self.exchange(server, authenticatedPreamble() + VSTEncoder.encode(messageID: 7, message: vpack("{\"a\":1}")))
        let objectError = try Self.singleError(try #require(object))
        #expect(objectError?.status == 400)
        #expect(objectError?.code == .httpBadParameter)
        // A header that is not valid VelocyPack: 400 / 600, then the close.
        let invalid = try await Self.exchange(server, authenticatedPreamble() + VSTEncoder.encode(messageID: 7, message: [0x06, 0x40, 0x02]))
        let invalidError = try Self.singleError(try #require(invalid))
        #expect(invalidError?.status == 400)
        #expect(invalidError?.code == .corruptedJSON)
        // A response sent to the server.
        let response = try await Self.exchange(server, authenticatedPreamble() + VSTEncoder.encode(messageID: 7, message: ResponseHeader(responseCode: 200).encoded()))
        #expect(try Self.singleError(try #require(response))?.status == 400)
        // A malformed authentication message.
        var builder = Builder()
        builder.openArray(); builder.add(Int64(1)); builder.add(Int64(1000)); builder.add("kerberos"); try builder.close()
        let auth = try await Self.exchange(server, VSTVersion.v1_1.preamble + VSTEncoder.encode(messageID: 9, message: builder.bytes))
        var decoder = VSTDecoder(version: .v1_1)
        decoder.append(try #require(auth))
        let authAnswer = try #require(try decoder.nextMessage())
        #expect(try status(of: authAnswer) == 400)
    }

    @Test func aPeerThatStopsMidChunkIsClosedAfterTheMessageTimeout() async throws {
        let server = try ServerProcess(arguments: ["--message-timeout", "1"])
        defer { server.stop() }
        let message = VSTEncoder.encode(messageID: 7, message: requestMessage(.get, "/_api/version"))
        let socket = try RawSocket(port: server.port, receiveTimeoutSeconds: 10)
        socket.send(authenticatedPreamble() + message.prefix(30))
        // Meanwhile everyone else is served.
        try await HostileInputTests.expectServing(server)
        let started = Date()
        let answer = socket.readUntilClosed()
        #expect(answer != nil, "the stalled connection was never closed")
        #expect(Date().timeIntervalSince(started) < 8)

        // So is one that sends the first whole chunk of a two-chunk message and stops (the
        // decoder then holds a partial message, not unread bytes).
        let twoChunks = VSTEncoder.encode(messageID: 8, message: requestMessage(.post, "/_admin/echo", body: vpack("{\"pad\":\"\(String(repeating: "x", count: 100))\"}")), chunkByteCount: 100)
        let firstChunkLength = Int(twoChunks[0]) | Int(twoChunks[1]) << 8
        #expect(firstChunkLength < twoChunks.count)
        let partial = try RawSocket(port: server.port, receiveTimeoutSeconds: 10)
        partial.send(authenticatedPreamble() + twoChunks.prefix(firstChunkLength))
        let partialStarted = Date()
        #expect(partial.readUntilClosed() != nil, "a connection holding a partial message was never closed")
        #expect(Date().timeIntervalSince(partialStarted) < 8)

        // A stalled preamble is closed the same way.
        let silent = try RawSocket(port: server.port, receiveTimeoutSeconds: 10)
        silent.send(Array("VST/1".utf8))
        #expect(silent.readUntilClosed() == [])

        // A peer that vanishes mid-message leaves nothing behind.
        do {
            let vanishing = try RawSocket(port: server.port)
            vanishing.send(authenticatedPreamble() + message.prefix(30))
        }
        try await HostileInputTests.expectServing(server)
    }

    @Test func connectionLimitAndIdleTimeout() async throws {
        let server = try ServerProcess(arguments: ["--max-connections", "2", "--idle-timeout", "1"])
        defer { server.stop() }
        let first = try RawSocket(port: server.port, receiveTimeoutSeconds: 5)
        first.send(authenticatedPreamble())
        let second = try RawSocket(port: server.port, receiveTimeoutSeconds: 5)
        second.send(authenticatedPreamble())
        _ = try first.readMessages(1)
        _ = try second.readMessages(1)
        // The third is over the limit: closed at once.
        let third = try RawSocket(port: server.port, receiveTimeoutSeconds: 5)
        third.send(authenticatedPreamble())
        #expect(third.readUntilClosed() == [])
        // Idle connections are closed after the idle timeout, which frees their places.
        #expect(first.readUntilClosed() != nil)
        #expect(second.readUntilClosed() != nil)
        try await HostileInputTests.expectServing(server)
    }

    @Test func vst10ClientsAreServedInTheirVersion() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let socket = try RawSocket(port: server.port)
        var wire = VSTVersion.v1_0.preamble
        wire += VSTEncoder.encode(messageID: 1, message: Authentication.plain(user: "root", password: "").encoded(), version: .v1_0)
        wire += VSTEncoder.encode(messageID: 2, message: requestMessage(.get, "/_api/version"), version: .v1_0)
        socket.send(wire)
        let messages = try socket.readMessages(2, version: .v1_0)
        #expect(try messages.map(status(of:)) == [200, 200])
    }
}
