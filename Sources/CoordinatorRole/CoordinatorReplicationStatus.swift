package import Client
package import VelocyPack
import ArangoAPI
import TesseraPlatform

/// A shard copy's replication status as its DBServer reports it.
struct ReplicationStatusKey: Hashable {
    let server: String
    let database: String
    let shard: String
}

/// Every DBServer's replication status, gathered for `/_admin/cluster/shardDistribution`.
struct ClusterReplicationStatus: Sendable {
    var shards: [ReplicationStatusKey: Slice] = [:]
    /// Per server: its replication totals (bytes and documents moved, resyncs, drops).
    var totals: [String: Slice] = [:]
    var reachable: Set<String> = []

    subscript(key: ReplicationStatusKey) -> Slice? { shards[key] }
}

extension Coordinator {
    /// Asks every DBServer for its replication status (2 s each, in parallel); a server that
    /// does not answer is left out.
    func replicationStatus() async -> ClusterReplicationStatus {
        let servers = dbservers().keys.sorted()
        var status = ClusterReplicationStatus()
        await withTaskGroup(of: (String, Slice?).self) { group in
            for server in servers {
                group.addTask { [self] in
                    guard let client = try? client(for: server) else { return (server, nil) }
                    let response = try? await client.request(.get, "/_api/tessera/replication/status", timeoutSeconds: 2)
                    guard let response, response.status == 200, let body = response.body else { return (server, nil) }
                    return (server, body)
                }
            }
            for await (server, body) in group {
                guard let body else { continue }
                status.reachable.insert(server)
                if let totals = body["totals"] { status.totals[server] = totals }
                for shard in body["shards"]?.arrayElements ?? Slice(trustedBytes: [0x01]).arrayElements {
                    guard let database = shard["database"]?.stringValue, let name = shard["shard"]?.stringValue else { continue }
                    status.shards[ReplicationStatusKey(server: server, database: database, shard: name)] = shard
                }
            }
        }
        return status
    }
}
