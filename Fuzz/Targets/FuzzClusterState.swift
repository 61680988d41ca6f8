// libFuzzer target: the decoders of the cluster's agency state — `ClusterPlan(decoding:)` and
// `ClusterCurrent(decoding:)` — which every coordinator and DBServer runs on whatever the
// agency holds (written by other servers, or by an operator with `tessera agency write`).
//
// Input: a mode byte, then the bytes. Mode bit 0: 0 decodes a Plan, 1 a Current. Mode bit 1
// set: the bytes are JSON text, parsed to VelocyPack first (so seeds can be written by hand);
// otherwise they are VelocyPack, validated strictly as foreign bytes are.
//
// Properties beyond "does not crash" (a decoder refuses with a `ClusterError`, never traps):
//
// - Decoding is deterministic: the same bytes decode to equal values twice.
// - Plan: every accepted collection re-encodes (`PlanCollection.vpack`) to bytes that decode
//   to an equal collection; a router built from it (when the collection is routable) sends
//   any document to one of its shards.
// - Current: every accepted shard report re-encodes (`CurrentShard.vpack`) to bytes that
//   decode to an equal report.
//
// Build and run with `Fuzz/run.sh` (compiled with Sources/ClusterLogic).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    ClusterStateFuzz.check(input)
    return 0
}

func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzClusterState property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum ClusterStateFuzz {
    /// Documents to route: by key, with a nested and a missing attribute.
    static let documents: [Slice] = [
        try! JSONParser.parse(#"{"_key": "k1", "a": 1, "b": {"c": [1, 2]}}"#).slice,
        try! JSONParser.parse(#"{"x": null}"#).slice,
    ]

    static func check(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        let bytes = Array(input.dropFirst())
        let slice: Slice
        if mode & 2 != 0 {
            guard let parsed = try? JSONParser.parse(bytes) else { return }
            slice = parsed.slice
        } else {
            guard let validated = try? Slice(validating: bytes, options: .strict) else { return }
            slice = validated
        }
        if mode & 1 == 0 { checkPlan(slice, input) } else { checkCurrent(slice, input) }
    }

    static func checkPlan(_ slice: Slice, _ input: [UInt8]) {
        guard let plan = try? ClusterPlan(decoding: slice) else { return }
        guard (try? ClusterPlan(decoding: slice)) == plan else { violated("Plan decoding is not deterministic", input) }
        for (database, collections) in plan.collections {
            for (id, collection) in collections {
                let again: PlanCollection
                do { again = try PlanCollection(database: database, id: id, decoding: Slice(trustedBytes: collection.vpack)) } catch {
                    violated("collection \(database)/\(id) does not decode after re-encoding: \(error)", input)
                }
                guard again == collection else { violated("collection \(database)/\(id) changed in a round trip", input) }
                guard let router = try? ShardRouter(collection: collection) else { continue }
                for document in documents {
                    if let index = try? router.shardForInsert(document, generatedKey: "g1"),
                       !(0..<router.shards.count).contains(index) {
                        violated("document routed to shard \(index) of \(router.shards.count)", input)
                    }
                }
            }
        }
    }

    static func checkCurrent(_ slice: Slice, _ input: [UInt8]) {
        guard let current = try? ClusterCurrent(decoding: slice) else { return }
        guard (try? ClusterCurrent(decoding: slice)) == current else { violated("Current decoding is not deterministic", input) }
        for (database, collections) in current.collections {
            for (id, shards) in collections {
                for (shard, report) in shards {
                    let context = "\(database)/\(id)/\(shard)"
                    let again: CurrentShard
                    do { again = try CurrentShard(decoding: Slice(trustedBytes: report.vpack), context: context) } catch {
                        violated("report \(context) does not decode after re-encoding: \(error)", input)
                    }
                    guard again == report else { violated("report \(context) changed in a round trip", input) }
                }
            }
        }
    }
}
