/// What a DBServer holds of one shard.
public struct LocalShard: Sendable, Equatable {
    /// The ids of the indexes the shard has.
    public var indexIds: Set<String>
    /// The collection name the shard's documents carry in `_id` (`nil`: not known, not compared).
    public var idPrefix: String?
    /// The shard's `waitForSync` (`nil`: not known, not compared).
    public var waitForSync: Bool?

    public init(indexIds: Set<String>, idPrefix: String? = nil, waitForSync: Bool? = nil) {
        self.indexIds = indexIds
        self.idPrefix = idPrefix
        self.waitForSync = waitForSync
    }
}

/// An index a shard could not build (say, a unique index over duplicate values), reported in
/// Current so the coordinator that planned it can undo it and answer with the error.
public struct IndexFailure: Sendable, Equatable {
    public var id: String
    public var errorNum: Int
    public var errorMessage: String

    public init(id: String, errorNum: Int, errorMessage: String) {
        self.id = id
        self.errorNum = errorNum
        self.errorMessage = errorMessage
    }
}

/// What a DBServer holds: database → shard name → shard. A database without shards maps to
/// an empty dictionary.
public typealias LocalDatabases = [String: [String: LocalShard]]

/// One step of Maintenance. The local steps come first, in the order the driver runs them;
/// the Current steps report the outcome.
public enum MaintenanceAction: Sendable, Equatable {
    case createDatabase(database: String)
    /// Create the shard with the collection's settings and all its planned indexes.
    /// `leader` is the planned leader (this server when it leads).
    case createShard(database: String, collection: PlanCollection, shard: String, leader: String)
    /// Give the shard the planned collection's name (in `_id`s) and `waitForSync`.
    case updateShard(database: String, shard: String, idPrefix: String, waitForSync: Bool)
    case ensureIndex(database: String, shard: String, index: PlannedIndex)
    case dropIndex(database: String, shard: String, indexId: String)
    case dropShard(database: String, shard: String)
    case dropDatabase(database: String)
    /// Write `Current/Databases/<db>/<me>`.
    case reportDatabase(database: String)
    /// Write the leader's report of a shard, under the preconditions that Plan still lists
    /// `planServers` and Current's in-sync servers are still `currentServers` (nil: no
    /// report yet), so a report computed from a stale view never undoes the replication's
    /// own change of the in-sync set.
    case reportShard(database: String, collectionId: String, shard: String, report: CurrentShard, planServers: [String],
                     currentServers: [String]?)
    /// Write the details (error, indexes) of a replicated shard's report; its in-sync fields
    /// belong to the leader's replication.
    case reportShardDetails(database: String, collectionId: String, shard: String, report: CurrentShard, planServers: [String])
    case removeShardFromCurrent(database: String, collectionId: String, shard: String)
    case removeDatabaseFromCurrent(database: String)

    /// One line for the log: what the step does, naming database, shard and index.
    public var summary: String {
        switch self {
        case .createDatabase(let database): "create database \(database)"
        case let .createShard(database, collection, shard, leader):
            "create shard \(shard) of \(collection.name) in \(database) (leader \(leader))"
        case let .updateShard(database, shard, idPrefix, waitForSync):
            "update shard \(shard) in \(database) (name \(idPrefix), waitForSync \(waitForSync))"
        case let .ensureIndex(database, shard, index): "ensure index \(index.id) on shard \(shard) in \(database)"
        case let .dropIndex(database, shard, indexId): "drop index \(indexId) on shard \(shard) in \(database)"
        case let .dropShard(database, shard): "drop shard \(shard) in \(database)"
        case .dropDatabase(let database): "drop database \(database)"
        case .reportDatabase(let database): "report database \(database) to Current"
        case let .reportShard(database, _, shard, report, _, _):
            report.error ? "report shard \(shard) in \(database) to Current as failed" : "report shard \(shard) in \(database) to Current"
        case let .reportShardDetails(database, _, shard, _, _): "report the indexes of shard \(shard) in \(database) to Current"
        case let .removeShardFromCurrent(database, _, shard): "remove shard \(shard) in \(database) from Current"
        case .removeDatabaseFromCurrent(let database): "remove database \(database) from Current"
        }
    }

    /// Whether the step changes the agency (Current) rather than the local store.
    public var isCurrentAction: Bool {
        switch self {
        case .reportDatabase, .reportShard, .reportShardDetails, .removeShardFromCurrent, .removeDatabaseFromCurrent: true
        default: false
        }
    }

    /// The agency `write` body of a Current step, or `nil` for a local step.
    public func agencyBody(serverId: String, clientId: String? = nil) -> [UInt8]? {
        switch self {
        case .reportDatabase(let database):
            AgencyTransactions.reportDatabase(database, serverId: serverId, clientId: clientId)
        case let .reportShard(database, collectionId, shard, report, planServers, currentServers):
            AgencyTransactions.reportShard(database: database, collectionId: collectionId, shard: shard, report: report,
                                           planServers: planServers, currentServers: currentServers, clientId: clientId)
        case let .reportShardDetails(database, collectionId, shard, report, planServers):
            AgencyTransactions.reportShardDetails(database: database, collectionId: collectionId, shard: shard, report: report,
                                                  planServers: planServers, clientId: clientId)
        case let .removeShardFromCurrent(database, collectionId, shard):
            AgencyTransactions.removeShardFromCurrent(database: database, collectionId: collectionId, shard: shard, clientId: clientId)
        case .removeDatabaseFromCurrent(let database):
            AgencyTransactions.removeDatabaseFromCurrent(database, serverId: serverId, clientId: clientId)
        default:
            nil
        }
    }
}

/// ArangoDB's Maintenance (reference §6) as a pure diff: Plan vs. what this server holds
/// (phase 1: local steps), then what it holds vs. what Current says of it (phase 2: reports).
///
/// Driver contract: run the local steps in order; a step that fails is not retried blindly:
/// for a failed `createShard` the driver reports ``CurrentShard/failure(server:errorNum:errorMessage:)``
/// instead of the planned report, so a waiting coordinator sees the error. Then it sends the
/// Current steps' ``MaintenanceAction/agencyBody(serverId:clientId:)``; a precondition
/// failure means Plan moved on and the next run (on the next Plan or Current version, or
/// the heartbeat-interval fallback) recomputes. After every step succeeded a new run
/// returns no steps.
public enum MaintenancePlanner {
    /// Both phases: the local steps, then the Current steps for the state the local steps
    /// produce.
    public static func actions(serverId: String, plan: ClusterPlan, local: LocalDatabases,
                               current: ClusterCurrent) -> [MaintenanceAction] {
        let localSteps = localActions(serverId: serverId, plan: plan, local: local)
        var after = local
        for step in localSteps { apply(step, to: &after) }
        return localSteps + currentActions(serverId: serverId, plan: plan, local: after, current: current)
    }

    /// Phase 1: create planned databases and my shards, fix their properties and indexes,
    /// drop what Plan no longer has. Ordered: create databases, create shards, update
    /// shards, ensure indexes, drop indexes, drop shards, drop databases; within a kind by
    /// database name, collection id and shard id.
    public static func localActions(serverId: String, plan: ClusterPlan, local: LocalDatabases) -> [MaintenanceAction] {
        var creates: [MaintenanceAction] = [], shardCreates: [MaintenanceAction] = [], updates: [MaintenanceAction] = []
        var ensures: [MaintenanceAction] = [], indexDrops: [MaintenanceAction] = []
        var shardDrops: [MaintenanceAction] = [], databaseDrops: [MaintenanceAction] = []
        let mine = plannedShards(of: serverId, plan: plan)
        for database in plan.databases.keys.sorted() {
            if local[database] == nil { creates.append(.createDatabase(database: database)) }
            for planned in mine[database] ?? [] {
                guard let held = local[database]?[planned.shard] else {
                    shardCreates.append(.createShard(database: database, collection: planned.collection,
                                                     shard: planned.shard, leader: planned.servers[0]))
                    continue
                }
                if let idPrefix = held.idPrefix, let waitForSync = held.waitForSync,
                   idPrefix != planned.collection.name || waitForSync != planned.collection.waitForSync {
                    updates.append(.updateShard(database: database, shard: planned.shard, idPrefix: planned.collection.name,
                                                waitForSync: planned.collection.waitForSync))
                }
                let plannedIds = Set(planned.collection.indexes.map(\.id))
                for index in planned.collection.indexes where !index.isBuiltIn && !held.indexIds.contains(index.id) {
                    ensures.append(.ensureIndex(database: database, shard: planned.shard, index: index))
                }
                // The primary index ("0") exists with every shard and is never dropped.
                for id in sortedNumerically(held.indexIds) where !plannedIds.contains(id) && id != PlannedIndex.primary.id {
                    indexDrops.append(.dropIndex(database: database, shard: planned.shard, indexId: id))
                }
            }
        }
        for database in local.keys.sorted() {
            guard plan.databases[database] != nil else {
                // Dropping the database drops its shards with it.
                databaseDrops.append(.dropDatabase(database: database))
                continue
            }
            let plannedNames = Set((mine[database] ?? []).map(\.shard))
            for shard in ShardName.sorted((local[database] ?? [:]).keys) where !plannedNames.contains(shard) {
                shardDrops.append(.dropShard(database: database, shard: shard))
            }
        }
        return creates + shardCreates + updates + ensures + indexDrops + shardDrops + databaseDrops
    }

    /// Phase 2: report planned databases I hold and the shards I lead and hold (indexes: the
    /// planned ones, which phase 1 made sure of) where Current differs; remove my reports of
    /// what Plan dropped. Ordered: database reports, shard reports, shard removals, database
    /// removals. `indexFailures` (shard → failures) are the planned indexes the driver could
    /// not build; the shard's report carries them.
    ///
    /// A shard Plan gives followers is replicated: its leader's replication alone writes its
    /// in-sync fields (`servers`, `failoverCandidates`, `leaderEpoch`,
    /// `syncVersion`): once it has a report, only the details are reported
    /// (``MaintenanceAction/reportShardDetails(database:collectionId:shard:report:planServers:)``).
    /// Every shard's first report lists the leader alone.
    public static func currentActions(serverId: String, plan: ClusterPlan, local: LocalDatabases,
                                      current: ClusterCurrent, indexFailures: [String: [IndexFailure]] = [:]) -> [MaintenanceAction] {
        var databaseReports: [MaintenanceAction] = [], shardReports: [MaintenanceAction] = []
        var shardRemovals: [MaintenanceAction] = [], databaseRemovals: [MaintenanceAction] = []
        let mine = plannedShards(of: serverId, plan: plan)
        for database in plan.databases.keys.sorted() where local[database] != nil {
            if current.databases[database]?.contains(serverId) != true {
                databaseReports.append(.reportDatabase(database: database))
            }
            for planned in mine[database] ?? [] where planned.servers[0] == serverId {
                guard let held = local[database]?[planned.shard] else { continue }
                // Report what the shard really has of the planned indexes.
                let reported = current.shard(database: database, collectionId: planned.collection.id, shard: planned.shard)
                let indexes = planned.collection.indexes.filter { $0.isBuiltIn || held.indexIds.contains($0.id) }
                let failures = (indexFailures[planned.shard] ?? []).filter { !held.indexIds.contains($0.id) }
                if let reported, planned.servers.count > 1 {
                    var details = reported
                    details.indexes = indexes
                    details.indexErrors = failures
                    details.error = false
                    details.errorNum = 0
                    details.errorMessage = ""
                    if details != reported {
                        shardReports.append(.reportShardDetails(database: database, collectionId: planned.collection.id,
                                                                shard: planned.shard, report: details, planServers: planned.storedServers))
                    }
                    continue
                }
                // Unreplicated: the leader alone is in sync (a shard whose followers Plan
                // dropped sheds their in-sync fields too).
                let report = CurrentShard(servers: [serverId], indexes: indexes, indexErrors: failures)
                if reported != report {
                    shardReports.append(.reportShard(database: database, collectionId: planned.collection.id,
                                                     shard: planned.shard, report: report, planServers: planned.storedServers,
                                                     currentServers: reported?.servers))
                }
            }
        }
        for database in current.collections.keys.sorted() {
            let collections = current.collections[database] ?? [:]
            for collectionId in sortedNumerically(collections.keys) {
                let reports = collections[collectionId] ?? [:]
                for shard in ShardName.sorted(reports.keys) {
                    guard let leader = reports[shard]?.servers.first,
                          PlanCollection.unmarked(leader).id == serverId,
                          plan.collections[database]?[collectionId]?.shards[shard] == nil else { continue }
                    shardRemovals.append(.removeShardFromCurrent(database: database, collectionId: collectionId, shard: shard))
                }
            }
        }
        for database in current.databases.keys.sorted()
        where plan.databases[database] == nil && current.databases[database]?.contains(serverId) == true {
            databaseRemovals.append(.removeDatabaseFromCurrent(database: database))
        }
        return databaseReports + shardReports + shardRemovals + databaseRemovals
    }

    /// The local state after a local step succeeded (Current steps change nothing here).
    public static func apply(_ action: MaintenanceAction, to local: inout LocalDatabases) {
        switch action {
        case .createDatabase(let database):
            local[database, default: [:]] = local[database] ?? [:]
        case let .createShard(database, collection, shard, _):
            local[database, default: [:]][shard] = LocalShard(indexIds: Set(collection.indexes.map(\.id)),
                                                              idPrefix: collection.name, waitForSync: collection.waitForSync)
        case let .updateShard(database, shard, idPrefix, waitForSync):
            local[database]?[shard]?.idPrefix = idPrefix
            local[database]?[shard]?.waitForSync = waitForSync
        case let .ensureIndex(database, shard, index):
            local[database]?[shard]?.indexIds.insert(index.id)
        case let .dropIndex(database, shard, indexId):
            local[database]?[shard]?.indexIds.remove(indexId)
        case let .dropShard(database, shard):
            local[database]?[shard] = nil
        case .dropDatabase(let database):
            local[database] = nil
        case .reportDatabase, .reportShard, .reportShardDetails, .removeShardFromCurrent, .removeDatabaseFromCurrent:
            break
        }
    }

    struct PlannedShard {
        let collection: PlanCollection
        let shard: String
        /// Server ids, leader first (a leader asked to resign still holds the shard).
        let servers: [String]
        /// As stored, for preconditions.
        var storedServers: [String] { collection.storedServers(of: shard) }
    }

    /// Database → the shards that list `serverId` (a leader asked to resign included), in
    /// collection-id then shard order.
    static func plannedShards(of serverId: String, plan: ClusterPlan) -> [String: [PlannedShard]] {
        var result: [String: [PlannedShard]] = [:]
        for (database, collections) in plan.collections where plan.databases[database] != nil {
            var shards: [PlannedShard] = []
            for id in sortedNumerically(collections.keys) {
                guard let collection = collections[id] else { continue }
                for shard in collection.sortedShardNames {
                    guard let servers = collection.shards[shard], servers.contains(serverId) else { continue }
                    shards.append(PlannedShard(collection: collection, shard: shard, servers: servers))
                }
            }
            result[database] = shards
        }
        return result
    }
}
