import Auth
import Client
import ClusterMember
import Foundation
import Testing
import TesseraProcessSupport
import Transport
import TesseraPlatform
import VelocyPack

extension ClusterProcesses {
    /// Automatic failover with real processes: `tessera start` (3 agents, 3 DBServers, 2
    /// coordinators), collections with replicationFactor 2, writers inserting one document at
    /// a time through both coordinators while a shard leader is killed with `kill -9` or
    /// paused with `SIGSTOP`, and while the agency leader is killed in the middle of a
    /// failover. Supervision's defaults: FAILED after 1 250 ms without a heartbeat.
    @Suite("Failover", .serialized)
    struct FailoverProcessTests {
        typealias LocalCluster = ClusterTests.LocalCluster
        typealias Writers = ReplicationProcessTests.Writers

        /// Plan's servers of every shard of `collection`, leader first.
        static func plan(_ api: API, _ collection: String) async throws -> [String: [String]] {
            let distribution = try await api.expect(200, .get, "/_admin/cluster/shardDistribution")
            let plan = try #require(distribution["results"]?[collection]?["Plan"])
            var shards: [String: [String]] = [:]
            for member in plan.objectMembers {
                guard let shard = member.key.keyName, let leader = member.value["leader"]?.stringValue else { continue }
                shards[shard] = [leader] + (member.value["followers"]?.arrayElements.compactMap(\.stringValue) ?? [])
            }
            return shards
        }

        /// Current's in-sync servers of every shard of `collection`.
        static func inSync(_ api: API, _ collection: String) async throws -> [String: [String]] {
            let distribution = try await api.expect(200, .get, "/_admin/cluster/shardDistribution")
            let replication = try #require(distribution["results"]?[collection]?["Replication"])
            var shards: [String: [String]] = [:]
            for member in replication.objectMembers {
                guard let shard = member.key.keyName else { continue }
                shards[shard] = member.value["inSync"]?.arrayElements.compactMap(\.stringValue) ?? []
            }
            return shards
        }

        /// Waits (bounded) until every shard of `collection` has `copies` servers in sync, the
        /// planned leader first.
        static func waitReplicated(_ api: API, _ collection: String, copies: Int, seconds: Int = 60) async throws -> Bool {
            for _ in 0..<(seconds * 5) {
                let plan = try await Self.plan(api, collection), current = try await Self.inSync(api, collection)
                if !plan.isEmpty, plan.allSatisfy({ shard, servers in
                    let listed = current[shard] ?? []
                    return listed.first == servers.first && listed.count >= copies
                }) { return true }
                try await Task.sleep(for: .milliseconds(200))
            }
            return false
        }

        /// Every acknowledged key is there, and the collection holds exactly the acknowledged
        /// documents (no write lost, none applied without an answer).
        static func checkExact(_ api: API, _ collection: String, acknowledged: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let count = try await api.expect(200, .get, "/_api/collection/\(collection)/count")["count"]?.intValue ?? -1
            #expect(count == Int64(acknowledged.count), "the count is exact: \(count) stored, \(acknowledged.count) acknowledged", sourceLocation: sourceLocation)
            var missing: [String] = []
            for chunk in stride(from: 0, to: acknowledged.count, by: 1000) {
                let keys = acknowledged[chunk..<min(chunk + 1000, acknowledged.count)]
                let body = "[" + keys.map { "\"\($0)\"" }.joined(separator: ",") + "]"
                let answer = try await api.expect(200, .put, "/_api/document/\(collection)", body, ["onlyget": "true"])
                for (key, item) in zip(keys, answer.body?.arrayElements.map { $0 } ?? []) where item["_key"] == nil { missing.append(key) }
            }
            #expect(missing.isEmpty, "acknowledged documents missing: \(missing.prefix(10)) (\(missing.count))", sourceLocation: sourceLocation)
        }

        @Test("kill -9 of a shard leader under writers: Plan names the in-sync follower, writes resume within seconds, nothing acknowledged is lost and the count is exact; the old leader comes back as a follower")
        func leaderKilled() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let (api, shard, servers) = try await Self.oneShardCollection(cluster)
            let members = try ReplicationProcessTests.dbservers(cluster)
            let leader = try #require(members[servers[0]])

            let writers = Writers()
            writers.start([cluster.api(0), cluster.api(1)], prefix: "a")
            try await Task.sleep(for: .milliseconds(1_000))
            let atKill = writers.count
            let killed = Date()
            kill(leader.pid, SIGKILL)
            // Writes resume once supervision promoted the follower and it took over.
            var resumedAfter: Double?
            for _ in 0..<200 where resumedAfter == nil {
                try await Task.sleep(for: .milliseconds(50))
                if writers.count > atKill + 20 { resumedAfter = Date().timeIntervalSince(killed) }
            }
            print("failover: writes resumed \(resumedAfter.map { String(format: "%.2f", $0) } ?? "never") s after kill -9 of the leader")
            #expect(resumedAfter ?? 99 < 6, "writes resume within seconds")
            try await Task.sleep(for: .milliseconds(1_000))
            await writers.stop()
            let plan = try #require(try await Self.plan(api, "rep")[shard])
            #expect(plan.first == servers[1], "Plan names the in-sync follower leader: \(plan)")
            #expect(writers.refusals.withLock { $0 }.isEmpty, "no client saw an error: \(writers.refusals.withLock { $0 })")
            try await Self.checkExact(api, "rep", acknowledged: writers.acknowledged.withLock { $0 })

            // The killed server restarts: it follows (a resync) and supervision brings the shard
            // back to two copies in sync.
            while kill(leader.pid, 0) == 0 { usleep(20_000) }
            let revived = try ServerProcess(command: leader.arguments, dataDirectory: leader.arguments[4])
            defer { revived.stop() }
            #expect(try await Self.waitReplicated(api, "rep", copies: 2), "the shard is back to two in-sync copies")
            let jobs = try cluster.agencyRead("/arango/Target/Finished")
            #expect(jobs.contains("failedLeader") && jobs.contains("failedServer"), "\(jobs)")
            // The agents' logs say what supervision decided and why.
            #expect(cluster.logsMention("FAILED after") && cluster.logsMention("FailedLeader promotes \(servers[1])"))
            try await Self.checkExact(api, "rep", acknowledged: writers.acknowledged.withLock { $0 })
            await api.client.shutdown()
        }

        /// Collection `rep` with one shard and replicationFactor 2, both copies in sync: the API,
        /// the shard and its servers (leader first).
        static func oneShardCollection(_ cluster: LocalCluster) async throws -> (API, String, [String]) {
            let api = cluster.api(0)
            try await api.expect(200, .post, "/_api/collection", #"{"name": "rep", "replicationFactor": 2, "numberOfShards": 1}"#)
            #expect(try await Self.waitReplicated(api, "rep", copies: 2))
            let (shard, servers) = try #require(try await Self.plan(api, "rep").first)
            return (api, shard, servers)
        }

        /// The endpoint of the agent that leads the agency, from the coordinator's health answer.
        static func agencyLeader(_ api: API) async throws -> String? {
            let health = try await api.expect(200, .get, "/_admin/cluster/health")
            for member in health["Health"]?.objectMembers.map({ $0 }) ?? [] where member.value["Role"]?.stringValue == "Agent" {
                if member.value["Leading"]?.boolValue == true { return member.value["Endpoint"]?.stringValue }
            }
            return nil
        }

        @Test("SIGSTOP of a shard leader beyond the grace period: the follower takes over; woken, the old leader takes no write as leader and follows")
        func leaderPaused() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let (api, shard, servers) = try await Self.oneShardCollection(cluster)
            let members = try ReplicationProcessTests.dbservers(cluster)
            let leader = try #require(members[servers[0]])
            let secret = try ClusterSecret.load(path: cluster.directory + "/cluster/secret").secret.bytes
            let oldLeader = ReplicationProcessTests.serverAPI(try #require(Endpoint(leader.arguments[2])), secret: secret)
            // Connected before the pause, so the request below waits in the socket.
            try await oldLeader.expect(200, .get, "/_api/version")

            let writers = Writers()
            writers.start([cluster.api(0), cluster.api(1)], prefix: "p")
            try await Task.sleep(for: .milliseconds(800))
            kill(leader.pid, SIGSTOP)
            var moved = false
            for _ in 0..<100 where !moved {
                try await Task.sleep(for: .milliseconds(100))
                moved = try await Self.plan(api, "rep")[shard]?.first == servers[1]
            }
            #expect(moved, "Plan names the follower after the grace period")
            let atMove = writers.count
            try await Task.sleep(for: .milliseconds(1_000))
            #expect(writers.count > atMove + 10, "writes go on through the new leader (\(atMove) → \(writers.count))")

            // A write sent straight to the paused old leader, read by it the moment it wakes
            // (before it has seen the new Plan): it must not be acknowledged.
            let direct = Task { try await oldLeader.call(.post, "/_api/document/\(shard)", #"{"_key": "stale-write"}"#) }
            try await Task.sleep(for: .milliseconds(200))
            kill(leader.pid, SIGCONT)
            let answer = try await direct.value
            #expect(!(200..<300).contains(answer.status), "the woken old leader acknowledged a write: \(answer.status) \(answer.json)")
            try await Task.sleep(for: .milliseconds(1_000))
            await writers.stop()
            try await api.expectError(404, 1202, .get, "/_api/document/rep/stale-write")
            #expect(try await Self.waitReplicated(api, "rep", copies: 2), "the shard is back to two in-sync copies")
            let final = try #require(try await Self.plan(api, "rep")[shard])
            #expect(final.first == servers[1], "leadership stays with the promoted follower: \(final)")
            try await Self.checkExact(api, "rep", acknowledged: writers.acknowledged.withLock { $0 })
            await oldLeader.client.shutdown()
            await api.client.shutdown()
        }

        @Test("no in-sync copy left: the follower died first and was dropped, then the leader — clients get ArangoDB's 503 saying so, not a wait")
        func noInSyncCopyLeft() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let (api, shard, servers) = try await Self.oneShardCollection(cluster)
            let members = try ReplicationProcessTests.dbservers(cluster)
            let leader = try #require(members[servers[0]]), follower = try #require(members[servers[1]])
            kill(follower.pid, SIGKILL)
            // Writes go on once the leader dropped the dead follower: Current lists the leader alone.
            var alone = false
            for attempt in 0..<100 where !alone {
                _ = try await api.call(.post, "/_api/document/rep", #"{"_key": "before-\#(attempt)"}"#)
                alone = try await Self.inSync(api, "rep")[shard] == [servers[0]]
                if !alone { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(alone, "the leader dropped its dead follower")
            kill(leader.pid, SIGKILL)
            let started = Date()
            let write = try await api.call(.post, "/_api/document/rep", #"{"_key": "after"}"#)
            let read = try await api.call(.get, "/_api/document/rep/before-0")
            let waited = Date().timeIntervalSince(started)
            for (what, response) in [("write", write), ("read", read)] {
                #expect(response.status == 503 && response.error?.number.rawValue == 1478, "\(what): \(response.status) \(response.json)")
                #expect(response.error?.message.contains("no in-sync copy left") == true, "\(what): \(response.json)")
            }
            #expect(waited < 10, "answered once supervision found the leader FAILED (\(waited) s), not after the 15 s retry deadline")
            await api.client.shutdown()
        }

        @Test("the agency leader killed in the middle of a DBServer failover: the next agency leader finishes it")
        func agencyLeaderKilledDuringFailover() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let (api, shard, servers) = try await Self.oneShardCollection(cluster)
            let leader = try #require(try ReplicationProcessTests.dbservers(cluster)[servers[0]])
            let agencyEndpoint = try #require(try await Self.agencyLeader(api))
            let agent = try #require(try (1...3).map { try cluster.member("agent\($0)") }.first { $0.arguments[2] == agencyEndpoint })

            let writers = Writers()
            writers.start([cluster.api(0), cluster.api(1)], prefix: "g")
            try await Task.sleep(for: .milliseconds(800))
            let killed = Date()
            kill(leader.pid, SIGKILL)
            // Inside the grace period: supervision has not decided yet when its agent dies.
            try await Task.sleep(for: .milliseconds(700))
            kill(agent.pid, SIGKILL)
            var movedAfter: Double?
            for _ in 0..<300 where movedAfter == nil {
                try await Task.sleep(for: .milliseconds(100))
                if (try? await Self.plan(api, "rep"))?[shard]?.first == servers[1] { movedAfter = Date().timeIntervalSince(killed) }
            }
            print("failover with the agency leader killed: Plan moved \(movedAfter.map { String(format: "%.2f", $0) } ?? "never") s after kill -9 of the shard leader")
            #expect(movedAfter != nil, "the failover completes under the next agency leader")
            let atMove = writers.count
            try await Task.sleep(for: .milliseconds(1_500))
            #expect(writers.count > atMove + 10, "writes resume")
            await writers.stop()
            try await Self.checkExact(api, "rep", acknowledged: writers.acknowledged.withLock { $0 })
            let finished = try cluster.agencyRead("/arango/Target/Finished")
            #expect(finished.components(separatedBy: "\"failedLeader\"").count == 2, "one FailedLeader job, run once: \(finished)")
            await api.client.shutdown()
        }

        @Test("kill -9 rotated over every DBServer twice, each restarted after its failover: writes keep going, every shard back to two copies, nothing lost")
        func rotatedKills() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let api = cluster.api(0)
            try await api.expect(200, .post, "/_api/collection", #"{"name": "rep", "replicationFactor": 2, "numberOfShards": 3}"#)
            #expect(try await Self.waitReplicated(api, "rep", copies: 2))
            var members = try ReplicationProcessTests.dbservers(cluster)
            var restarted: [String: ServerProcess] = [:]
            defer { for process in restarted.values { process.stop() } }
            let writers = Writers()
            writers.start([cluster.api(0), cluster.api(1)], prefix: "r")
            for round in 1...2 {
                for id in members.keys.sorted() {
                    var member = members[id]!
                    kill(member.pid, SIGKILL)
                    while kill(member.pid, 0) == 0 { usleep(20_000) }
                    // Every shard it led fails over; writes go on.
                    var failedOver = false
                    for _ in 0..<100 where !failedOver {
                        try await Task.sleep(for: .milliseconds(100))
                        failedOver = try await Self.plan(api, "rep").values.allSatisfy { $0.first != id }
                    }
                    #expect(failedOver, "round \(round): no shard left led by the killed \(id)")
                    // Shards it followed stall until their leaders drop it; then writes go on.
                    let before = writers.count
                    var wentOn = false
                    for _ in 0..<30 where !wentOn {
                        try await Task.sleep(for: .milliseconds(100))
                        wentOn = writers.count > before
                    }
                    #expect(wentOn, "round \(round): writes go on within 3 s after \(id) died")
                    restarted[id]?.stop()
                    let process = try ServerProcess(command: member.arguments, dataDirectory: member.arguments[4])
                    restarted[id] = process
                    member.pid = process.process.processIdentifier
                    members[id] = member
                    #expect(try await Self.waitReplicated(api, "rep", copies: 2), "round \(round): two copies again after \(id) came back")
                }
            }
            await writers.stop()
            #expect(writers.refusals.withLock { $0 }.isEmpty, "no client saw an error: \(writers.refusals.withLock { $0 })")
            try await Self.checkExact(api, "rep", acknowledged: writers.acknowledged.withLock { $0 })
            await api.client.shutdown()
        }
    }
}
