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
    /// Shard moves with real processes (`tessera start`: 3 agents, 3 DBServers, 2
    /// coordinators): a leader moved back and forth while documents are inserted one by one
    /// (the scenario ArangoDB keeps disabled), a DBServer cleaned out under write load and
    /// removed, a fourth DBServer added with `tessera start --dbservers 4` and the cluster
    /// rebalanced onto it with `tessera cluster rebalance --execute`.
    @Suite("Moves", .serialized)
    struct MoveProcessTests {
        typealias LocalCluster = ClusterTests.LocalCluster
        typealias Writers = ReplicationProcessTests.Writers
        typealias Failover = FailoverProcessTests

        /// Waits (bounded) until job `id` is Finished or Failed; its stage and record.
        static func waitForJob(_ api: API, _ id: String, seconds: Int = 120) async throws -> (status: String, job: Slice) {
            for _ in 0..<(seconds * 10) {
                let answer = try await api.expect(200, .get, "/_admin/cluster/queryAgencyJob", nil, ["id": id])
                let status = answer["status"]?.stringValue ?? "?"
                if status == "Finished" || status == "Failed" { return (status, try #require(answer["job"])) }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw ServerProcess.Failure(description: "job \(id) did not end within \(seconds) s")
        }

        static func moveShard(_ api: API, collection: String, shard: String, from: String, to: String) async throws -> String {
            let answer = try await api.expect(202, .post, "/_admin/cluster/moveShard",
                                              #"{"database": "_system", "collection": "\#(collection)", "shard": "\#(shard)", "fromServer": "\#(from)", "toServer": "\#(to)"}"#)
            return try #require(answer["id"]?.stringValue)
        }

        /// The client options of `tessera cluster …` for the cluster's first coordinator.
        static func clientArguments(_ cluster: LocalCluster) -> [String] {
            ["--endpoint", "tcp://127.0.0.1:\(cluster.coordinators[0].port)", "--password", ""]
        }

        /// Every shard of `collection`: each copy in Plan holds exactly the same documents
        /// (read from the DBServers directly), and together they hold `expected` documents.
        static func everyCopyHolds(_ cluster: LocalCluster, _ api: API, _ collection: String, expected: Int) async throws {
            let secret = try ClusterSecret.load(path: cluster.directory + "/cluster/secret").secret.bytes
            let members = try (try? ReplicationProcessTests.dbservers(cluster, count: 4)) ?? ReplicationProcessTests.dbservers(cluster)
            var total = 0
            for (shard, servers) in try await Failover.plan(api, collection) {
                var copies: [[String: String]] = []
                for server in servers {
                    let member = try #require(members[server], "\(server) is a DBServer of the cluster")
                    copies.append(try await ReplicationProcessTests.copy(of: shard, at: try #require(Endpoint(member.arguments[2])), secret: secret))
                }
                for copy in copies.dropFirst() {
                    #expect(copy == copies[0], "\(shard): the copies on \(servers) hold the same documents (\(copy.count) vs \(copies[0].count))")
                }
                total += copies.first?.count ?? 0
            }
            #expect(total == expected, "\(total) documents in \(collection), \(expected) expected")
        }

        @Test("a shard's leader moved back and forth between two DBServers while 10,000 documents are inserted one by one: none missing, the count exact, no client error")
        func leaderMovedBackAndForth() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let (api, shard, servers) = try await Failover.oneShardCollection(cluster)
            // One writer, one document at a time, each retried by the coordinator across the
            // hand-overs: the client only ever sees an answer per document.
            let writer = Task {
                let client = cluster.api(1)
                var acknowledged: [String] = [], errors: [String] = []
                var longestGap = 0.0, last = Date()
                let deadline = Date().addingTimeInterval(240)
                for n in 0..<10_000 where Date() < deadline {
                    let key = "k\(n)"
                    let response = try? await client.call(.post, "/_api/document/rep", #"{"_key": "\#(key)", "n": \#(n)}"#)
                    if let response, response.status == 201 || response.status == 202 {
                        acknowledged.append(key)
                        longestGap = max(longestGap, Date().timeIntervalSince(last))
                        last = Date()
                    } else {
                        errors.append("\(key): \(response.map { "\($0.status) \($0.error?.message ?? "")" } ?? "no answer")")
                    }
                }
                await client.client.shutdown()
                return (acknowledged, errors, longestGap)
            }
            // The mover: leadership back and forth (each move waits for the last).
            var moves = 0
            var leader = servers[0], other = servers[1]
            let started = Date()
            while Date().timeIntervalSince(started) < 240 {
                let id = try await Self.moveShard(api, collection: "rep", shard: shard, from: leader, to: other)
                let (status, job) = try await Self.waitForJob(api, id)
                #expect(status == "Finished", "move \(id) \(leader) → \(other): \(job.json)")
                guard status == "Finished" else { break }
                moves += 1
                swap(&leader, &other)
                // Stop once the writer is done (checked without waiting for it).
                if try await api.expect(200, .get, "/_api/collection/rep/count")["count"]?.intValue ?? 0 >= 10_000 { break }
            }
            let (acknowledged, errors, longestGap) = await writer.value
            print("moves: \(moves) leader moves during 10,000 single inserts; longest gap between acknowledgements \(String(format: "%.3f", longestGap)) s")
            #expect(moves >= 4, "the leader moved several times during the inserts (\(moves))")
            #expect(errors.isEmpty, "no client error: \(errors.prefix(5)) (\(errors.count))")
            #expect(acknowledged.count == 10_000)
            #expect(longestGap < 5, "writes paused at most briefly per hand-over (\(longestGap) s)")
            try await Failover.checkExact(api, "rep", acknowledged: acknowledged)
            #expect(try await Failover.waitReplicated(api, "rep", copies: 2))
            try await Self.everyCopyHolds(cluster, api, "rep", expected: 10_000)
            #expect(cluster.logsMention("handing \(shard) over") && cluster.logsMention("reported resigned"))
            await api.client.shutdown()
        }

        /// A 1-shard collection `rep` (replicationFactor 2) filled with `documents` documents
        /// of about 200 bytes, both copies in sync; the servers, leader first, and the spare.
        static func filledShard(_ cluster: LocalCluster, documents: Int) async throws -> (API, String, [String], String) {
            let (api, shard, servers) = try await Failover.oneShardCollection(cluster)
            let pad = String(repeating: "p", count: 150)
            for start in stride(from: 0, to: documents, by: 5000) {
                let batch = (start..<min(documents, start + 5000)).map { #"{"_key": "f\#($0)", "pad": "\#(pad)"}"# }
                try await api.expect(202, .post, "/_api/document/rep", "[" + batch.joined(separator: ",") + "]")
            }
            #expect(try await Failover.waitReplicated(api, "rep", copies: 2))
            let spare = try #require(try ReplicationProcessTests.dbservers(cluster).keys.first { !servers.contains($0) })
            return (api, shard, servers, spare)
        }

        /// Waits (bounded) until Plan for `shard` satisfies `holds`.
        static func waitPlan(_ api: API, _ shard: String, seconds: Int = 30, _ holds: ([String]) -> Bool) async throws -> [String] {
            for _ in 0..<(seconds * 50) {
                if let servers = try await Failover.plan(api, "rep")[shard], holds(servers) { return servers }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw ServerProcess.Failure(description: "Plan of \(shard) did not reach the expected state within \(seconds) s")
        }

        @Test("kill -9 of a move's target while it copies the shard: the job ends, the shard keeps two in-sync copies, no acknowledged write is lost")
        func targetKilledDuringAMove() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let (api, shard, servers, spare) = try await Self.filledShard(cluster, documents: 60_000)
            let members = try ReplicationProcessTests.dbservers(cluster)
            let target = try #require(members[spare])
            let writers = Writers()
            writers.start([cluster.api(0), cluster.api(1)], prefix: "t", count: 2)
            let id = try await Self.moveShard(api, collection: "rep", shard: shard, from: servers[0], to: spare)
            _ = try await Self.waitPlan(api, shard) { $0.contains(spare) }
            kill(target.pid, SIGKILL)
            let (status, job) = try await Self.waitForJob(api, id)
            print("moves: target killed mid-move → job \(status): \(job["reason"]?.stringValue ?? "-")")
            #expect(status == "Failed" && job["reason"]?.stringValue?.contains("FAILED") == true, "the move aborts: \(job.json)")
            // The job and Plan change in one transaction; the coordinator's Plan may lag a moment.
            let plan = try? await Self.waitPlan(api, shard, seconds: 10) { $0 == servers }
            let lastPlan = try await Failover.plan(api, "rep")[shard]
            #expect(plan == servers, "Plan is as before the move: \(String(describing: lastPlan))")
            #expect(try await Failover.waitReplicated(api, "rep", copies: 2), "two copies in sync")
            await writers.stop()
            #expect(writers.count > 0)
            try await Failover.checkExact(api, "rep", acknowledged: writers.acknowledged.withLock { $0 } + (0..<60_000).map { "f\($0)" })
            // The target comes back; a new move to it goes through.
            while kill(target.pid, 0) == 0 { usleep(20_000) }
            let revived = try ServerProcess(command: target.arguments, dataDirectory: target.arguments[4])
            defer { revived.stop() }
            for _ in 0..<150 {
                if try await api.expect(200, .get, "/_admin/cluster/health")["Health"]?[spare]?["Status"]?.stringValue == "GOOD" { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let again = try await Self.moveShard(api, collection: "rep", shard: shard, from: servers[0], to: spare)
            let (finalStatus, finalJob) = try await Self.waitForJob(api, again)
            #expect(finalStatus == "Finished", "\(finalJob.json)")
            #expect(try await Failover.plan(api, "rep")[shard] == [spare, servers[1]])
            try await Self.everyCopyHolds(cluster, api, "rep", expected: 60_000 + writers.count)
            await api.client.shutdown()
        }

        @Test("SIGSTOP of the source leader during a move to a new server: the move aborts, the in-sync follower takes over, the old leader returns as follower; nothing acknowledged is lost")
        func sourcePausedDuringAMove() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let (api, shard, servers, spare) = try await Self.filledShard(cluster, documents: 60_000)
            let members = try ReplicationProcessTests.dbservers(cluster)
            let source = try #require(members[servers[0]])
            let writers = Writers()
            writers.start([cluster.api(0), cluster.api(1)], prefix: "s", count: 2)
            try await Task.sleep(for: .milliseconds(300))
            let id = try await Self.moveShard(api, collection: "rep", shard: shard, from: servers[0], to: spare)
            _ = try await Self.waitPlan(api, shard) { $0.contains(spare) }
            kill(source.pid, SIGSTOP)
            let (status, job) = try await Self.waitForJob(api, id)
            print("moves: source paused mid-move → job \(status): \(job["reason"]?.stringValue ?? "-")")
            // Either the target was not in sync yet (abort), or it was (it took over): both keep
            // every acknowledged write; with the leader paused the shard must get a new leader.
            let plan = try await Self.waitPlan(api, shard) { $0.first != servers[0] }
            #expect(plan.first == servers[1] || plan.first == spare, "an in-sync copy leads: \(plan)")
            try await Task.sleep(for: .milliseconds(1_000))
            kill(source.pid, SIGCONT)
            #expect(try await Failover.waitReplicated(api, "rep", copies: 2), "two copies in sync again")
            await writers.stop()
            try await Failover.checkExact(api, "rep", acknowledged: writers.acknowledged.withLock { $0 } + (0..<60_000).map { "f\($0)" })
            let jobs = try cluster.agencyRead("/arango/Target")
            #expect(!jobs.contains("\"Pending\":{\"") , "no job left pending: \(jobs.prefix(400))")
            try await Self.everyCopyHolds(cluster, api, "rep", expected: 60_000 + writers.count)
            await api.client.shutdown()
        }

        @Test("a DBServer cleaned out under write load with tessera cluster clean-out holds nothing afterwards and is removed once stopped; every write is kept")
        func cleanOutUnderLoadThenRemove() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let api = cluster.api(0)
            try await api.expect(200, .post, "/_api/collection", #"{"name": "rep", "replicationFactor": 2, "numberOfShards": 6}"#)
            #expect(try await Failover.waitReplicated(api, "rep", copies: 2))
            let members = try ReplicationProcessTests.dbservers(cluster)
            let (victim, member) = try #require(members.sorted { $0.value.name < $1.value.name }.last)
            let writers = Writers()
            writers.start([cluster.api(0), cluster.api(1)], prefix: "w", count: 2)
            try await Task.sleep(for: .milliseconds(500))
            // The CLI waits for the job and draws its progress.
            let result = try LauncherTests.tessera(["cluster", "clean-out", victim] + Self.clientArguments(cluster), in: cluster.directory)
            #expect(result.status == 0, "tessera cluster clean-out: \(result.output)")
            #expect(result.output.contains("moves") && result.output.contains(": Finished"), "\(result.output)")
            try await Task.sleep(for: .milliseconds(500))
            await writers.stop()
            #expect(writers.refusals.withLock { $0 }.isEmpty, "no client saw an error: \(writers.refusals.withLock { $0 })")
            let plan = try await Failover.plan(api, "rep")
            #expect(plan.values.allSatisfy { !$0.contains(victim) && $0.count == 2 }, "no copy left on \(victim): \(plan)")
            #expect(try await Failover.waitReplicated(api, "rep", copies: 2))
            #expect(try cluster.agencyRead("/arango/Target/CleanedServers").contains(victim))
            try await Failover.checkExact(api, "rep", acknowledged: writers.acknowledged.withLock { $0 })
            // New collections avoid it.
            try await api.expect(200, .post, "/_api/collection", #"{"name": "later", "replicationFactor": 2, "numberOfShards": 6}"#)
            #expect(try await Failover.plan(api, "later").values.allSatisfy { !$0.contains(victim) })
            // Stopped, it becomes FAILED (it holds nothing: no failover) and can be removed.
            kill(member.pid, SIGTERM)
            var removed = false
            for _ in 0..<150 where !removed {
                try await Task.sleep(for: .milliseconds(200))
                let response = try await api.call(.post, "/_admin/cluster/removeServer", "\"\(victim)\"")
                removed = response.status == 200
            }
            #expect(removed, "the cleaned-out server is removed once FAILED")
            let health = try await api.expect(200, .get, "/_admin/cluster/health")
            #expect(health["Health"]?[victim] == nil)
            try await Failover.checkExact(api, "rep", acknowledged: writers.acknowledged.withLock { $0 })
            await api.client.shutdown()
        }

        @Test("tessera start --dbservers 4 adds a DBServer that holds nothing until tessera cluster rebalance --execute spreads copies and leaders evenly; every document is on every copy")
        func fourthServerAndRebalance() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            var api = cluster.api(0)
            try await api.expect(200, .post, "/_api/collection", #"{"name": "rep", "replicationFactor": 2, "numberOfShards": 8}"#)
            #expect(try await Failover.waitReplicated(api, "rep", copies: 2))
            var documents = "["
            for n in 0..<2000 { documents += (n == 0 ? "" : ",") + #"{"_key": "d\#(n)", "n": \#(n)}"# }
            try await api.expect(202, .post, "/_api/document/rep", documents + "]")
            await api.client.shutdown()
            // The same cluster with a fourth DBServer.
            cluster.stop()
            cluster.extraArguments = ["--dbservers", "4"]
            try cluster.launch()
            #expect(cluster.output.contains("adding dbserver4"), "\(cluster.output)")
            api = cluster.api(0)
            let members = try ReplicationProcessTests.dbservers(cluster, count: 4)
            let added = try #require(members.first { $0.value.name == "dbserver4" }?.key)
            #expect(try await Failover.waitReplicated(api, "rep", copies: 2))
            #expect(try await Failover.plan(api, "rep").values.allSatisfy { !$0.contains(added) }, "a new DBServer gets no copy by itself")
            // Wait until supervision judged the new server GOOD (the planner only uses GOOD ones).
            for _ in 0..<100 {
                if try await api.expect(200, .get, "/_admin/cluster/health")["Health"]?[added]?["Status"]?.stringValue == "GOOD" { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let shown = try LauncherTests.tessera(["cluster", "rebalance"] + Self.clientArguments(cluster), in: cluster.directory)
            #expect(shown.status == 0 && shown.output.contains(added) && shown.output.contains("--execute"), "\(shown.output)")
            #expect(try await Failover.plan(api, "rep").values.allSatisfy { !$0.contains(added) }, "showing the plan moves nothing")
            let executed = try LauncherTests.tessera(["cluster", "rebalance", "--execute"] + Self.clientArguments(cluster), in: cluster.directory)
            #expect(executed.status == 0, "\(executed.output)")
            #expect(try await Failover.waitReplicated(api, "rep", copies: 2))
            let plan = try await Failover.plan(api, "rep")
            var copies: [String: Int] = [:], leaders: [String: Int] = [:]
            for servers in plan.values {
                for server in servers { copies[server, default: 0] += 1 }
                leaders[servers[0], default: 0] += 1
            }
            print("rebalance 3 → 4 DBServers, 8 shards × 2: copies \(copies), leaders \(leaders)")
            let copyCounts = members.keys.map { copies[$0] ?? 0 }, leaderCounts = members.keys.map { leaders[$0] ?? 0 }
            #expect(copyCounts.max()! - copyCounts.min()! <= 1, "16 copies over 4 servers, evenly: \(copies)")
            #expect(leaderCounts.max()! - leaderCounts.min()! <= 1, "8 leaders over 4 servers, evenly: \(leaders)")
            #expect(plan.values.allSatisfy { Set($0).count == $0.count }, "never two copies of a shard on one server")
            try await Self.everyCopyHolds(cluster, api, "rep", expected: 2000)
            await api.client.shutdown()
        }
    }
}
