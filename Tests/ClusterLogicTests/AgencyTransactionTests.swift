import Testing
import VelocyPack
@testable import ClusterLogic

@Suite("Agency transactions")
struct AgencyTransactionTests {
    @Test func initializationAppliesOnceUnderThePlanPrecondition() throws {
        var agency = try TestAgency.initialized()
        #expect(agency.json(AgencyLayout.planVersion) == "1")
        #expect(agency.json(AgencyLayout.initDone) == "true")
        #expect(agency.json(AgencyLayout.syncHeartbeatIntervalMs) == "250")
        let plan = try agency.plan()
        #expect(plan.databases["_system"] == PlanDatabase(id: "1", name: "_system"))
        #expect(try agency.write(AgencyTransactions.initializeLayout(clusterId: "cluster-2")) == [0])
        #expect(agency.json(AgencyLayout.cluster) == #""cluster-1""#)
    }

    @Test func registrationDrawsShortNamesOnceAndKeepsThemAcrossRestarts() throws {
        var agency = try TestAgency.initialized()
        func register(_ id: String, _ role: ServerRole) throws -> ShortNameReservation {
            let answer = try agency.transact(AgencyTransactions.reserveShortName(serverId: id, role: role))
            let reservation = try AgencyTransactions.shortName(fromAnswer: answer, serverId: id, role: role)
            let registration = ServerRegistration(id: id, shortName: reservation.name, endpoint: "tcp://h:\(id.count)",
                                                  role: role, version: "0.1")
            let results = try agency.write(AgencyTransactions.registerServer(registration, shortNameIsNew: reservation.isNew))
            #expect(results[results.count - 2] != 0, "the registration itself always applies")
            return reservation
        }
        #expect(try register("PRMR-a", .dbServer) == .allocated("DBServer0001"))
        #expect(try register("PRMR-b", .dbServer) == .allocated("DBServer0002"))
        #expect(try register("CRDN-a", .coordinator) == .allocated("Coordinator0001"))
        #expect(try register("PRMR-a", .dbServer) == .existing("DBServer0001"))
        // The restart drew no number.
        #expect(agency.json(AgencyLayout.targetLatestShortId(role: .dbServer)) == "2")
        #expect(agency.json(AgencyLayout.currentRebootId("PRMR-a")) == "2")
        #expect(agency.json(AgencyLayout.planServer("PRMR-b", role: .dbServer)) == #""none""#)
        let stored = try ServerRegistration(id: "PRMR-b", decoding: agency.value(AgencyLayout.currentServerRegistered("PRMR-b"))!)
        #expect(stored == ServerRegistration(id: "PRMR-b", shortName: "DBServer0002", endpoint: "tcp://h:6", role: .dbServer, version: "0.1"))
    }

    @Test func heartbeatSetsTheServerState() throws {
        var agency = try TestAgency.initialized()
        _ = try agency.write(AgencyTransactions.heartbeat(serverId: "PRMR-a", timeMilliseconds: 42))
        #expect(agency.json(AgencyLayout.syncServerState("PRMR-a")) == #"{"status":"SERVING","time":42}"#)
    }

    @Test func databasesAreCreatedOnceAndDropped() throws {
        var agency = try TestAgency.initialized()
        #expect(try agency.write(AgencyTransactions.createDatabase(PlanDatabase(id: "101", name: "shop"))) != [0])
        #expect(try agency.write(AgencyTransactions.createDatabase(PlanDatabase(id: "102", name: "shop"))) == [0])
        #expect(try agency.plan().databases["shop"] == PlanDatabase(id: "101", name: "shop"))
        #expect(agency.json(AgencyLayout.planVersion) == "2")
        #expect(try agency.write(AgencyTransactions.dropDatabase("shop")) != [0])
        #expect(try agency.write(AgencyTransactions.dropDatabase("shop")) == [0])
        #expect(try agency.plan().databases["shop"] == nil)
        #expect(agency.value(AgencyLayout.planCollections("shop")) == nil)
    }

    @Test func collectionCreationIsRefusedForATakenNameOrAMissingDatabase() throws {
        var agency = try TestAgency.initialized()
        let users = collection(shards: ["s101": ["PRMR-a"], "s102": ["PRMR-b"]])
        let first = try agency.transact(AgencyTransactions.createCollection(users, database: "_system"))
        #expect(first[0]?.isNumber == true)
        #expect(AgencyTransactions.createCollectionFailure(answer: first, database: "_system", name: "users") == nil)
        #expect(try agency.plan().collections["_system"]?["100"] == users)
        #expect(agency.json(AgencyLayout.planVersion) == "2")

        var again = users
        again.id = "200"
        let duplicate = try agency.transact(AgencyTransactions.createCollection(again, database: "_system"))
        #expect(AgencyTransactions.createCollectionFailure(answer: duplicate, database: "_system", name: "users")?.errorNum == 1207)
        let missing = try agency.transact(AgencyTransactions.createCollection(again, database: "nowhere"))
        #expect(AgencyTransactions.createCollectionFailure(answer: missing, database: "nowhere", name: "users")?.errorNum == 1228)
        var sameId = users
        sameId.name = "customers"
        let reused = try agency.transact(AgencyTransactions.createCollection(sameId, database: "_system"))
        #expect(AgencyTransactions.createCollectionFailure(answer: reused, database: "_system", name: "customers")?.errorNum == 1453)
        #expect(try agency.plan().collections["_system"]?.count == 1)

        #expect(try agency.write(AgencyTransactions.finishCollectionCreation(database: "_system", collectionId: "100")) != [0])
        #expect(try agency.plan().collections["_system"]?["100"]?.isBuilding == false)
    }

    @Test func droppingACollectionFreesItsName() throws {
        var agency = try TestAgency.initialized()
        let users = collection(shards: ["s101": ["PRMR-a"]])
        _ = try agency.transact(AgencyTransactions.createCollection(users, database: "_system"))
        // The name maps to 100, not 999: the drop is refused.
        #expect(try agency.write(AgencyTransactions.dropCollection(database: "_system", id: "999", name: "users")) == [0])
        #expect(try agency.write(AgencyTransactions.dropCollection(database: "_system", id: "100", name: "users")) != [0])
        #expect(try agency.plan().collections["_system"]?.isEmpty == true)
        let recreated = try agency.transact(AgencyTransactions.createCollection(collection(id: "300", shards: ["s301": ["PRMR-a"]]),
                                                                                database: "_system"))
        #expect(recreated[0]?.isNumber == true)
    }

    @Test func renamingMovesTheNameUnlessItIsTakenOrTheEntryChanged() throws {
        var agency = try TestAgency.initialized()
        let users = collection(shards: ["s101": ["PRMR-a"]])
        _ = try agency.transact(AgencyTransactions.createCollection(users, database: "_system"))
        _ = try agency.transact(AgencyTransactions.createCollection(collection(id: "200", name: "taken", shards: ["s201": ["PRMR-a"]]),
                                                                    database: "_system"))
        var renamed = users
        renamed.name = "taken"
        #expect(try agency.write(AgencyTransactions.renameCollection(renamed, previous: users, database: "_system")) == [0])
        renamed.name = "people"
        var stale = users
        stale.waitForSync = true
        #expect(try agency.write(AgencyTransactions.renameCollection(renamed, previous: stale, database: "_system")) == [0])
        #expect(try agency.write(AgencyTransactions.renameCollection(renamed, previous: users, database: "_system")) != [0])
        let plan = try agency.plan()
        #expect(plan.collection(named: "people", in: "_system")?.id == "100")
        #expect(plan.collection(named: "users", in: "_system") == nil)
        #expect(agency.value(AgencyLayout.planCollectionName(database: "_system", name: "users")) == nil)
        // The old name is free again.
        #expect(try agency.transact(AgencyTransactions.createCollection(collection(id: "300", shards: ["s301": ["PRMR-a"]]),
                                                                        database: "_system"))[0]?.isNumber == true)
    }

    @Test func droppedCollectionsAndDatabasesLeaveNothingInCurrentOnceReportsAreGone() throws {
        var agency = try TestAgency.initialized()
        _ = try agency.write(AgencyTransactions.createDatabase(PlanDatabase(id: "50", name: "shop")))
        _ = try agency.transact(AgencyTransactions.createCollection(collection(shards: ["s101": ["PRMR-a"]]), database: "shop"))
        _ = try agency.write(AgencyTransactions.reportDatabase("shop", serverId: "PRMR-a"))
        _ = try agency.write(AgencyTransactions.reportShard(database: "shop", collectionId: "100", shard: "s101",
                                                           report: CurrentShard(servers: ["PRMR-a"], indexes: [.primary]),
                                                           planServers: ["PRMR-a"]))
        let clearCollection = AgencyTransactions.clearCollectionFromCurrent(database: "shop", collectionId: "100")
        #expect(try agency.write(clearCollection) == [0])  // still planned
        _ = try agency.write(AgencyTransactions.dropCollection(database: "shop", id: "100", name: "users"))
        #expect(try agency.write(clearCollection) == [0])  // a report is left
        #expect(try agency.write(AgencyTransactions.removeShardFromCurrent(database: "shop", collectionId: "100", shard: "s101")) != [0])
        #expect(agency.value("/arango/Current/Collections/shop/100")?.isObject == true)
        #expect(try agency.write(clearCollection) != [0])
        #expect(agency.value("/arango/Current/Collections/shop/100") == nil)

        let clearDatabase = AgencyTransactions.clearDatabaseFromCurrent("shop")
        _ = try agency.write(AgencyTransactions.dropDatabase("shop"))
        #expect(try agency.write(clearDatabase) == [0])  // PRMR-a still reports it
        #expect(try agency.write(AgencyTransactions.removeDatabaseFromCurrent("shop", serverId: "PRMR-a")) != [0])
        #expect(try agency.write(clearDatabase) != [0])
        #expect(agency.value("/arango/Current/Databases/shop") == nil)
        #expect(agency.value("/arango/Current/Collections/shop") == nil)
    }

    @Test func userRecordsChangeOnlyFromTheRecordTheyWereComputedFrom() throws {
        var agency = try TestAgency.initialized()
        let first = vpackBytes { $0.openObject(); $0.add(key: "user", "ann"); $0.add(key: "v", 1); $0.closeTrusted() }
        let second = vpackBytes { $0.openObject(); $0.add(key: "user", "ann"); $0.add(key: "v", 2); $0.closeTrusted() }
        #expect(try agency.write(AgencyTransactions.storeUser("ann", record: first, previous: nil)) != [0])
        #expect(try agency.write(AgencyTransactions.storeUser("ann", record: first, previous: nil)) == [0])  // duplicate
        #expect(try agency.write(AgencyTransactions.storeUser("ann", record: second, previous: second)) == [0])  // stale
        #expect(try agency.write(AgencyTransactions.storeUser("ann", record: second, previous: first)) != [0])
        #expect(agency.value(AgencyLayout.user("ann"))?["v"]?.intValue == 2)
        #expect(try agency.write(AgencyTransactions.removeUser("ann", previous: first)) == [0])
        #expect(try agency.write(AgencyTransactions.removeUser("ann", previous: second)) != [0])
        #expect(agency.value(AgencyLayout.user("ann")) == nil)
        #expect(agency.value(AgencyLayout.syncUserVersion)?.intValue == 3)
    }

    @Test func shardReportsNeedTheSamePlanAndRemovalsNeedItGone() throws {
        var agency = try TestAgency.initialized()
        _ = try agency.transact(AgencyTransactions.createCollection(collection(shards: ["s101": ["PRMR-a"]]), database: "_system"))
        let report = CurrentShard(servers: ["PRMR-a"], indexes: [.primary])
        let stale = AgencyTransactions.reportShard(database: "_system", collectionId: "100", shard: "s101", report: report,
                                                   planServers: ["PRMR-b"])
        #expect(try agency.write(stale) == [0])
        let fresh = AgencyTransactions.reportShard(database: "_system", collectionId: "100", shard: "s101", report: report,
                                                   planServers: ["PRMR-a"])
        #expect(try agency.write(fresh) != [0])
        #expect(try agency.current().shard(database: "_system", collectionId: "100", shard: "s101") == report)
        #expect(agency.json(AgencyLayout.currentVersion) == "2")
        #expect(try agency.current().isComplete(try agency.plan().collections["_system"]!["100"]!, database: "_system"))

        let removal = AgencyTransactions.removeShardFromCurrent(database: "_system", collectionId: "100", shard: "s101")
        #expect(try agency.write(removal) == [0])
        _ = try agency.write(AgencyTransactions.dropCollection(database: "_system", id: "100", name: "users"))
        #expect(try agency.write(removal) != [0])
        #expect(try agency.current().shard(database: "_system", collectionId: "100", shard: "s101") == nil)
    }

    @Test func databaseReportsFollowThePlan() throws {
        var agency = try TestAgency.initialized()
        #expect(try agency.write(AgencyTransactions.reportDatabase("shop", serverId: "PRMR-a")) == [0])
        _ = try agency.write(AgencyTransactions.createDatabase(PlanDatabase(id: "101", name: "shop")))
        #expect(try agency.write(AgencyTransactions.reportDatabase("shop", serverId: "PRMR-a")) != [0])
        #expect(try agency.current().databases["shop"] == ["PRMR-a"])
        #expect(try agency.write(AgencyTransactions.removeDatabaseFromCurrent("shop", serverId: "PRMR-a")) == [0])
        _ = try agency.write(AgencyTransactions.dropDatabase("shop"))
        #expect(try agency.write(AgencyTransactions.removeDatabaseFromCurrent("shop", serverId: "PRMR-a")) != [0])
        #expect(try agency.current().databases["shop"] == nil)
    }

    @Test func idReservationsAreDisjointAndConsecutive() throws {
        var agency = try TestAgency.initialized()
        let first = try AgencyTransactions.reservedIds(fromAnswer: try agency.transact(AgencyTransactions.reserveIds(count: 1000)), count: 1000)
        let second = try AgencyTransactions.reservedIds(fromAnswer: try agency.transact(AgencyTransactions.reserveIds(count: 5)), count: 5)
        #expect(first == (AgencyTransactions.latestIdInitial + 1)...(AgencyTransactions.latestIdInitial + 1000))
        #expect(second == (first.upperBound + 1)...(first.upperBound + 5))
    }

    @Test func malformedAnswersAreErrorsNotTraps() {
        for answer in ["[]", "{}", "[1]", "[1, 2]", #"[1, {"arango": {"Sync": {"LatestID": "x"}}}]"#,
                       #"[{"arango": {}}, {}]"#, #"[1, {"arango": {"Sync": {"LatestID": 3}}}]"#] {
            #expect(throws: ClusterError.self) {
                try AgencyTransactions.reservedIds(fromAnswer: vpack(answer), count: 10)
            }
            #expect(throws: ClusterError.self) {
                try AgencyTransactions.shortName(fromAnswer: vpack(answer), serverId: "PRMR-a", role: .dbServer)
            }
        }
    }

    @Test func namesThatCannotBeAgencyKeysAreRefused() {
        for name in ["", "a/b", ".hidden", String(repeating: "x", count: 257)] {
            #expect(throws: ClusterError(.illegalName, "illegal name '\(name.prefix(64))'")) { try AgencyLayout.validateName(name) }
        }
        #expect(throws: Never.self) { try AgencyLayout.validateName("users-2_b") }
    }
}
