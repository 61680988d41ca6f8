public import AgencyCore
public import AgencyStore
public import ClusterLogic
public import Raft
import VelocyPack

/// Supervision's settings (`tessera agent --supervision-…`).
public struct SupervisionOptions: Sendable, Equatable {
    /// GOOD → BAD → FAILED by the time since the last new heartbeat, on the agent's clock.
    public var thresholds = HealthThresholds.tesseraDefault
    /// How often a round runs when the last one wrote nothing. A round that wrote runs again
    /// as soon as its writes have applied, so a failover's job steps follow each other closely.
    public var frequencyMilliseconds: Int64 = 100
    /// Finished and Failed jobs kept for inspection (ArangoDB keeps 500 and 1000).
    public var finishedJobsKept = 500
    public var failedJobsKept = 1000
    /// At most this many AddFollower/RemoveFollower jobs wait in ToDo at once.
    public var replicationJobsMax = 50

    public init() {}
}

/// The agency's supervision (`reference §2`, `Protocol/Cluster.md` "Supervision"): on the
/// agency leader, every round it classifies the registered servers by their heartbeats
/// (GOOD, BAD, FAILED, persisted in `Supervision/Health`), creates a FailedServer job for a
/// DBServer that failed, runs the jobs (`Target/ToDo` → `Pending` → `Finished`/`Failed`), and
/// keeps every shard at its replication factor (AddFollower, RemoveFollower).
///
/// Pure and deterministic: its inputs are the applied store, the term and the time the node
/// core passes in. Every state change is one agency transaction whose preconditions hold only
/// in the state the decision was made from, so a decision made twice (by this leader, or by
/// the next one from the same state) applies once, and no job ever starts twice.
///
/// What it remembers between rounds is only when it last saw each server's heartbeat change.
/// A new term (this agent became leader, or leads again) forgets that, so every server gets a
/// fresh grace period measured on this agent's own clock: no verdict rests on another
/// agent's clock, and a leader change never fails a server at once.
public struct ClusterSupervision: AgencySupervision {
    public var options: SupervisionOptions
    /// The term these memories belong to.
    var term: Term = 0
    /// Server id → (heartbeat bytes, agent time it was first seen with that value).
    var seen: [String: (beat: [UInt8]?, at: Int64)] = [:]
    var lastRound: Int64 = .min
    var wroteLastRound = false
    var decodedPlan: (version: [UInt8], plan: ClusterPlan)?
    var decodedCurrent: (version: [UInt8], current: ClusterCurrent)?
    /// What the rounds decided and why, for the log (taken by the driver).
    var notes: [String] = []
    /// The last "waiting" note per job, so a job that waits is logged once, not every round.
    var waitingNotes: [String: String] = [:]

    public init(options: SupervisionOptions = SupervisionOptions()) {
        self.options = options
    }

    public mutating func takeNotes() -> [String] {
        defer { notes = [] }
        return notes
    }

    public mutating func step(store: AgencyStore, term: Term, nowMilliseconds now: Int64) -> [[UInt8]] {
        if term != self.term {
            self.term = term
            seen = [:]
            waitingNotes = [:]
            lastRound = .min
            notes.append("supervision starts on this agent (term \(term)): every server gets a fresh grace period of \(options.thresholds.gracePeriodMilliseconds) ms")
        }
        guard wroteLastRound || lastRound == .min || now - lastRound >= options.frequencyMilliseconds else { return [] }
        lastRound = now
        let view = SupervisionView(store: store, decodedPlan: &decodedPlan, decodedCurrent: &decodedCurrent)
        guard view.initialized else {
            wroteLastRound = false
            return []
        }
        var round = SupervisionRound(view: view, now: now, options: options)
        checkHealth(&round)
        round.runJobs()
        notes += round.notes
        for (job, note) in round.waiting where waitingNotes[job] != note {
            waitingNotes[job] = note
            notes.append(note)
        }
        wroteLastRound = !round.writes.isEmpty
        return round.writes.map { agencyEnvelope([.write($0)]) }
    }

    /// Classifies every registered server and persists what changed.
    mutating func checkHealth(_ round: inout SupervisionRound) {
        let view = round.view
        let now = round.now
        for server in view.servers {
            let beat = view.heartbeats[server.id]
            if let memory = seen[server.id], memory.beat == beat {
                // Unchanged: the clock keeps running from when it was first seen.
            } else {
                seen[server.id] = (beat, now)
            }
            let lastSeen = seen[server.id]!.at
            let previous = view.health[server.id]
            let status = options.thresholds.status(lastHeartbeatMilliseconds: lastSeen, nowMilliseconds: now, previous: previous?.record.status)
            let record = HealthRecord(shortName: server.shortName, endpoint: server.endpoint, status: status,
                                      lastAckedMilliseconds: lastSeen)
            round.health[server.id] = status
            if previous?.record.status != status || previous?.record.shortName != server.shortName
                || previous?.record.endpoint != server.endpoint {
                var write = AgencyWrite()
                write.set(AgencyLayout.supervisionHealth(server.id), record.vpack)
                write.require(AgencyLayout.supervisionHealth(server.id), previous.map { .old($0.bytes) } ?? .oldEmpty(true))
                if status == .failed && server.role == .coordinator {
                    // A failed coordinator's transactions and locks are void (ArangoDB's rule).
                    write.increment(AgencyLayout.currentRebootId(server.id))
                }
                if status == .good && view.failedServers.contains(server.id) {
                    write.delete(AgencyLayout.targetFailedServer(server.id))
                }
                round.writes.append(write)
                if previous?.record.status != status {
                    let silent = now - lastSeen
                    let why = status == .good ? (previous == nil ? "first seen" : "heartbeats again") : "\(silent) ms without a new heartbeat"
                    round.notes.append("server \(server.id) (\(server.shortName)) is \(status.rawValue): \(why)")
                }
            }
            if status == .failed && server.role == .dbServer && !view.failedServers.contains(server.id)
                && !view.activeJobs.contains(where: { $0.type == .failedServer && $0.server == server.id }) {
                round.createFailedServer(server.id, silentMilliseconds: now - lastSeen)
            }
        }
    }
}

extension HealthThresholds {
    /// Tessera's defaults, with servers heartbeating every 250 ms: BAD after 750 ms without a
    /// new heartbeat (three missed beats), FAILED after 1 250 ms (five). A dead leader's
    /// shards fail over in about 1.5 s; a full-load run of 60 s shows no false verdict
    /// (`BENCHMARKS.md`, "Failover"). ArangoDB waits 5 s and 10 s.
    public static let tesseraDefault = HealthThresholds(okMilliseconds: 750, gracePeriodMilliseconds: 1_250)
}
