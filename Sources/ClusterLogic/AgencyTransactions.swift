package import VelocyPack

/// One write transaction as `Protocol/Agency.md` §3 has it: `[operations, preconditions, clientId]`.
package struct AgencyWrite {
    package enum Operation {
        case set([UInt8])
        case delete
        case increment(step: Int)
    }

    package enum Condition {
        case oldEmpty(Bool)
        case old([UInt8])
    }

    package var operations: [(path: String, operation: Operation)] = []
    package var preconditions: [(path: String, condition: Condition)] = []
    package var clientId: String?

    package init(clientId: String? = nil) { self.clientId = clientId }

    package mutating func set(_ path: String, _ value: [UInt8]) { operations.append((path, .set(value))) }
    package mutating func set(_ path: String, _ body: (inout Builder) -> Void) { set(path, vpackBytes(body)) }
    package mutating func delete(_ path: String) { operations.append((path, .delete)) }
    package mutating func increment(_ path: String, step: Int = 1) { operations.append((path, .increment(step: step))) }
    package mutating func require(_ path: String, _ condition: Condition) { preconditions.append((path, condition)) }

    package func encode(into builder: inout Builder) {
        builder.openArray()
        builder.openObject()
        for (path, operation) in operations {
            builder.add(key: path)
            switch operation {
            case .set(let value):
                // Always the explicit form: a bare object value would be read as an operation
                // if it happened to have an `op` member.
                builder.openObject()
                builder.add(key: "op", "set")
                builder.add(key: "new", Slice(trustedBytes: value))
                builder.closeTrusted()
            case .delete:
                builder.openObject()
                builder.add(key: "op", "delete")
                builder.closeTrusted()
            case .increment(let step):
                builder.openObject()
                builder.add(key: "op", "increment")
                builder.add(key: "step", step)
                builder.closeTrusted()
            }
        }
        builder.closeTrusted()
        builder.openObject()
        for (path, condition) in preconditions {
            builder.add(key: path)
            builder.openObject()
            switch condition {
            case .oldEmpty(let empty): builder.add(key: "oldEmpty", empty)
            case .old(let value): builder.add(key: "old", Slice(trustedBytes: value))
            }
            builder.closeTrusted()
        }
        builder.closeTrusted()
        if let clientId { builder.add(clientId) }
        builder.closeTrusted()
    }
}

/// An element of a request envelope: a write transaction or a read query.
package enum AgencyElement {
    case write(AgencyWrite)
    case read([String])
}

/// The body of a `write` or `transact` request: an array of elements.
package func agencyEnvelope(_ elements: [AgencyElement]) -> [UInt8] {
    vpackBytes { builder in
        builder.openArray()
        for element in elements {
            switch element {
            case .write(let write): write.encode(into: &builder)
            case .read(let paths): builder.add(strings: paths)
            }
        }
        builder.closeTrusted()
    }
}

/// The bodies of the agency requests the cluster roles send, in the format of
/// `Protocol/Agency.md`. Each function says whether the body goes to `/_api/agency/write`
/// or `/_api/agency/transact`, and what its preconditions guard. Every write takes an
/// optional client id so a role that lost the answer can resend it safely (`Agency.md` §5).
///
/// The layout and the bodies are described in `Protocol/Cluster.md`.
public enum AgencyTransactions {
    /// The id of the `_system` database, fixed by the initialization.
    public static let systemDatabaseId = "1"
    /// The first value of `Sync/LatestID`: ids up to it are reserved for fixed objects.
    public static let latestIdInitial: UInt64 = 100

    /// `write`: creates the layout once, under the precondition that `/arango/Plan` is
    /// empty, so of two coordinators starting together exactly one succeeds (the other's
    /// result is 0 and it goes on with the existing layout).
    ///
    /// Sections are set one by one rather than `/arango` as a whole so nothing else under
    /// `/arango` is wiped. Servers wait for `/arango/InitDone` before they register, so the
    /// sections are still empty when this applies.
    public static func initializeLayout(clusterId: String, heartbeatIntervalMilliseconds: Int = 250,
                                        clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        write.set(AgencyLayout.cluster) { $0.add(clusterId) }
        write.set(AgencyLayout.plan) { builder in
            builder.openObject()
            builder.add(key: "Collections"); emptyObject(containing: "_system", into: &builder)
            builder.add(key: "CollectionNames"); emptyObject(containing: "_system", into: &builder)
            builder.add(key: "Coordinators"); emptyObject(into: &builder)
            builder.add(key: "DBServers"); emptyObject(into: &builder)
            builder.add(key: "Databases")
            builder.openObject()
            builder.add(key: "_system", Slice(trustedBytes: PlanDatabase(id: systemDatabaseId, name: "_system").vpack))
            builder.closeTrusted()
            builder.add(key: "Version", 1)
            builder.closeTrusted()
        }
        write.set(AgencyLayout.current) { builder in
            builder.openObject()
            builder.add(key: "Collections"); emptyObject(into: &builder)
            builder.add(key: "Databases"); emptyObject(into: &builder)
            builder.add(key: "ServersKnown"); emptyObject(into: &builder)
            builder.add(key: "ServersRegistered"); emptyObject(into: &builder)
            builder.add(key: "Version", 1)
            builder.closeTrusted()
        }
        write.set(AgencyLayout.target) { builder in
            builder.openObject()
            builder.add(key: "LatestCoordinatorId", 0)
            builder.add(key: "LatestDBServerId", 0)
            builder.add(key: "MapUniqueToShortID"); emptyObject(into: &builder)
            builder.closeTrusted()
        }
        write.set(AgencyLayout.supervision) { builder in
            builder.openObject()
            builder.add(key: "Health"); emptyObject(into: &builder)
            builder.closeTrusted()
        }
        write.set(AgencyLayout.sync) { builder in
            builder.openObject()
            builder.add(key: "HeartbeatIntervalMs", heartbeatIntervalMilliseconds)
            builder.add(key: "LatestID", latestIdInitial)
            builder.add(key: "ServerStates"); emptyObject(into: &builder)
            builder.closeTrusted()
        }
        write.set(AgencyLayout.initDone) { $0.add(true) }
        write.require(AgencyLayout.plan, .oldEmpty(true))
        return agencyEnvelope([.write(write)])
    }

    /// `transact`: step 1 of registration. Increments the role's short-name counter only if
    /// the server has no short name yet, then reads the counter and the server's entry in
    /// `Target/MapUniqueToShortID`. Both run in one log entry, so the read sees exactly this
    /// increment. Pass the answer to ``shortName(fromAnswer:serverId:role:)``.
    public static func reserveShortName(serverId: String, role: ServerRole) -> [UInt8] {
        var write = AgencyWrite()
        write.increment(AgencyLayout.targetLatestShortId(role: role))
        write.require(AgencyLayout.targetShortName(serverId), .oldEmpty(true))
        return agencyEnvelope([.write(write), .read([AgencyLayout.targetLatestShortId(role: role),
                                                     AgencyLayout.targetShortName(serverId)])])
    }

    /// `write`: step 2 of registration, sent at every start. Three transactions:
    ///
    /// 1. only for a newly allocated short name: store it in `Target/MapUniqueToShortID/<id>`
    ///    if that is still empty;
    /// 2. always: `Current/ServersRegistered/<id>` = the registration, increment
    ///    `Current/ServersKnown/<id>/rebootId` and `Current/Version`;
    /// 3. add the server to `Plan/DBServers` or `Plan/Coordinators` (with a `Plan/Version`
    ///    increment) if it is not there yet.
    ///
    /// On a restart transactions 1 and 3 are left out or fail their precondition by design
    /// (HTTP 412); registration succeeded when the result of the "always" transaction is
    /// not 0: it is the last-but-one result.
    public static func registerServer(_ registration: ServerRegistration, shortNameIsNew: Bool,
                                      clientId: String? = nil) -> [UInt8] {
        var elements: [AgencyElement] = []
        if shortNameIsNew {
            var claim = AgencyWrite()
            claim.set(AgencyLayout.targetShortName(registration.id)) { builder in
                builder.openObject()
                builder.add(key: "ShortName", registration.shortName)
                builder.closeTrusted()
            }
            claim.require(AgencyLayout.targetShortName(registration.id), .oldEmpty(true))
            elements.append(.write(claim))
        }
        var register = AgencyWrite(clientId: clientId)
        register.set(AgencyLayout.currentServerRegistered(registration.id), registration.vpack)
        register.increment(AgencyLayout.currentRebootId(registration.id))
        register.increment(AgencyLayout.currentVersion)
        elements.append(.write(register))
        var plan = AgencyWrite()
        plan.set(AgencyLayout.planServer(registration.id, role: registration.role)) { $0.add("none") }
        plan.increment(AgencyLayout.planVersion)
        plan.require(AgencyLayout.planServer(registration.id, role: registration.role), .oldEmpty(true))
        elements.append(.write(plan))
        return agencyEnvelope(elements)
    }

    /// `write`: a heartbeat, `Sync/ServerStates/<id>` = `{time, status}`. Supervision only
    /// looks at whether the value changed, by its own clock, so `time` need not agree with
    /// the agents' clocks; it must differ from the previous beat.
    public static func heartbeat(serverId: String, timeMilliseconds: Int64, status: String = "SERVING") -> [UInt8] {
        var write = AgencyWrite()
        write.set(AgencyLayout.syncServerState(serverId)) { builder in
            builder.openObject()
            builder.add(key: "status", status)
            builder.add(key: "time", timeMilliseconds)
            builder.closeTrusted()
        }
        return agencyEnvelope([.write(write)])
    }

    /// `write`: creates a database in Plan with an empty collection list, and increments
    /// `Plan/Version`; fails (result 0) when a database of that name is planned.
    public static func createDatabase(_ database: PlanDatabase, clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        write.set(AgencyLayout.planDatabase(database.name), database.vpack)
        write.set(AgencyLayout.planCollections(database.name)) { emptyObject(into: &$0) }
        write.set(AgencyLayout.join(AgencyLayout.planCollectionNames, database.name)) { emptyObject(into: &$0) }
        write.increment(AgencyLayout.planVersion)
        write.require(AgencyLayout.planDatabase(database.name), .oldEmpty(true))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: drops a database from Plan (its entry, collections and name index) and
    /// increments `Plan/Version`; fails when it is not planned. Dropping `_system` is a bug
    /// of the caller, which must refuse it first (ArangoDB: 1230 forbidden).
    public static func dropDatabase(_ name: String, clientId: String? = nil) -> [UInt8] {
        precondition(name != "_system", "AgencyTransactions.dropDatabase: _system cannot be dropped")
        var write = AgencyWrite(clientId: clientId)
        write.delete(AgencyLayout.planDatabase(name))
        write.delete(AgencyLayout.planCollections(name))
        write.delete(AgencyLayout.join(AgencyLayout.planCollectionNames, name))
        write.increment(AgencyLayout.planVersion)
        write.require(AgencyLayout.planDatabase(name), .oldEmpty(false))
        return agencyEnvelope([.write(write)])
    }

    /// `transact`: plans a collection (usually with `isBuilding: true`) and increments
    /// `Plan/Version`, with the preconditions that the database exists, that the name is
    /// free in it and that the id is unused. The answer's first member is the log index, or
    /// for a failed precondition the current values; ``createCollectionFailure(answer:database:name:)``
    /// turns those into the error to report.
    public static func createCollection(_ collection: PlanCollection, database: String,
                                        clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        write.set(AgencyLayout.planCollection(database: database, id: collection.id), collection.vpack)
        write.set(AgencyLayout.planCollectionName(database: database, name: collection.name)) { $0.add(collection.id) }
        write.increment(AgencyLayout.planVersion)
        write.require(AgencyLayout.planDatabase(database), .oldEmpty(false))
        write.require(AgencyLayout.planCollectionName(database: database, name: collection.name), .oldEmpty(true))
        write.require(AgencyLayout.planCollection(database: database, id: collection.id), .oldEmpty(true))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: clears `isBuilding` of a planned collection once Current shows every shard,
    /// and increments `Plan/Version`; fails when the collection was dropped meanwhile.
    public static func finishCollectionCreation(database: String, collectionId: String,
                                                clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        let path = AgencyLayout.planCollection(database: database, id: collectionId)
        write.set(path + "/isBuilding") { $0.add(false) }
        write.increment(AgencyLayout.planVersion)
        write.require(path, .oldEmpty(false))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: drops a collection from Plan (entry and name) and increments `Plan/Version`;
    /// fails when the name no longer maps to that id. DBServers then drop the shards and
    /// remove their reports from Current.
    public static func dropCollection(database: String, id: String, name: String, clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        write.delete(AgencyLayout.planCollection(database: database, id: id))
        write.delete(AgencyLayout.planCollectionName(database: database, name: name))
        write.increment(AgencyLayout.planVersion)
        write.require(AgencyLayout.planCollectionName(database: database, name: name), .old(vpackBytes { $0.add(id) }))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: a shard leader's report in Current, with a `Current/Version` increment,
    /// under the precondition that Plan still lists `planServers` for the shard (ArangoDB's
    /// `reportInCurrent`): a report made for an outdated Plan is refused.
    public static func reportShard(database: String, collectionId: String, shard: String, report: CurrentShard,
                                   planServers: [String], currentServers: [String]? = nil, clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        let path = AgencyLayout.currentShard(database: database, collectionId: collectionId, shard: shard)
        write.set(path, report.vpack)
        write.increment(AgencyLayout.currentVersion)
        write.require(AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard),
                      .old(vpackBytes { $0.add(strings: planServers) }))
        if let currentServers {
            write.require(path + "/servers", .old(vpackBytes { $0.add(strings: currentServers) }))
        }
        return agencyEnvelope([.write(write)])
    }

    /// `write`: a shard leader's change of its in-sync set — a follower dropped before a
    /// write is acknowledged without it, or a resynced follower added — setting `servers`
    /// and `failoverCandidates` together, recording the leadership's `epoch`, and moving
    /// `syncVersion` from `version` to `version + 1`, under the preconditions that Plan still
    /// lists `planServers`, Current still lists `oldServers`, and the version is still
    /// `version` (absent when 0). Only the leader's replication writes these fields.
    public static func changeInSyncServers(database: String, collectionId: String, shard: String, planServers: [String],
                                           oldServers: [String], newServers: [String], version: UInt64, epoch: UInt64,
                                           clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        let path = AgencyLayout.currentShard(database: database, collectionId: collectionId, shard: shard)
        let servers = vpackBytes { $0.add(strings: newServers) }
        write.set(path + "/servers", servers)
        write.set(path + "/failoverCandidates", servers)
        write.set(path + "/leaderEpoch", vpackBytes { $0.add(epoch) })
        write.set(path + "/syncVersion", vpackBytes { $0.add(version + 1) })
        write.increment(AgencyLayout.currentVersion)
        write.require(AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard),
                      .old(vpackBytes { $0.add(strings: planServers) }))
        write.require(path + "/servers", .old(vpackBytes { $0.add(strings: oldServers) }))
        write.require(path + "/syncVersion", version == 0 ? .oldEmpty(true) : .old(vpackBytes { $0.add(version) }))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: moves a shard's `syncVersion` from `version` to `version + 1` and nothing
    /// else, so that a change computed at `version` whose answer was lost can no longer
    /// apply (the leader then reads which happened).
    public static func fenceInSyncChange(database: String, collectionId: String, shard: String, version: UInt64,
                                         clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        let path = AgencyLayout.currentShard(database: database, collectionId: collectionId, shard: shard)
        write.set(path + "/syncVersion", vpackBytes { $0.add(version + 1) })
        write.increment(AgencyLayout.currentVersion)
        write.require(path + "/syncVersion", version == 0 ? .oldEmpty(true) : .old(vpackBytes { $0.add(version) }))
        write.require(path + "/servers", .oldEmpty(false))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: the details of a replicated shard's report — error, indexes, index errors —
    /// leaving the in-sync fields to the leader's replication, under the preconditions that
    /// Plan still lists `planServers` and the report exists.
    public static func reportShardDetails(database: String, collectionId: String, shard: String, report: CurrentShard,
                                          planServers: [String], clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        let path = AgencyLayout.currentShard(database: database, collectionId: collectionId, shard: shard)
        write.set(path + "/error", vpackBytes { $0.add(report.error) })
        write.set(path + "/errorNum", vpackBytes { $0.add(report.errorNum) })
        write.set(path + "/errorMessage", vpackBytes { $0.add(report.errorMessage) })
        write.set(path + "/indexes", vpackBytes { PlannedIndex.encode(report.indexes, into: &$0) })
        if report.indexErrors.isEmpty {
            write.delete(path + "/indexErrors")
        } else {
            write.set(path + "/indexErrors", vpackBytes { CurrentShard.encode(report.indexErrors, into: &$0) })
        }
        write.increment(AgencyLayout.currentVersion)
        write.require(AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard),
                      .old(vpackBytes { $0.add(strings: planServers) }))
        write.require(path + "/servers", .oldEmpty(false))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: removes a shard's report from Current, with a `Current/Version` increment,
    /// under the precondition that the shard is no longer planned.
    public static func removeShardFromCurrent(database: String, collectionId: String, shard: String,
                                              clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        write.delete(AgencyLayout.currentShard(database: database, collectionId: collectionId, shard: shard))
        write.increment(AgencyLayout.currentVersion)
        write.require(AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard), .oldEmpty(true))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: a server's report that it holds a database, with a `Current/Version`
    /// increment, under the precondition that the database is planned.
    public static func reportDatabase(_ database: String, serverId: String, clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        write.set(AgencyLayout.currentDatabase(database, server: serverId)) { builder in
            builder.openObject()
            builder.add(key: "error", false)
            builder.add(key: "name", database)
            builder.closeTrusted()
        }
        write.increment(AgencyLayout.currentVersion)
        write.require(AgencyLayout.planDatabase(database), .oldEmpty(false))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: removes a server's database report, with a `Current/Version` increment,
    /// under the precondition that the database is no longer planned.
    public static func removeDatabaseFromCurrent(_ database: String, serverId: String, clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        write.delete(AgencyLayout.currentDatabase(database, server: serverId))
        write.increment(AgencyLayout.currentVersion)
        write.require(AgencyLayout.planDatabase(database), .oldEmpty(true))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: removes a dropped collection's node from Current once every shard report
    /// under it is gone (ArangoDB's coordinator does this after a drop), with a
    /// `Current/Version` increment; refused while a report is left or the id is planned.
    public static func clearCollectionFromCurrent(database: String, collectionId: String, clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        let path = AgencyLayout.join(AgencyLayout.currentCollections, database, collectionId)
        write.delete(path)
        write.increment(AgencyLayout.currentVersion)
        write.require(path, .old(vpackBytes { emptyObject(into: &$0) }))
        write.require(AgencyLayout.planCollection(database: database, id: collectionId), .oldEmpty(true))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: removes a dropped database's nodes from Current (`Databases/<db>` and
    /// `Collections/<db>`) once every server's database report is gone (each server removes
    /// its shard reports before its database report), with a `Current/Version` increment;
    /// refused while a report is left or the database is planned.
    public static func clearDatabaseFromCurrent(_ database: String, clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        let reports = AgencyLayout.join(AgencyLayout.currentDatabases, database)
        write.delete(reports)
        write.delete(AgencyLayout.join(AgencyLayout.currentCollections, database))
        write.increment(AgencyLayout.currentVersion)
        write.require(reports, .old(vpackBytes { emptyObject(into: &$0) }))
        write.require(AgencyLayout.planDatabase(database), .oldEmpty(true))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: replaces a planned collection's entry (a new index list, properties) and
    /// increments `Plan/Version`, under the precondition that the entry is still `previous`
    /// (two coordinators changing one collection cannot overwrite each other).
    public static func updateCollection(_ collection: PlanCollection, previous: PlanCollection, database: String,
                                        clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        let path = AgencyLayout.planCollection(database: database, id: collection.id)
        write.set(path, collection.vpack)
        write.increment(AgencyLayout.planVersion)
        write.require(path, .old(previous.vpack))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: renames a planned collection: its entry becomes `renamed` (the same collection
    /// with the new name), the name index moves, `Plan/Version` increments; under the
    /// preconditions that the entry is still `previous` and that the new name is free.
    public static func renameCollection(_ renamed: PlanCollection, previous: PlanCollection, database: String,
                                        clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        let path = AgencyLayout.planCollection(database: database, id: renamed.id)
        write.set(path, renamed.vpack)
        write.delete(AgencyLayout.planCollectionName(database: database, name: previous.name))
        write.set(AgencyLayout.planCollectionName(database: database, name: renamed.name)) { $0.add(renamed.id) }
        write.increment(AgencyLayout.planVersion)
        write.require(path, .old(previous.vpack))
        write.require(AgencyLayout.planCollectionName(database: database, name: renamed.name), .oldEmpty(true))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: stores a user's record and increments `Sync/UserVersion`, under the
    /// precondition that the stored record is still `previous` (`nil`: that there is none),
    /// so two coordinators changing one user cannot overwrite each other.
    public static func storeUser(_ name: String, record: [UInt8], previous: [UInt8]?, clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        write.set(AgencyLayout.user(name), record)
        write.increment(AgencyLayout.syncUserVersion)
        write.require(AgencyLayout.user(name), previous.map { .old($0) } ?? .oldEmpty(true))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: removes a user's record and increments `Sync/UserVersion`, under the
    /// precondition that the stored record is still `previous`.
    public static func removeUser(_ name: String, previous: [UInt8], clientId: String? = nil) -> [UInt8] {
        var write = AgencyWrite(clientId: clientId)
        write.delete(AgencyLayout.user(name))
        write.increment(AgencyLayout.syncUserVersion)
        write.require(AgencyLayout.user(name), .old(previous))
        return agencyEnvelope([.write(write)])
    }

    /// `write`: removes a server that is gone for good (`POST /_admin/cluster/removeServer`,
    /// ArangoDB's "remove a failed server"): every trace of it in one transaction —
    ///
    /// - `Plan/DBServers/<id>` or `Plan/Coordinators/<id>`, with a `Plan/Version` increment;
    /// - `Current/ServersRegistered/<id>`, `Current/ServersKnown/<id>`, and a DBServer's
    ///   database reports `Current/Databases/<db>/<id>` for each of `databaseReports` (left
    ///   behind they would keep a dropped database's Current node from ever being cleared),
    ///   with a `Current/Version` increment;
    /// - `Supervision/Health/<id>`, `Sync/ServerStates/<id>`, `Target/MapUniqueToShortID/<id>`
    ///   and `Target/FailedServers/<id>`.
    ///
    /// Preconditions: supervision still holds the server FAILED (`Supervision/Health/<id>/Status`
    /// `old: "FAILED"`), so a server that heartbeats again in the meantime is kept. For a
    /// DBServer also: no job locks it (`Supervision/DBServers/<id>` `oldEmpty: true`: a
    /// FailedServer job still moving its shards away), and Plan is still at `planVersion`, the
    /// version at which the caller found that no planned shard lists the server (see
    /// ``serverRemoval(serverId:readAnswer:clientId:)``); any Plan change in between fails the
    /// write, and the caller checks again.
    ///
    /// - Precondition: `serverId` and every database name pass ``AgencyLayout/validateName(_:)``;
    ///   a DBServer's removal needs `planVersion`.
    public static func removeServer(_ serverId: String, role: ServerRole, planVersion: [UInt8]?, databaseReports: [String] = [],
                                    clientId: String? = nil) -> [UInt8] {
        precondition(role == .coordinator || planVersion != nil,
                     "AgencyTransactions.removeServer: removing DBServer \(serverId) needs the Plan version it was checked at")
        var write = AgencyWrite(clientId: clientId)
        write.delete(AgencyLayout.planServer(serverId, role: role))
        write.increment(AgencyLayout.planVersion)
        write.delete(AgencyLayout.currentServerRegistered(serverId))
        write.delete(AgencyLayout.join(AgencyLayout.currentServersKnown, serverId))
        for database in databaseReports { write.delete(AgencyLayout.currentDatabase(database, server: serverId)) }
        write.increment(AgencyLayout.currentVersion)
        write.delete(AgencyLayout.supervisionHealth(serverId))
        write.delete(AgencyLayout.syncServerState(serverId))
        write.delete(AgencyLayout.targetShortName(serverId))
        write.delete(AgencyLayout.targetFailedServer(serverId))
        write.require(AgencyLayout.supervisionHealth(serverId) + "/Status", .old(vpackBytes { $0.add(ServerHealth.failed.rawValue) }))
        if role == .dbServer, let planVersion {
            write.require(AgencyLayout.supervisionServerLock(serverId), .oldEmpty(true))
            write.require(AgencyLayout.planVersion, .old(planVersion))
        }
        return agencyEnvelope([.write(write)])
    }

    /// `transact`: reserves `count` cluster-unique ids (collection and shard ids, key
    /// generator batches) by incrementing `Sync/LatestID` by `count` and reading it back in
    /// the same log entry. Pass the answer to ``reservedIds(fromAnswer:count:)``.
    public static func reserveIds(count: UInt64) -> [UInt8] {
        precondition(count >= 1 && count <= UInt64(Int64.max), "AgencyTransactions.reserveIds: count \(count) out of range")
        var write = AgencyWrite()
        write.increment(AgencyLayout.syncLatestID, step: Int(count))
        return agencyEnvelope([.write(write), .read([AgencyLayout.syncLatestID])])
    }

    static func emptyObject(containing key: String? = nil, into builder: inout Builder) {
        builder.openObject()
        if let key {
            builder.add(key: key)
            builder.openObject()
            builder.closeTrusted()
        }
        builder.closeTrusted()
    }
}
