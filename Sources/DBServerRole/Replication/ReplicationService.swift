import ArangoAPI
import Client
import ClusterLogic
import ClusterMember
import Documents
import Logging
import Replication
import Server
import Storage
import TesseraPlatform
import Transport
import VelocyPack
import VelocyStream

/// A database and shard name: the key of a shard's replication on this server.
struct ShardKey: Hashable, Sendable {
    let database: String
    let shard: String
}

/// A DBServer's synchronous replication: a ``ShardLeader`` for every shard it leads that has
/// followers in Plan, a ``ShardFollower`` for every shard it follows, the connections to the
/// other DBServers, the clock that times followers out, and the totals.
///
/// Maintenance calls ``reconcile(plan:current:)`` after every step; everything else happens
/// on the event loop (batches, answers, resync requests from followers).
///
/// `@unchecked Sendable`: `leaders`, `followers` and `timer` are touched only on the loop
/// thread; `statistics` and `clients` are behind locks.
final class ReplicationService: @unchecked Sendable {
    struct Settings: Sendable {
        /// How long a follower may leave a batch unanswered before the leader drops it.
        /// Default 5 s: long enough for an `fdatasync` under load and a garbage-free pause,
        /// short enough that a dead follower stalls writes for seconds, not ArangoDB's 15
        /// minutes (`Protocol/Replication.md`, "Timeouts").
        var followerTimeoutMilliseconds: UInt64 = 5_000
        var batchesInFlightMax = 8
        /// The most operations and payload bytes one batch carries.
        var batchOperationCountMax = 2_000
        var batchByteCountMax = 1 << 20
        /// Resync: ranges per fetch request, fetches in parallel, bytes per answer.
        var rangesPerFetch = 64
        var parallelFetches = 4
        var fetchByteLimit = 4 << 20
        var tickMilliseconds: UInt64 = 100

        init() {}
    }

    let loop: EventLoop
    let serverId: String
    let store: DocumentStore
    let agency: AgencyClient
    let cache: AgencyCache
    let token: String
    let settings: Settings
    let log = ProcessLog.logger("replication")
    let links: PeerLinks
    let statistics = Locked(ReplicationStatistics())
    let clients = Locked<[String: VSTClient]>([:])
    var leaders: [ShardKey: ShardLeader] = [:]
    var followers: [ShardKey: ShardFollower] = [:]
    var timer: LoopTimer?

    var leaderSettings: LeaderReplication.Settings {
        var core = LeaderReplication.Settings()
        core.followerTimeoutMilliseconds = settings.followerTimeoutMilliseconds
        core.batchesInFlightMax = settings.batchesInFlightMax
        return core
    }
    var batchOperationCountMax: Int { settings.batchOperationCountMax }
    var batchByteCountMax: Int { settings.batchByteCountMax }
    var rangesPerFetch: Int { settings.rangesPerFetch }
    var parallelFetches: Int { settings.parallelFetches }
    var fetchByteLimit: Int { settings.fetchByteLimit }
    /// The loop's clock in milliseconds.
    var now: UInt64 { loop.nowMilliseconds }

    init(loop: EventLoop, serverId: String, store: DocumentStore, agency: AgencyClient, cache: AgencyCache, token: String,
         settings: Settings = Settings()) {
        self.loop = loop
        self.serverId = serverId
        self.store = store
        self.agency = agency
        self.cache = cache
        self.token = token
        self.settings = settings
        links = PeerLinks(loop: loop, token: token) { [cache] server in cache.dbServerEndpoints()[server] }
    }

    // MARK: The loop

    /// Runs `job` on the loop: at once when called there, else queued.
    func onLoop(_ job: @escaping @Sendable () -> Void) {
        if loop.inLoopThread { job() } else { loop.execute(job) }
    }

    /// Runs `job` on the loop and waits for it.
    func onLoopAsync<T: Sendable>(_ job: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let queued = loop.execute { continuation.resume(returning: job()) }
            if !queued { continuation.resume(returning: job()) }
        }
    }

    func start() {
        onLoop { [self] in
            let timer = LoopTimer(on: loop)
            timer.start(after: settings.tickMilliseconds, repeatEvery: settings.tickMilliseconds) { [self] in
                for leader in leaders.values { leader.tick() }
            }
            self.timer = timer
        }
    }

    func stop() async {
        await onLoopAsync { [self] in
            timer?.close()
            timer = nil
            for leader in leaders.values { leader.resign("the server stops") }
            for follower in followers.values { follower.stop() }
            links.closeAll()
        }
        for client in clients.withLock({ Array($0.values) }) { await client.shutdown() }
    }

    /// Before Maintenance first ran, no shard takes client writes: Plan may say it is a
    /// follower, or a leader whose followers are listed in sync.
    func holdWritesUntilReconciled() {
        for database in store.databaseNames {
            for collection in (try? store.collections(in: database)) ?? [] where ShardName.id(collection.name) != nil {
                collection.setReplication(StartingReplication())
            }
        }
    }

    // MARK: Following Plan

    /// Makes the replication match Plan: leaders for my shards with followers, followers for
    /// the shards I follow; drops what Plan no longer gives me. Runs after each Maintenance step.
    func reconcile(plan: ClusterPlan, current: ClusterCurrent) async {
        struct Role: Sendable {
            let key: ShardKey
            let collectionId: String
            let servers: [String]
            /// As the agency stores them (preconditions).
            let stored: [String]
            /// Plan asks this server, the leader, to hand the shard over.
            let resigning: Bool
            let writeConcern: Int
            let inSync: [String]
            let syncVersion: UInt64
            let leaderEpoch: UInt64
            let collection: DocumentCollection
        }
        var roles: [Role] = []
        var unreplicated: [DocumentCollection] = []
        for (database, collections) in plan.collections where plan.databases[database] != nil {
            for (collectionId, planned) in collections {
                for (shard, servers) in planned.shards where servers.contains(serverId) {
                    guard let collection = try? store.collection(shard, in: database) else { continue }
                    if servers.count == 1 {
                        unreplicated.append(collection)
                        continue
                    }
                    let report = current.shard(database: database, collectionId: collectionId, shard: shard)
                    roles.append(Role(key: ShardKey(database: database, shard: shard), collectionId: collectionId, servers: servers,
                                      stored: planned.storedServers(of: shard),
                                      resigning: servers[0] == serverId && planned.resigningLeaders.contains(shard),
                                      writeConcern: planned.writeConcern, inSync: report?.servers ?? [],
                                      syncVersion: report?.syncVersion ?? 0, leaderEpoch: report?.leaderEpoch ?? 0, collection: collection))
                }
            }
        }
        // Leaders need a fresh epoch from the agency before they take writes. A leadership
        // that ended in a hand-over Plan then undid (an aborted move) is a new leadership.
        let led = Set(await onLoopAsync { [self] in leaders.filter { !$0.value.resigned }.map(\.key) })
        let newLeaders = roles.filter { $0.servers[0] == serverId && !$0.resigning && !led.contains($0.key) }
        var epochs: [UInt64] = []
        if !newLeaders.isEmpty {
            do {
                let count = UInt64(newLeaders.count)
                let answer = try await agency.transact(AgencyTransactions.reserveIds(count: count))
                epochs = Array(try AgencyTransactions.reservedIds(fromAnswer: answer.body, count: count))
            } catch {
                log.warning("replication: cannot draw leader epochs from the agency (retried): \(error)")
            }
        }
        let assigned = Dictionary(uniqueKeysWithValues: zip(newLeaders.map(\.key), epochs))
        let planned = roles, single = unreplicated
        await onLoopAsync { [self] in
            var keep = Set<ShardKey>()
            for role in planned {
                keep.insert(role.key)
                if role.servers[0] == serverId {
                    if let follower = followers.removeValue(forKey: role.key) { follower.stop() }
                    if role.resigning {
                        if let leader = leaders[role.key], !leader.resigned {
                            leader.planChanged(servers: role.servers, stored: role.stored, writeConcern: role.writeConcern)
                            leader.beginHandOver()
                        } else if leaders[role.key]?.handOver != .reporting {
                            // No leadership here to drain (the process restarted, or supervision
                            // voided it): the copies Current lists in sync hold every write it
                            // acknowledged, so the resignation is reported over them as they are.
                            reportResignedAsListed(role.key, collectionId: role.collectionId, stored: role.stored,
                                                   inSync: role.inSync, version: role.syncVersion, epoch: role.leaderEpoch)
                        }
                    } else if let leader = leaders[role.key], !leader.resigned {
                        leader.planChanged(servers: role.servers, stored: role.stored, writeConcern: role.writeConcern)
                    } else if let epoch = assigned[role.key] {
                        let leader = ShardLeader(service: self, database: role.key.database, collectionId: role.collectionId,
                                                 shard: role.key.shard, collection: role.collection, epoch: epoch,
                                                 writeConcern: role.writeConcern, planServers: role.stored, agencyInSync: role.inSync,
                                                 agencyVersion: role.syncVersion)
                        leaders[role.key] = leader
                        role.collection.setReplication(leader)
                        log.info("replication: leading \(role.key.shard) in \(role.key.database) at epoch \(epoch), followers \(role.servers.dropFirst().joined(separator: ", "))")
                    }
                } else {
                    if let leader = leaders.removeValue(forKey: role.key) { leader.resign("Plan names \(role.servers[0]) as leader") }
                    let follower = followers[role.key] ?? {
                        let created = ShardFollower(service: self, database: role.key.database, collectionId: role.collectionId,
                                                    shard: role.key.shard, collection: role.collection, planLeader: role.servers[0])
                        followers[role.key] = created
                        role.collection.setReplication(created)
                        return created
                    }()
                    follower.planned(leader: role.servers[0], inSync: role.inSync)
                }
            }
            for (key, leader) in leaders where !keep.contains(key) {
                leader.resign("Plan no longer lists followers of \(key.shard) here")
                leaders[key] = nil
                leader.collection.setReplication(nil)
            }
            for (key, follower) in followers where !keep.contains(key) {
                follower.stop()
                followers[key] = nil
                follower.collection.setReplication(nil)
            }
            for collection in single { collection.setReplication(nil) }
        }
    }

    /// Supervision declared this server failed (it bumped the reboot id): every leadership
    /// it held is void. Each leader resigns — its waiting writes fail, nothing more is
    /// acknowledged under its epoch — and the shard refuses writes until the next
    /// ``reconcile(plan:current:)`` gives it a role again (a fresh epoch where Plan still
    /// names this server leader; a follower that resyncs where it moved).
    func resignAllLeaderships(_ reason: String) async {
        await onLoopAsync { [self] in
            for (key, leader) in leaders.sorted(by: { $0.key.shard < $1.key.shard }) {
                leader.resign(reason)
                leader.collection.setReplication(StartingReplication())
                leaders[key] = nil
                log.warning("replication: resigned leadership of \(key.shard) in \(key.database): \(reason)")
            }
        }
    }

    // MARK: Handing shards over

    /// Shards whose resignation a task is reporting (loop thread).
    var reportingResignations: Set<ShardKey> = []

    /// Reports in Current that this server resigned the leadership of a shard (a leader
    /// move): the in-sync list becomes `"_" + me` followed by the followers in `old`, the
    /// next in-sync version, under the stored Plan (which asks for the resignation) as
    /// precondition. Retried while Plan still asks; true once Current shows the resignation.
    func reportResigned(database: String, collectionId: String, shard: String, planServers: [String],
                        old: [String], version: UInt64, epoch: UInt64) async -> Bool {
        let marked = PlanCollection.resignMarker + serverId
        var old = old, version = version
        for attempt in 0..<50 {
            if old.first == marked { return true }
            let new = [marked] + old.filter { PlanCollection.unmarked($0).id != serverId }
            let body = AgencyTransactions.changeInSyncServers(database: database, collectionId: collectionId, shard: shard,
                                                              planServers: planServers, oldServers: old, newServers: new,
                                                              version: version, epoch: epoch)
            if let outcome = try? await agency.write(envelope: body, clientID: nil), outcome.applied {
                log.info("replication: \(shard) reported resigned in Current: \(new)")
                return true
            }
            // Refused or unanswered: read what Current holds and whether Plan still asks.
            try? await Task.sleep(for: .milliseconds(attempt == 0 ? 20 : 200))
            guard let actual = await readInSync(database: database, collectionId: collectionId, shard: shard),
                  let first = actual.servers.first, PlanCollection.unmarked(first).id == serverId else {
                log.warning("replication: \(shard) resignation not reported: Current no longer names this server leader")
                return false
            }
            old = actual.servers
            version = actual.version
            let stillAsked = cache.value(at: AgencyLayout.planShard(database: database, collectionId: collectionId, shard: shard))?
                .arrayElements.first(where: { _ in true })?.stringValue == marked
            guard stillAsked else { return false }
        }
        log.warning("replication: \(shard) resignation not reported after 50 attempts; the next Maintenance step tries again")
        return false
    }

    /// The resignation of a shard this server leads in Current but holds no leadership of in
    /// this process (it restarted during a move, or supervision voided it): reported over the
    /// list Current holds — its in-sync followers have every write the old leadership
    /// acknowledged, and nothing was acknowledged since. Loop thread; once per shard at a time.
    func reportResignedAsListed(_ key: ShardKey, collectionId: String, stored: [String], inSync: [String], version: UInt64,
                                epoch: UInt64) {
        guard inSync.first == serverId, !reportingResignations.contains(key) else { return }
        reportingResignations.insert(key)
        Task { [self] in
            _ = await reportResigned(database: key.database, collectionId: collectionId, shard: key.shard, planServers: stored,
                                     old: inSync, version: version, epoch: epoch)
            onLoop { [self] in reportingResignations.remove(key) }
        }
    }

    /// Current's in-sync servers and version of a shard, read from the agency (not the
    /// cache); nil when the agency cannot be read.
    func readInSync(database: String, collectionId: String, shard: String) async -> (servers: [String], version: UInt64)? {
        let path = AgencyLayout.currentShard(database: database, collectionId: collectionId, shard: shard)
        guard let answer = try? await agency.read([[path]]), let first = answer[0] else { return nil }
        guard let value = AgencyLayout.value(at: path, inReadAnswer: first), value.isObject else { return ([], 0) }
        return (value["servers"]?.arrayElements.compactMap(\.stringValue) ?? [], value["syncVersion"]?.uintValue ?? 0)
    }

    /// The replication's counters at `/_admin/metrics/v2` (Tessera's names; ArangoDB has no
    /// metric for these figures).
    func registerMetrics(in metrics: Metrics) {
        let statistics = self.statistics
        metrics.register("replication") { text in
            let figures = statistics.withLock { $0 }
            text.counter("tessera_replication_batches_sent_total", "Replication batches a leader sent to followers", figures.batchesSent)
            text.counter("tessera_replication_operations_sent_total", "Operations a leader sent to followers", figures.operationsSent)
            text.counter("tessera_replication_bytes_sent_total", "Bytes of replication batches a leader sent", figures.bytesSent)
            text.counter("tessera_replication_batches_applied_total", "Replication batches a follower applied", figures.batchesApplied)
            text.counter("tessera_replication_operations_applied_total", "Operations a follower applied", figures.operationsApplied)
            text.counter("tessera_replication_followers_dropped_total", "Followers a leader stopped streaming to", figures.followersDropped)
            text.counter("tessera_replication_joins_total", "Followers a leader added to the in-sync set", figures.joins)
            text.gauge("tessera_replication_join_milliseconds_max", "Longest time a joining follower held writes up", Double(figures.joinMillisecondsMax))
            text.counter("tessera_replication_hand_overs_total", "Leaderships this server handed over in planned moves", figures.handOvers)
            text.gauge("tessera_replication_hand_over_milliseconds_max", "Longest time a hand-over held writes back", Double(figures.handOverMillisecondsMax))
            text.counter("tessera_resync_completed_total", "Resyncs this follower completed", figures.resyncsDone)
            text.counter("tessera_resync_documents_total", "Documents this follower copied by resync", figures.resyncDocuments)
            text.counter("tessera_resync_bytes_total", "Bytes this follower copied by resync (documents and revision lists)", figures.resyncBytes)
            text.counter("tessera_resync_bytes_served_total", "Bytes this leader served to resyncing followers", figures.resyncBytesServed)
        }
    }

    // MARK: Talking to other DBServers

    /// An async client for resync requests to `server`.
    func client(for server: String) throws(ArangoError) -> VSTClient {
        if let client = clients.withLock({ $0[server] }) { return client }
        guard let endpoint = cache.dbServerEndpoints()[server] else {
            throw ArangoError(status: 503, .clusterBackendUnavailable, "DBServer \(server) is not registered")
        }
        return clients.withLock { clients in
            if let client = clients[server] { return client }
            var configuration = VSTClient.Configuration(endpoint: endpoint, credentials: .jwt(token: token))
            configuration.poolSize = settings.parallelFetches
            configuration.requestTimeoutSeconds = 60
            let client = VSTClient(configuration: configuration)
            clients[server] = client
            return client
        }
    }

    /// POSTs a replication message and returns the answer's body.
    static func post(_ client: VSTClient, _ path: String, database: String, body: [UInt8]) async throws(ArangoError) -> Slice {
        let response: ClientResponse
        do {
            response = try await client.request(.post, path, body: body, database: database)
        } catch {
            throw ArangoError(status: 503, .clusterBackendUnavailable, "\(client.configuration.endpoint) did not answer: \(error)")
        }
        if let error = response.error { throw error }
        guard let body = response.body else { throw ArangoError(status: 500, .internalError, "\(path) answered without a body") }
        return body
    }

    /// Tells a follower (best effort) that its leader stopped streaming to it — the stream
    /// that started after `session` — so it resyncs at once instead of waiting for a batch
    /// that will not come.
    func notifyStreamStopped(_ stream: StreamIdentity, follower: String, session: UInt64) {
        statistics.withLock { $0.followersDropped += 1 }
        let notice = StreamStart(stream: stream, follower: follower, after: session)
        links.send(to: follower, database: stream.database, path: ReplicationRoutes.streamStoppedPath, body: notice.vpack,
                   timeoutSeconds: 5) { _ in }
    }
}

/// The hook on every shard until Maintenance decided its role.
final class StartingReplication: WriteReplication {
    func refusal() -> DocumentError? {
        ArangoError(status: 503, .clusterBackendUnavailable, "the shard's replication is starting; retry shortly")
    }

    func replicate(upTo sequence: UInt64, durable: Bool, _ completion: @escaping @Sendable (DocumentError?) -> Void) {
        completion(refusal())
    }
}
