import Client
import Foundation
import Testing
import TesseraProcessSupport
import Transport
import VelocyPack

extension ClusterProcesses {
    /// The cluster administration API with real processes (`tessera start`: 3 agents, 3
    /// DBServers, 2 coordinators): `/_admin/cluster/health` from supervision's verdicts and the
    /// agents' own answers, `kill -9` of a coordinator seen as FAILED, `removeServer` refused
    /// while a server is healthy and accepted once it failed, jobs shown by
    /// `queryAgencyJob`, `/_admin/cluster/jobs` and `tessera cluster jobs|health`.
    @Suite("Cluster health and administration", .serialized)
    struct ClusterHealthProcessTests {
        typealias LocalCluster = ClusterTests.LocalCluster

        static func health(_ api: API) async throws -> [String: Slice] {
            let answer = try await api.expect(200, .get, "/_admin/cluster/health")
            var entries: [String: Slice] = [:]
            for member in answer["Health"]?.objectMembers ?? Slice(trustedBytes: [0x0a]).objectMembers {
                if let id = member.key.keyName { entries[id] = member.value }
            }
            return entries
        }

        static func serverId(_ cluster: LocalCluster, _ name: String) throws -> String {
            let member = try cluster.member(name)
            return try String(contentsOfFile: member.arguments[4] + "/SERVER", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// Polls `condition` every 100 ms for at most `seconds`; returns the seconds it took, or nil.
        static func within(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Double? {
            let start = Date()
            while Date().timeIntervalSince(start) < seconds {
                if try await condition() { return Date().timeIntervalSince(start) }
                try await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }

        @Test("health lists agents (one leader), DBServers and coordinators GOOD; a killed coordinator is FAILED within seconds; removeServer refuses a GOOD server and non-admins, removes a FAILED one; jobs of a failed DBServer are shown")
        func healthFailureAndRemoval() async throws {
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let api = cluster.api(0)
            defer { Task { await api.client.shutdown() } }
            let coordinator2 = try Self.serverId(cluster, "coordinator2")
            let dbserver3 = try Self.serverId(cluster, "dbserver3")

            // Everyone GOOD (supervision judges a server at its first heartbeats).
            let settled = try await Self.within(10) {
                let entries = try await Self.health(api)
                return entries.count == 8 && entries.values.allSatisfy { $0["Status"]?.stringValue == "GOOD" }
            }
            let entries = try await Self.health(api)
            #expect(settled != nil, "all 8 members GOOD: \(entries.mapValues { $0.json })")
            let agents = entries.filter { $0.value["Role"]?.stringValue == "Agent" }
            #expect(agents.count == 3 && agents.keys.allSatisfy { $0.hasPrefix("AGNT-") })
            let leaders = agents.filter { $0.value["Leading"]?.boolValue == true }.map(\.key)
            #expect(leaders.count == 1, "exactly one agent leads: \(agents.mapValues { $0.json })")
            #expect(agents.values.allSatisfy { $0["Leader"]?.stringValue == leaders.first }, "every agent names the leader")
            let dbServers = entries.filter { $0.value["Role"]?.stringValue == "DBServer" }
            let coordinators = entries.filter { $0.value["Role"]?.stringValue == "Coordinator" }
            #expect(dbServers.count == 3 && coordinators.count == 2)
            for (id, entry) in dbServers.merging(coordinators, uniquingKeysWith: { a, _ in a }) {
                #expect(entry["LastHeartbeatAcked"]?.stringValue?.hasSuffix("Z") == true, "\(id): \(entry.json)")
                #expect(entry["ShortName"]?.stringValue?.isEmpty == false && entry["Endpoint"]?.stringValue?.hasPrefix("tcp://") == true)
                #expect(entry["CanBeDeleted"]?.boolValue == false)
            }
            let whole = try await api.expect(200, .get, "/_admin/cluster/health")
            #expect(whole["ClusterId"]?.stringValue?.isEmpty == false && whole["error"]?.boolValue == false)

            // queryAgencyJob: 400 without an id, 404 for an unknown one.
            try await api.expectError(400, 400, .get, "/_admin/cluster/queryAgencyJob")
            try await api.expectError(404, 404, .get, "/_admin/cluster/queryAgencyJob", nil, ["id": "987654321"])

            // removeServer: refused while GOOD (412), for non-admins (403), for unknown servers (404).
            try await api.expectError(412, 412, .post, "/_admin/cluster/removeServer", "\"\(coordinator2)\"")
            try await api.expectError(404, 404, .post, "/_admin/cluster/removeServer", "\"CRDN-no-such-server\"")
            try await api.expectError(400, 400, .post, "/_admin/cluster/removeServer", #"{"server": 1}"#)
            try await api.expect(201, .post, "/_api/user", #"{"user": "reader", "passwd": "r"}"#)
            try await api.expect(200, .put, "/_api/user/reader/database/_system", #"{"grant": "ro"}"#)
            let reader = cluster.api(0, .plain(user: "reader", password: "r"))
            try await reader.expectError(403, 11, .post, "/_admin/cluster/removeServer", "\"\(coordinator2)\"")
            try await reader.expect(200, .get, "/_admin/cluster/health")
            await reader.client.shutdown()

            // kill -9 the second coordinator: BAD after 750 ms, FAILED after 1 250 ms without a heartbeat.
            let pid = try cluster.member("coordinator2").pid
            #expect(pid > 0 && kill(pid, SIGKILL) == 0)
            let failedAfter = try await Self.within(8) {
                try await Self.health(api)[coordinator2]?["Status"]?.stringValue == "FAILED"
            }
            #expect(failedAfter.map { $0 <= 5 } == true, "coordinator2 FAILED within 5 s, took \(failedAfter.map { "\($0) s" } ?? "longer than 8 s")")
            #expect(try await Self.health(api)[coordinator2]?["CanBeDeleted"]?.boolValue == true)
            let removed = try await api.expect(200, .post, "/_admin/cluster/removeServer", "\"\(coordinator2)\"")
            #expect(removed["result"]?.boolValue == true)
            #expect(try await Self.health(api)[coordinator2] == nil, "coordinator2 is gone from health")
            try await api.expectError(404, 404, .post, "/_admin/cluster/removeServer", "\"\(coordinator2)\"")

            // kill -9 a DBServer holding no shard: supervision's FailedServer job is listed and queried.
            let dbserverPid = try cluster.member("dbserver3").pid
            #expect(dbserverPid > 0 && kill(dbserverPid, SIGKILL) == 0)
            var jobId: String?
            _ = try await Self.within(10) {
                let jobs = try await api.expect(200, .get, "/_admin/cluster/jobs")
                jobId = jobs["jobs"]?.arrayElements.first { $0["job"]?["type"]?.stringValue == "failedServer" && $0["job"]?["server"]?.stringValue == dbserver3 }?["id"]?.stringValue
                return jobId != nil
            }
            let id = try #require(jobId, "a FailedServer job for dbserver3")
            let job = try await api.expect(200, .get, "/_admin/cluster/queryAgencyJob", nil, ["id": id])
            #expect(job["id"]?.stringValue == id && ["ToDo", "Pending", "Finished"].contains(job["status"]?.stringValue ?? ""))
            #expect(job["job"]?["server"]?.stringValue == dbserver3 && job["error"]?.boolValue == false)
            // Once the job has finished (nothing to move), the DBServer can be removed too.
            let removable = try await Self.within(10) {
                try await api.call(.post, "/_admin/cluster/removeServer", "\"\(dbserver3)\"").status == 200
            }
            #expect(removable != nil, "the failed DBServer without shards is removed")
            #expect(try await Self.health(api)[dbserver3] == nil)

            // The command line: the health table (every member left is GOOD: exit 0) and the jobs.
            let endpoint = ["--endpoint", cluster.coordinators[0].description, "--password", cluster.rootPassword]
            let table = try LauncherTests.tessera(["cluster", "health"] + endpoint, in: cluster.directory)
            #expect(table.status == 0, "\(table.output)")
            let lines = table.output.split(separator: "\n")
            #expect(lines.filter { $0.hasPrefix("Agent ") }.count == 3 && lines.filter { $0.hasPrefix("DBServer ") }.count == 2
                    && lines.filter { $0.hasPrefix("Coordinator ") }.count == 1 && table.output.contains("(leader)")
                    && !table.output.contains(coordinator2) && !table.output.contains(dbserver3), "\(table.output)")
            let list = try LauncherTests.tessera(["cluster", "jobs"] + endpoint, in: cluster.directory)
            #expect(list.status == 0 && list.output.contains("failedServer") && list.output.contains(id), "\(list.output)")
            let one = try LauncherTests.tessera(["cluster", "jobs", "--id", id, "--json"] + endpoint, in: cluster.directory)
            #expect(one.status == 0 && one.output.contains("\"failedServer\""), "\(one.output)")
            let missing = try LauncherTests.tessera(["cluster", "jobs", "--id", "987654321"] + endpoint, in: cluster.directory)
            #expect(missing.status == 1, "\(missing.output)")
        }
    }
}
