import Testing
import VelocyPack
@testable import ClusterLogic

@Suite("Maintenance")
struct MaintenanceTests {
    static let me = "PRMR-me"
    static let persistent = PlannedIndex(id: "9", type: "persistent", name: "byAge", fields: ["age"], unique: false, sparse: false)

    /// One DBServer's view of a cluster: a real agency it reports to, and its local shards.
    struct Server {
        var agency: TestAgency
        var local: LocalDatabases = ["_system": [:]]

        init() throws { agency = try TestAgency.initialized() }

        func actions() throws -> [MaintenanceAction] {
            MaintenancePlanner.actions(serverId: MaintenanceTests.me, plan: try agency.plan(), local: local, current: try agency.current())
        }

        /// Carries the actions out as a driver would: local steps on `local`, Current steps
        /// as agency writes (each must apply).
        mutating func run(_ actions: [MaintenanceAction]) throws {
            for action in actions {
                if let body = action.agencyBody(serverId: MaintenanceTests.me) {
                    #expect(try agency.write(body) != [0], "\(action) applies")
                } else {
                    MaintenancePlanner.apply(action, to: &local)
                }
            }
        }

        /// Runs Maintenance and checks that a second run finds nothing to do.
        mutating func converge() throws -> [MaintenanceAction] {
            let actions = try actions()
            try run(actions)
            #expect(try self.actions() == [], "idempotent after \(actions)")
            return actions
        }
    }

    @Test func newShardsAreCreatedAndReported() throws {
        var server = try Server()
        let users = collection(indexes: [.primary, Self.persistent], shards: ["s101": [Self.me], "s102": ["PRMR-other"], "s103": [Self.me]])
        _ = try server.agency.transact(AgencyTransactions.createCollection(users, database: "_system"))
        let actions = try server.converge()
        let report = CurrentShard(servers: [Self.me], indexes: [.primary, Self.persistent])
        #expect(actions == [
            .createShard(database: "_system", collection: users, shard: "s101", leader: Self.me),
            .createShard(database: "_system", collection: users, shard: "s103", leader: Self.me),
            .reportDatabase(database: "_system"),
            .reportShard(database: "_system", collectionId: "100", shard: "s101", report: report, planServers: [Self.me], currentServers: nil),
            .reportShard(database: "_system", collectionId: "100", shard: "s103", report: report, planServers: [Self.me], currentServers: nil),
        ])
        #expect(server.local["_system"]?.keys.sorted() == ["s101", "s103"])
        #expect(try server.agency.current().shard(database: "_system", collectionId: "100", shard: "s103") == report)
    }

    @Test func droppedCollectionsAreDroppedAndUnreported() throws {
        var server = try Server()
        _ = try server.agency.transact(AgencyTransactions.createCollection(collection(shards: ["s101": [Self.me]]), database: "_system"))
        _ = try server.converge()
        _ = try server.agency.write(AgencyTransactions.dropCollection(database: "_system", id: "100", name: "users"))
        let actions = try server.converge()
        #expect(actions == [.dropShard(database: "_system", shard: "s101"),
                            .removeShardFromCurrent(database: "_system", collectionId: "100", shard: "s101")])
        #expect(server.local["_system"] == [:])
    }

    @Test func newIndexesAreEnsuredAndStaleOnesDropped() throws {
        var server = try Server()
        _ = try server.agency.transact(AgencyTransactions.createCollection(collection(shards: ["s101": [Self.me]]), database: "_system"))
        _ = try server.converge()
        // Replan with a new index (as a coordinator's index creation would).
        var users = try server.agency.plan().collections["_system"]!["100"]!
        users.indexes.append(Self.persistent)
        var write = AgencyWrite()
        write.set(AgencyLayout.planCollection(database: "_system", id: "100"), users.vpack)
        write.increment(AgencyLayout.planVersion)
        _ = try server.agency.write(agencyEnvelope([.write(write)]))
        server.local["_system"]?["s101"]?.indexIds.insert("77") // an index Plan does not know
        let actions = try server.converge()
        #expect(actions == [
            .ensureIndex(database: "_system", shard: "s101", index: Self.persistent),
            .dropIndex(database: "_system", shard: "s101", indexId: "77"),
            .reportShard(database: "_system", collectionId: "100", shard: "s101",
                         report: CurrentShard(servers: [Self.me], indexes: [.primary, Self.persistent]), planServers: [Self.me],
                         currentServers: [Self.me]),
        ])
    }

    @Test func renamedOrResyncedCollectionsUpdateTheirShards() throws {
        var server = try Server()
        let users = collection(shards: ["s101": [Self.me]])
        _ = try server.agency.transact(AgencyTransactions.createCollection(users, database: "_system"))
        _ = try server.converge()
        #expect(server.local["_system"]?["s101"]?.idPrefix == "users")
        var changed = users
        changed.name = "people"
        changed.waitForSync = true
        _ = try server.agency.write(AgencyTransactions.renameCollection(changed, previous: users, database: "_system"))
        #expect(try server.converge() == [.updateShard(database: "_system", shard: "s101", idPrefix: "people", waitForSync: true)])
        #expect(server.local["_system"]?["s101"] == LocalShard(indexIds: ["0"], idPrefix: "people", waitForSync: true))
        // A shard whose properties are unknown is left alone.
        server.local["_system"]?["s101"] = LocalShard(indexIds: ["0"])
        #expect(try server.actions() == [])
    }

    @Test func anIndexTheDriverCouldNotBuildIsReportedWithItsError() throws {
        var server = try Server()
        let users = collection(shards: ["s101": [Self.me]])
        _ = try server.agency.transact(AgencyTransactions.createCollection(users, database: "_system"))
        _ = try server.converge()
        var indexed = users
        indexed.indexes.append(Self.persistent)
        _ = try server.agency.write(AgencyTransactions.updateCollection(indexed, previous: users, database: "_system"))
        // The driver's ensureIndex failed: the shard keeps no index, the report carries the error.
        let failure = IndexFailure(id: "9", errorNum: 1210, errorMessage: "unique constraint violated")
        let reports = MaintenancePlanner.currentActions(serverId: Self.me, plan: try server.agency.plan(), local: server.local,
                                                        current: try server.agency.current(), indexFailures: ["s101": [failure]])
        let report = CurrentShard(servers: [Self.me], indexes: [.primary], indexErrors: [failure])
        #expect(reports == [.reportShard(database: "_system", collectionId: "100", shard: "s101", report: report, planServers: [Self.me], currentServers: [Self.me])])
        try server.run(reports)
        #expect(try server.agency.current().shard(database: "_system", collectionId: "100", shard: "s101") == report)
        // A failure of an index the shard holds after all is not reported.
        let held = MaintenancePlanner.currentActions(serverId: Self.me, plan: try server.agency.plan(),
                                                     local: ["_system": ["s101": LocalShard(indexIds: ["0", "9"])]],
                                                     current: try server.agency.current(), indexFailures: ["s101": [failure]])
        #expect(held == [.reportShard(database: "_system", collectionId: "100", shard: "s101",
                                      report: CurrentShard(servers: [Self.me], indexes: [.primary, Self.persistent]), planServers: [Self.me],
                                      currentServers: [Self.me])])
    }

    @Test func newAndDroppedDatabasesFollowThePlan() throws {
        var server = try Server()
        _ = try server.agency.write(AgencyTransactions.createDatabase(PlanDatabase(id: "200", name: "shop")))
        _ = try server.agency.transact(AgencyTransactions.createCollection(collection(id: "201", shards: ["s202": [Self.me]]), database: "shop"))
        let created = try server.converge()
        #expect(created.prefix(2) == [.createDatabase(database: "shop"),
                                      .createShard(database: "shop", collection: try server.agency.plan().collections["shop"]!["201"]!,
                                                   shard: "s202", leader: Self.me)])
        _ = try server.agency.write(AgencyTransactions.dropDatabase("shop"))
        let dropped = try server.converge()
        #expect(dropped == [.dropDatabase(database: "shop"),
                            .removeShardFromCurrent(database: "shop", collectionId: "201", shard: "s202"),
                            .removeDatabaseFromCurrent(database: "shop")])
        #expect(server.local["shop"] == nil)
    }

    @Test func shardsOfOtherServersAndUnplannedLocalShardsAreHandled() throws {
        var server = try Server()
        server.local["_system"]?["s999"] = LocalShard(indexIds: ["0"]) // a leftover from before a restart
        _ = try server.agency.transact(AgencyTransactions.createCollection(collection(shards: ["s101": ["PRMR-other"]]), database: "_system"))
        let actions = try server.converge()
        #expect(actions == [.dropShard(database: "_system", shard: "s999"), .reportDatabase(database: "_system")])
    }

    @Test func aStaleReportIsRefusedByThePlanPrecondition() throws {
        var server = try Server()
        _ = try server.agency.transact(AgencyTransactions.createCollection(collection(shards: ["s101": [Self.me]]), database: "_system"))
        let actions = try server.actions()
        // Plan moves the shard before the report is sent.
        var write = AgencyWrite()
        write.set(AgencyLayout.planShard(database: "_system", collectionId: "100", shard: "s101"), vpackBytes { $0.add(strings: ["PRMR-other"]) })
        _ = try server.agency.write(agencyEnvelope([.write(write)]))
        let report = actions.first { if case .reportShard = $0 { true } else { false } }!
        #expect(try server.agency.write(report.agencyBody(serverId: Self.me)!) == [0])
    }
}
