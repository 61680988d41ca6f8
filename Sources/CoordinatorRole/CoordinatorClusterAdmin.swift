package import Client
package import ClusterLogic
package import Server
import Supervision
import TesseraPlatform
public import Transport
package import VelocyPack
package import ArangoAPI
public import ClusterMember
public import RESTRoutes

/// The cluster's administration routes on a coordinator (`Protocol/Cluster.md` §9):
///
/// - `GET /_admin/cluster/health`: every agent, DBServer and coordinator with its status;
/// - `GET /_admin/cluster/queryAgencyJob?id=`: one supervision job and its stage;
/// - `GET /_admin/cluster/jobs` (Tessera's own): every job, newest first;
/// - `POST /_admin/cluster/removeServer` with body `"<server id>"`: forgets a FAILED server.
///
/// Servers' health is supervision's verdict (`Supervision/Health`, from the agency cache);
/// agents are asked directly, in parallel, with a short timeout. Jobs and removals read the
/// agency itself (linearizable reads), so a job created a moment ago is found and a removal
/// decides on the latest state.
extension Coordinator {
    /// How long the health check waits for each agent's `/_api/agency/config`.
    static let agentHealthTimeoutSeconds = 1.0
    /// How often a removal is tried again when the state changed between its read and its write.
    static let removalAttemptsMax = 5
    /// The job stages under `Target`, in life-cycle order, with ArangoDB's `status` names.
    static let jobStages: [(status: String, path: String)] = [
        ("ToDo", AgencyLayout.targetToDo), ("Pending", AgencyLayout.targetPending),
        ("Finished", AgencyLayout.targetFinished), ("Failed", AgencyLayout.targetFailed),
    ]

    func registerClusterAdmin(in router: inout Router) {
        let coordinator = self
        router.addAsync(.get, "/_admin/cluster/health") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            return await coordinator.clusterHealth()
        }
        router.addAsync(.get, "/_admin/cluster/queryAgencyJob") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            return try await coordinator.queryAgencyJob(request.parameter("id"))
        }
        router.addAsync(.get, "/_admin/cluster/jobs") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            var limit: Int?
            if let text = request.parameter("limit") {
                guard let value = Int(text), value >= 1 else { throw ArangoError(status: 400, .httpBadParameter, "limit must be a positive integer") }
                limit = value
            }
            return try await coordinator.listJobs(limit: limit)
        }
        router.addAsync(.post, "/_admin/cluster/removeServer") { request throws(ArangoError) in
            try coordinator.requireAdministrator(request, "remove servers from the cluster")
            let body = try request.requireBody()
            guard let server = body.stringValue else {
                throw ArangoError(status: 400, .httpBadParameter, "expecting the id of the server to remove as a JSON string")
            }
            return try await coordinator.removeServer(server, requestedBy: request.user)
        }
    }

    // MARK: Health

    /// `{ClusterId, Health: {<id>: {…}}}`: agents (asked now), then every registered server
    /// with supervision's status of it (`UNKNOWN` until supervision has a record).
    func clusterHealth() async -> ServerResponse {
        let agents = await agentHealth()
        let registered = cache.value(at: AgencyLayout.currentServersRegistered)
        let records = cache.value(at: AgencyLayout.supervisionHealth)
        let beats = cache.value(at: AgencyLayout.syncServerStates)
        let collections = cache.value(at: AgencyLayout.planCollections)
        let clusterId = cache.value(at: AgencyLayout.cluster)?.stringValue ?? ""
        return answer(200) { builder in
            builder.add(key: "ClusterId", clusterId)
            builder.add(key: "Health")
            builder.openObject()
            for agent in agents { agent.write(into: &builder) }
            var servers: [(id: String, entry: Slice)] = []
            if let registered, registered.isObject {
                for member in registered.objectMembers {
                    if let id = member.key.keyName { servers.append((id, member.value)) }
                }
            }
            for (id, entry) in servers.sorted(by: { $0.id < $1.id }) {
                let record = records?[id].flatMap { try? HealthRecord(id: id, decoding: $0) }
                let beat = beats?[id]
                let isDBServer = entry["role"]?.stringValue == ServerRole.dbServer.rawValue
                builder.add(key: id)
                builder.openObject()
                builder.add(key: "Role", isDBServer ? "DBServer" : "Coordinator")
                builder.add(key: "ShortName", entry["shortName"]?.stringValue ?? "")
                builder.add(key: "Endpoint", entry["endpoint"]?.stringValue ?? "")
                builder.add(key: "Version", entry["versionString"]?.stringValue ?? "")
                builder.add(key: "Status", record?.status.rawValue ?? "UNKNOWN")
                let sent = beat?["time"]?.intValue
                if let record {
                    // Supervision rewrites its record only when the verdict changes, so for a
                    // BAD or FAILED server it holds when the last heartbeat was seen; a GOOD
                    // server has been seen since then, within the GOOD threshold of its last
                    // beat: report that beat's time when it is later.
                    var acked = record.lastAckedMilliseconds
                    if record.status == .good, let sent { acked = max(acked, sent) }
                    builder.add(key: "LastHeartbeatAcked", isoTime(milliseconds: acked))
                }
                if let sent { builder.add(key: "LastHeartbeatSent", isoTime(milliseconds: sent)) }
                if let status = beat?["status"]?.stringValue { builder.add(key: "LastHeartbeatStatus", status) }
                // What removeServer would accept (ArangoDB's flag): FAILED, and for a
                // DBServer no planned shard on it any more.
                let removable = record?.status == .failed
                    && (!isDBServer || AgencyTransactions.plannedShards(listing: id, in: collections).isEmpty)
                builder.add(key: "CanBeDeleted", removable)
                builder.closeTrusted()
            }
            builder.closeTrusted()
        }
    }

    /// One agent's line of the health answer.
    struct AgentHealth: Sendable {
        /// `AGNT-<id>`, or the endpoint when no agent could say which id it has.
        var key: String
        var endpoint: String
        var answered = false
        var leader: String?
        var leading = false
        var term: UInt64?

        func write(into builder: inout Builder) {
            builder.add(key: key)
            builder.openObject()
            builder.add(key: "Role", "Agent")
            builder.add(key: "Endpoint", endpoint)
            builder.add(key: "CanBeDeleted", false)
            // An agent that answers is GOOD; one that does not within the timeout, BAD (the
            // agency has no supervision of its own members).
            builder.add(key: "Status", answered ? "GOOD" : "BAD")
            if let leader { builder.add(key: "Leader", leader) }
            builder.add(key: "Leading", leading)
            if let term { builder.add(key: "Term", term) }
            builder.closeTrusted()
        }
    }

    /// Asks every agency endpoint for its `/_api/agency/config` in parallel (at most
    /// ``agentHealthTimeoutSeconds`` each) and lists the agents of the pools they report,
    /// sorted by key. An agent that did not answer keeps the endpoint another agent's pool
    /// gives it.
    func agentHealth() async -> [AgentHealth] {
        let endpoints = agency.configuration.endpoints
        let answers = await withTaskGroup(of: (Endpoint, Slice?).self) { group in
            for endpoint in endpoints {
                group.addTask { [agency] in
                    let config = try? await agency.config(at: endpoint, timeoutSeconds: Self.agentHealthTimeoutSeconds)
                    return (endpoint, config.map { Slice(trustedBytes: $0.copiedBytes) })
                }
            }
            var answers: [(Endpoint, Slice?)] = []
            for await answer in group { answers.append(answer) }
            return answers
        }
        var agents: [String: AgentHealth] = [:]
        func key(_ id: String) -> String { "AGNT-" + id }
        // The pools first (every member, answered or not), then what each agent said of itself.
        for (_, config) in answers {
            for member in config?["configuration"]?["pool"]?.objectMembers ?? Slice(trustedBytes: [0x0a]).objectMembers {
                guard let id = member.key.keyName, let endpoint = member.value.stringValue else { continue }
                if agents[key(id)] == nil { agents[key(id)] = AgentHealth(key: key(id), endpoint: endpoint) }
            }
        }
        for (endpoint, config) in answers {
            guard let config, let id = config["configuration"]?["id"]?.stringValue else {
                if !agents.values.contains(where: { $0.endpoint == endpoint.description }) {
                    agents[endpoint.description] = AgentHealth(key: endpoint.description, endpoint: endpoint.description)
                }
                continue
            }
            var agent = agents[key(id)] ?? AgentHealth(key: key(id), endpoint: endpoint.description)
            agent.answered = true
            agent.leader = config["leaderId"]?.stringValue.map(key)
            agent.leading = config["role"]?.stringValue == "leader"
            agent.term = config["term"]?.uintValue
            agents[key(id)] = agent
        }
        return agents.values.sorted { $0.key < $1.key }
    }

    // MARK: Jobs

    /// The four job stages read from the agency leader.
    func readJobs(_ paths: [String]) async throws(ArangoError) -> Slice {
        do {
            let read = try await agency.read([paths])
            guard let first = read[0] else { throw ArangoError(status: 500, .clusterReadingPlanAgency, "the agency's read answer is empty") }
            return Slice(trustedBytes: first.copiedBytes)
        } catch let error as ArangoError {
            throw error
        } catch {
            throw ArangoError(status: 503, .clusterTimeout, "cannot read the jobs from the agency: \(error)")
        }
    }

    /// ArangoDB's `queryAgencyJob`: `{error, id, status, job}`, 404 when no stage holds the job.
    func queryAgencyJob(_ id: String?) async throws(ArangoError) -> ServerResponse {
        guard let id, !id.isEmpty else { throw ArangoError(status: 400, .httpBadParameter, "the query parameter 'id' (a job id) is required") }
        guard (try? AgencyLayout.validateName(id)) != nil else {
            throw ArangoError(status: 400, .httpBadParameter, "'\(id.prefix(64))' is not a job id")
        }
        let stages = try await readJobs(Self.jobStages.map { AgencyLayout.job(id, in: $0.path) })
        for stage in Self.jobStages {
            guard let job = AgencyLayout.value(at: AgencyLayout.job(id, in: stage.path), inReadAnswer: stages) else { continue }
            return answer(200) { builder in
                builder.add(key: "id", id)
                builder.add(key: "status", stage.status)
                builder.add(key: "job", job)
            }
        }
        throw ArangoError(status: 404, .httpNotFound, "no job with id \(id) in Target/ToDo, Pending, Finished or Failed")
    }

    /// Tessera's `/_admin/cluster/jobs`: `{jobs: [{id, status, job}, …]}`, every stage, the
    /// newest job first (ids grow; a sub-job `<parent>-<n>` comes right before its parent).
    func listJobs(limit: Int?) async throws(ArangoError) -> ServerResponse {
        let stages = try await readJobs(Self.jobStages.map(\.path))
        var jobs: [(id: String, status: String, job: Slice)] = []
        for stage in Self.jobStages {
            guard let list = AgencyLayout.value(at: stage.path, inReadAnswer: stages), list.isObject else { continue }
            for member in list.objectMembers {
                if let id = member.key.keyName { jobs.append((id, stage.status, member.value)) }
            }
        }
        jobs.sort { SupervisionJob.idPrecedes($1.id, $0.id) }
        let shown = limit.map { jobs.prefix($0) } ?? jobs[...]
        return answer(200) { builder in
            builder.add(key: "jobs")
            builder.openArray()
            for entry in shown {
                builder.openObject()
                builder.add(key: "id", entry.id)
                builder.add(key: "status", entry.status)
                builder.add(key: "job", entry.job)
                builder.closeTrusted()
            }
            builder.closeTrusted()
            builder.add(key: "count", jobs.count)
        }
    }

    // MARK: Removing a server

    /// Removes a FAILED server from the agency (``AgencyTransactions/removeServer(_:role:planVersion:databaseReports:clientId:)``):
    /// decides on a fresh read, writes under preconditions that hold only in the state read,
    /// and decides again when the state changed in between (at most ``removalAttemptsMax``
    /// times). `server` may also be a short name (`Coordinator0002`).
    func removeServer(_ server: String, requestedBy user: String?) async throws(ArangoError) -> ServerResponse {
        guard (try? AgencyLayout.validateName(server)) != nil else {
            throw ArangoError(status: 400, .httpBadParameter, "'\(server.prefix(64))' is not a server id")
        }
        let id = serverId(forName: server)
        guard (try? AgencyLayout.validateName(id)) != nil else { throw ArangoError(status: 404, .httpNotFound, "unknown server \(server)") }
        let log = ProcessLog.logger("coordinator")
        var generator = SystemRandomNumberGenerator()
        let clientId = "removeServer-" + String(generator.next(), radix: 36)
        for _ in 1...Self.removalAttemptsMax {
            let state: Slice
            do {
                let read = try await agency.read([AgencyTransactions.serverRemovalReadPaths(id)])
                guard let first = read[0] else { throw ArangoError(status: 500, .clusterReadingPlanAgency, "the agency's read answer is empty") }
                state = Slice(trustedBytes: first.copiedBytes)
            } catch let error as ArangoError {
                throw error
            } catch {
                throw ArangoError(status: 503, .clusterTimeout, "cannot read the server's state from the agency: \(error)")
            }
            switch AgencyTransactions.serverRemoval(serverId: id, readAnswer: state, clientId: clientId) {
            case .unknownServer:
                throw ArangoError(status: 404, .httpNotFound, "unknown server \(id)")
            case .notFailed(let status):
                throw ArangoError(status: 412, .httpPreconditionFailed,
                                  "server \(id) is \(status ?? "not yet judged by supervision"); only a FAILED server can be removed")
            case .stillResponsible(let shards):
                let named = shards.prefix(5).joined(separator: ", ") + (shards.count > 5 ? " and \(shards.count - 5) more" : "")
                throw ArangoError(status: 412, .httpPreconditionFailed,
                                  "server \(id) is still planned for shards (\(named)); wait until supervision has moved them")
            case .lockedByJob(let job):
                throw ArangoError(status: 412, .httpPreconditionFailed, "server \(id) is locked by supervision job \(job); try again when it has finished")
            case .ready(let role, let envelope):
                let result: AgencyClient.WriteResult
                do {
                    result = try await agency.write(envelope: envelope, clientID: clientId)
                } catch {
                    throw ArangoError(status: 503, .clusterTimeout, "the agency did not take the removal of \(id): \(error)")
                }
                guard result.applied else { continue }  // changed since the read: decide again
                log.notice("removed \(role == .dbServer ? "DBServer" : "coordinator") \(id) from the cluster (asked by \(user ?? "-"))")
                // This coordinator's next answers (health) no longer list it.
                _ = await cache.waitFor(index: result.index, timeoutSeconds: 5)
                return answer(200) { $0.add(key: "result", true) }
            }
        }
        throw ArangoError(status: 503, .clusterTimeout,
                          "the cluster changed between the check and the removal of \(id) \(Self.removalAttemptsMax) times; try again")
    }

    /// The id of the registered server whose id or short name is `name` (`name` itself when none).
    func serverId(forName name: String) -> String {
        guard let registered = cache.value(at: AgencyLayout.currentServersRegistered), registered.isObject,
              registered[name] == nil else { return name }
        for member in registered.objectMembers where member.value["shortName"]?.stringValue == name {
            if let id = member.key.keyName { return id }
        }
        return name
    }
}
