package import Client
package import ClusterLogic
public import Documents
public import Server
package import Storage
import TesseraPlatform
public import Transport
package import VelocyPack
public import ArangoAPI
package import VelocyStream
public import ClusterMember
public import RESTRoutes

/// The DBServer role: holds shards (local collections named `s<id>` in their databases),
/// registers and heartbeats in the agency, and runs Maintenance — Plan says which shards this
/// server holds, Maintenance makes it so and reports to Current. Coordinators reach the shards
/// through the same document API a single server has; only cluster tokens get in.
///
/// Concurrency: requests run on the server's event loop (the REST routes; durable answers
/// come back from a shard engine's syncing thread through `Reply.later`). Registration,
/// heartbeats, the agency cache's long poll and the Maintenance loop are Swift tasks that
/// talk to the agency through `AgencyClient`; what they share is behind `Locked`.
public final class DBServer: Sendable {
    public struct Options: Sendable {
        public var endpoint: Endpoint
        public var dataDirectory: String
        public var agencyEndpoints: [Endpoint]
        public var secret: [UInt8]
        public var version: String
        public var heartbeatMilliseconds = ClusterMembership.heartbeatIntervalMilliseconds
        /// The loop the server's requests run on; the replication streams run on it too.
        /// `nil` gives replication its own loop.
        public var eventLoop: EventLoop?
        /// How long a follower may leave a replication batch unanswered before its leader
        /// drops it from the in-sync set (see `Protocol/Replication.md`).
        public var followerTimeoutMilliseconds: UInt64 = 5_000

        public init(endpoint: Endpoint, dataDirectory: String, agencyEndpoints: [Endpoint], secret: [UInt8], version: String) {
            self.endpoint = endpoint
            self.dataDirectory = dataDirectory
            self.agencyEndpoints = agencyEndpoints
            self.secret = secret
            self.version = version
        }
    }

    public let options: Options
    public let identity: ServerIdentity
    public let store: DocumentStore
    let agency: AgencyClient
    let cache: AgencyCache
    let cursors = CursorRegistry()
    let replication: ReplicationService
    let tasks = Locked<[Task<Void, Never>]>([])
    /// This server's reboot id as of its registration (`Current/ServersKnown/<id>/rebootId`).
    /// Supervision bumps it when it declares the server FAILED; seeing it move tells a server
    /// that was only paused or cut off that its leaderships are void.
    let rebootId = Locked<Int64?>(nil)
    /// The last Maintenance fault, for the operator (also logged).
    let lastFault = Locked<String?>(nil)
    let log = ProcessLog.logger("dbserver")

    public init(options: Options) throws(StartupError) {
        self.options = options
        identity = try ServerIdentity.loadOrCreate(in: options.dataDirectory, role: .dbserver)
        do {
            store = try DocumentStore(directory: options.dataDirectory + "/shards")
        } catch {
            throw StartupError("cannot open the shards in \(options.dataDirectory)/shards: \(error.message)")
        }
        let token: String
        (token, agency, cache) = ClusterMembership.connect(identity, secret: options.secret, agencyEndpoints: options.agencyEndpoints)
        var settings = ReplicationService.Settings()
        settings.followerTimeoutMilliseconds = options.followerTimeoutMilliseconds
        replication = ReplicationService(loop: options.eventLoop ?? EventLoop(), serverId: identity.id, store: store, agency: agency,
                                         cache: cache, token: token, settings: settings)
        replication.holdWritesUntilReconciled()
    }

    /// The routes: version, echo, and the document API over the shards.
    public func router() -> Router {
        var router = Router()
        AdminHandlers.register(in: &router, version: AdminHandlers.VersionInfo(version: options.version))
        DocumentAPI(store: store, cursors: cursors, access: OpenAccess()).register(in: &router)
        ReplicationRoutes.register(in: &router, service: replication)
        let identity = self.identity
        router.add(.get, "/_admin/server/id") { _ in answer(200) { $0.add(key: "id", identity.id) } }
        router.add(.get, "/_admin/server/role") { _ in answer(200) { $0.add(key: "role", "PRIMARY") } }
        return router
    }

    /// Adds the replication's counters to the server's metrics.
    public func registerMetrics(in metrics: Metrics) {
        replication.registerMetrics(in: metrics)
    }

    /// Only cluster tokens: DBServers serve coordinators, never clients.
    public func configuration() -> ServerConfiguration {
        var configuration = ServerConfiguration(endpoint: options.endpoint)
        configuration.authenticator = ClusterAuthenticator(secret: options.secret, now: { WallClock.seconds() })
        configuration.openPaths = []
        let store = self.store
        configuration.databaseExists = { store.databaseExists($0) }
        return configuration
    }

    /// Waits for the agency's initialization, registers, then heartbeats and runs
    /// Maintenance in the background.
    public func start(listeningOn endpoint: Endpoint) async throws(StartupError) {
        try await waitForInitialization()
        try await ClusterMembership.register(identity, role: .dbServer, endpoint: endpoint, version: options.version, agency: agency)
        let rebootPath = AgencyLayout.currentRebootId(identity.id)
        if let answer = try? await agency.read([[rebootPath]]), let first = answer[0] {
            rebootId.withLock { $0 = AgencyLayout.value(at: rebootPath, inReadAnswer: first)?.intValue }
        }
        cache.start()
        replication.start()
        let heartbeat = ClusterMembership.heartbeats(identity, every: options.heartbeatMilliseconds, agency: agency)
        let maintenance = Task { [self] in await maintenanceLoop() }
        tasks.withLock { $0 = [heartbeat, maintenance] }
    }

    public func stop() async {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        await replication.stop()
        cache.stop()
        await agency.shutdown()
    }

    public func close() throws(DocumentError) { try store.close() }

    // MARK: Registration and heartbeats

    func waitForInitialization() async throws(StartupError) {
        let deadline = MonotonicClock.seconds() + 120
        while MonotonicClock.seconds() < deadline {
            if let answer = try? await agency.read([[AgencyLayout.initDone]]), let object = answer[0],
               AgencyLayout.value(at: AgencyLayout.initDone, inReadAnswer: object)?.boolValue == true {
                return
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        throw StartupError("the agency at \(options.agencyEndpoints) was not initialized within 120 s (a coordinator initializes it)")
    }

    // MARK: Maintenance

    func maintenanceLoop() async {
        var seen: UInt64 = 0
        while !Task.isCancelled {
            // Run when the cached agency moved, and at least every second (a failed step is
            // retried, a lost report resent).
            _ = await cache.waitFor(index: seen + 1, timeoutSeconds: 1)
            seen = cache.index
            await maintenanceStep()
        }
    }

    func maintenanceStep() async {
        guard let planSlice = cache.value(at: AgencyLayout.plan) else { return }
        let plan: ClusterPlan
        let current: ClusterCurrent
        do {
            plan = try ClusterPlan(decoding: planSlice)
            current = try cache.value(at: AgencyLayout.current).map { (slice) throws(ClusterError) in try ClusterCurrent(decoding: slice) }
                ?? ClusterCurrent()
        } catch {
            note("Plan or Current cannot be read: \(error)")
            return
        }
        await checkRebootId()
        var failures: [MaintenanceAction] = []
        var indexFailures: [String: [IndexFailure]] = [:]
        for action in MaintenancePlanner.localActions(serverId: identity.id, plan: plan, local: localDatabases()) {
            do throws(ArangoError) {
                try execute(action)
                log.info("maintenance: \(action.summary)")
            } catch {
                note("\(action): \(error.message)")
                switch action {
                case let .createShard(database, collection, shard, _):
                    failures.append(.reportShard(database: database, collectionId: collection.id, shard: shard,
                                                 report: .failure(server: identity.id, errorNum: error.number.rawValue, errorMessage: error.message),
                                                 planServers: collection.shards[shard] != nil ? collection.storedServers(of: shard) : [identity.id],
                                                 currentServers: nil))
                case let .ensureIndex(_, shard, index):
                    // Reported with the shard, so the coordinator waiting for it undoes it.
                    indexFailures[shard, default: []].append(IndexFailure(id: index.id, errorNum: error.number.rawValue,
                                                                          errorMessage: error.message))
                default:
                    break
                }
            }
        }
        // The shards' replication follows Plan (leaders, followers, resyncs); the in-sync
        // fields of replicated shards are its own to write, not Maintenance's.
        await replication.reconcile(plan: plan, current: current)
        let reports = failures + MaintenancePlanner.currentActions(serverId: identity.id, plan: plan, local: localDatabases(),
                                                                   current: current, indexFailures: indexFailures)
        for action in reports {
            guard let body = action.agencyBody(serverId: identity.id) else { continue }
            do {
                let result = try await agency.write(envelope: body, clientID: nil)
                // Not applied: a precondition failed because Plan moved on; the next step
                // recomputes from the new Plan.
                if result.applied {
                    log.info("maintenance: \(action.summary)")
                } else {
                    log.debug("maintenance: Plan moved on before \(action.summary)")
                }
            } catch {
                // Sent again by the next step (at least every second) while Current differs.
                log.warning("maintenance: cannot \(action.summary): \(error)")
            }
        }
    }

    /// When supervision bumped this server's reboot id (it saw the server FAILED — the server
    /// was down, paused or cut off for longer than the grace period), every leadership this
    /// process holds is void: resign them all before anything else, and take the new id.
    func checkRebootId() async {
        guard let seen = cache.value(at: AgencyLayout.currentRebootId(identity.id))?.intValue else { return }
        let known = rebootId.withLock { value -> Int64? in
            defer { if value == nil || seen > value! { value = seen } }
            return value
        }
        guard let known, seen > known else { return }
        log.warning("supervision declared this server FAILED (reboot id \(known) → \(seen)): resigning every leadership; Plan decides the roles again")
        await replication.resignAllLeaderships("supervision declared this server failed (reboot id \(seen))")
    }

    func note(_ fault: String) {
        lastFault.withLock { $0 = fault }
        log.error("maintenance: \(fault)")
    }

    /// The shards this server holds, by database (collections named like shards).
    func localDatabases() -> LocalDatabases {
        var local: LocalDatabases = [:]
        for database in store.databaseNames {
            var shards: [String: LocalShard] = [:]
            let collections: [DocumentCollection]
            do { collections = try store.collections(in: database) } catch {
                // Dropped since `databaseNames` (a race with our own drop): nothing held there.
                log.debug("maintenance: database \(database) went away while listing it: \(error.message)")
                continue
            }
            for collection in collections where ShardName.id(collection.name) != nil {
                shards[collection.name] = LocalShard(indexIds: Set(collection.info.indexes.map(\.name)),
                                                     idPrefix: collection.info.idName, waitForSync: collection.info.waitForSync)
            }
            local[database] = shards
        }
        return local
    }

    func execute(_ action: MaintenanceAction) throws(ArangoError) {
        switch action {
        case .createDatabase(let database):
            if !store.databaseExists(database) { try store.createDatabase(database) }
        case let .createShard(database, collection, shard, _):
            var settings = DocumentStore.CollectionSettings(name: shard)
            settings.idPrefix = collection.name
            settings.type = collection.type == .edge ? .edge : .document
            settings.waitForSync = collection.waitForSync
            settings.keyOptions = collection.keyOptions
            let created = try store.createCollection(settings, in: database)
            for index in collection.indexes where !index.isBuiltIn { try ensure(index, on: created) }
        case let .updateShard(database, shard, idPrefix, waitForSync):
            let collection = try store.collection(shard, in: database)
            if collection.info.idName != idPrefix { try store.setIdPrefix(idPrefix, of: collection) }
            if collection.info.waitForSync != waitForSync { try store.setWaitForSync(waitForSync, of: collection) }
        case let .ensureIndex(database, shard, index):
            try ensure(index, on: store.collection(shard, in: database))
        case let .dropIndex(database, shard, indexId):
            let collection = try store.collection(shard, in: database)
            if let info = collection.info.indexes.first(where: { $0.name == indexId }) { try store.dropIndex(info.id, on: collection) }
        case let .dropShard(database, shard):
            try store.dropCollection(shard, in: database)
        case .dropDatabase(let database):
            if database != "_system" { try store.dropDatabase(database) }
        case .reportDatabase, .reportShard, .reportShardDetails, .removeShardFromCurrent, .removeDatabaseFromCurrent:
            break
        }
    }

    /// Creates a planned index on a shard under the index's cluster-wide id as its name.
    func ensure(_ index: PlannedIndex, on collection: DocumentCollection) throws(ArangoError) {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "type", "persistent")
        builder.add(key: "name", index.id)
        builder.add(key: "fields", strings: index.fields)
        builder.add(key: "unique", index.unique)
        builder.add(key: "sparse", index.sparse)
        builder.closeTrusted()
        _ = try store.ensureIndex(try IndexRequest(body: builder.slice), on: collection)
    }
}
