import AgencyStore
import ClusterLogic
import VelocyPack

/// What one supervision round reads from the agency store, decoded once: the registered
/// servers and their heartbeats, the persisted health records, the jobs, the locks, Plan and
/// Current. Data another process wrote that does not decode is skipped (and the round goes on
/// with the rest), never a trap.
struct SupervisionView {
    struct Registered {
        let id: String
        let role: ServerRole
        let shortName: String
        let endpoint: String
    }

    var initialized = false
    var servers: [Registered] = []
    /// Server id → the bytes of its last heartbeat value (`Sync/ServerStates/<id>`).
    var heartbeats: [String: [UInt8]] = [:]
    /// Server id → the persisted health record and its bytes (for preconditions).
    var health: [String: (record: HealthRecord, bytes: [UInt8])] = [:]
    var toDo: [(job: SupervisionJob, bytes: [UInt8])] = []
    var pending: [(job: SupervisionJob, bytes: [UInt8])] = []
    var finishedIds: [String] = []
    var failedIds: [String] = []
    var failedServers: Set<String> = []
    var cleanedServers: Set<String> = []
    /// `Target/ToBeCleanedServers` and `Target/CleanedServers` as stored (arrays of ids), for
    /// the transactions that change them.
    var toBeCleanedList: [String] = []
    var cleanedList: [String] = []
    /// Their bytes as stored (nil: absent), for preconditions.
    var toBeCleanedBytes: [UInt8]?
    var cleanedBytes: [UInt8]?
    var shardLocks: [String: String] = [:]
    var serverLocks: [String: String] = [:]
    var latestId: UInt64 = 0
    var plan = ClusterPlan()
    var current = ClusterCurrent()

    static func path(_ text: String) -> AgencyPath { (try? AgencyPath(text)) ?? AgencyPath(components: []) }

    init() {}

    init(store: AgencyStore, decodedPlan: inout (version: [UInt8], plan: ClusterPlan)?,
         decodedCurrent: inout (version: [UInt8], current: ClusterCurrent)?) {
        func value(_ text: String) -> Slice? { store.value(at: Self.path(text)) }
        initialized = value(AgencyLayout.initDone)?.boolValue == true
        guard initialized else { return }
        if let registered = value(AgencyLayout.currentServersRegistered), registered.isObject {
            for member in registered.objectMembers {
                guard let id = member.key.keyName, let entry = try? ServerRegistration(id: id, decoding: member.value) else { continue }
                servers.append(Registered(id: id, role: entry.role, shortName: entry.shortName, endpoint: entry.endpoint))
            }
            servers.sort { $0.id < $1.id }
        }
        if let states = value(AgencyLayout.syncServerStates), states.isObject {
            for member in states.objectMembers {
                guard let id = member.key.keyName else { continue }
                heartbeats[id] = Array(member.value.bytes)
            }
        }
        if let records = value(AgencyLayout.supervisionHealth), records.isObject {
            for member in records.objectMembers {
                guard let id = member.key.keyName, let record = try? HealthRecord(id: id, decoding: member.value) else { continue }
                health[id] = (record, Array(member.value.bytes))
            }
        }
        func jobs(_ stage: String) -> [(job: SupervisionJob, bytes: [UInt8])] {
            guard let list = value(stage), list.isObject else { return [] }
            var jobs: [(job: SupervisionJob, bytes: [UInt8])] = []
            for member in list.objectMembers {
                guard let job = SupervisionJob(decoding: member.value), member.key.keyName == job.jobId else { continue }
                jobs.append((job, Array(member.value.bytes)))
            }
            return jobs.sorted { SupervisionJob.idPrecedes($0.job.jobId, $1.job.jobId) }
        }
        toDo = jobs(AgencyLayout.targetToDo)
        pending = jobs(AgencyLayout.targetPending)
        func keys(_ text: String) -> [String] {
            guard let node = value(text), node.isObject else { return [] }
            return node.objectMembers.compactMap { $0.key.keyName }.sorted(by: SupervisionJob.idPrecedes)
        }
        finishedIds = keys(AgencyLayout.targetFinished)
        failedIds = keys(AgencyLayout.targetFailed)
        failedServers = Set(keys(AgencyLayout.targetFailedServers))
        if let cleaned = value(AgencyLayout.targetCleanedServers), cleaned.isArray {
            cleanedList = cleaned.arrayElements.compactMap(\.stringValue)
            cleanedServers = Set(cleanedList)
            cleanedBytes = Array(cleaned.bytes)
        }
        if let toBeCleaned = value(AgencyLayout.targetToBeCleanedServers), toBeCleaned.isArray {
            toBeCleanedList = toBeCleaned.arrayElements.compactMap(\.stringValue)
            toBeCleanedBytes = Array(toBeCleaned.bytes)
        }
        func locks(_ text: String) -> [String: String] {
            guard let node = value(text), node.isObject else { return [:] }
            var locks: [String: String] = [:]
            for member in node.objectMembers {
                guard let key = member.key.keyName else { continue }
                locks[key] = member.value.stringValue ?? "?"
            }
            return locks
        }
        shardLocks = locks(AgencyLayout.supervisionShards)
        serverLocks = locks(AgencyLayout.supervisionDBServers)
        latestId = value(AgencyLayout.syncLatestID)?.uintValue ?? 0
        // Plan and Current are read and decoded again only when their version moved (every
        // change of either moves it), so a round costs little when nothing changed.
        let planVersion = Array(value(AgencyLayout.planVersion)?.bytes ?? [])
        if let decoded = decodedPlan, decoded.version == planVersion {
            plan = decoded.plan
        } else if let planSlice = value(AgencyLayout.plan), let decoded = try? ClusterPlan(decoding: planSlice) {
            plan = decoded
            decodedPlan = (planVersion, decoded)
        }
        let currentVersion = Array(value(AgencyLayout.currentVersion)?.bytes ?? [])
        if let decoded = decodedCurrent, decoded.version == currentVersion {
            current = decoded.current
        } else if let currentSlice = value(AgencyLayout.current), let decoded = try? ClusterCurrent(decoding: currentSlice) {
            current = decoded
            decodedCurrent = (currentVersion, decoded)
        }
    }

    /// The persisted status of a server (nil: no record yet).
    func status(_ server: String) -> ServerHealth? { health[server]?.record.status }

    /// Every job in ToDo and Pending.
    var activeJobs: [SupervisionJob] { toDo.map(\.job) + pending.map(\.job) }

    /// The planned shards, in a stable order: (database, collection, shard, servers).
    var plannedShards: [(database: String, collection: PlanCollection, shard: String, servers: [String])] {
        var shards: [(String, PlanCollection, String, [String])] = []
        for database in plan.collections.keys.sorted() where plan.databases[database] != nil {
            for collection in plan.collections[database]!.values.sorted(by: { $0.id < $1.id }) {
                for shard in collection.sortedShardNames { shards.append((database, collection, shard, collection.shards[shard] ?? [])) }
            }
        }
        return shards
    }

    /// Healthy DBServers that may take a new copy: GOOD, not locked by a job, not failed or
    /// cleaned out, ordered by how many copies Plan gives them already (then by id).
    func spareServers(excluding: Set<String>) -> [String] {
        var copies: [String: Int] = [:]
        for (_, _, _, servers) in plannedShards { for server in servers { copies[server, default: 0] += 1 } }
        return servers.filter {
            $0.role == .dbServer && status($0.id) == .good && !excluding.contains($0.id) && serverLocks[$0.id] == nil
                && !failedServers.contains($0.id) && !cleanedServers.contains($0.id) && !toBeCleanedList.contains($0.id)
        }
        .map(\.id)
        .sorted { (copies[$0] ?? 0, $0) < (copies[$1] ?? 0, $1) }
    }
}
