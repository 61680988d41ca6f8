public import VelocyPack

/// The outcome of ``AgencyTransactions/reserveShortName(serverId:role:)``.
public enum ShortNameReservation: Sendable, Equatable {
    /// The server had a short name already (a restart): keep it.
    case existing(String)
    /// A new number was drawn: store this name with
    /// ``AgencyTransactions/registerServer(_:shortNameIsNew:clientId:)``.
    case allocated(String)

    /// The short name either way.
    public var name: String {
        switch self {
        case .existing(let name), .allocated(let name): name
        }
    }

    /// Whether the name still has to be stored.
    public var isNew: Bool { if case .allocated = self { true } else { false } }
}

extension AgencyTransactions {
    /// The short name from the answer to ``reserveShortName(serverId:role:)``:
    /// `[index or current values, read]`.
    ///
    /// - Throws: ``ClusterError/Code/agencyDataInvalid`` when the answer has another shape.
    public static func shortName(fromAnswer answer: Slice, serverId: String, role: ServerRole) throws(ClusterError) -> ShortNameReservation {
        let (result, read) = try writeThenRead(answer, context: "short name reservation")
        if result.isNumber {
            let counterPath = AgencyLayout.targetLatestShortId(role: role)
            guard let counter = AgencyLayout.value(at: counterPath, inReadAnswer: read).flatMap({ AgencyFieldReader.integer($0) }),
                  counter >= 1 else {
                throw ClusterError(.agencyDataInvalid, "\(counterPath) is not a positive integer after its increment")
            }
            return .allocated(role.shortName(number: UInt64(counter)))
        }
        // The precondition failed: the server has an entry; its name is in the read.
        let entryPath = AgencyLayout.targetShortName(serverId)
        guard let entry = AgencyLayout.value(at: entryPath, inReadAnswer: read) else {
            throw ClusterError(.agencyDataInvalid, "\(entryPath) is absent though the reservation found it taken")
        }
        return .existing(try AgencyFieldReader(entry, context: entryPath).string("ShortName"))
    }

    /// The ids reserved by ``reserveIds(count:)``, from its answer `[index, {…LatestID…}]`:
    /// the `count` ids ending at the value read back.
    ///
    /// - Throws: ``ClusterError/Code/agencyDataInvalid`` when the answer has another shape or
    ///   the counter is smaller than `count`.
    public static func reservedIds(fromAnswer answer: Slice, count: UInt64) throws(ClusterError) -> ClosedRange<UInt64> {
        let (result, read) = try writeThenRead(answer, context: "id reservation")
        guard result.isNumber else { throw ClusterError(.agencyDataInvalid, "id reservation: the increment did not apply") }
        guard let latest = AgencyLayout.value(at: AgencyLayout.syncLatestID, inReadAnswer: read)?.uintValue,
              latest >= count else {
            throw ClusterError(.agencyDataInvalid, "id reservation: Sync/LatestID is missing or below \(count)")
        }
        return (latest - count + 1)...latest
    }

    /// The error to report when ``createCollection(_:database:clientId:)`` did not apply,
    /// from the current values its answer carries for the failed preconditions: ArangoDB's
    /// 1207 (duplicate name), 1453 (collection id exists) or 1228 (database not found), as
    /// `(errorNum, message)`.
    /// `nil` when the answer says the write applied.
    public static func createCollectionFailure(answer: Slice, database: String, name: String) -> (errorNum: Int, message: String)? {
        guard answer.isArray, let result = answer[0]?.untagged, !result.isNumber else { return nil }
        // The answer holds the current values at the paths whose preconditions failed: a
        // taken name or id shows its value; a missing database shows nothing.
        if AgencyLayout.value(at: AgencyLayout.planCollectionName(database: database, name: name), inReadAnswer: result) != nil {
            return (1207, "duplicate name: \(name)")
        }
        if let collections = AgencyLayout.value(at: AgencyLayout.planCollections(database), inReadAnswer: result),
           collections.isObject, collections.count > 0 {
            // The ids come from Sync/LatestID, so a taken id means an id was reused.
            return (1453, "collection id already exists")
        }
        return (1228, "database not found: \(database)")
    }

    static func writeThenRead(_ answer: Slice, context: String) throws(ClusterError) -> (Slice, Slice) {
        guard answer.isArray, answer.count == 2, let result = answer[0]?.untagged, let read = answer[1]?.untagged,
              result.isNumber || result.isObject, read.isObject else {
            throw ClusterError(.agencyDataInvalid, "\(context): the answer is not [result, read]")
        }
        return (result, read)
    }
}

/// What ``AgencyTransactions/serverRemoval(serverId:readAnswer:clientId:)`` decided about
/// removing a server.
public enum ServerRemoval: Sendable, Equatable {
    /// No registration, Plan entry or health record names the server.
    case unknownServer
    /// Supervision does not hold the server FAILED (`status` nil: it has no record yet).
    case notFailed(status: String?)
    /// A DBServer some planned shards still list (leader or follower), by
    /// `<database>/<collection id>/<shard>`, sorted.
    case stillResponsible(shards: [String])
    /// A supervision job locks the DBServer, or a FailedServer job for it waits to start (it
    /// is still moving the server's shards away).
    case lockedByJob(String)
    /// Ready: send this body to `/_api/agency/write`.
    case ready(role: ServerRole, envelope: [UInt8])
}

extension AgencyTransactions {
    /// The paths to read (one query, from the agency leader, so the decision is made on the
    /// latest state) before ``serverRemoval(serverId:readAnswer:clientId:)``.
    ///
    /// - Precondition: `serverId` passes ``AgencyLayout/validateName(_:)``.
    public static func serverRemovalReadPaths(_ serverId: String) -> [String] {
        [AgencyLayout.planVersion, AgencyLayout.planCollections, AgencyLayout.planServer(serverId, role: .dbServer),
         AgencyLayout.planServer(serverId, role: .coordinator), AgencyLayout.currentServerRegistered(serverId),
         AgencyLayout.currentDatabases, AgencyLayout.supervisionHealth(serverId), AgencyLayout.supervisionServerLock(serverId),
         AgencyLayout.targetToDo, AgencyLayout.targetPending]
    }

    /// Decides whether `serverId` may be removed, from the answer to a read of
    /// ``serverRemovalReadPaths(_:)`` (the read's first result), and if so builds
    /// ``removeServer(_:role:planVersion:databaseReports:clientId:)`` with preconditions that
    /// hold only in the state read.
    ///
    /// The rules are ArangoDB's: only a server supervision has declared FAILED goes, and a
    /// DBServer only once no planned shard lists it any more (as leader, follower, or as a
    /// resigned leader `_<id>`), no job locks it and no job for it waits in ToDo or Pending.
    public static func serverRemoval(serverId: String, readAnswer: Slice, clientId: String? = nil) -> ServerRemoval {
        func value(_ path: String) -> Slice? { AgencyLayout.value(at: path, inReadAnswer: readAnswer) }
        let registration = value(AgencyLayout.currentServerRegistered(serverId))
        let health = value(AgencyLayout.supervisionHealth(serverId))
        let plannedAsDBServer = value(AgencyLayout.planServer(serverId, role: .dbServer)) != nil
        let plannedAsCoordinator = value(AgencyLayout.planServer(serverId, role: .coordinator)) != nil
        guard registration != nil || health != nil || plannedAsDBServer || plannedAsCoordinator else { return .unknownServer }
        let role: ServerRole
        if let name = registration?["role"]?.stringValue, let registered = ServerRole(rawValue: name) {
            role = registered
        } else if plannedAsDBServer || plannedAsCoordinator {
            role = plannedAsDBServer ? .dbServer : .coordinator
        } else {
            role = serverId.hasPrefix(ServerRole.coordinator.idPrefix) ? .coordinator : .dbServer
        }
        let status = health?["Status"]?.stringValue
        guard status == ServerHealth.failed.rawValue else { return .notFailed(status: status) }
        guard role == .dbServer else { return .ready(role: role, envelope: removeServer(serverId, role: role, planVersion: nil, clientId: clientId)) }
        let shards = plannedShards(listing: serverId, in: value(AgencyLayout.planCollections))
        guard shards.isEmpty else { return .stillResponsible(shards: shards) }
        if let lock = value(AgencyLayout.supervisionServerLock(serverId)) {
            return .lockedByJob(lock.stringValue ?? "?")
        }
        // A FailedServer job created but not yet started holds no lock; removed under it, the
        // server would make it fail for a reason that is not one.
        for stage in [AgencyLayout.targetToDo, AgencyLayout.targetPending] {
            guard let jobs = value(stage), jobs.isObject else { continue }
            for member in jobs.objectMembers where member.value["server"]?.stringValue == serverId {
                return .lockedByJob(member.key.keyName ?? "?")
            }
        }
        // Without a Plan version there is no cluster layout to remove the server from.
        guard let version = value(AgencyLayout.planVersion) else { return .unknownServer }
        var databases: [String] = []
        if let reports = value(AgencyLayout.currentDatabases), reports.isObject {
            for member in reports.objectMembers {
                guard let database = member.key.keyName, member.value.isObject, member.value[serverId] != nil,
                      (try? AgencyLayout.validateName(database)) != nil else { continue }
                databases.append(database)
            }
        }
        return .ready(role: role, envelope: removeServer(serverId, role: role, planVersion: Array(version.bytes),
                                                         databaseReports: databases.sorted(), clientId: clientId))
    }

    /// The planned shards whose server list names `serverId` (or `_<serverId>`), as
    /// `<database>/<collection id>/<shard>`, sorted. Reads the raw Plan, so a collection entry
    /// another version wrote in a form this one does not decode still counts.
    public static func plannedShards(listing serverId: String, in collections: Slice?) -> [String] {
        guard let collections, collections.isObject else { return [] }
        var found: [String] = []
        for database in collections.objectMembers where database.value.isObject {
            for collection in database.value.objectMembers {
                guard let shards = collection.value["shards"], shards.isObject else { continue }
                for shard in shards.objectMembers where shard.value.isArray {
                    let listed = shard.value.arrayElements.contains {
                        $0.stringValue == serverId || $0.stringValue == "_" + serverId
                    }
                    if listed {
                        found.append("\(database.key.keyName ?? "?")/\(collection.key.keyName ?? "?")/\(shard.key.keyName ?? "?")")
                    }
                }
            }
        }
        return found.sorted()
    }
}
