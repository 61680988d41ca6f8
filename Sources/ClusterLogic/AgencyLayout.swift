public import VelocyPack

/// The cluster's key layout in the agency, ArangoDB's (`reference §1.8`), under `/arango`.
///
/// ```
/// /arango
///   Cluster, InitDone
///   Plan/     Version, Databases/<db>, Collections/<db>/<cid>, CollectionNames/<db>/<name>,
///             DBServers/<id>, Coordinators/<id>
///   Current/  Version, Databases/<db>/<server>, Collections/<db>/<cid>/<shard>,
///             ServersRegistered/<id>, ServersKnown/<id>/rebootId
///   Target/   LatestDBServerId, LatestCoordinatorId, MapUniqueToShortID/<id>
///   Supervision/ Health/<id>
///   Sync/     LatestID, HeartbeatIntervalMs, ServerStates/<id>
/// ```
///
/// `Plan/CollectionNames` is Tessera's: a name → id index that lets one precondition say
/// "this name is free in this database" (ArangoDB checks names against its cached Plan).
///
/// Names become path components, so they must pass ``validateName(_:)``; the builders treat
/// an invalid name as a bug of the caller.
public enum AgencyLayout {
    /// The prefix of every cluster key.
    public static let prefix = "/arango"

    public static let cluster = prefix + "/Cluster"
    public static let initDone = prefix + "/InitDone"

    public static let plan = prefix + "/Plan"
    public static let planVersion = plan + "/Version"
    public static let planDatabases = plan + "/Databases"
    public static let planCollections = plan + "/Collections"
    public static let planCollectionNames = plan + "/CollectionNames"

    public static let current = prefix + "/Current"
    public static let currentVersion = current + "/Version"
    public static let currentDatabases = current + "/Databases"
    public static let currentCollections = current + "/Collections"
    public static let currentServersRegistered = current + "/ServersRegistered"

    public static let target = prefix + "/Target"
    public static let targetMapUniqueToShortID = target + "/MapUniqueToShortID"
    /// Supervision's jobs, by life-cycle stage: `Target/ToDo/<id>` → `Target/Pending/<id>` →
    /// `Target/Finished/<id>` or `Target/Failed/<id>` (`Protocol/Cluster.md`, "Supervision").
    public static let targetToDo = target + "/ToDo"
    public static let targetPending = target + "/Pending"
    public static let targetFinished = target + "/Finished"
    public static let targetFailed = target + "/Failed"
    /// `Target/FailedServers/<id>`: servers a FailedServer job handles (present while it runs).
    public static let targetFailedServers = target + "/FailedServers"
    /// Servers that get no new shards (cleaned out; set by later jobs).
    public static let targetCleanedServers = target + "/CleanedServers"
    public static let targetToBeCleanedServers = target + "/ToBeCleanedServers"

    public static let supervision = prefix + "/Supervision"
    public static let supervisionHealth = supervision + "/Health"
    /// `Supervision/Shards/<shard>` = job id: the shard is locked by a running job.
    public static let supervisionShards = supervision + "/Shards"
    /// `Supervision/DBServers/<id>` = job id: the server is locked by a running job.
    public static let supervisionDBServers = supervision + "/DBServers"
    /// `Current/ServersKnown/<id>`: per server, `rebootId`.
    public static let currentServersKnown = current + "/ServersKnown"

    public static let sync = prefix + "/Sync"
    /// Incremented with every change of a user (ArangoDB's key for "reload the users").
    public static let syncUserVersion = sync + "/UserVersion"

    /// The users of the cluster, one record per name (see `Protocol/Cluster.md`).
    public static let users = prefix + "/Users"
    public static let syncLatestID = sync + "/LatestID"
    public static let syncHeartbeatIntervalMs = sync + "/HeartbeatIntervalMs"
    public static let syncServerStates = sync + "/ServerStates"

    /// `Plan/Databases/<database>`: the database's entry.
    public static func planDatabase(_ database: String) -> String { join(planDatabases, database) }

    /// `Plan/Collections/<database>`: all collections of a database, by id.
    public static func planCollections(_ database: String) -> String { join(planCollections, database) }

    /// `Plan/Collections/<database>/<id>`: one collection.
    public static func planCollection(database: String, id: String) -> String {
        join(planCollections, database, id)
    }

    /// `Plan/Collections/<database>/<id>/shards/<shard>`: a shard's planned servers.
    public static func planShard(database: String, collectionId: String, shard: String) -> String {
        join(planCollections, database, collectionId, "shards", shard)
    }

    /// `Plan/CollectionNames/<database>/<name>`: the id of the collection called `name`.
    public static func planCollectionName(database: String, name: String) -> String {
        join(planCollectionNames, database, name)
    }

    /// `Plan/DBServers/<id>` or `Plan/Coordinators/<id>`: a planned server.
    public static func planServer(_ id: String, role: ServerRole) -> String {
        join(plan, role.planKey, id)
    }

    /// `Current/Databases/<database>/<server>`: a server's report that it holds the database.
    public static func currentDatabase(_ database: String, server: String) -> String {
        join(currentDatabases, database, server)
    }

    /// `Current/Collections/<database>/<id>/<shard>`: the shard leader's report.
    public static func currentShard(database: String, collectionId: String, shard: String) -> String {
        join(currentCollections, database, collectionId, shard)
    }

    /// `Current/ServersRegistered/<id>`: a server's registration.
    public static func currentServerRegistered(_ id: String) -> String { join(currentServersRegistered, id) }

    /// `Current/ServersKnown/<id>/rebootId`: bumped by every (re)registration.
    public static func currentRebootId(_ id: String) -> String { join(current, "ServersKnown", id, "rebootId") }

    /// `Target/LatestDBServerId` or `Target/LatestCoordinatorId`: the short-name counter.
    public static func targetLatestShortId(role: ServerRole) -> String { join(target, role.shortIdCounterKey) }

    /// `Target/MapUniqueToShortID/<id>`: `{ShortName, TransactionID}` of a server.
    public static func targetShortName(_ id: String) -> String { join(targetMapUniqueToShortID, id) }

    /// `Sync/ServerStates/<id>`: a server's last heartbeat.
    public static func syncServerState(_ id: String) -> String { join(syncServerStates, id) }

    /// `Supervision/Health/<id>`: supervision's health record of a server.
    public static func supervisionHealth(_ id: String) -> String { join(supervisionHealth, id) }

    /// `Target/<stage>/<job id>` for a stage path such as ``targetToDo``.
    public static func job(_ id: String, in stage: String) -> String { join(stage, id) }

    /// `Target/FailedServers/<id>`.
    public static func targetFailedServer(_ id: String) -> String { join(targetFailedServers, id) }

    /// `Supervision/Shards/<shard>`: the job that locks the shard.
    public static func supervisionShardLock(_ shard: String) -> String { join(supervisionShards, shard) }

    /// `Supervision/DBServers/<id>`: the job that locks the server.
    public static func supervisionServerLock(_ id: String) -> String { join(supervisionDBServers, id) }

    /// `Users/<name>`: a user's record.
    public static func user(_ name: String) -> String { join(users, name) }

    /// Checks that `name` can be one agency path component: not empty, no `/`, not starting
    /// with `.` (dot-keys are hidden by agency reads), at most 256 bytes.
    ///
    /// - Throws: ``ClusterError/Code/illegalName``.
    public static func validateName(_ name: String) throws(ClusterError) {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix("."), name.utf8.count <= nameByteCountMax else {
            throw ClusterError(.illegalName, "illegal name '\(name.prefix(64))'")
        }
    }

    /// The longest database, collection or server name, in bytes (ArangoDB allows 256 for
    /// extended names).
    public static let nameByteCountMax = 256

    /// The value at `path` (`/arango/…`) in an agency read answer object, which is built from
    /// the root down; `nil` when the answer does not reach that far.
    public static func value(at path: String, inReadAnswer answer: Slice) -> Slice? {
        var slice = answer
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard slice.isObject, let next = slice[String(component)] else { return nil }
            slice = next
        }
        return slice
    }

    static func join(_ base: String, _ components: String...) -> String {
        var path = base
        for component in components {
            precondition((try? validateName(component)) != nil,
                         "AgencyLayout: '\(component)' is not a valid path component; validate names first")
            path += "/" + component
        }
        return path
    }
}
