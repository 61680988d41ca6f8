import Client
import Foundation
import Testing
import TesseraProcessSupport
import Transport
import VelocyPack
import VelocyStream

extension ClusterProcesses {
    /// A whole local cluster from `tessera start` (3 agents, 3 DBServers, 2 coordinators), used
    /// through both coordinators as a client would.
    @Suite("Local cluster", .serialized)
    struct ClusterTests {
        final class LocalCluster: @unchecked Sendable {  // used by one test at a time
            let directory = ServerProcess.temporaryDirectory()
            var process = Process()
            private(set) var base: UInt16 = 0
            /// Given to `tessera start` through TESSERA_ROOT_PASSWORD when not empty.
            let rootPassword: String
            /// More arguments for `tessera start` (`--dbservers 4` grows the cluster).
            var extraArguments: [String] = []
            var output: String { (try? String(contentsOfFile: directory + "/start.out", encoding: .utf8)) ?? "" }
            var coordinators: [Endpoint] { [Endpoint(host: "127.0.0.1", port: base), Endpoint(host: "127.0.0.1", port: base + 1)] }

            init(rootPassword: String = "") throws {
                self.rootPassword = rootPassword
                // Nine consecutive free ports (coordinators, agents, DBServers, and one for a DBServer
                // a test adds). Another test
                // running in parallel may take one between the check and the listen: then the
                // cluster is started again (new data, new ports), at most three times.
                for attempt in 1...3 {
                    base = Self.freePortRange(9)
                    do {
                        try launch()
                        return
                    } catch where attempt < 3 && output.contains("EADDRINUSE") || attempt < 3 && logsMention("EADDRINUSE") {
                        try? FileManager.default.removeItem(atPath: directory + "/cluster")
                    }
                }
            }

            /// Whether a member's log holds `text` (a member that exited at start).
            func logsMention(_ text: String) -> Bool {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/cluster")) ?? []
                return names.filter { $0.hasSuffix(".log") }.contains { name in
                    ((try? String(contentsOfFile: directory + "/cluster/" + name, encoding: .utf8)) ?? "").contains(text)
                }
            }

            /// Runs `tessera start` (again, with the same data and ports).
            func launch() throws {
                process = Process()
                _ = FileManager.default.createFile(atPath: directory + "/start.out", contents: nil)
                let output = FileHandle(forWritingAtPath: directory + "/start.out")!
                process.executableURL = TesseraExecutable.url
                process.arguments = ["start", "--port-base", "\(base)", "--data", directory + "/cluster"] + extraArguments
                process.standardOutput = output
                process.standardError = output
                if !rootPassword.isEmpty {
                    process.environment = ProcessInfo.processInfo.environment.merging(["TESSERA_ROOT_PASSWORD": rootPassword]) { $1 }
                }
                try process.run()
                let deadline = Date().addingTimeInterval(90)
                while !self.output.contains("cluster running"), process.isRunning, Date() < deadline { usleep(100_000) }
                guard self.output.contains("cluster running") else {
                    stop()
                    throw ServerProcess.Failure(description: "tessera start did not come up: \(self.output)")
                }
            }

            /// The first of `count` consecutive ports that are free now, below Linux's
            /// ephemeral range (32768 and up), so that no outgoing connection of another test
            /// takes one of them by chance between this check and the listen.
            static func freePortRange(_ count: UInt16) -> UInt16 {
                for _ in 0..<50 {
                    let candidate = UInt16.random(in: 20_000...(32_000 - count))
                    if (0..<count).allSatisfy({ isFree(candidate + $0) }) { return candidate }
                }
                return UInt16.random(in: 20_000...(32_000 - count))
            }

            static func isFree(_ port: UInt16) -> Bool {
                let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(descriptor) }
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                address.sin_port = port.bigEndian
                return withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                } == 0
            }

            /// The pid and arguments of one member, from `cluster.json`.
            func member(_ name: String) throws -> (pid: Int32, arguments: [String]) {
                let plan = try JSONParser.parse(Array(FileManager.default.contents(atPath: directory + "/cluster/cluster.json")!)).slice
                for process in plan["processes"]?.arrayElements.map({ $0 }) ?? [] {
                    let role = process["role"]?.stringValue ?? "", number = process["number"]?.intValue ?? 0
                    guard "\(role)\(number)" == name else { continue }
                    let agents = plan["processes"]!.arrayElements.filter { $0["role"]?.stringValue == "agent" }
                        .compactMap { $0["endpoint"]?.stringValue }.joined(separator: ",")
                    return (Int32(process["pid"]?.intValue ?? 0),
                            [role, "--endpoint", process["endpoint"]?.stringValue ?? "", "--data", process["data"]?.stringValue ?? "",
                             "--secret-file", plan["secretFile"]?.stringValue ?? "", "--agency-endpoints", agents])
                }
                throw ServerProcess.Failure(description: "no \(name) in cluster.json")
            }

            func stop() {
                guard process.isRunning else { return }
                kill(process.processIdentifier, SIGTERM)
                let deadline = Date().addingTimeInterval(60)
                while process.isRunning && Date() < deadline { usleep(50_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }

            /// The agency's value at `path` (JSON text), through `tessera agency read`.
            func agencyRead(_ path: String) throws -> String {
                let plan = try JSONParser.parse(Array(FileManager.default.contents(atPath: directory + "/cluster/cluster.json")!)).slice
                let agents = plan["processes"]!.arrayElements.filter { $0["role"]?.stringValue == "agent" }
                    .compactMap { $0["endpoint"]?.stringValue }.joined(separator: ",")
                let result = try LauncherTests.tessera(["agency", "read", "--agency-endpoints", agents,
                                                        "--secret-file", plan["secretFile"]?.stringValue ?? "", path], in: directory)
                return result.output
            }

            func api(_ index: Int, _ credentials: Authentication?? = .none) -> API {
                var configuration = VSTClient.Configuration(endpoint: coordinators[index],
                                                            credentials: credentials ?? .plain(user: "root", password: rootPassword))
                configuration.poolSize = 4
                configuration.requestTimeoutSeconds = 60
                return API(client: VSTClient(configuration: configuration))
            }
        }

        /// A change made through one coordinator reaches the other once its agency cache has it
        /// (milliseconds); this waits for that, bounded.
        func eventually(_ what: String, _ holds: () async -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async {
            for _ in 0..<100 {
                if await holds() { return }
                try? await Task.sleep(for: .milliseconds(50))
            }
            Issue.record("not within 5 s: \(what)", sourceLocation: sourceLocation)
        }

        @Test("a sharded collection written through one coordinator reads back through the other; queries match a single server")
        func shardedCollection() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let first = cluster.api(0), second = cluster.api(1)
            #expect(cluster.output.contains("empty password"), "\(cluster.output)")
            let created = try await first.expect(200, .post, "/_api/collection", #"{"name": "items", "numberOfShards": 6}"#)
            #expect(created["numberOfShards"]?.intValue == 6)
            // More copies than DBServers, or a write concern above the copies: refused.
            try await first.expectError(503, 1487, .post, "/_api/collection", #"{"name": "copies", "replicationFactor": 4}"#)
            try await first.expectError(400, 10, .post, "/_api/collection", #"{"name": "copies", "replicationFactor": 2, "writeConcern": 3}"#)

            // 10 000 documents in arrays of 500 through the first coordinator.
            for batch in 0..<20 {
                let body = "[" + (0..<500).map { i -> String in
                    let n = batch * 500 + i
                    return #"{"_key": "k\#(n)", "n": \#(n), "g": \#(n % 7)}"#
                }.joined(separator: ",") + "]"
                let answer = try await first.expect(202, .post, "/_api/document/items", body)
                #expect(answer.meta["x-arango-error-codes"] == nil, "\(answer.json.prefix(300))")
            }
            #expect(Int(try await second.expect(200, .get, "/_api/collection/items/count")["count"]?.intValue ?? 0) == 10_000)

            // Every document through the second coordinator (read in batches by key).
            var found = 0
            for batch in 0..<20 {
                let keys = "[" + (0..<500).map { #""k\#(batch * 500 + $0)""# }.joined(separator: ",") + "]"
                let answer = try await second.expect(200, .put, "/_api/document/items", keys, ["onlyget": "true"])
                found += answer.body?.arrayElements.filter { $0["n"] != nil }.count ?? 0
            }
            #expect(found == 10_000)

            // Shards spread evenly over the three DBServers.
            let distribution = try await first.expect(200, .get, "/_admin/cluster/shardDistribution")
            var perServer: [String: Int] = [:]
            for member in distribution["results"]?["items"]?["Plan"]?.objectMembers ?? Slice(trustedBytes: [0x0a]).objectMembers {
                perServer[member.value["leader"]?.stringValue ?? "", default: 0] += 1
            }
            #expect(perServer.count == 3 && perServer.values.allSatisfy { $0 == 2 }, "\(perServer)")

            // Queries gathered from six shards agree with the data.
            let top = try await second.query("FOR d IN items FILTER d.g == 3 SORT d.n DESC LIMIT 2, 3 RETURN d.n")
            let expected = (0..<10_000).filter { $0 % 7 == 3 }.sorted(by: >).dropFirst(2).prefix(3)
            #expect(top.compactMap { $0.intValue.map(Int.init) } == Array(expected))
            let counted = try await first.expect(201, .post, "/_api/cursor",
                                                 #"{"query": "FOR d IN items FILTER d.n < 100 LIMIT 10 RETURN d._key", "options": {"fullCount": true}, "count": true}"#)
            #expect(counted["count"]?.intValue == 10)
            #expect(counted["extra"]?["stats"]?["fullCount"]?.intValue == 100)

            // Indexes are planned and built on every shard.
            let index = try await first.expect(201, .post, "/_api/index", #"{"type": "persistent", "fields": ["g"]}"#, ["collection": "items"])
            #expect(index["isNewlyCreated"]?.boolValue == true)
            await eventually("the other coordinator knows the index") {
                (try? await second.call(.get, "/_api/index", nil, ["collection": "items"]))?.body?["indexes"]?.count == 2
            }
            let listed = try await second.expect(200, .get, "/_api/index", nil, ["collection": "items"])
            #expect(listed["indexes"]?.arrayElements.compactMap { $0["type"]?.stringValue } == ["primary", "persistent"])
            try await first.expectError(400, 1470, .post, "/_api/index", #"{"type": "persistent", "fields": ["n"], "unique": true}"#,
                                        ["collection": "items"])
            let viaIndex = try await second.query("FOR d IN items FILTER d.g == 3 SORT d.n DESC LIMIT 2, 3 RETURN d.n")
            #expect(viaIndex.compactMap { $0.intValue.map(Int.init) } == Array(expected))
            let fetched = try await second.expect(200, .get, "/_api/index/\(index["id"]?.stringValue ?? "")")
            #expect(fetched["fields"]?.arrayElements.compactMap(\.stringValue) == ["g"])
            try await second.expect(200, .get, "/_api/index/items/0")
            try await second.expectError(404, 1212, .get, "/_api/index/items/12345")
            try await first.expect(200, .delete, "/_api/index/\(index["id"]?.stringValue ?? "")")

            // Custom shard keys: user keys refused, updates need the shard key.
            try await first.expect(200, .post, "/_api/collection", #"{"name": "byCity", "numberOfShards": 3, "shardKeys": ["city"]}"#)
            try await first.expectError(400, 1466, .post, "/_api/document/byCity", #"{"_key": "x", "city": "Rome"}"#)
            let placed = try await first.expect(202, .post, "/_api/document/byCity", #"{"city": "Rome", "v": 1}"#)
            let key = placed["_key"]?.stringValue ?? ""
            await eventually("the other coordinator knows byCity") { (try? await second.call(.get, "/_api/collection/byCity"))?.status == 200 }
            try await second.expect(200, .get, "/_api/document/byCity/\(key)")
            try await second.expectError(400, 1468, .patch, "/_api/document/byCity/\(key)", #"{"v": 2}"#)
            try await second.expect(202, .patch, "/_api/document/byCity/\(key)", #"{"city": "Rome", "v": 2}"#)
            try await first.expect(202, .delete, "/_api/document/byCity/\(key)")
            try await second.expectError(404, 1202, .get, "/_api/document/byCity/\(key)")
            try await second.expectError(404, 1202, .delete, "/_api/document/byCity/\(key)")

            // Databases are cluster-wide.
            try await first.expect(201, .post, "/_api/database", #"{"name": "shop"}"#)
            try await second.expectError(409, 1207, .post, "/_api/database", #"{"name": "shop"}"#)
            await eventually("the other coordinator knows shop") { (try? await second.call(.get, "/_api/database/current", database: "shop"))?.status == 200 }
            #expect(try await second.expect(200, .get, "/_api/database")["result"]?.arrayElements.compactMap(\.stringValue) == ["_system", "shop"])
            try await second.expect(200, .post, "/_api/collection", #"{"name": "orders", "numberOfShards": 2}"#, database: "shop")
            try await first.expect(202, .post, "/_api/document/orders", #"{"_key": "o1"}"#, database: "shop")
            try await second.expect(200, .get, "/_api/document/orders/o1", database: "shop")
            try await second.expect(200, .delete, "/_api/collection/orders", database: "shop")
            try await first.expect(200, .delete, "/_api/database/shop")
            try await second.expectError(404, 1228, .get, "/_api/document/orders/o1", database: "shop")
            // Dropped collections and databases leave no nodes behind in Current.
            let currentCollections = try cluster.agencyRead("/arango/Current/Collections")
            #expect(currentCollections.contains("\"_system\"") && !currentCollections.contains("\"shop\""), "\(currentCollections)")
            #expect(!(try cluster.agencyRead("/arango/Current/Databases")).contains("\"shop\""))

            for api in [first, second] { await api.client.shutdown() }
        }

        @Test("a killed coordinator leaves the other serving; restarted DBServers and a restarted cluster keep every document")
        func restarts() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            var first = cluster.api(0)
            let second = cluster.api(1)
            try await first.expect(200, .post, "/_api/collection", #"{"name": "kept", "numberOfShards": 3}"#)
            let body = "[" + (0..<300).map { #"{"_key": "k\#($0)", "n": \#($0)}"# }.joined(separator: ",") + "]"
            try await first.expect(201, .post, "/_api/document/kept", body, ["waitForSync": "true"])
            func allThere(_ api: API) async throws -> Int {
                let keys = "[" + (0..<300).map { #""k\#($0)""# }.joined(separator: ",") + "]"
                let answer = try await api.expect(200, .put, "/_api/document/kept", keys, ["onlyget": "true"])
                return answer.body?.arrayElements.filter { $0["n"] != nil }.count ?? 0
            }

            // kill -9 of a coordinator: the other serves; a restarted one serves again.
            let coordinator = try cluster.member("coordinator1")
            kill(coordinator.pid, SIGKILL)
            #expect(try await allThere(second) == 300)
            let restartedCoordinator = try ServerProcess(command: coordinator.arguments, dataDirectory: coordinator.arguments[4])
            defer { restartedCoordinator.stop() }
            await first.client.shutdown()
            first = cluster.api(0)
            #expect(try await allThere(first) == 300)

            // A DBServer restarted with its data: its shards come back.
            let dbserver = try cluster.member("dbserver1")
            kill(dbserver.pid, SIGTERM)
            var waited = 0
            while kill(dbserver.pid, 0) == 0 && waited < 200 { usleep(50_000); waited += 1 }
            let restartedDBServer = try ServerProcess(command: dbserver.arguments, dataDirectory: dbserver.arguments[4])
            var count = 0
            for _ in 0..<50 where count != 300 {
                count = (try? await allThere(second)) ?? 0
                if count != 300 { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(count == 300)
            restartedDBServer.stop()
            restartedCoordinator.stop()

            // The whole cluster stopped and started again with `tessera start`.
            try await second.expect(201, .post, "/_api/user", #"{"user": "carol", "passwd": "pw"}"#)
            try await second.expect(200, .put, "/_api/user/carol/database/_system", #"{"grant": "ro"}"#)
            await first.client.shutdown()
            await second.client.shutdown()
            cluster.stop()
            try cluster.launch()
            let again = cluster.api(1)
            count = 0
            for _ in 0..<50 where count != 300 {
                count = (try? await allThere(again)) ?? 0
                if count != 300 { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(count == 300)
            let carol = cluster.api(0, .plain(user: "carol", password: "pw"))
            #expect(try await allThere(carol) == 300)
            for api in [again, carol] { await api.client.shutdown() }
        }

        @Test("users are cluster-wide; properties, rename and figures; an index a shard cannot build is undone with its error")
        func usersAndCollectionChanges() async throws {
            let cluster = try LocalCluster(rootPassword: "s3cret")
            defer { cluster.stop() }
            let first = cluster.api(0), second = cluster.api(1)
            #expect(!cluster.output.contains("empty password"), "\(cluster.output)")
            let emptyRoot = cluster.api(1, .plain(user: "root", password: ""))
            await #expect(throws: ClientError.self) { try await emptyRoot.call(.get, "/_api/version") }

            func logsIn(_ index: Int, _ user: String, _ password: String) async -> Bool {
                let api = cluster.api(index, .plain(user: user, password: password))
                let answered = (try? await api.call(.get, "/_api/version")) != nil
                await api.client.shutdown()
                return answered
            }

            // A user made on one coordinator logs in on the other, with the grants given there.
            try await first.expect(201, .post, "/_api/user", #"{"user": "alice", "passwd": "pw"}"#)
            try await second.expectError(409, 1702, .post, "/_api/user", #"{"user": "alice", "passwd": "x"}"#)
            try await first.expectError(400, 1700, .post, "/_api/user", #"{"user": "_cluster:x", "passwd": "x"}"#)
            try await first.expect(200, .post, "/_api/collection", #"{"name": "things", "numberOfShards": 3}"#)
            await eventually("alice logs in on the other coordinator") { await logsIn(1, "alice", "pw") }
            let alice = cluster.api(1, .plain(user: "alice", password: "pw"))
            try await alice.expectError(403, 11, .get, "/_api/collection/things")
            try await first.expect(200, .put, "/_api/user/alice/database/_system", #"{"grant": "ro"}"#)
            await eventually("alice's grant reaches the other coordinator") {
                (try? await alice.call(.get, "/_api/collection/things"))?.status == 200
            }
            try await alice.expectError(403, 11, .post, "/_api/document/things", "{}")
            try await alice.expectError(403, 11, .post, "/_api/user", #"{"user": "mallory", "passwd": "x"}"#)
            #expect(try await alice.expect(200, .get, "/_api/user")["result"]?.count == 1)
            try await second.expect(200, .put, "/_api/user/alice/database/_system", #"{"grant": "rw"}"#)
            try await alice.expect(202, .post, "/_api/document/things", #"{"_key": "a1"}"#)

            // A token from one coordinator works on the other; a changed password works everywhere.
            let anonymous = cluster.api(0, .some(nil))
            let token = try await anonymous.expect(200, .post, "/_open/auth", #"{"username": "alice", "password": "pw"}"#)["jwt"]?.stringValue ?? ""
            let viaToken = cluster.api(1, .jwt(token: token))
            try await viaToken.expect(200, .get, "/_api/document/things/a1")
            try await alice.expect(200, .patch, "/_api/user/alice", #"{"passwd": "new"}"#)
            #expect(await !logsIn(1, "alice", "pw"))  // at once on the coordinator that changed it
            await eventually("the old password is refused on the other coordinator") { await !logsIn(0, "alice", "pw") }
            await eventually("the new password works on the other coordinator") { await logsIn(0, "alice", "new") }
            let newPassword = cluster.api(0, .plain(user: "alice", password: "new"))
            try await newPassword.expect(200, .get, "/_api/document/things/a1")
            try await second.expect(202, .delete, "/_api/user/alice")
            #expect(await !logsIn(1, "alice", "new"))
            await eventually("a removed user is refused on the other coordinator") { await !logsIn(0, "alice", "new") }
            try await first.expectError(403, 11, .delete, "/_api/user/root")

            // A new database with a user for it.
            try await first.expect(201, .post, "/_api/database", #"{"name": "shop", "users": [{"username": "bob", "passwd": "b"}]}"#)
            await eventually("bob logs in on the other coordinator") { await logsIn(1, "bob", "b") }
            let bob = cluster.api(1, .plain(user: "bob", password: "b"))
            try await bob.expect(200, .post, "/_api/collection", #"{"name": "orders"}"#, database: "shop")
            try await bob.expectError(403, 11, .get, "/_api/collection")

            // Properties, rename and figures.
            let body = "[" + (0..<30).map { #"{"_key": "k\#($0)"}"# }.joined(separator: ",") + "]"
            try await first.expect(202, .post, "/_api/document/things", body)
            let changed = try await second.expect(200, .put, "/_api/collection/things/properties", #"{"waitForSync": true}"#)
            #expect(changed["waitForSync"]?.boolValue == true)
            await eventually("the other coordinator sees waitForSync") {
                (try? await first.call(.get, "/_api/collection/things/properties"))?.body?["waitForSync"]?.boolValue == true
            }
            // Raising the replication factor adds a follower per shard (it resyncs); the write
            // concern may not exceed it.
            let raised = try await first.expect(200, .put, "/_api/collection/things/properties", #"{"replicationFactor": 2}"#)
            #expect(raised["replicationFactor"]?.intValue == 2)
            try await first.expectError(400, 10, .put, "/_api/collection/things/properties", #"{"writeConcern": 3}"#)
            try await first.expect(200, .post, "/_api/collection", #"{"name": "other"}"#)
            try await second.expectError(409, 1207, .put, "/_api/collection/things/rename", #"{"name": "other"}"#)
            let renamed = try await second.expect(200, .put, "/_api/collection/things/rename", #"{"name": "stuff"}"#)
            #expect(renamed["name"]?.stringValue == "stuff")
            // The other coordinator routes the new name; the shards show it in `_id` once
            // Maintenance renamed them.
            await eventually("documents answer as stuff/… through the other coordinator") {
                (try? await first.call(.get, "/_api/document/stuff/k1"))?.body?["_id"]?.stringValue == "stuff/k1"
            }
            try await first.expectError(404, 1203, .get, "/_api/document/things/k1")
            let figures = try await second.expect(200, .get, "/_api/collection/stuff/figures")
            #expect(figures["count"]?.intValue == 31)
            #expect((figures["figures"]?["liveBytes"]?.intValue ?? 0) > 0)

            // Duplicates under a unique index's fields: the shard's build error comes back at once.
            try await first.expect(200, .post, "/_api/collection", #"{"name": "people", "numberOfShards": 3, "shardKeys": ["email"]}"#)
            try await first.expect(202, .post, "/_api/document/people", #"[{"email": "x@y"}, {"email": "x@y"}]"#)
            let started = Date()
            try await first.expectError(409, 1210, .post, "/_api/index", #"{"type": "persistent", "fields": ["email"], "unique": true}"#,
                                         ["collection": "people"])
            #expect(Date().timeIntervalSince(started) < 30)
            let indexes = try await first.expect(200, .get, "/_api/index", nil, ["collection": "people"])
            #expect(indexes["indexes"]?.arrayElements.compactMap { $0["type"]?.stringValue } == ["primary"])

            for api in [first, second, emptyRoot, alice, anonymous, viaToken, newPassword, bob] { await api.client.shutdown() }
        }

        @Test("cursor queries over a sharded collection give the single server's answers")
        func queriesMatchSingleServer() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let clustered = cluster.api(0)
            let single = try ServerProcess(arguments: ["--no-authentication"])
            defer { single.stop() }
            let alone = API(client: makeClient(single, poolSize: 2, credentials: nil))
            try await alone.expect(200, .post, "/_api/collection", #"{"name": "c"}"#)
            try await clustered.expect(200, .post, "/_api/collection", #"{"name": "c", "numberOfShards": 5}"#)
            let documents = (0..<200).map { n -> String in
                let tag = n % 10 == 0 ? "" : #", "tag": "t\#(n % 3)""#
                return #"{"_key": "k\#(n)", "n": \#(n), "group": \#(n % 7)\#(tag), "nested": {"v": \#(n % 5)}}"#
            }
            let body = "[" + documents.joined(separator: ",") + "]"
            try await alone.expect(202, .post, "/_api/document/c", body)
            try await clustered.expect(202, .post, "/_api/document/c", body)
            let queries = [
                "FOR d IN c FILTER d.n == 42 RETURN {k: d._key, id: d._id, n: d.n, g: d.group, t: d.tag, nested: d.nested}",
                "FOR d IN c FILTER d.n <= 20 SORT d.n DESC RETURN d.n",
                "FOR d IN c FILTER d.group IN [1, 2] AND d.n < 60 SORT d.n RETURN {n: d.n, g: d.group, id: d._id}",
                "FOR d IN c FILTER d.tag == 't1' AND NOT (d.group == 0) SORT d.group, d.n DESC LIMIT 3, 7 RETURN d.n",
                "FOR d IN c FILTER d.nested.v == 4 OR d.tag == null SORT d.n LIMIT 10 RETURN d._key",
                "FOR d IN c SORT d.group DESC, d.n LIMIT 150, 100 RETURN [d.group, d.n]",
                "FOR d IN c FILTER d.n > 190 RETURN d.n",
            ]
            for query in queries {
                let expected = try await alone.query(query, batchSize: 7).map(\.json)
                let actual = try await clustered.query(query, batchSize: 7).map(\.json)
                if query.contains("SORT") {
                    #expect(actual == expected, "\(query)")
                } else {
                    #expect(actual.sorted() == expected.sorted(), "\(query)")
                }
            }
            await alone.client.shutdown()
            await clustered.client.shutdown()
        }
    }
}

/// The suites that start many server processes (agents, DBServers, coordinators, whole local
/// clusters) run one at a time: together on two cores they starve each other's agents into
/// elections and timeouts, which says nothing about the code under test.
@Suite("Cluster processes, one suite at a time", .serialized)
struct ClusterProcesses {}
