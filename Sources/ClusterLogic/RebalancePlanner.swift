/// The rebalance planner (issue 16's `/_admin/cluster/rebalance`): from the shards' copies
/// and sizes and the DBServers that may hold them, the moves that even out copies (by count,
/// then bytes) and leaders across servers — never two copies of a shard on one server, at most
/// `movesMax` moves at a time. Pure and deterministic: the same input gives the same plan, so
/// an operator can be shown the plan and then have exactly it carried out.
///
/// Leader-aware, unlike ArangoDB's first rebalancer: a server holding no leader still counts
/// (it is the first to receive one), and a leader is evened out by handing leadership to an
/// in-sync follower already on the lighter server when there is one (no data moves), by
/// moving the leader copy otherwise.
public enum RebalancePlanner {
    /// One shard as the planner sees it.
    public struct Shard: Sendable, Equatable {
        public var database: String
        public var collectionId: String
        public var name: String
        /// Plan's servers, leader first.
        public var servers: [String]
        /// The shard's size in bytes (for tie-breaks between shards of equal count effect).
        public var bytes: UInt64

        public init(database: String, collectionId: String, name: String, servers: [String], bytes: UInt64 = 0) {
            self.database = database
            self.collectionId = collectionId
            self.name = name
            self.servers = servers
            self.bytes = bytes
        }
    }

    /// One step of the plan.
    public struct Move: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Sendable {
            /// Copy the shard to `to` and drop it from `from` (a follower, or the leader: then
            /// `to` becomes leader).
            case moveCopy
            /// Hand leadership from `from` to `to`, which already holds an in-sync copy.
            case switchLeader
        }

        public var kind: Kind
        public var database: String
        public var collectionId: String
        public var shard: String
        public var from: String
        public var to: String
        public var isLeader: Bool
        public var bytes: UInt64

        public init(kind: Kind, database: String, collectionId: String, shard: String, from: String, to: String, isLeader: Bool,
                    bytes: UInt64) {
            self.kind = kind
            self.database = database
            self.collectionId = collectionId
            self.shard = shard
            self.from = from
            self.to = to
            self.isLeader = isLeader
            self.bytes = bytes
        }

        public var description: String {
            "\(kind == .switchLeader ? "leadership" : isLeader ? "leader copy" : "follower copy") of \(shard): \(from) → \(to)"
        }
    }

    /// The plan for `shards` over `servers` (the DBServers that may take copies: healthy, not
    /// being cleaned out), at most `movesMax` moves. Servers holding copies but not in
    /// `servers` are left alone (their copies are counted where they are).
    public static func plan(shards: [Shard], servers: [String], movesMax: Int) -> [Move] {
        var shards = shards.sorted { ($0.database, $0.collectionId, $0.name) < ($1.database, $1.collectionId, $1.name) }
        let servers = servers.sorted()
        guard servers.count >= 2, movesMax > 0 else { return [] }
        var moves: [Move] = []

        func copies() -> [String: (count: Int, bytes: UInt64)] {
            var result: [String: (count: Int, bytes: UInt64)] = Dictionary(uniqueKeysWithValues: servers.map { ($0, (0, UInt64(0))) })
            for shard in shards {
                for server in shard.servers where result[server] != nil {
                    result[server]!.count += 1
                    result[server]!.bytes += shard.bytes
                }
            }
            return result
        }
        func leaders() -> [String: Int] {
            var result = Dictionary(uniqueKeysWithValues: servers.map { ($0, 0) })
            for shard in shards { if let leader = shard.servers.first, result[leader] != nil { result[leader]! += 1 } }
            return result
        }
        func moveCopy(_ index: Int, from heavy: String, to light: String) {
            let isLeader = shards[index].servers.first == heavy
            shards[index].servers = shards[index].servers.map { $0 == heavy ? light : $0 }
            moves.append(Move(kind: .moveCopy, database: shards[index].database, collectionId: shards[index].collectionId,
                              shard: shards[index].name, from: heavy, to: light, isLeader: isLeader, bytes: shards[index].bytes))
        }
        /// Servers from most to least loaded (count, then bytes, then name).
        func ordered(_ load: [String: (count: Int, bytes: UInt64)]) -> [String] {
            servers.sorted { (load[$0]!.count, load[$0]!.bytes, $1) > (load[$1]!.count, load[$1]!.bytes, $0) }
        }

        // 1. Copies: from a more to a less loaded server (two or more copies apart, the widest
        // gap first) while some shard can go: one the lighter server does not hold.
        copyMoves: while moves.count < movesMax {
            let load = copies()
            let order = ordered(load)
            for heavy in order {
                for light in order.reversed() where load[heavy]!.count - load[light]!.count >= 2 {
                    // A follower copy the light server lacks, the largest first (moves the most
                    // bytes per step); a leader copy only when no follower copy qualifies.
                    let candidates = shards.indices.filter { shards[$0].servers.contains(heavy) && !shards[$0].servers.contains(light) }
                    let followers = candidates.filter { shards[$0].servers.first != heavy }
                    guard let index = (followers.isEmpty ? candidates : followers)
                        .max(by: { (shards[$0].bytes, $1) < (shards[$1].bytes, $0) }) else { continue }
                    moveCopy(index, from: heavy, to: light)
                    continue copyMoves
                }
            }
            break
        }

        // 2. Leaders: hand leadership from the server leading most to the one leading fewest
        // while they differ by two or more, to a follower already there when possible.
        while moves.count < movesMax {
            let count = leaders()
            let order = servers.sorted { (count[$0]!, $1) > (count[$1]!, $0) }
            guard let heavy = order.first, let light = order.last, count[heavy]! - count[light]! >= 2 else { break }
            if let index = shards.indices.first(where: { shards[$0].servers.first == heavy && shards[$0].servers.contains(light) }) {
                let others = shards[index].servers.filter { $0 != light }
                shards[index].servers = [light] + others
                moves.append(Move(kind: .switchLeader, database: shards[index].database, collectionId: shards[index].collectionId,
                                  shard: shards[index].name, from: heavy, to: light, isLeader: true, bytes: 0))
            } else if let index = shards.indices.first(where: { shards[$0].servers.first == heavy && !shards[$0].servers.contains(light) }) {
                // Moving the leader copy keeps copy counts within one of each other only when the
                // light server holds fewer copies than the heavy one; otherwise stop.
                let load = copies()
                guard load[light]!.count < load[heavy]!.count else { break }
                moveCopy(index, from: heavy, to: light)
            } else {
                break
            }
        }
        return moves
    }

    /// The shards as `plan` left them after `moves` (for showing the result, and for tests).
    public static func apply(_ moves: [Move], to shards: [Shard]) -> [Shard] {
        var shards = shards
        for move in moves {
            guard let index = shards.firstIndex(where: { $0.database == move.database && $0.collectionId == move.collectionId && $0.name == move.shard }) else { continue }
            switch move.kind {
            case .moveCopy:
                shards[index].servers = shards[index].servers.map { $0 == move.from ? move.to : $0 }
            case .switchLeader:
                shards[index].servers = [move.to] + shards[index].servers.filter { $0 != move.to }
            }
        }
        return shards
    }
}
