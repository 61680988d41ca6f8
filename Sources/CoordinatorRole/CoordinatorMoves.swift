package import Client
package import ClusterLogic
package import Server
import Supervision
import TesseraPlatform
package import VelocyPack
package import ArangoAPI

/// Moving shards on an operator's request (`Protocol/Cluster.md` §8), ArangoDB's routes:
///
/// - `POST /_admin/cluster/moveShard` `{database, collection, shard, fromServer, toServer,
///   isLeader?, remainsFollower?}` → 202 `{id}`: one MoveShard job;
/// - `POST /_admin/cluster/cleanOutServer` `{server}` → 202 `{id}`;
/// - `POST /_admin/cluster/resignLeadership` `{server}` → 202 `{id}`;
/// - `GET /_admin/cluster/rebalance`: how copies and leaders are spread now;
/// - `POST /_admin/cluster/rebalance` `{maximumNumberOfMoves?}`: the planner's moves, not
///   carried out (shown first); `POST /_admin/cluster/rebalance/execute` `{moves}` carries out
///   the moves given; `PUT /_admin/cluster/rebalance` plans and carries out at once;
/// - `GET /_admin/cluster/jobProgress?id=` (Tessera's own): a job with its sub-jobs and the
///   documents and bytes the resyncs of its moves copied so far.
///
/// Jobs are created in the agency (`Target/ToDo`, ids from `Sync/LatestID`) and carried out by
/// supervision; the routes check what they can at once (the collection, the shard, the
/// servers) so a typo is a 400/404 now rather than a Failed job later.
extension Coordinator {
    /// The most moves one rebalance plan carries out (ArangoDB's `maximumNumberOfMoves`).
    static let rebalanceMovesDefault = 50
    static let rebalanceMovesMax = 1000

    func registerMoves(in router: inout Router) {
        let coordinator = self
        router.addAsync(.post, "/_admin/cluster/moveShard") { request throws(ArangoError) in
            try coordinator.requireAdministrator(request, "move shards")
            return try await coordinator.moveShard(request.requireBody(), user: request.user)
        }
        for (path, type) in [("/_admin/cluster/cleanOutServer", SupervisionJobType.cleanOutServer),
                             ("/_admin/cluster/resignLeadership", .resignLeadership)] {
            router.addAsync(.post, path) { request throws(ArangoError) in
                try coordinator.requireAdministrator(request, type == .cleanOutServer ? "clean out servers" : "make servers resign")
                let body = try request.requireBody()
                guard body.isObject, let name = body["server"]?.stringValue else {
                    throw ArangoError(status: 400, .httpBadParameter, "expecting {\"server\": \"<id or short name>\"}")
                }
                let server = try coordinator.registeredDBServer(name)
                let id = try await coordinator.createJob(type, user: request.user) { $0.server = server }
                return Self.jobCreated(id)
            }
        }
        router.addAsync(.get, "/_admin/cluster/rebalance") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            let shards = await coordinator.rebalanceShards()
            return answer(200) { coordinator.describeBalance(shards, servers: coordinator.rebalanceServers(), into: &$0) }
        }
        router.addAsync(.post, "/_admin/cluster/rebalance") { request throws(ArangoError) in
            try coordinator.requireAdministrator(request, "rebalance shards")
            let (shards, moves) = try await coordinator.planRebalance(request)
            return answer(200) { coordinator.describePlan(shards, moves, jobs: nil, into: &$0) }
        }
        router.addAsync(.put, "/_admin/cluster/rebalance") { request throws(ArangoError) in
            try coordinator.requireAdministrator(request, "rebalance shards")
            let (shards, moves) = try await coordinator.planRebalance(request)
            let jobs = try await coordinator.execute(moves, user: request.user)
            return answer(202) { coordinator.describePlan(shards, moves, jobs: jobs, into: &$0) }
        }
        router.addAsync(.post, "/_admin/cluster/rebalance/execute") { request throws(ArangoError) in
            try coordinator.requireAdministrator(request, "rebalance shards")
            let body = try request.requireBody()
            guard body.isObject, let list = body["moves"], list.isArray else {
                throw ArangoError(status: 400, .httpBadParameter, "expecting {\"moves\": [{database, collection, shard, from, to}, …]}")
            }
            var moves: [RebalancePlanner.Move] = []
            for entry in list.arrayElements { moves.append(try coordinator.decodeMove(entry)) }
            let jobs = try await coordinator.execute(moves, user: request.user)
            return answer(202) { builder in
                builder.add(key: "jobs", strings: jobs)
            }
        }
        router.addAsync(.get, "/_admin/cluster/jobProgress") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            return try await coordinator.jobProgress(request.parameter("id"))
        }
    }

    /// ArangoDB: only an administrator (rw on `_system`) changes the cluster's layout.
    func requireAdministrator(_ request: ServerRequest, _ what: String) throws(ArangoError) {
        guard users.level(of: request.user, in: "_system") == .readWrite else {
            throw ArangoError.forbidden("only an administrator may \(what)")
        }
    }

    static func jobCreated(_ id: String) -> ServerResponse {
        answer(202) { builder in
            builder.add(key: "error", false)
            builder.add(key: "code", 202)
            builder.add(key: "id", id)
        }
    }

    // MARK: Creating jobs

    /// Puts a job into `Target/ToDo` under the next `Sync/LatestID` (read from the agency,
    /// retried when another creator took the id first) and returns its id.
    func createJob(_ type: SupervisionJobType, user: String?, fill: (inout SupervisionJob) -> Void) async throws(ArangoError) -> String {
        for _ in 0..<20 {
            let latest: UInt64
            do {
                let read = try await agency.read([[AgencyLayout.syncLatestID]])
                latest = read[0].flatMap { AgencyLayout.value(at: AgencyLayout.syncLatestID, inReadAnswer: $0)?.uintValue } ?? 0
            } catch {
                throw ArangoError(status: 503, .clusterTimeout, "cannot read Sync/LatestID from the agency: \(error)")
            }
            let (job, envelope) = SupervisionJob.creation(type, latestId: latest, creator: identity.id,
                                                          time: isoTime(milliseconds: Int64(WallClock.seconds() * 1000)), fill: fill)
            let result: AgencyClient.WriteResult
            do { result = try await agency.write(envelope: envelope, clientID: nil) } catch {
                throw ArangoError(status: 503, .clusterTimeout, "the agency did not take the job: \(error)")
            }
            if result.applied {
                ProcessLog.logger("coordinator").notice("job \(job.jobId) \(type.rawValue) created (asked by \(user ?? "-"))")
                return job.jobId
            }
        }
        throw ArangoError(status: 503, .clusterTimeout, "other jobs kept taking the next job id; try again")
    }

    /// The id of a registered DBServer named by id or short name; 404 otherwise.
    func registeredDBServer(_ name: String) throws(ArangoError) -> String {
        guard (try? AgencyLayout.validateName(name)) != nil else {
            throw ArangoError(status: 400, .httpBadParameter, "'\(name.prefix(64))' is not a server id")
        }
        let id = serverId(forName: name)
        guard dbservers()[id] != nil else { throw ArangoError(status: 404, .httpNotFound, "no DBServer \(name) is registered") }
        return id
    }

    /// A move's collection, the shard's planned servers and the two servers' ids, as named by
    /// a request: 404 for an unknown collection, shard or DBServer.
    func resolveMove(database: String, collection name: String, shard: String, from: String, to: String)
        throws(ArangoError) -> (collection: PlanCollection, planned: [String], from: String, to: String) {
        let collection = try self.collection(name, in: database)
        guard let planned = collection.shards[shard] else {
            throw ArangoError(status: 404, .httpNotFound, "collection \(collection.name) has no shard \(shard)")
        }
        return (collection, planned, try registeredDBServer(from), try registeredDBServer(to))
    }

    /// `POST /_admin/cluster/moveShard`.
    func moveShard(_ body: Slice, user: String?) async throws(ArangoError) -> ServerResponse {
        guard body.isObject else { throw ArangoError(status: 400, .httpBadParameter, "expecting a JSON object") }
        func string(_ key: String) throws(ArangoError) -> String {
            guard let value = body[key]?.stringValue, !value.isEmpty else {
                throw ArangoError(status: 400, .httpBadParameter, "'\(key)' (a string) is required")
            }
            return value
        }
        func flag(_ key: String) throws(ArangoError) -> Bool? {
            guard let value = body[key] else { return nil }
            guard let flag = value.boolValue else { throw ArangoError(status: 400, .httpBadParameter, "'\(key)' must be a boolean") }
            return flag
        }
        let database = try string("database")
        let shard = try string("shard")
        let (collection, planned, from, to) = try resolveMove(database: database, collection: try string("collection"), shard: shard,
                                                              from: try string("fromServer"), to: try string("toServer"))
        guard planned.contains(from) else {
            throw ArangoError(status: 400, .httpBadParameter, "\(from) holds no copy of \(shard) (it is on \(planned.joined(separator: ", ")))")
        }
        guard from != to else { throw ArangoError(status: 400, .httpBadParameter, "fromServer and toServer are the same server") }
        let isLeader = try flag("isLeader"), remainsFollower = try flag("remainsFollower")
        if planned.contains(to) && planned.first != from {
            throw ArangoError(status: 400, .httpBadParameter, "\(to) already holds a copy of \(shard)")
        }
        let id = try await createJob(.moveShard, user: user) { job in
            job.describeMove(database: database, collection: collection.id, shard: shard, from: from, to: to,
                             isLeader: isLeader, remainsFollower: remainsFollower)
        }
        return Self.jobCreated(id)
    }

    /// The DBServers new shards may go to: registered, not cleaned out or being cleaned out,
    /// not FAILED (a server supervision has not judged yet counts).
    func placementServers() -> [String] {
        var excluded = Set<String>()
        for path in [AgencyLayout.targetCleanedServers, AgencyLayout.targetToBeCleanedServers] {
            for entry in cache.value(at: path)?.arrayElements.compactMap(\.stringValue) ?? [] { excluded.insert(entry) }
        }
        return dbservers().keys.filter { id in
            !excluded.contains(id) && cache.value(at: AgencyLayout.supervisionHealth(id))?["Status"]?.stringValue != ServerHealth.failed.rawValue
        }.sorted()
    }

    // MARK: Rebalance

    /// The DBServers that may take copies: GOOD, not failed, cleaned out or being cleaned out.
    func rebalanceServers() -> [String] {
        let failed = cache.value(at: AgencyLayout.targetFailedServers)
        return placementServers().filter { id in
            failed?[id] == nil && cache.value(at: AgencyLayout.supervisionHealth(id))?["Status"]?.stringValue == ServerHealth.good.rawValue
        }
    }

    /// Every planned shard with its size (the leader's `documentsSize`; 0 when it does not answer).
    func rebalanceShards() async -> [RebalancePlanner.Shard] {
        guard let plan = try? plan() else { return [] }
        var shards: [RebalancePlanner.Shard] = []
        for database in plan.databases.keys.sorted() {
            for collection in (plan.collections[database] ?? [:]).values.sorted(by: { $0.id < $1.id }) {
                for shard in collection.sortedShardNames {
                    shards.append(RebalancePlanner.Shard(database: database, collectionId: collection.id, name: shard,
                                                         servers: collection.shards[shard] ?? []))
                }
            }
        }
        let sized = shards
        await withTaskGroup(of: (Int, UInt64).self) { group in
            for (index, shard) in sized.enumerated() {
                group.addTask { [self] in
                    guard let leader = shard.servers.first, let client = try? client(for: leader),
                          let response = try? await client.request(.get, "/_api/collection/\(shard.name)/figures", database: shard.database,
                                                                   timeoutSeconds: 2),
                          response.status == 200 else { return (index, 0) }
                    return (index, UInt64(max(0, response.body?["figures"]?["documentsSize"]?.intValue ?? 0)))
                }
            }
            for await (index, bytes) in group { shards[index].bytes = bytes }
        }
        return shards
    }

    func planRebalance(_ request: ServerRequest) async throws(ArangoError) -> ([RebalancePlanner.Shard], [RebalancePlanner.Move]) {
        var movesMax = Self.rebalanceMovesDefault
        if let body = request.body.map({ Slice(trustedBytes: Array($0.bytes)) }), body.isObject,
           let value = body["maximumNumberOfMoves"] {
            guard let number = value.intValue, (1...Int64(Self.rebalanceMovesMax)).contains(number) else {
                throw ArangoError(status: 400, .httpBadParameter, "maximumNumberOfMoves must be in 1...\(Self.rebalanceMovesMax)")
            }
            movesMax = Int(number)
        }
        let shards = await rebalanceShards()
        return (shards, RebalancePlanner.plan(shards: shards, servers: rebalanceServers(), movesMax: movesMax))
    }

    /// One MoveShard job per move, in order (moves of one shard run one after the other: each
    /// waits for the shard's lock).
    func execute(_ moves: [RebalancePlanner.Move], user: String?) async throws(ArangoError) -> [String] {
        var ids: [String] = []
        for move in moves {
            ids.append(try await createJob(.moveShard, user: user) { job in
                // Whether `from` leads is decided when the job starts (an earlier move may
                // have changed it); a leadership switch keeps the old leader as follower.
                job.describeMove(database: move.database, collection: move.collectionId, shard: move.shard,
                                 from: move.from, to: move.to, remainsFollower: move.kind == .switchLeader)
            })
        }
        return ids
    }

    func decodeMove(_ entry: Slice) throws(ArangoError) -> RebalancePlanner.Move {
        guard entry.isObject, let database = entry["database"]?.stringValue, let collectionName = entry["collection"]?.stringValue,
              let shard = entry["shard"]?.stringValue, let from = entry["from"]?.stringValue, let to = entry["to"]?.stringValue else {
            throw ArangoError(status: 400, .httpBadParameter, "every move needs database, collection, shard, from and to")
        }
        let (collection, planned, fromId, toId) = try resolveMove(database: database, collection: collectionName, shard: shard,
                                                                  from: from, to: to)
        // The plan's own kind: its moves assume the ones before them were carried out (a copy
        // moved to a server, then leadership handed to it), so today's Plan cannot tell.
        let kind: RebalancePlanner.Move.Kind
        if let name = entry["kind"]?.stringValue {
            guard let given = RebalancePlanner.Move.Kind(rawValue: name) else {
                throw ArangoError(status: 400, .httpBadParameter, "a move's kind is moveCopy or switchLeader, not '\(name.prefix(32))'")
            }
            kind = given
        } else {
            kind = planned.first == fromId && planned.contains(toId) ? .switchLeader : .moveCopy
        }
        return RebalancePlanner.Move(kind: kind, database: database, collectionId: collection.id,
                                     shard: shard, from: fromId, to: toId, isLeader: entry["isLeader"]?.boolValue ?? (planned.first == fromId), bytes: 0)
    }

    /// Per server: copies, leaders and bytes; and how far the fullest is above the mean.
    func describeBalance(_ shards: [RebalancePlanner.Shard], servers: [String], into builder: inout Builder) {
        var copies: [String: (copies: Int, leaders: Int, bytes: UInt64)] = Dictionary(uniqueKeysWithValues: servers.map { ($0, (0, 0, 0)) })
        for shard in shards {
            for (position, server) in shard.servers.enumerated() {
                var entry = copies[server] ?? (0, 0, 0)
                entry.copies += 1
                entry.bytes += shard.bytes
                if position == 0 { entry.leaders += 1 }
                copies[server] = entry
            }
        }
        let count = Double(max(1, servers.count))
        let meanCopies = Double(servers.map { copies[$0]?.copies ?? 0 }.reduce(0, +)) / count
        let meanLeaders = Double(servers.map { copies[$0]?.leaders ?? 0 }.reduce(0, +)) / count
        builder.add(key: "servers")
        builder.openObject()
        for (server, entry) in copies.sorted(by: { $0.key < $1.key }) {
            builder.add(key: server)
            builder.openObject()
            builder.add(key: "copies", entry.copies)
            builder.add(key: "leaders", entry.leaders)
            builder.add(key: "bytes", entry.bytes)
            builder.add(key: "takesCopies", servers.contains(server))
            builder.closeTrusted()
        }
        builder.closeTrusted()
        builder.add(key: "meanCopies", meanCopies)
        builder.add(key: "meanLeaders", meanLeaders)
        builder.add(key: "copiesAboveMeanMax", servers.map { Double(copies[$0]?.copies ?? 0) - meanCopies }.max() ?? 0)
        builder.add(key: "leadersAboveMeanMax", servers.map { Double(copies[$0]?.leaders ?? 0) - meanLeaders }.max() ?? 0)
    }

    func describePlan(_ shards: [RebalancePlanner.Shard], _ moves: [RebalancePlanner.Move], jobs: [String]?, into builder: inout Builder) {
        let servers = rebalanceServers()
        let names = Dictionary(uniqueKeysWithValues: ((try? plan())?.collections ?? [:]).flatMap { database, collections in
            collections.values.map { ("\(database)/\($0.id)", $0.name) }
        })
        builder.add(key: "moves")
        builder.openArray()
        for move in moves {
            builder.openObject()
            builder.add(key: "collection", names["\(move.database)/\(move.collectionId)"] ?? move.collectionId)
            builder.add(key: "database", move.database)
            builder.add(key: "from", move.from)
            builder.add(key: "isLeader", move.isLeader)
            builder.add(key: "kind", move.kind.rawValue)
            builder.add(key: "shard", move.shard)
            builder.add(key: "to", move.to)
            builder.closeTrusted()
        }
        builder.closeTrusted()
        builder.add(key: "before")
        builder.openObject()
        describeBalance(shards, servers: servers, into: &builder)
        builder.closeTrusted()
        builder.add(key: "after")
        builder.openObject()
        describeBalance(RebalancePlanner.apply(moves, to: shards), servers: servers, into: &builder)
        builder.closeTrusted()
        if let jobs { builder.add(key: "jobs", strings: jobs) }
    }

    // MARK: Progress

    /// A job, its sub-jobs by stage, and what the resyncs of its moves' targets copied: the
    /// `tessera cluster` commands draw their progress bar from it.
    func jobProgress(_ id: String?) async throws(ArangoError) -> ServerResponse {
        guard let id, (try? AgencyLayout.validateName(id)) != nil else {
            throw ArangoError(status: 400, .httpBadParameter, "the query parameter 'id' (a job id) is required")
        }
        let stages = try await readJobs(Self.jobStages.map(\.path))
        var status: String?
        var job: SupervisionJob?
        var moves: [(status: String, job: SupervisionJob)] = []
        for stage in Self.jobStages {
            guard let list = AgencyLayout.value(at: stage.path, inReadAnswer: stages), list.isObject else { continue }
            for member in list.objectMembers {
                guard let key = member.key.keyName, let decoded = SupervisionJob(decoding: member.value) else { continue }
                if key == id { (status, job) = (stage.status, decoded) }
                if decoded.parentJob == id || (key == id && decoded.type == .moveShard) { moves.append((stage.status, decoded)) }
            }
        }
        guard let status, let job else { throw ArangoError(status: 404, .httpNotFound, "no job with id \(id)") }
        // The copies being made: each move's target, resyncing the shard (asked of the
        // DBServers only while a move runs).
        let replication = moves.contains { $0.status == "Pending" } ? await replicationStatus() : ClusterReplicationStatus()
        var documentsCopied: UInt64 = 0, bytesCopied: UInt64 = 0, documentsToCopy: UInt64 = 0
        for (_, move) in moves {
            guard let database = move.database, let shard = move.shard, let to = move.toServer,
                  let resync = replication[ReplicationStatusKey(server: to, database: database, shard: shard)]?["resync"], resync.isObject else { continue }
            documentsCopied += resync["documentsCopied"]?.uintValue ?? 0
            bytesCopied += resync["bytesCopied"]?.uintValue ?? 0
            documentsToCopy += resync["leaderDocuments"]?.uintValue ?? 0
        }
        return answer(200) { builder in
            builder.add(key: "id", id)
            builder.add(key: "status", status)
            builder.add(key: "type", job.type.rawValue)
            if let reason = job.reason { builder.add(key: "reason", reason) }
            builder.add(key: "moves")
            builder.openObject()
            for stage in Self.jobStages { builder.add(key: stage.status, moves.filter { $0.status == stage.status }.count) }
            builder.add(key: "total", moves.count)
            builder.closeTrusted()
            builder.add(key: "documentsCopied", documentsCopied)
            builder.add(key: "bytesCopied", bytesCopied)
            builder.add(key: "documentsToCopy", documentsToCopy)
            builder.add(key: "failedMoves")
            builder.openArray()
            for (stage, move) in moves where stage == "Failed" {
                builder.add("\(move.shard ?? "?") \(move.fromServer ?? "?") → \(move.toServer ?? "?"): \(move.reason ?? "")")
            }
            builder.closeTrusted()
        }
    }
}
