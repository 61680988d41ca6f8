import ArangoAPI
import Testing
import VelocyPack
@testable import ClusterLogic

@Suite("Plan and Current model")
struct ModelTests {
    static let users = PlanCollection(
        id: "100", name: "users", type: .edge, numberOfShards: 3, shardKeys: ["country", "city"], replicationFactor: 1,
        writeConcern: 1, waitForSync: true, keyOptions: KeyOptions(kind: .traditional, allowUserKeys: false),
        indexes: [.primary, PlannedIndex(id: "7", type: "persistent", name: "byAge", fields: ["age"], unique: false, sparse: true)],
        shards: ["s101": ["PRMR-a"], "s102": ["PRMR-b"], "s110": ["PRMR-c"]], isBuilding: true)

    @Test func planCollectionRoundTrips() throws {
        let decoded = try PlanCollection(database: "db", id: "100", decoding: Slice(trustedBytes: Self.users.vpack))
        #expect(decoded == Self.users)
        #expect(decoded.vpack == Self.users.vpack, "equal collections encode to equal bytes")
    }

    @Test func currentShardAndRegistrationsRoundTrip() throws {
        let report = CurrentShard(servers: ["PRMR-a"], indexes: Self.users.indexes)
        #expect(try CurrentShard(decoding: Slice(trustedBytes: report.vpack), context: "c") == report)
        let failure = CurrentShard.failure(server: "PRMR-a", errorNum: 1100, errorMessage: "disk full")
        #expect(try CurrentShard(decoding: Slice(trustedBytes: failure.vpack), context: "c") == failure)
        let health = HealthRecord(shortName: "DBServer0001", endpoint: "tcp://h:1", status: .bad, lastAckedMilliseconds: 7)
        #expect(try HealthRecord(id: "PRMR-a", decoding: Slice(trustedBytes: health.vpack)) == health)
    }

    @Test func olderWritersFieldsAreAccepted() throws {
        // minReplicationFactor instead of writeConcern, integral doubles, no optional fields.
        let slice = vpack(#"{"id": "5", "name": "c", "numberOfShards": 1.0, "replicationFactor": 1, "minReplicationFactor": 1, "shards": {"s6": ["PRMR-a"]}}"#)
        let decoded = try PlanCollection(database: "db", id: "5", decoding: slice)
        #expect(decoded.shardKeys == ["_key"] && decoded.writeConcern == 1 && decoded.indexes.isEmpty && decoded.type == .document)
    }

    /// Every field replaced by every wrong kind of value decodes to a typed error, never a trap.
    @Test(arguments: ["id", "name", "type", "numberOfShards", "shardKeys", "replicationFactor", "writeConcern",
                      "waitForSync", "keyOptions", "indexes", "shards", "isBuilding", "shardingStrategy"])
    func wrongFieldTypesAreTypedErrors(field: String) throws {
        let original = Slice(trustedBytes: Self.users.vpack)
        for replacement in ["null", "-1", "1.5", #""x""#, "[]", "[1]", "{}", #"{"s1": 1}"#, "true", "99999999999999999999"] {
            var builder = Builder()
            builder.openObject()
            for (key, value) in original.objectMembers where key.keyName != field {
                builder.add(key: key.keyName!, value)
            }
            builder.add(key: field, vpack(replacement))
            try builder.close()
            let mutated = builder.slice
            do {
                let decoded = try PlanCollection(database: "db", id: "100", decoding: mutated)
                // Some replacements are valid values (an empty indexes list, another name).
                #expect(decoded.id == "100")
            } catch {
                #expect([.agencyDataInvalid, .unsupported].contains(error.code), "\(field) = \(replacement): \(error)")
            }
        }
    }

    @Test func inconsistentShardMapsAreRefused() {
        for shards in [#"{"s1": ["a"]}"#, #"{"x1": ["a"], "s2": ["b"], "s3": ["c"]}"#, #"{"s1": [], "s2": ["b"], "s3": ["c"]}"#,
                       #"{"s1": [""], "s2": ["b"], "s3": ["c"]}"#] {
            let slice = vpack(#"{"id": "1", "name": "c", "numberOfShards": 3, "replicationFactor": 1, "shards": \#(shards)}"#)
            #expect(throws: ClusterError.self) { try PlanCollection(database: "db", id: "1", decoding: slice) }
        }
        let satellite = vpack(#"{"id": "1", "name": "c", "numberOfShards": 1, "replicationFactor": "satellite", "shards": {"s2": ["a"]}}"#)
        #expect { try PlanCollection(database: "db", id: "1", decoding: satellite) } throws: { ($0 as? ClusterError)?.code == .unsupported }
        #expect(throws: ClusterError.self) { try PlanCollection(database: "db", id: "2", decoding: vpack(#"{"id": "1"}"#)) }
        #expect(throws: ClusterError.self) { try ClusterPlan(decoding: vpack("[]")) }
        #expect(throws: ClusterError.self) { try ClusterCurrent(decoding: vpack(#"{"Collections": {"db": {"1": {"s2": 5}}}}"#)) }
    }

    @Test func shardNamesSortNumerically() {
        #expect(ShardName.sorted(["s10", "s9", "s100", "s1"]) == ["s1", "s9", "s10", "s100"])
        #expect(ShardName.id("s12") == 12 && ShardName.id("s") == nil && ShardName.id("s1a") == nil && ShardName.id("t1") == nil)
        #expect(Self.users.sortedShardNames == ["s101", "s102", "s110"])
    }

    @Test func serverNamesFollowArangoDB() {
        #expect(ServerRole.dbServer.shortName(number: 1) == "DBServer0001")
        #expect(ServerRole.coordinator.shortName(number: 12345) == "Coordinator12345")
        let id = ServerRole.dbServer.newServerId(randomHigh: 0, randomLow: 0)
        #expect(id == "PRMR-00000000-0000-4000-8000-000000000000")
        let other = ServerRole.coordinator.newServerId(randomHigh: .max, randomLow: .max)
        #expect(other == "CRDN-ffffffff-ffff-4fff-bfff-ffffffffffff")
    }

    @Test func creationPropertiesAreChecked() {
        #expect(throws: Never.self) {
            try PlanCollection.validateProperties(numberOfShards: 3, shardKeys: ["a", "b"], replicationFactor: 2, writeConcern: 2)
        }
        for (shards, keys, factor, concern) in [(0, ["_key"], 1, 1), (1001, ["_key"], 1, 1), (1, [String](), 1, 1),
                                                (1, ["a", "a"], 1, 1), (1, ["_id"], 1, 1), (1, ["_key"], 0, 1), (1, ["_key"], 1, 2)] {
            #expect(throws: ClusterError.self) {
                try PlanCollection.validateProperties(numberOfShards: shards, shardKeys: keys, replicationFactor: factor, writeConcern: concern)
            }
        }
    }
}

@Suite("Health")
struct HealthTests {
    let thresholds = HealthThresholds.arangoDefault

    @Test func thresholdsAreArangoDBsDefaults() {
        let now: Int64 = 1_000_000
        #expect(thresholds.status(lastHeartbeatMilliseconds: now, nowMilliseconds: now) == .good)
        #expect(thresholds.status(lastHeartbeatMilliseconds: now - 5_000, nowMilliseconds: now) == .good)
        #expect(thresholds.status(lastHeartbeatMilliseconds: now - 5_001, nowMilliseconds: now) == .bad)
        #expect(thresholds.status(lastHeartbeatMilliseconds: now - 10_000, nowMilliseconds: now) == .bad)
        #expect(thresholds.status(lastHeartbeatMilliseconds: now - 10_001, nowMilliseconds: now) == .failed)
        #expect(thresholds.status(lastHeartbeatMilliseconds: now + 3_000, nowMilliseconds: now) == .good)
    }

    @Test func goodPassesThroughBadBeforeFailed() {
        #expect(thresholds.status(lastHeartbeatMilliseconds: 0, nowMilliseconds: 60_000, previous: .good) == .bad)
        #expect(thresholds.status(lastHeartbeatMilliseconds: 0, nowMilliseconds: 60_000, previous: .bad) == .failed)
        let all = thresholds.classify(lastHeartbeats: ["a": 99_000, "b": 93_000, "c": 80_000, "d": 80_000], nowMilliseconds: 100_000,
                                      previous: ["d": .good])
        #expect(all == ["a": .good, "b": .bad, "c": .failed, "d": .bad])
    }
}
