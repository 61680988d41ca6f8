import Auth
import Client
import AgentRole
import Server
import TesseraPlatform
import Foundation
import Testing
import Transport
import VelocyPack
import VelocyStream
import ClusterMember

extension ClusterProcesses {
    /// Three real `tessera agent` processes on loopback: replication, failover, restart and
    /// catch-up (also through a snapshot), a minority that cannot commit, and authentication.
    @Suite("Agency processes", .serialized)
    struct AgencyTests {
        /// Three agents with their data and the secret in one temporary directory.
        final class Agency: @unchecked Sendable {  // used by one test at a time
            let root = ServerProcess.temporaryDirectory()
            let ports: [UInt16]
            var agents: [ServerProcess?]
            let snapshotEvery: Int
            var secretPath: String { root + "/secret" }
            var endpoints: [Endpoint] { ports.map { Endpoint(host: "127.0.0.1", port: $0) } }
            var endpointList: String { endpoints.map(\.description).joined(separator: ",") }

            init(snapshotEvery: Int = 10_000) throws {
                self.snapshotEvery = snapshotEvery
                ports = try Self.freePorts(3)
                agents = [nil, nil, nil]
                try String(repeating: "0123456789abcdef", count: 4).write(toFile: secretPath, atomically: true, encoding: .utf8)
                chmod(secretPath, 0o600)
                for index in 0..<3 { try start(index) }
            }

            func start(_ index: Int) throws {
                agents[index] = try ServerProcess(
                    command: ["agent", "--id", "\(index + 1)", "--endpoint", endpoints[index].description,
                              "--agency-endpoints", endpointList, "--data", root + "/agent\(index + 1)",
                              "--secret-file", secretPath, "--snapshot-every", "\(snapshotEvery)"],
                    dataDirectory: root + "/agent\(index + 1)")
            }

            func stop(_ index: Int, signal: Int32 = SIGTERM) {
                agents[index]?.stop(signal: signal)
                agents[index] = nil
            }

            func stopAll() { for index in 0..<3 { stop(index) } }

            func client(_ indexes: [Int]? = nil, deadline: Double = 20) -> AgencyClient {
                let token = (try? String(contentsOfFile: secretPath, encoding: .utf8)).map { Self.token(secret: Array($0.utf8)) } ?? ""
                var configuration = AgencyClient.Configuration(
                    endpoints: (indexes ?? [0, 1, 2]).map { endpoints[$0] }, credentials: .jwt(token: token))
                configuration.deadlineSeconds = deadline
                configuration.requestTimeoutSeconds = 3
                return AgencyClient(configuration: configuration)
            }

            /// The cluster token, made the way the roles make it (HS256 over the secret).
            static func token(secret: [UInt8]) -> String {
                JSONWebToken.superuserToken(serverID: "TEST", secret: secret, now: Date().timeIntervalSince1970)
            }

            /// The index (0-based) of the agent that leads now, from the agents' own view.
            func leader(using client: AgencyClient) async throws -> Int? {
                _ = try await client.read([["/"]])
                guard let leader = client.knownLeader else { return nil }
                return endpoints.firstIndex(of: leader)
            }

            static func freePorts(_ count: Int) throws -> [UInt16] {
                var sockets: [Int32] = []
                var ports: [UInt16] = []
                defer { for socket in sockets { close(socket) } }
                for _ in 0..<count {
                    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                    var address = sockaddr_in()
                    address.sin_family = sa_family_t(AF_INET)
                    address.sin_addr.s_addr = inet_addr("127.0.0.1")
                    address.sin_port = 0
                    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
                    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
                    sockets.append(descriptor)
                    ports.append(UInt16(bigEndian: address.sin_port))
                }
                return ports
            }
        }

        static func operations(_ json: String) -> Slice { try! JSONParser.parse(json).slice }

        static func value(_ answer: Slice, _ key: String) -> Int? {
            let value: Slice? = answer[0]?["k"]?[key]
            return value?.intValue.map(Int.init)
        }

        @Test("writes replicate and survive kill -9 of the leader and of a follower")
        func failover() async throws {
            let agency = try Agency()
            defer { agency.stopAll() }
            let client = agency.client()
            for index in 0..<20 {
                let result = try await client.write(operations: Self.operations(#"{"/k/a\#(index)": \#(index)}"#))
                #expect(result.applied)
            }
            guard let leader = try await agency.leader(using: client) else {
                Issue.record("no leader")
                return
            }
            agency.stop(leader, signal: SIGKILL)
            // The two survivors elect a new leader; the client finds it and writes again.
            let started = Date()
            let after = try await client.write(operations: Self.operations(#"{"/k/after": 1}"#))
            #expect(after.applied)
            #expect(Date().timeIntervalSince(started) < 15)
            let answer = try await client.read([["/k"]])
            for index in 0..<20 { #expect(Self.value(answer, "a\(index)") == index, "\(answer.json)") }
            #expect(Self.value(answer, "after") == 1)

            // A killed follower: writes go on with the other two.
            let newLeader = try #require(try await agency.leader(using: client))
            let follower = [0, 1, 2].first { $0 != newLeader && $0 != leader }!
            agency.stop(follower, signal: SIGKILL)
            try agency.start(leader)  // the old leader comes back as a follower
            let more = try await client.write(operations: Self.operations(#"{"/k/more": 2}"#))
            #expect(more.applied)
            try agency.start(follower)
            // Every agent catches up: their applied index reaches the leader's commit index.
            let target = try await client.config()["commitIndex"]?.uintValue ?? 0
            for index in 0..<3 {
                let single = agency.client([index], deadline: 5)
                var caughtUp = false
                for _ in 0..<100 where !caughtUp {
                    let config = try await single.config()
                    caughtUp = (config["appliedIndex"]?.uintValue ?? 0) >= target
                    if !caughtUp { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(caughtUp, "agent \(index + 1) did not catch up to \(target)")
                await single.shutdown()
            }
            await client.shutdown()
        }

        @Test("a restarted agent catches up through a snapshot")
        func snapshotCatchUp() async throws {
            let agency = try Agency(snapshotEvery: 20)
            defer { agency.stopAll() }
            let client = agency.client()
            _ = try await client.write(operations: Self.operations(#"{"/k/first": 1}"#))
            let leader = try #require(try await agency.leader(using: client))
            let away = (leader + 1) % 3
            agency.stop(away)
            for index in 0..<120 {
                _ = try await client.write(operations: Self.operations(#"{"/k/s\#(index)": \#(index)}"#))
            }
            try agency.start(away)
            let target = try await client.config()["commitIndex"]?.uintValue ?? 0
            let single = agency.client([away], deadline: 5)
            var applied: UInt64 = 0
            for _ in 0..<100 where applied < target {
                applied = try await single.config()["appliedIndex"]?.uintValue ?? 0
                if applied < target { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(applied >= target)
            // The caught-up agent can lead with every value: stop the others' leader.
            agency.stop(leader)
            let answer = try await client.read([["/k"]])
            for index in 0..<120 { #expect(Self.value(answer, "s\(index)") == index) }
            await single.shutdown()
            await client.shutdown()
        }

        @Test("observers are notified after commit; poll and TTL work through the log")
        func observersPollAndTTL() async throws {
            let agency = try Agency()
            defer { agency.stopAll() }
            // A receiver for the callbacks, in this process.
            let received = Locked([String]())
            var router = Router()
            router.add(.post, "/callback") { request in
                received.withLock { $0.append((request.body?.json ?? "") + " " + (request.parameter("tag") ?? "")) }
                return ServerResponse(status: 200)
            }
            let loop = EventLoop()
            defer { loop.shutdown() }
            let receiver = try await VSTServer.start(on: loop, configuration: ServerConfiguration(endpoint: Endpoint("tcp://127.0.0.1:0")!),
                                                     router: router)
            let port = await withCheckedContinuation { continuation in loop.execute { continuation.resume(returning: receiver.port) } }
            let client = agency.client()
            let url = "tcp://127.0.0.1:\(port)/callback?tag=t1"
            _ = try await client.write(operations: Self.operations(#"{"/arango/Plan": {"op": "observe", "url": "\#(url)"}}"#))
            let change = try await client.write(operations: Self.operations(#"{"/arango/Plan/Version": {"op": "increment"}}"#))
            var notes: [String] = []
            for _ in 0..<100 where notes.isEmpty {
                notes = received.withLock { $0 }
                if notes.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(notes.count == 1)
            #expect(notes.first?.contains(#""index":\#(change.index)"#) == true, "\(notes)")
            #expect(notes.first?.contains("/arango/Plan/Version") == true)
            #expect(notes.first?.hasSuffix(" t1") == true)

            // poll from an index: the changes after it.
            var poll = VSTClient.Configuration(endpoint: client.knownLeader!, credentials: agency.client().configuration.credentials)
            poll.requestTimeoutSeconds = 10
            let poller = VSTClient(configuration: poll)
            let answer = try await poller.request(.get, "/_api/agency/poll", parameters: ["index": ["\(change.index)"], "timeout": ["2"]])
            #expect(answer.status == 200, "\(answer.json)")
            #expect(answer.json.contains("Version"), "\(answer.json)")

            // A key with a TTL goes away through a log entry the leader proposes.
            _ = try await client.write(operations: Self.operations(#"{"/k/short": {"op": "set", "new": 1, "ttl": 1}}"#))
            #expect(Self.value(try await client.read([["/k"]]), "short") == 1)
            var gone = false
            for _ in 0..<60 where !gone {
                gone = Self.value(try await client.read([["/k"]]), "short") == nil
                if !gone { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(gone)
            await poller.shutdown()
            await client.shutdown()
            await withCheckedContinuation { continuation in loop.execute { receiver.shutdown { continuation.resume() } } }
        }

        @Test("a server's agency cache follows the tree through long polls, across a leader change")
        func cache() async throws {
            let agency = try Agency()
            defer { agency.stopAll() }
            let client = agency.client()
            _ = try await client.write(operations: Self.operations(#"{"/arango/Plan/Version": 1}"#))
            let cache = AgencyCache(client: agency.client(), pollSeconds: 1)
            cache.start()
            defer { cache.stop() }
            let first = try await client.write(operations: Self.operations(#"{"/arango/Plan/Version": {"op": "increment"}, "/arango/Current/x": [1, 2]}"#))
            #expect(await cache.waitFor(index: first.index, timeoutSeconds: 10))
            #expect(cache.value(at: "/arango/Plan/Version")?.intValue == 2)
            #expect(cache.value(at: "/arango/Current/x")?.count == 2)
            let leader = try #require(try await agency.leader(using: client))
            agency.stop(leader, signal: SIGKILL)
            let second = try await client.write(operations: Self.operations(#"{"/arango/Plan/Version": {"op": "increment"}, "/arango/Current/x": {"op": "delete"}}"#))
            #expect(await cache.waitFor(index: second.index, timeoutSeconds: 15))
            #expect(cache.value(at: "/arango/Plan/Version")?.intValue == 3)
            #expect(cache.value(at: "/arango/Current/x") == nil)
            #expect(await cache.waitFor(index: second.index + 1000, timeoutSeconds: 1) == false)
            await client.shutdown()
        }

        @Test("a minority cannot commit; requests without the cluster token get 401")
        func minorityAndAuthentication() async throws {
            let agency = try Agency()
            defer {
                for agent in agency.agents.compactMap({ $0 }) { kill(agent.process.processIdentifier, SIGCONT) }
                agency.stopAll()
            }
            let client = agency.client()
            _ = try await client.write(operations: Self.operations(#"{"/k/x": 1}"#))
            // Freeze two agents: the third alone is a minority.
            for index in 1...2 { kill(agency.agents[index]!.process.processIdentifier, SIGSTOP) }
            let alone = agency.client([0], deadline: 4)
            await #expect(throws: ClientError.self) {
                _ = try await alone.write(operations: Self.operations(#"{"/k/minority": 1}"#))
            }
            for index in 1...2 { kill(agency.agents[index]!.process.processIdentifier, SIGCONT) }
            let answer = try await client.read([["/k"]])
            #expect(Self.value(answer, "minority") == nil || Self.value(answer, "minority") == 1,
                    "a write the client saw fail may still commit later, but never twice")
            await alone.shutdown()

            // Passwords and foreign tokens are refused.
            var plain = VSTClient.Configuration(endpoint: agency.endpoints[0], credentials: .plain(user: "root", password: ""))
            plain.requestTimeoutSeconds = 3
            let withPassword = VSTClient(configuration: plain)
            await #expect(throws: ClientError.self) { _ = try await withPassword.request(.get, "/_api/agency/config") }
            await withPassword.shutdown()
            let anonymous = VSTClient(configuration: VSTClient.Configuration(endpoint: agency.endpoints[0], credentials: nil))
            let refused = try await anonymous.request(.get, "/_api/agency/config")
            #expect(refused.status == 401)
            await anonymous.shutdown()
            await client.shutdown()
        }
    }
}
