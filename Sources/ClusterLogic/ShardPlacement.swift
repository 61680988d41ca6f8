/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator whose sequence is fixed by
/// the algorithm, so placement is the same on every machine and Swift version.
struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var value = state
        value = (value ^ (value >> 30)) &* 0xbf58_476d_1ce4_e5b9
        value = (value ^ (value >> 27)) &* 0x94d0_49bb_1331_11eb
        return value ^ (value >> 31)
    }

    /// A value in `0..<bound` by Lemire's multiply-shift with rejection, free of modulo bias.
    mutating func next(below bound: Int) -> Int {
        precondition(bound > 0, "SplitMix64.next(below:) needs a positive bound")
        let range = UInt64(bound)
        let threshold = (0 &- range) % range
        while true {
            let product = next().multipliedFullWidth(by: range)
            if product.low >= threshold { return Int(product.high) }
        }
    }
}

/// Shard placement at collection creation.
public enum ShardPlacement {
    /// The servers of each shard, leader first, spread evenly by ArangoDB's rule
    /// (`EvenDistribution`, reference §5.3): shuffle the servers with `seed`, let
    /// `k = n / gcd(rf, n)`, give shard `i` the `rf` consecutive servers from a rotating
    /// offset that advances by `rf` per shard and by one more after every `k` shards.
    /// So every server leads ⌊s/n⌋ or ⌈s/n⌉ of `s` shards and holds about `s·rf/n` copies.
    ///
    /// The servers are sorted before shuffling, so the result depends on the set, not on
    /// the order the caller read them in; the same seed gives the same placement.
    ///
    /// - Parameters:
    ///   - numberOfShards: how many shards (≥ 1).
    ///   - replicationFactor: copies per shard (≥ 1).
    ///   - servers: the available DBServers (ids); duplicates are ignored.
    ///   - seed: the shuffle's seed (the caller draws it).
    /// - Returns: `numberOfShards` server lists of `replicationFactor` distinct servers.
    /// - Throws: ``ClusterError/Code/insufficientDBServers`` when there are
    ///   fewer servers than `replicationFactor`; ``ClusterError/Code/badParameter`` for a
    ///   count below 1.
    public static func distributeShards(numberOfShards: Int, replicationFactor: Int, servers: [String],
                                        seed: UInt64) throws(ClusterError) -> [[String]] {
        guard numberOfShards >= 1, replicationFactor >= 1 else {
            throw ClusterError(.badParameter, "numberOfShards and replicationFactor must be at least 1")
        }
        var pool = Array(Set(servers)).sorted()
        guard pool.count >= replicationFactor else {
            throw ClusterError(.insufficientDBServers,
                               "replicationFactor \(replicationFactor) needs as many DBServers, but \(pool.count) are available")
        }
        var generator = SplitMix64(state: seed)
        // Fisher–Yates, from the back (Knuth, TAOCP 3.4.2 Algorithm P).
        for index in stride(from: pool.count - 1, to: 0, by: -1) {
            pool.swapAt(index, generator.next(below: index + 1))
        }
        let count = pool.count
        let cycle = count / greatestCommonDivisor(replicationFactor, count)
        var offset = 0
        var placement: [[String]] = []
        placement.reserveCapacity(numberOfShards)
        for shard in 0..<numberOfShards {
            placement.append((0..<replicationFactor).map { pool[(offset + $0) % count] })
            offset += replicationFactor
            // After k groups the offsets would repeat; shifting by one gives other groups
            // (and other leaders) the next round.
            if (shard + 1) % cycle == 0 { offset += 1 }
        }
        return placement
    }

    /// A collection's shard map with `replicationFactor` copies per shard: a shard with too
    /// few gets followers on the servers holding the fewest copies (`holdings`, ties by id)
    /// that do not hold it yet; a shard with too many loses its last followers. Leaders stay.
    ///
    /// - Parameter listed: per shard, the servers its Current report names
    ///   (`CurrentShard.listedServers`); none of them becomes a new follower (a stale entry
    ///   would count it in sync). A shard left short is topped up by supervision later.
    /// - Throws: ``ClusterError/Code/insufficientDBServers`` when fewer servers exist than
    ///   the factor asks for.
    public static func changeReplicationFactor(of shards: [String: [String]], to replicationFactor: Int, servers: [String],
                                               holdings: [String: Int], listed: [String: Set<String>] = [:])
        throws(ClusterError) -> [String: [String]] {
        let pool = Array(Set(servers)).sorted()
        guard replicationFactor >= 1 else { throw ClusterError(.badParameter, "replicationFactor must be at least 1") }
        guard pool.count >= replicationFactor else {
            throw ClusterError(.insufficientDBServers,
                               "replicationFactor \(replicationFactor) needs as many DBServers, but \(pool.count) are available")
        }
        var load = holdings
        var result: [String: [String]] = [:]
        for shard in ShardName.sorted(shards.keys) {
            var copies = shards[shard] ?? []
            while copies.count > replicationFactor {
                let removed = copies.removeLast()
                load[removed, default: 1] -= 1
            }
            while copies.count < replicationFactor {
                let candidates = pool.filter { !copies.contains($0) && listed[shard]?.contains($0) != true }
                guard let chosen = candidates.min(by: { (load[$0] ?? 0, $0) < (load[$1] ?? 0, $1) }) else { break }
                copies.append(chosen)
                load[chosen, default: 0] += 1
            }
            result[shard] = copies
        }
        return result
    }

    /// How many shard copies each server holds in `plan`.
    public static func copiesPerServer(_ plan: ClusterPlan) -> [String: Int] {
        var counts: [String: Int] = [:]
        for collections in plan.collections.values {
            for collection in collections.values {
                for servers in collection.shards.values {
                    for server in servers { counts[server, default: 0] += 1 }
                }
            }
        }
        return counts
    }

    /// The shard map of a new collection: shard `s<firstShardId + i>` on `placement[i]`.
    public static func shardMap(firstShardId: UInt64, placement: [[String]]) -> [String: [String]] {
        var shards: [String: [String]] = [:]
        for (position, servers) in placement.enumerated() {
            shards[ShardName.make(firstShardId + UInt64(position))] = servers
        }
        return shards
    }

    static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int {
        var (a, b) = (a, b)
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }
}
