public import Server
public import Documents
import Storage

/// The shard engine figures of a document store as metrics (single servers and DBServers):
/// one sample per collection (on a DBServer, per shard) of each family, labelled with its
/// database and name.
public enum StoreMetrics {
    /// A new ``Metrics`` with the store's collector registered.
    public static func metrics(for store: DocumentStore) -> Metrics {
        let metrics = Metrics()
        register(store, in: metrics)
        return metrics
    }

    /// Adds the collector of `store` to `metrics`.
    public static func register(_ store: DocumentStore, in metrics: Metrics) {
        metrics.register("storage") { text in
            var rows: [(labels: [String: String], statistics: ShardStatistics)] = []
            for database in store.databaseNames {
                // A database dropped between the two calls has no collections to report.
                guard let collections = try? store.collections(in: database) else { continue }
                for collection in collections.sorted(by: { $0.name < $1.name }) {
                    rows.append((["database": database, "collection": collection.name], collection.engine.statistics))
                }
            }
            let families: [(name: String, help: String, type: String, value: (ShardStatistics) -> Int)] = [
                ("tessera_shard_documents", "Live documents in the shard", "gauge", { $0.documentCount }),
                ("tessera_shard_segments", "Log segment files of the shard", "gauge", { $0.segmentCount }),
                ("tessera_shard_log_bytes", "Bytes in the shard's log segments", "gauge", { $0.logByteCount }),
                ("tessera_shard_live_bytes", "Bytes of live document records", "gauge", { $0.liveByteCount }),
                ("tessera_shard_syncs_total", "fdatasync calls of group commit", "counter", { $0.syncCount }),
                ("tessera_shard_synced_writes_total", "Writes answered after waiting for durability", "counter", { $0.syncedWriteCount }),
                ("tessera_shard_compactions_total", "Compactions run", "counter", { $0.compactionCount }),
                ("tessera_shard_compacted_bytes_total", "Bytes reclaimed by compaction", "counter", { $0.compactedByteCount }),
                ("tessera_shard_checkpoints_total", "Checkpoints written", "counter", { $0.checkpointCount }),
            ]
            for family in families {
                text.help(family.name, family.help, type: family.type)
                for row in rows { text.sample(family.name, row.labels, Double(family.value(row.statistics))) }
            }
        }
    }
}
