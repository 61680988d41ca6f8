public import VelocyPack

/// What `/arango/Plan` says: databases and their collections, decoded and validated.
public struct ClusterPlan: Sendable, Equatable {
    /// `Plan/Version`.
    public var version: UInt64
    /// Database name → entry.
    public var databases: [String: PlanDatabase]
    /// Database name → collection id → collection.
    public var collections: [String: [String: PlanCollection]]

    public init(version: UInt64 = 0, databases: [String: PlanDatabase] = [:],
                collections: [String: [String: PlanCollection]] = [:]) {
        self.version = version
        self.databases = databases
        self.collections = collections
    }

    /// The collection called `name` in `database`, if planned.
    public func collection(named name: String, in database: String) -> PlanCollection? {
        collections[database]?.values.first { $0.name == name }
    }

    /// Decodes the value of `/arango/Plan` (from a read answer: see
    /// ``AgencyLayout/value(at:inReadAnswer:)``). Missing sections count as empty; a
    /// collection under a database that is not planned is ignored, as a half-dropped leftover.
    ///
    /// - Throws: ``ClusterError`` for the first invalid entry.
    public init(decoding plan: Slice) throws(ClusterError) {
        let fields = try AgencyFieldReader(plan, context: "Plan")
        self.init(version: UInt64(try fields.int("Version", in: 0...Int.max, default: 0)))
        for (database, value) in try Self.members(fields.optional("Databases"), context: "Plan/Databases") {
            databases[database] = try PlanDatabase(name: database, decoding: value)
        }
        for (database, value) in try Self.members(fields.optional("Collections"), context: "Plan/Collections")
        where databases[database] != nil {
            var byId: [String: PlanCollection] = [:]
            for (id, entry) in try Self.members(value, context: "Plan/Collections/\(database)") {
                byId[id] = try PlanCollection(database: database, id: id, decoding: entry)
            }
            collections[database] = byId
        }
    }

    /// The members of an object (absent = none) as (key, untagged value).
    static func members(_ slice: Slice?, context: String) throws(ClusterError) -> [(String, Slice)] {
        guard let slice else { return [] }
        guard slice.isObject else { throw ClusterError(.agencyDataInvalid, "\(context): expected an object") }
        var members: [(String, Slice)] = []
        for (key, value) in slice.objectMembers {
            guard let name = key.keyName else { throw ClusterError(.agencyDataInvalid, "\(context): a key is not a string") }
            members.append((name, value.untagged))
        }
        return members
    }
}

/// What `/arango/Current` says: which servers hold which databases, and the shard reports.
public struct ClusterCurrent: Sendable, Equatable {
    /// `Current/Version`.
    public var version: UInt64
    /// Database name → the servers that reported holding it.
    public var databases: [String: Set<String>]
    /// Database → collection id → shard → the leader's report.
    public var collections: [String: [String: [String: CurrentShard]]]

    public init(version: UInt64 = 0, databases: [String: Set<String>] = [:],
                collections: [String: [String: [String: CurrentShard]]] = [:]) {
        self.version = version
        self.databases = databases
        self.collections = collections
    }

    /// The report of one shard, if any.
    public func shard(database: String, collectionId: String, shard: String) -> CurrentShard? {
        collections[database]?[collectionId]?[shard]
    }

    /// Decodes the value of `/arango/Current`. Empty nodes (left when the last report under
    /// them was removed) decode as no shards, and as no database.
    ///
    /// - Throws: ``ClusterError`` for the first invalid entry.
    public init(decoding current: Slice) throws(ClusterError) {
        let fields = try AgencyFieldReader(current, context: "Current")
        self.init(version: UInt64(try fields.int("Version", in: 0...Int.max, default: 0)))
        for (database, servers) in try ClusterPlan.members(fields.optional("Databases"), context: "Current/Databases") {
            let reporters = Set(try ClusterPlan.members(servers, context: "Current/Databases/\(database)").map(\.0))
            // An empty node is what removing the last report leaves behind: no database.
            if !reporters.isEmpty { databases[database] = reporters }
        }
        for (database, value) in try ClusterPlan.members(fields.optional("Collections"), context: "Current/Collections") {
            var byId: [String: [String: CurrentShard]] = [:]
            for (id, shards) in try ClusterPlan.members(value, context: "Current/Collections/\(database)") {
                var reports: [String: CurrentShard] = [:]
                for (shard, report) in try ClusterPlan.members(shards, context: "Current/Collections/\(database)/\(id)") {
                    reports[shard] = try CurrentShard(decoding: report, context: "Current/Collections/\(database)/\(id)/\(shard)")
                }
                byId[id] = reports
            }
            collections[database] = byId
        }
    }

    /// Whether every shard of `collection` has a report without error whose leader is the
    /// planned one and whose in-sync servers include every planned follower: the condition
    /// a creating coordinator waits for (ArangoDB's `waitForSyncReplication`).
    public func isComplete(_ collection: PlanCollection, database: String) -> Bool {
        collection.shards.allSatisfy { shard, servers in
            guard let report = self.shard(database: database, collectionId: collection.id, shard: shard) else { return false }
            return !report.error && report.servers.first == servers.first && Set(report.servers).isSuperset(of: servers)
        }
    }

    /// The first error reported for a shard of `collection`, if any, so a creating
    /// coordinator can fail with it rather than wait for its timeout.
    public func firstError(_ collection: PlanCollection, database: String) -> (shard: String, report: CurrentShard)? {
        for shard in collection.sortedShardNames {
            if let report = self.shard(database: database, collectionId: collection.id, shard: shard), report.error {
                return (shard, report)
            }
        }
        return nil
    }
}
