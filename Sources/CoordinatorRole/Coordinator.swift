package import Client
package import ClusterLogic
package import Documents
package import Query
public import Server
import TesseraPlatform
public import Transport
package import VelocyPack
package import ArangoAPI
package import VelocyStream
public import ClusterMember
public import RESTRoutes
public import Users

/// The coordinator role: stateless front door of a cluster. It keeps a cache of Plan and
/// Current (long polls), creates databases and collections through agency transactions,
/// and routes every document request to the shard that holds it, on the DBServer that
/// leads that shard.
///
/// Concurrency: requests run on the server's event loop. Single-document requests are
/// forwarded on that loop to DBServer connections that share it and answered from their
/// callbacks (`Reply.later`): no task, no thread change. Array operations, cursors and
/// catalogue changes run as Swift tasks (`.async` routes). The agency cache's long poll and
/// the heartbeats are tasks; the decoded Plan and shard clients they share are behind `Locked`.
public final class Coordinator: Sendable {
    public struct Options: Sendable {
        public var endpoint: Endpoint
        public var dataDirectory: String
        public var agencyEndpoints: [Endpoint]
        public var secret: [UInt8]
        public var version: String
        /// Root's password: set at start when given (and different); `nil` keeps the stored
        /// one (empty when the cluster's first coordinator had none).
        public var rootPassword: String?
        public var heartbeatMilliseconds = ClusterMembership.heartbeatIntervalMilliseconds
        /// How long collection creation waits for every shard to appear in Current.
        public var creationTimeoutSeconds = 60.0
        /// The loop the client server runs on. Connections to DBServers live on it too, so a
        /// forwarded document request and its answer never change threads; `nil` gives
        /// them their own loop.
        public var eventLoop: EventLoop?

        public init(endpoint: Endpoint, dataDirectory: String, agencyEndpoints: [Endpoint], secret: [UInt8],
                    version: String, rootPassword: String?) {
            self.endpoint = endpoint
            self.dataDirectory = dataDirectory
            self.agencyEndpoints = agencyEndpoints
            self.secret = secret
            self.version = version
            self.rootPassword = rootPassword
        }
    }

    public let options: Options
    public let identity: ServerIdentity
    let agency: AgencyClient
    let cache: AgencyCache
    let token: String
    /// Connections to DBServers, by server id.
    let shardClients = Locked<[String: VSTClient]>([:])
    /// Ids reserved from `Sync/LatestID` and not yet used (keys and collection ids).
    let reservedIds = Locked<ClosedRange<UInt64>?>(nil)
    let tasks = Locked<[Task<Void, Never>]>([])
    let cursors = CursorRegistry()
    /// The cluster's users (in the agency).
    public let users: ClusterUsers
    /// The last decoded Plan with its `Plan/Version`, and routers made from it.
    let decodedPlan = Locked<(index: UInt64, plan: ClusterPlan, routers: [String: ShardRouter])?>(nil)

    static let idBatch: UInt64 = 10_000

    public init(options: Options) throws(StartupError) {
        self.options = options
        identity = try ServerIdentity.loadOrCreate(in: options.dataDirectory, role: .coordinator)
        (token, agency, cache) = ClusterMembership.connect(identity, secret: options.secret, agencyEndpoints: options.agencyEndpoints)
        users = ClusterUsers(cache: cache, agency: agency, tokenSecret: options.secret)
    }

    /// Initializes the agency (the first coordinator does), registers, and starts the cache
    /// and heartbeats; returns once Plan is in the cache and root exists. Returns warnings
    /// for the operator.
    public func start(listeningOn endpoint: Endpoint) async throws(StartupError) -> [String] {
        do {
            var generator = SystemRandomNumberGenerator()
            // Under a precondition: of coordinators starting together exactly one initializes.
            _ = try await agency.write(envelope: AgencyTransactions.initializeLayout(clusterId: RandomUUID.string(using: &generator)),
                                       clientID: nil)
        } catch {
            throw StartupError("cannot initialize the agency: \(error)")
        }
        try await ClusterMembership.register(identity, role: .coordinator, endpoint: endpoint, version: options.version, agency: agency)
        cache.start()
        let heartbeat = ClusterMembership.heartbeats(identity, every: options.heartbeatMilliseconds, agency: agency)
        tasks.withLock { $0 = [heartbeat, watchRebootIds()] }
        let deadline = MonotonicClock.seconds() + 30
        while cache.value(at: AgencyLayout.plan) == nil, MonotonicClock.seconds() < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        do {
            return try await users.ensureRoot(password: options.rootPassword).map { [$0] } ?? []
        } catch {
            throw StartupError("cannot set up the root user in the agency: \(error.message)")
        }
    }

    public func stop() async {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        cache.stop()
        for client in shardClients.withLock({ Array($0.values) }) { await client.shutdown() }
        await agency.shutdown()
    }

    /// Clients log in as the cluster's users (password or user token); other servers with a
    /// cluster token.
    public func configuration() -> ServerConfiguration {
        var configuration = ServerConfiguration(endpoint: options.endpoint)
        configuration.authenticator = CoordinatorAuthenticator(
            cluster: ClusterAuthenticator(secret: options.secret, now: { WallClock.seconds() }), users: users)
        let cache = self.cache
        configuration.databaseExists = { name in cache.value(at: AgencyLayout.planDatabase(name)) != nil }
        return configuration
    }

    // MARK: Cluster state

    /// Plan as the cache holds it, decoded once per `Plan/Version` (every Plan change moves it;
    /// heartbeats and Current changes, which move the cache's index many times a second, do
    /// not make the coordinator decode Plan again).
    func plan() throws(ArangoError) -> ClusterPlan {
        let index = cache.value(at: AgencyLayout.planVersion)?.uintValue ?? 0
        if let decoded = decodedPlan.withLock({ $0?.index == index ? $0?.plan : nil }) { return decoded }
        guard let slice = cache.value(at: AgencyLayout.plan) else {
            throw ArangoError(status: 503, .clusterLeadershipChallengeOngoing, "the coordinator has no Plan from the agency yet")
        }
        let plan: ClusterPlan
        do { plan = try ClusterPlan(decoding: slice) } catch {
            throw ArangoError.internalError("Plan cannot be read: \(error)")
        }
        decodedPlan.withLock { $0 = (index, plan, [:]) }
        return plan
    }

    /// The collection and its router, both from the decoded Plan (routers kept per Plan).
    func routedCollection(_ name: String, in database: String) throws(ArangoError) -> (PlanCollection, ShardRouter) {
        let collection = try collection(name, in: database)
        let key = database + "/" + collection.id
        if let router = decodedPlan.withLock({ $0?.routers[key] }) { return (collection, router) }
        let router: ShardRouter
        do { router = try ShardRouter(collection: collection) } catch { throw ArangoError(error) }
        decodedPlan.withLock { if $0 != nil { $0!.routers[key] = router } }
        return (collection, router)
    }

    func current() -> ClusterCurrent {
        cache.value(at: AgencyLayout.current).flatMap { try? ClusterCurrent(decoding: $0) } ?? ClusterCurrent()
    }

    func collection(_ name: String, in database: String) throws(ArangoError) -> PlanCollection {
        let plan = try plan()
        guard plan.databases[database] != nil else { throw ArangoError.databaseNotFound(database) }
        guard let collection = plan.collection(named: name, in: database) else { throw ArangoError.collectionNotFound(name) }
        return collection
    }

    /// The DBServers registered, by id, with their endpoints.
    func dbservers() -> [String: Endpoint] { cache.dbServerEndpoints() }

    func client(for server: String) throws(ArangoError) -> VSTClient {
        // A server keeps its endpoint across restarts; look it up only for a new client.
        if let client = shardClients.withLock({ $0[server] }) { return client }
        guard let endpoint = dbservers()[server] else {
            throw ArangoError(status: 503, .clusterOnlyOnDBServer, "DBServer \(server) is not registered or has no endpoint")
        }
        return shardClients.withLock { clients in
            if let client = clients[server], client.configuration.endpoint == endpoint { return client }
            var configuration = VSTClient.Configuration(endpoint: endpoint, credentials: .jwt(token: token))
            configuration.poolSize = 8
            configuration.requestTimeoutSeconds = 60
            let client = VSTClient(configuration: configuration, eventLoop: options.eventLoop)
            clients[server] = client
            return client
        }
    }

    /// The planned leader of `shard`.
    func leader(of shard: String, in collection: PlanCollection) throws(ArangoError) -> String {
        guard let leader = collection.shards[shard]?.first else {
            throw ArangoError(status: 500, .internalError, "shard \(shard) of \(collection.name) has no server in Plan")
        }
        return leader
    }

    static func unreachable(_ shard: String, _ leader: String, _ error: ClientError) -> ArangoError {
        ArangoError(status: 503, .clusterBackendUnavailable, "shard \(shard) on \(leader) did not answer: \(error)")
    }

    /// Sends a request to the leader of `shard` of `collection`.
    func send(_ method: RequestMethod, _ path: String, shard: String, of collection: PlanCollection, database: String,
              parameters: [String: [String]] = [:], meta: [String: String] = [:], body: [UInt8] = []) async throws(ArangoError) -> ClientResponse {
        let leader = try leader(of: shard, in: collection)
        let client = try client(for: leader)
        do {
            return try await client.request(method, path, parameters: parameters, meta: meta, body: body, database: database)
        } catch {
            throw Self.unreachable(shard, leader, error)
        }
    }

    /// After a drop: waits (at most `creationTimeoutSeconds`) until the DBServers have removed
    /// their reports from Current (`reportsLeft` is 0: the shards are gone from disk too), then
    /// removes the node they leave behind with `clearing`. A DBServer that is down keeps its
    /// report until it comes back; the drop has happened in Plan either way.
    func clearCurrent(_ clearing: [UInt8], reportsLeft: @Sendable (ClusterCurrent) -> Int) async {
        let deadline = MonotonicClock.seconds() + options.creationTimeoutSeconds
        while reportsLeft(current()) > 0 {
            guard MonotonicClock.seconds() < deadline else { return }
            _ = await cache.waitFor(index: cache.index + 1, timeoutSeconds: 1)
        }
        do {
            let result = try await agency.write(envelope: clearing, clientID: nil)
            if result.applied { _ = await cache.waitFor(index: result.index, timeoutSeconds: 10) }
        } catch {
            // Only an empty node stays behind in Current; the drop itself is done.
            ProcessLog.logger("coordinator").warning("cannot clear Current after a drop: \(error)")
        }
    }

    /// One id from the batch reserved earlier, when any is left.
    func takeReservedId() -> UInt64? {
        reservedIds.withLock { range -> UInt64? in
            guard let current = range else { return nil }
            let id = current.lowerBound
            range = id < current.upperBound ? (id + 1)...current.upperBound : nil
            return id
        }
    }

    /// `count` cluster-unique ids.
    func newIds(_ count: UInt64) async throws(ArangoError) -> ClosedRange<UInt64> {
        if count <= 1, let id = takeReservedId() { return id...id }
        let batch = max(count, Self.idBatch)
        do {
            let answer = try await agency.transact(AgencyTransactions.reserveIds(count: batch))
            let range = try AgencyTransactions.reservedIds(fromAnswer: answer.body, count: batch)
            if count < batch {
                let used = range.lowerBound...(range.lowerBound + count - 1)
                reservedIds.withLock { $0 = (used.upperBound + 1)...range.upperBound }
                return used
            }
            return range
        } catch let error as ClientError {
            throw ArangoError(status: 503, .clusterTimeout, "cannot reserve ids in the agency: \(error)")
        } catch {
            throw ArangoError(status: 500, .internalError, "cannot reserve ids: \(error)")
        }
    }
}

/// Cluster tokens (other servers), else the cluster's users (clients). Both kinds of token
/// are signed with the cluster secret; a server token carries `server_id`, a user token
/// `preferred_username`.
struct CoordinatorAuthenticator: Authenticator {
    let cluster: ClusterAuthenticator
    let users: ClusterUsers

    func authenticate(_ credentials: Authentication) -> AuthenticationDecision {
        if case .jwt = credentials, case .accepted(let server) = cluster.authenticate(credentials) { return .accepted(user: server) }
        return users.authenticate(credentials)
    }
}
