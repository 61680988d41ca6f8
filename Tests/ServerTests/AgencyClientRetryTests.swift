import Client
import Testing
import TesseraPlatform
import VelocyPack
import ArangoAPI
import VelocyStream
@testable import Server
@testable import Transport

/// `AgencyClient.write(envelope:clientID:)` after a lost answer, against a stand-in agent in
/// this process (a unit test of the driver: the real agents are tested in
/// ServerIntegrationTests). The stand-in applies a client id at most once, as the agency does,
/// and can swallow the answer of a write, before or after applying it.
@Suite("agency client: lost write answers")
struct AgencyClientRetryTests {
    /// What the stand-in agent does with the next writes.
    enum Fate: Sendable {
        /// Applies the write and answers.
        case answer
        /// Applies the write, then never answers (the answer is lost).
        case applyThenLose
        /// Loses the request before applying it (never answers).
        case lose
    }

    final class StandInAgent: Sendable {
        struct State {
            var fates: [Fate]
            var applied: [String: UInt64] = [:]
            var applications = 0
            var writesReceived = 0
            var inquiries = 0
            var index: UInt64 = 10
        }
        let state: Locked<State>

        init(fates: [Fate]) { state = Locked(State(fates: fates)) }

        /// Handles one write body `[[ops, preconditions, clientId]]`; `nil`: no answer.
        func write(_ body: Slice) -> ServerResponse? {
            let clientID = body[0]?[2]?.stringValue ?? ""
            return state.withLock { state -> ServerResponse? in
                state.writesReceived += 1
                let fate = state.fates.isEmpty ? Fate.answer : state.fates.removeFirst()
                if fate == .lose { return nil }
                let index: UInt64
                if let known = state.applied[clientID] {
                    index = known
                } else {
                    state.index += 1
                    state.applications += 1
                    state.applied[clientID] = state.index
                    index = state.index
                }
                return fate == .applyThenLose ? nil : Self.results([index])
            }
        }

        func inquire(_ body: Slice) -> ServerResponse {
            let clientID = body[0]?.stringValue ?? ""
            return state.withLock { state in
                state.inquiries += 1
                return Self.results([state.applied[clientID] ?? 0])
            }
        }

        static func results(_ indexes: [UInt64]) -> ServerResponse {
            var builder = Builder()
            builder.openObject()
            builder.add(key: "results")
            builder.openArray()
            for index in indexes { builder.add(index) }
            builder.closeTrusted()
            builder.closeTrusted()
            return ServerResponse(status: 200, builder)
        }
    }

    /// Runs one write through an `AgencyClient` against a stand-in with `fates`.
    func write(fates: [Fate]) async throws -> (result: AgencyClient.WriteResult, agent: StandInAgent.State) {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let agent = StandInAgent(fates: fates)
        var router = Router()
        router.addDeferrable(.post, "/_api/agency/write") { request throws(ArangoError) in
            guard let body = request.body, let answer = agent.write(body) else { return .later { _ in } }  // the answer is lost
            return .now(answer)
        }
        router.add(.post, "/_api/agency/inquire") { request throws(ArangoError) in agent.inquire(request.body ?? Slice(trustedBytes: [0x01])) }
        var serverConfiguration = ServerConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        serverConfiguration.shutdownGraceSeconds = 0.1  // the lost answers never come
        let server = try await VSTServer.start(on: loop, configuration: serverConfiguration, router: router)
        let port = await withCheckedContinuation { continuation in loop.execute { continuation.resume(returning: server.port) } }

        var configuration = AgencyClient.Configuration(endpoints: [Endpoint(host: "127.0.0.1", port: port)], credentials: nil)
        configuration.requestTimeoutSeconds = 0.3
        configuration.deadlineSeconds = 10
        let client = AgencyClient(configuration: configuration)
        var write = Builder()
        write.openArray()
        write.openArray()
        write.openObject()
        write.add(key: "/x")
        write.add(1)
        write.closeTrusted()
        write.openObject()
        write.closeTrusted()
        write.add("client-1")
        write.closeTrusted()
        write.closeTrusted()
        let result = try await client.write(envelope: write.bytes, clientID: "client-1")
        await client.shutdown()
        await server.shutdown()
        return (result, agent.state.withLock { $0 })
    }

    @Test func anAnswerLostAfterTheWriteAppliedIsFoundByInquireNotResent() async throws {
        let (result, agent) = try await write(fates: [.applyThenLose])
        #expect(result.applied)
        #expect(result.index == 11)
        #expect(agent.applications == 1)
        #expect(agent.writesReceived == 1)
        #expect(agent.inquiries >= 1)
    }

    @Test func aWriteLostBeforeItAppliedIsResentWithTheSameIdAndAppliesOnce() async throws {
        let (result, agent) = try await write(fates: [.lose, .applyThenLose, .answer])
        #expect(result.applied)
        #expect(result.index == 11)
        #expect(agent.applications == 1)
        #expect(agent.writesReceived == 2)  // lost, then applied (its answer lost and found by inquire)
    }
}
