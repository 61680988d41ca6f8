import Auth
import Client
import ClusterLogic
import Foundation
import Testing
import Transport
import VelocyPack
import VelocyStream

extension ClusterProcesses {
    /// A real `tessera dbserver` with three real agents: registration, heartbeats, Maintenance
    /// creating and dropping shards as Plan says and reporting to Current, and the shard API
    /// behind cluster tokens.
    @Suite("DBServer process", .serialized)
    struct DBServerTests {
        @Test("registers, creates and drops planned shards, reports to Current, serves only cluster tokens")
        func maintenance() async throws {
            let agency = try AgencyTests.Agency()
            defer { agency.stopAll() }
            let port = try AgencyTests.Agency.freePorts(1)[0]
            let data = agency.root + "/dbserver1"
            let dbserver = try ServerProcess(
                command: ["dbserver", "--endpoint", "tcp://127.0.0.1:\(port)", "--agency-endpoints", agency.endpointList,
                          "--data", data, "--secret-file", agency.secretPath],
                dataDirectory: data)
            defer { dbserver.stop() }
            let client = agency.client()
            // Initialize the layout as the first coordinator will.
            let initialized = try await client.write(envelope: AgencyTransactions.initializeLayout(clusterId: "test"), clientID: nil)
            #expect(initialized.applied)

            // Registration and heartbeats.
            let serverID = try String(contentsOfFile: data + "/SERVER", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            var registered = false
            for _ in 0..<100 where !registered {
                let answer = try await client.read([[AgencyLayout.currentServerRegistered(serverID)]])
                registered = AgencyLayout.value(at: AgencyLayout.currentServerRegistered(serverID), inReadAnswer: answer[0]!) != nil
                if !registered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(registered, "\(dbserver.output)")
            let beat = try await client.read([[AgencyLayout.syncServerState(serverID)]])
            #expect(AgencyLayout.value(at: AgencyLayout.syncServerState(serverID), inReadAnswer: beat[0]!)?["time"] != nil)

            // Plan a collection with two shards on this server.
            let shards = ShardPlacement.shardMap(firstShardId: 1001, placement: [[serverID], [serverID]])
            let collection = PlanCollection(id: "1000", name: "c", numberOfShards: 2, shards: shards)
            let created = try await client.transact(AgencyTransactions.createCollection(collection, database: "_system"))
            #expect(created.status == 200, "\(created.body.json)")
            var reported = false
            for _ in 0..<100 where !reported {
                let answer = try await client.read([["/arango/Current/Collections/_system/1000"]])
                let shardsReported = AgencyLayout.value(at: "/arango/Current/Collections/_system/1000", inReadAnswer: answer[0]!)
                reported = shardsReported?["s1001"]?["servers"]?[0]?.stringValue == serverID && shardsReported?["s1002"] != nil
                if !reported { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(reported, "\(dbserver.output)")

            // The shard API, with the cluster token only.
            let token = AgencyTests.Agency.token(secret: Array(try String(contentsOfFile: agency.secretPath, encoding: .utf8).utf8))
            var configuration = VSTClient.Configuration(endpoint: Endpoint(host: "127.0.0.1", port: port), credentials: .jwt(token: token))
            configuration.requestTimeoutSeconds = 5
            let shardClient = VSTClient(configuration: configuration)
            let inserted = try await shardClient.request(.post, "/_api/document/s1001", body: try JSONParser.parse(#"{"_key": "a", "v": 1}"#).bytes)
            #expect(inserted.status == 202, "\(inserted.body?.json ?? "")")
            let read = try await shardClient.request(.get, "/_api/document/s1001/a")
            #expect(read.body?["v"]?.intValue == 1)
            // Documents of a shard carry the cluster collection's name in `_id`.
            #expect(read.body?["_id"]?.stringValue == "c/a")
            #expect(inserted.body?["_id"]?.stringValue == "c/a")
            let anonymous = VSTClient(configuration: VSTClient.Configuration(endpoint: Endpoint(host: "127.0.0.1", port: port), credentials: nil))
            #expect(try await anonymous.request(.get, "/_api/document/s1001/a").status == 401)
            await anonymous.shutdown()

            // Dropping the collection in Plan drops the shards.
            let dropped = try await client.write(envelope: AgencyTransactions.dropCollection(database: "_system", id: "1000", name: "c"), clientID: nil)
            #expect(dropped.applied)
            var gone = false
            for _ in 0..<100 where !gone {
                gone = try await shardClient.request(.get, "/_api/collection/s1001").status == 404
                if !gone { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(gone)
            await shardClient.shutdown()
            await client.shutdown()
        }
    }
}
