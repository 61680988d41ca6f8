import ClusterLogic
import Testing

@Suite("Rebalance planner")
struct RebalancePlannerTests {
    /// `count` shards of replicationFactor `factor` placed round-robin over `servers`, leaders
    /// spread the same way, each shard `bytes(i)` big.
    static func shards(_ count: Int, factor: Int, over servers: [String], bytes: (Int) -> UInt64 = { UInt64(1_000 + $0) }) -> [RebalancePlanner.Shard] {
        (0..<count).map { index in
            RebalancePlanner.Shard(database: "_system", collectionId: "100", name: "s\(101 + index)",
                                   servers: (0..<factor).map { servers[(index + $0) % servers.count] }, bytes: bytes(index))
        }
    }

    static func counts(_ shards: [RebalancePlanner.Shard], _ servers: [String]) -> (copies: [String: Int], leaders: [String: Int]) {
        var copies = Dictionary(uniqueKeysWithValues: servers.map { ($0, 0) })
        var leaders = copies
        for shard in shards {
            for server in shard.servers { copies[server, default: 0] += 1 }
            leaders[shard.servers[0], default: 0] += 1
        }
        return (copies, leaders)
    }

    @Test("3 → 4 DBServers with 24 shards: no server more than one above the mean in copies or leaders, no shard twice on a server")
    func addingAServerSpreadsCopiesAndLeaders() {
        let old = ["A", "B", "C"], all = old + ["D"]
        for factor in [1, 2, 3] {
            let before = Self.shards(24, factor: factor, over: old)
            let moves = RebalancePlanner.plan(shards: before, servers: all, movesMax: 1_000)
            let after = RebalancePlanner.apply(moves, to: before)
            let (copies, leaders) = Self.counts(after, all)
            let copyMean = Double(24 * factor) / 4, leaderMean = 24.0 / 4
            #expect(copies.values.allSatisfy { Double($0) <= copyMean + 1 }, "rf \(factor): copies \(copies)")
            #expect(leaders.values.allSatisfy { Double($0) <= leaderMean + 1 }, "rf \(factor): leaders \(leaders)")
            #expect(leaders["D"]! > 0 && copies["D"]! > 0)
            #expect(after.allSatisfy { Set($0.servers).count == $0.servers.count }, "no shard holds two copies on one server")
            // Planning again finds nothing left to do.
            #expect(RebalancePlanner.plan(shards: after, servers: all, movesMax: 1_000).isEmpty)
        }
    }

    @Test("a balanced cluster needs no move; one server, or no budget, gives no plan; the plan is deterministic")
    func edges() {
        let servers = ["A", "B", "C"]
        let balanced = Self.shards(9, factor: 2, over: servers)
        #expect(RebalancePlanner.plan(shards: balanced, servers: servers, movesMax: 100).isEmpty)
        #expect(RebalancePlanner.plan(shards: Self.shards(4, factor: 1, over: ["A"]), servers: ["A"], movesMax: 100).isEmpty)
        let skewed = Self.shards(12, factor: 2, over: ["A", "B"])
        #expect(RebalancePlanner.plan(shards: skewed, servers: servers, movesMax: 0).isEmpty)
        let first = RebalancePlanner.plan(shards: skewed, servers: servers, movesMax: 100)
        #expect(first == RebalancePlanner.plan(shards: skewed.reversed(), servers: servers.reversed(), movesMax: 100))
        #expect(!first.isEmpty)
    }

    @Test("at most movesMax moves; leaders move by a leadership switch when the light server holds a copy")
    func budgetAndLeaderSwitches() {
        let servers = ["A", "B", "C"]
        // Every shard led by A, with a follower on B or C: copies are even-ish, leaders are not.
        let shards = (0..<6).map { index in
            RebalancePlanner.Shard(database: "_system", collectionId: "100", name: "s\(101 + index)",
                                   servers: ["A", index % 2 == 0 ? "B" : "C"], bytes: 10)
        }
        let moves = RebalancePlanner.plan(shards: shards, servers: servers, movesMax: 100)
        let after = RebalancePlanner.apply(moves, to: shards)
        let (_, leaders) = Self.counts(after, servers)
        #expect(leaders.values.allSatisfy { $0 == 2 }, "\(leaders)")
        #expect(moves.contains { $0.kind == .switchLeader })
        #expect(RebalancePlanner.plan(shards: shards, servers: servers, movesMax: 2).count == 2)
    }
}

extension RebalancePlannerTests {
    @Test("random layouts: never two copies on one server, never above the budget, copies within one of each other when the budget allows")
    func randomLayouts() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<300 {
            let servers = (0..<(2 + next(5))).map { "S\($0)" }
            let factor = 1 + next(min(3, servers.count))
            let shards = (0..<(1 + next(30))).map { index -> RebalancePlanner.Shard in
                var chosen: [String] = []
                while chosen.count < factor {
                    let server = servers[next(servers.count)]
                    if !chosen.contains(server) { chosen.append(server) }
                }
                return RebalancePlanner.Shard(database: "d", collectionId: "1", name: "s\(index)", servers: chosen, bytes: UInt64(next(10_000)))
            }
            let budget = next(2) == 0 ? next(5) : 10_000
            let moves = RebalancePlanner.plan(shards: shards, servers: servers, movesMax: budget)
            #expect(moves.count <= budget)
            let after = RebalancePlanner.apply(moves, to: shards)
            #expect(after.allSatisfy { Set($0.servers).count == $0.servers.count })
            if budget == 10_000 {
                let (copies, _) = Self.counts(after, servers)
                #expect(copies.values.max()! - copies.values.min()! <= 1, "\(copies)")
            }
        }
    }
}

extension RebalancePlannerTests {
    @Test("layouts as coordinators place them (8 or 24 shards × 2 over 3 servers), a fourth server added: copies and leaders even out to within one of the mean")
    func placedLayoutsGainAFourthServer() throws {
        let old = ["A", "B", "C"], all = old + ["D"]
        for count in [8, 24] {
            for seed in UInt64(1)...20 {
                let placement = try ShardPlacement.distributeShards(numberOfShards: count, replicationFactor: 2, servers: old, seed: seed)
                let before = placement.enumerated().map { index, servers in
                    RebalancePlanner.Shard(database: "_system", collectionId: "100", name: "s\(101 + index)", servers: servers, bytes: 0)
                }
                let after = RebalancePlanner.apply(RebalancePlanner.plan(shards: before, servers: all, movesMax: 1_000), to: before)
                let (copies, leaders) = Self.counts(after, all)
                #expect(copies.values.max()! - copies.values.min()! <= 1, "\(count) shards, seed \(seed): copies \(copies)")
                #expect(leaders.values.max()! - leaders.values.min()! <= 1, "\(count) shards, seed \(seed): leaders \(leaders)")
            }
        }
    }
}
