import Auth
import Client
import ClusterMember
import Foundation
import Testing
import TesseraProcessSupport
import Transport
import TesseraPlatform
import VelocyPack
import Replication

extension ClusterProcesses {
    /// Synchronous replication with real processes: `tessera start` with 3 DBServers, a
    /// collection with replicationFactor 3 and writeConcern 2, writers running while
    /// followers are killed with `kill -9`, restarted, and wiped.
    @Suite("Synchronous replication", .serialized)
    struct ReplicationProcessTests {
        typealias LocalCluster = ClusterTests.LocalCluster

        /// Inserts documents one by one through both coordinators until stopped; keeps the
        /// keys whose insert was acknowledged and counts the refusals by error number.
        final class Writers: @unchecked Sendable {
            let acknowledged = Locked<[String]>([])
            let refusals = Locked<[Int: Int]>([:])
            let stopFlag = Locked(false)
            var task: Task<Void, Never>?

            func start(_ apis: [API], prefix: String, count: Int = 4) {
                task = Task { [self] in
                    await withTaskGroup(of: Void.self) { group in
                        for writer in 0..<count {
                            group.addTask { [self] in
                                var n = 0
                                // Bounded: at most 20,000 inserts per writer.
                                while !stopFlag.withLock({ $0 }), n < 20_000 {
                                    let key = "\(prefix)-\(writer)-\(n)"
                                    n += 1
                                    let body = #"{"_key": "\#(key)", "writer": \#(writer), "n": \#(n), "pad": "\#(String(repeating: "x", count: 200))"}"#
                                    guard let response = try? await apis[writer % apis.count].call(.post, "/_api/document/rep", body) else { continue }
                                    if response.status == 201 || response.status == 202 {
                                        acknowledged.withLock { $0.append(key) }
                                    } else {
                                        let number = Int(response.error?.number.rawValue ?? -1)
                                        refusals.withLock { $0[number, default: 0] += 1 }
                                        try? await Task.sleep(for: .milliseconds(20))
                                    }
                                }
                            }
                        }
                    }
                }
            }

            func stop() async {
                stopFlag.withLock { $0 = true }
                await task?.value
            }

            var count: Int { acknowledged.withLock { $0.count } }
        }

        /// The shard's servers, leader first, from Plan.
        static func planServers(_ api: API) async throws -> (shard: String, servers: [String]) {
            let distribution = try await api.expect(200, .get, "/_admin/cluster/shardDistribution")
            let plan = try #require(distribution["results"]?["rep"]?["Plan"])
            let shard = try #require(plan.objectMembers.map { $0 }.first?.key.keyName)
            let entry = try #require(plan[shard])
            let leader = try #require(entry["leader"]?.stringValue)
            return (shard, [leader] + (entry["followers"]?.arrayElements.compactMap(\.stringValue) ?? []))
        }

        /// The in-sync servers and each server's replication status, from the shard distribution.
        static func replication(_ api: API, shard: String) async throws -> (inSync: [String], servers: Slice) {
            let distribution = try await api.expect(200, .get, "/_admin/cluster/shardDistribution")
            let entry = try #require(distribution["results"]?["rep"]?["Replication"]?[shard])
            return (entry["inSync"]?.arrayElements.compactMap(\.stringValue) ?? [], try #require(entry["servers"]))
        }

        /// Waits (bounded) until Current lists `server` in sync.
        static func waitInSync(_ api: API, shard: String, _ server: String, seconds: Int = 60) async throws -> Bool {
            for _ in 0..<(seconds * 5) {
                if try await replication(api, shard: shard).inSync.contains(server) { return true }
                try await Task.sleep(for: .milliseconds(200))
            }
            return false
        }

        /// The DBServer members of the cluster by server id (from their data directories).
        static func dbservers(_ cluster: LocalCluster, count: Int = 3) throws -> [String: (name: String, pid: Int32, arguments: [String])] {
            var result: [String: (String, Int32, [String])] = [:]
            for number in 1...count {
                let member = try cluster.member("dbserver\(number)")
                let id = try String(contentsOfFile: member.arguments[4] + "/SERVER", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                result[id] = ("dbserver\(number)", member.pid, member.arguments)
            }
            return result
        }

        /// Every document of `shard` on the DBServer at `endpoint` (key → [rev, body]), read
        /// directly with a cluster token.
        static func copy(of shard: String, at endpoint: Endpoint, secret: [UInt8]) async throws -> [String: String] {
            var configuration = VSTClient.Configuration(
                endpoint: endpoint, credentials: .jwt(token: ClusterAuthenticator.token(serverID: "test", secret: secret, now: Date().timeIntervalSince1970)))
            configuration.poolSize = 1
            let api = API(client: VSTClient(configuration: configuration))
            defer { Task { await api.client.shutdown() } }
            let rows = try await api.query("FOR d IN \(shard) RETURN d", batchSize: 1000)
            var documents: [String: String] = [:]
            for row in rows { documents[row["_key"]?.stringValue ?? "?"] = row.json }
            return documents
        }

        /// A DBServer's API with a cluster token (what another DBServer presents).
        static func serverAPI(_ endpoint: Endpoint, secret: [UInt8]) -> API {
            var configuration = VSTClient.Configuration(
                endpoint: endpoint, credentials: .jwt(token: ClusterAuthenticator.token(serverID: "test", secret: secret, now: Date().timeIntervalSince1970)))
            configuration.poolSize = 1
            return API(client: VSTClient(configuration: configuration))
        }

        @Test("replication messages with a wrong epoch, shard or sender, a gap, bad bytes or too many operations are refused and change nothing")
        func hostileReplicationMessages() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let api = cluster.api(0)
            try await api.expect(200, .post, "/_api/collection", #"{"name": "rep", "replicationFactor": 2}"#)
            let (shard, servers) = try await Self.planServers(api)
            #expect(try await Self.waitInSync(api, shard: shard, servers[1]))
            try await api.expect(202, .post, "/_api/document/rep", #"[{"_key": "a"}, {"_key": "b"}]"#)
            let members = try Self.dbservers(cluster)
            let secret = try ClusterSecret.load(path: cluster.directory + "/cluster/secret").secret.bytes
            let followerMember = try #require(members[servers[1]]), leaderMember = try #require(members[servers[0]])
            let followerEndpoint = try #require(Endpoint(followerMember.arguments[2]))
            let leaderEndpoint = try #require(Endpoint(leaderMember.arguments[2]))
            let followerAPI = Self.serverAPI(followerEndpoint, secret: secret)
            let leaderAPI = Self.serverAPI(leaderEndpoint, secret: secret)
            // The follower's session: its epoch and position.
            let status = try await followerAPI.expect(200, .get, "/_api/tessera/replication/status")
            let session = try #require(status["shards"]?.arrayElements.first { $0["shard"]?.stringValue == shard })
            let epoch = try #require(session["epoch"]?.uintValue)
            let position = try #require(session["position"]?.uintValue)
            func batch(leader: String = servers[0], epoch: UInt64 = epoch, shard: String = shard, previous: UInt64 = position,
                       count: Int = 1) -> [UInt8] {
                let operations = (0..<count).map { index in
                    ReplicatedOperation(kind: .removal, sequence: previous + 1 + UInt64(index), revision: 1, key: Array("a".utf8))
                }
                return ApplyBatch(stream: StreamIdentity(database: "_system", shard: shard, leader: leader, epoch: epoch),
                                  previous: previous, waitForSync: false, operations: operations).vpack
            }
            func refused(_ api: API, _ body: [UInt8], status: Int, number: Int, _ what: String) async throws {
                let response = try await api.client.request(.post, "/_api/tessera/replication/apply", body: body)
                #expect(response.status == status && response.error?.number.rawValue == number, "\(what): \(response.json)")
            }
            try await refused(followerAPI, batch(epoch: epoch - 1), status: 406, number: 1490, "an older epoch")
            try await refused(followerAPI, batch(leader: servers[1]), status: 406, number: 1490, "a sender Plan does not name")
            try await refused(followerAPI, batch(shard: "s999999"), status: 406, number: 1490, "a shard it does not follow")
            try await refused(leaderAPI, batch(), status: 406, number: 1489, "replication sent to the leader")
            try await refused(followerAPI, batch(count: 10_001), status: 400, number: 10, "too many operations")
            try await refused(followerAPI, Array(batch().dropLast(3)), status: 400, number: 600, "truncated bytes")
            // A client write sent to the follower directly is refused; the leader takes it.
            let direct = try await followerAPI.call(.post, "/_api/document/\(shard)", #"{"_key": "direct"}"#)
            #expect(direct.status == 406 && direct.error?.number.rawValue == 1490, "a follower refuses client writes: \(direct.json)")
            // Reads go to the leader; a dirty read may come from the follower and says so.
            let clean = try await api.expect(200, .get, "/_api/document/rep/a")
            #expect(clean.meta["x-arango-potential-dirty-read"] == nil)
            let dirty = try await api.expect(200, .get, "/_api/document/rep/a", meta: ["x-arango-allow-dirty-read": "true"])
            #expect(dirty.meta["x-arango-potential-dirty-read"] == "true")
            // Nothing of that reached the data: both documents are there on the follower.
            let count = try await followerAPI.expect(200, .get, "/_api/collection/\(shard)/count")
            #expect(count["count"]?.intValue == 2)
            // A gap ends the follower's session (it resyncs and rejoins) and applies nothing.
            try await refused(followerAPI, batch(previous: position + 5), status: 406, number: 1490, "a gap")
            let after = try await followerAPI.expect(200, .get, "/_api/collection/\(shard)/count")
            #expect(after["count"]?.intValue == 2)
            try await api.expect(202, .post, "/_api/document/rep", #"{"_key": "c"}"#)
            #expect(try await Self.waitInSync(api, shard: shard, servers[1]), "the follower rejoins after the gap")
            // Current may still list the follower from before the gap (the leader reports its
            // removal a moment later): the rejoin shows in the copy, not in the list alone.
            var copies = try await Self.copy(of: shard, at: followerEndpoint, secret: secret)
            for _ in 0..<150 where Set(copies.keys) != ["a", "b", "c"] {
                try await Task.sleep(for: .milliseconds(200))
                copies = try await Self.copy(of: shard, at: followerEndpoint, secret: secret)
            }
            #expect(Set(copies.keys) == ["a", "b", "c"])
            #expect(try await Self.waitInSync(api, shard: shard, servers[1]), "the follower is in sync again")
            for client in [api.client, followerAPI.client, leaderAPI.client] { await client.shutdown() }
        }

        @Test("rf 3, writeConcern 2: a killed follower is dropped and writes go on; restarted it resyncs incrementally; a paused one is dropped after the timeout and rejoins when woken; two down refuse writes with 1004; a wiped follower resyncs fully; every copy equal")
        func followerLossAndResync() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let api = cluster.api(0)
            try await api.expect(200, .post, "/_api/collection", #"{"name": "rep", "replicationFactor": 3, "writeConcern": 2}"#)
            let (shard, servers) = try await Self.planServers(api)
            #expect(Set(servers).count == 3, "three distinct copies: \(servers)")
            #expect(try await Self.waitInSync(api, shard: shard, servers[2]), "both followers in sync after creation")
            // A shard worth copying: 3,000 documents of ~250 bytes.
            for batch in 0..<6 {
                let documents = (0..<500).map { #"{"_key": "base-\#(batch)-\#($0)", "pad": "\#(String(repeating: "y", count: 240))"}"# }
                try await api.expect(202, .post, "/_api/document/rep", "[" + documents.joined(separator: ",") + "]")
            }
            // A small array (answered inline on a single server) waits for the followers too.
            try await api.expect(202, .post, "/_api/document/rep", #"[{"_key": "small-1"}, {"_key": "small-2"}]"#)
            let members = try Self.dbservers(cluster)
            let secret = try ClusterSecret.load(path: cluster.directory + "/cluster/secret").secret.bytes
            let follower = servers[1], other = servers[2]
            var followerMember = try #require(members[follower])
            var restarted: [ServerProcess] = []
            defer { for process in restarted { process.stop() } }

            // 1. Writers run; one follower dies; writes go on once it is dropped.
            let writers = Writers()
            writers.start([cluster.api(0), cluster.api(1)], prefix: "a")
            try await Task.sleep(for: .milliseconds(800))
            kill(followerMember.pid, SIGKILL)
            let atKill = writers.count
            try await Task.sleep(for: .milliseconds(1500))
            #expect(writers.count > atKill + 10, "writes go on after the follower is dropped (\(atKill) → \(writers.count))")
            #expect(!(try await Self.replication(api, shard: shard).inSync.contains(follower)), "the dead follower left the in-sync set")
            await writers.stop()

            // 2. Restarted: it copies only what differs and rejoins.
            while kill(followerMember.pid, 0) == 0 { usleep(20_000) }
            let revived = try ServerProcess(command: followerMember.arguments, dataDirectory: followerMember.arguments[4])
            restarted.append(revived)
            followerMember.pid = revived.process.processIdentifier
            #expect(try await Self.waitInSync(api, shard: shard, follower), "the restarted follower rejoins")
            let status = try await Self.replication(api, shard: shard).servers
            let resync = try #require(status[follower]?["resync"])
            let copied = resync["bytesCopied"]?.uintValue ?? .max
            let shardBytes = UInt64(3000 + writers.count) * 250
            print("replication: incremental resync copied \(copied) bytes (\(resync["documentsCopied"]?.uintValue ?? 0) documents) of a ~\(shardBytes)-byte shard")
            #expect(copied < shardBytes / 4, "an incremental resync moves far fewer bytes than the shard holds: \(resync.json)")

            // 2b. A follower paused with SIGSTOP: writes stall at most the follower timeout
            // (5 s), go on once it is dropped; woken, it resyncs and rejoins.
            let pausedMember = try #require(members[other])
            let paused = Writers()
            paused.start([cluster.api(0), cluster.api(1)], prefix: "p", count: 2)
            try await Task.sleep(for: .milliseconds(300))
            kill(pausedMember.pid, SIGSTOP)
            try await Task.sleep(for: .milliseconds(6_500))
            let afterDrop = paused.count
            try await Task.sleep(for: .milliseconds(1_000))
            #expect(paused.count > afterDrop + 10, "writes go on after the paused follower is dropped (\(afterDrop) → \(paused.count))")
            #expect(!(try await Self.replication(api, shard: shard).inSync.contains(other)), "the paused follower left the in-sync set")
            kill(pausedMember.pid, SIGCONT)
            await paused.stop()
            #expect(try await Self.waitInSync(api, shard: shard, other), "the woken follower resyncs and rejoins")
            writers.acknowledged.withLock { $0 += paused.acknowledged.withLock { $0 } }

            // 3. Both followers down: with writeConcern 2 writes get 1004; reads still work.
            kill(followerMember.pid, SIGKILL)
            let otherMember = try #require(members[other])
            kill(otherMember.pid, SIGKILL)
            var refused = false
            for attempt in 0..<50 where !refused {
                let response = try await api.call(.post, "/_api/document/rep", #"{"_key": "lonely-\#(attempt)"}"#)
                refused = response.status == 403 && response.error?.number.rawValue == 1004
                if !refused { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(refused, "a shard with fewer in-sync copies than writeConcern refuses writes with 1004")
            try await api.expect(200, .get, "/_api/document/rep/base-0-0")

            // 4. One comes back as it was; the other with its shards wiped: a full resync.
            while kill(followerMember.pid, 0) == 0 || kill(otherMember.pid, 0) == 0 { usleep(20_000) }
            restarted.append(try ServerProcess(command: followerMember.arguments, dataDirectory: followerMember.arguments[4]))
            try FileManager.default.removeItem(atPath: otherMember.arguments[4] + "/shards")
            restarted.append(try ServerProcess(command: otherMember.arguments, dataDirectory: otherMember.arguments[4]))
            #expect(try await Self.waitInSync(api, shard: shard, follower), "the first follower rejoins")
            #expect(try await Self.waitInSync(api, shard: shard, other), "the wiped follower rejoins")
            let wiped = try #require(try await Self.replication(api, shard: shard).servers[other]?["resync"])
            #expect((wiped["documentsCopied"]?.uintValue ?? 0) >= 3000, "the wiped follower copied the whole shard: \(wiped.json)")

            // 5. Writes work again; every copy holds exactly the leader's documents.
            let more = Writers()
            more.start([cluster.api(0), cluster.api(1)], prefix: "b", count: 2)
            try await Task.sleep(for: .milliseconds(700))
            await more.stop()
            #expect(more.count > 0, "writes are accepted with the copies back")
            let endpoints = try ["dbserver1", "dbserver2", "dbserver3"].map { name -> Endpoint in
                let arguments = try cluster.member(name).arguments
                return try #require(Endpoint(arguments[2]))
            }
            var copies: [[String: String]] = []
            for endpoint in endpoints { copies.append(try await Self.copy(of: shard, at: endpoint, secret: secret)) }
            let leaderCopy = copies.max { $0.count < $1.count }!
            for (index, copy) in copies.enumerated() {
                #expect(copy == leaderCopy, "copy on dbserver\(index + 1) differs: \(copy.count) vs \(leaderCopy.count) documents")
            }
            for key in writers.acknowledged.withLock({ $0 }) + more.acknowledged.withLock({ $0 }) {
                #expect(leaderCopy[key] != nil, "acknowledged \(key) is missing")
            }
            print("replication: \(writers.count + more.count) acknowledged inserts, \(leaderCopy.count) documents on each of 3 copies; refusals \(writers.refusals.withLock { $0 })")
            await api.client.shutdown()
        }
    }
}
