import Testing
@testable import ClusterLogic

@Suite("Shard placement")
struct PlacementTests {
    static func servers(_ count: Int) -> [String] { (1...count).map { "PRMR-\($0)" } }

    @Test(arguments: [(3, 3), (3, 7), (5, 16), (4, 10), (9, 27), (1, 5), (7, 3)])
    func leadersSpreadEvenlyWithOneCopy(serverCount: Int, shardCount: Int) throws {
        for seed in UInt64(0)..<20 {
            let placement = try ShardPlacement.distributeShards(numberOfShards: shardCount, replicationFactor: 1,
                                                                servers: Self.servers(serverCount), seed: seed)
            #expect(placement.count == shardCount && placement.allSatisfy { $0.count == 1 })
            var leaders: [String: Int] = [:]
            for servers in placement { leaders[servers[0], default: 0] += 1 }
            let counts = Self.servers(serverCount).map { leaders[$0] ?? 0 }
            #expect(counts.max()! - counts.min()! <= 1, "seed \(seed): \(counts)")
        }
    }

    @Test(arguments: [(3, 2, 6), (9, 3, 9), (9, 3, 27), (4, 2, 8), (6, 4, 12), (5, 3, 10)])
    func copiesAndLeadersSpreadEvenlyWithReplication(serverCount: Int, factor: Int, shardCount: Int) throws {
        let placement = try ShardPlacement.distributeShards(numberOfShards: shardCount, replicationFactor: factor,
                                                            servers: Self.servers(serverCount), seed: 7)
        var leaders: [String: Int] = [:], copies: [String: Int] = [:]
        for servers in placement {
            #expect(Set(servers).count == factor, "distinct servers per shard: \(servers)")
            leaders[servers[0], default: 0] += 1
            for server in servers { copies[server, default: 0] += 1 }
        }
        let leaderCounts = Self.servers(serverCount).map { leaders[$0] ?? 0 }
        let copyCounts = Self.servers(serverCount).map { copies[$0] ?? 0 }
        #expect(leaderCounts.max()! - leaderCounts.min()! <= 1, "leaders \(leaderCounts)")
        #expect(copyCounts.max()! - copyCounts.min()! <= 1, "copies \(copyCounts)")
    }

    @Test func placementIsDeterministicPerSeedAndIndependentOfInputOrder() throws {
        let servers = Self.servers(6)
        let first = try ShardPlacement.distributeShards(numberOfShards: 12, replicationFactor: 1, servers: servers, seed: 42)
        let again = try ShardPlacement.distributeShards(numberOfShards: 12, replicationFactor: 1, servers: servers.reversed(), seed: 42)
        #expect(first == again)
        let others = try (UInt64(0)..<10).map {
            try ShardPlacement.distributeShards(numberOfShards: 12, replicationFactor: 1, servers: servers, seed: $0)
        }
        #expect(Set(others.map { $0.map { $0[0] }.joined(separator: ",") }).count > 1, "the seed changes the shuffle")
    }

    @Test func refusalsNameTheProblem() {
        #expect { try ShardPlacement.distributeShards(numberOfShards: 2, replicationFactor: 3, servers: Self.servers(2), seed: 1) }
            throws: { ($0 as? ClusterError)?.errorNumber == 1487 }
        #expect { try ShardPlacement.distributeShards(numberOfShards: 1, replicationFactor: 1, servers: [], seed: 1) }
            throws: { ($0 as? ClusterError)?.errorNumber == 1487 }
        #expect { try ShardPlacement.distributeShards(numberOfShards: 0, replicationFactor: 1, servers: ["a"], seed: 1) }
            throws: { ($0 as? ClusterError)?.errorNumber == 10 }
    }

    @Test func shardMapNamesShardsFromTheFirstId() {
        #expect(ShardPlacement.shardMap(firstShardId: 9, placement: [["a"], ["b"]]) == ["s9": ["a"], "s10": ["b"]])
    }

    @Test func raisingTheFactorSkipsServersCurrentStillListsForTheShard() throws {
        let shards = ["s1": ["PRMR-1"], "s2": ["PRMR-2"]]
        let servers = Self.servers(4)
        // Without Current's lists: the servers with the fewest copies, ties by id.
        #expect(try ShardPlacement.changeReplicationFactor(of: shards, to: 2, servers: servers, holdings: ["PRMR-1": 1, "PRMR-2": 1])
                == ["s1": ["PRMR-1", "PRMR-3"], "s2": ["PRMR-2", "PRMR-4"]])
        // s1's Current still names PRMR-3 (Plan dropped it; its copy may be gone): it is passed over.
        let listed: [String: Set<String>] = ["s1": ["PRMR-1", "PRMR-3"], "s2": ["PRMR-2"]]
        #expect(try ShardPlacement.changeReplicationFactor(of: shards, to: 2, servers: servers, holdings: ["PRMR-1": 1, "PRMR-2": 1],
                                                           listed: listed)
                == ["s1": ["PRMR-1", "PRMR-4"], "s2": ["PRMR-2", "PRMR-3"]])
    }

    @Test func shuffleBoundIsUniform() {
        // Lemire's rejection keeps every value reachable and within the bound.
        var generator = SplitMix64(state: 3)
        var seen = Set<Int>()
        for _ in 0..<1000 {
            let value = generator.next(below: 7)
            #expect((0..<7).contains(value))
            seen.insert(value)
        }
        #expect(seen.count == 7)
    }
}
