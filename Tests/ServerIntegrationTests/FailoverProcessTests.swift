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
            let api = cluster.api(0)
            try await api.expect(200, .post, "/_api/collection", #"{"name": "rep", "replicationFactor": 2, "numberOfShards": 1}"#)
            #expect(try await Self.waitReplicated(api, "rep", copies: 2))
            let (shard, servers) = try #require(try await Self.plan(api, "rep").first)
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
            try await Self.checkExact(api, "rep", acknowledged: writers.acknowledged.withLock { $0 })
            await api.client.shutdown()
        }
    }
}
