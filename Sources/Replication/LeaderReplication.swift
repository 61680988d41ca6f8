/// A shard leader's side of synchronous replication, as a pure state machine: which
/// followers get the stream, how far each has applied it, which writes may be answered, and
/// when a follower must leave (or may join) the in-sync set in the agency.
///
/// The driver feeds it events — local writes, batches sent and answered, agency changes
/// done, clock ticks (time is an argument) — and carries out the ``Action``s it returns:
/// read the shard's log after a position and send a batch, answer or fail waiting writes,
/// change `Current`'s in-sync servers with a precondition transaction, stop a stream.
///
/// The rules (`Protocol/Replication.md` says them for the wire):
/// - A write is answered only when every follower that counts — in sync, joining, or being
///   dropped — has applied it (`acked ≥ sequence`). A follower that fails or times out is
///   *dropped*: while the agency transaction removing it is under way the writes it holds
///   up keep waiting; once the agency took the removal they no longer need it; if the agency
///   refused or could not be reached they fail (``ReplicationError/couldNotDropFollower(_:)``)
///   and the drop is tried again. A write is never answered as if a follower had it when the
///   agency still lists that follower in sync.
/// - A write is admitted only while at least `writeConcern` copies (leader included) are in
///   sync; after a drop leaves fewer, waiting writes fail with 1004.
/// - A resyncing follower is *catching up*: it gets the stream but holds up no write. Once
///   everything up to the leader's head has been sent to it and at most
///   `joinLagBatchesMax` batches are unanswered, it *joins*: from then on it holds up writes
///   like an in-sync follower (the short window the final switch costs), and the leader
///   asks the agency to add it; when the agency took it, it is in sync.
/// - One change of the in-sync set is in the agency at a time, each computed from the
///   set the last one produced, so their preconditions chain.
public struct LeaderReplication: Sendable {
    public struct Settings: Sendable, Equatable {
        /// A follower that has not answered a batch for this long is dropped.
        public var followerTimeoutMilliseconds: UInt64 = 5_000
        /// The most unanswered batches per follower (pipelining depth).
        public var batchesInFlightMax = 8
        /// A catching-up follower joins when at most this many batches are unanswered and
        /// nothing is left unsent.
        public var joinLagBatchesMax = 2
        /// How long after a failed in-sync change the next attempt waits.
        public var agencyRetryMilliseconds: UInt64 = 200

        public init() {}
    }

    public enum Phase: String, Sendable, Equatable {
        /// Receiving the stream after a resync; holds up no write.
        case catchingUp
        /// Caught up; holds up writes; the agency is asked to list it in sync.
        case joining
        /// Listed in sync in the agency; holds up writes.
        case inSync
        /// Failed; the agency is asked to remove it; the writes it holds up wait for that.
        case dropping
    }

    public struct Follower: Sendable, Equatable {
        public var phase: Phase
        /// The position the stream started after (the resync's snapshot sequence): names
        /// the follower's session.
        public var session: UInt64 = 0
        /// The last leader sequence sent to it.
        public var sent: UInt64
        /// The last leader sequence it confirmed as applied.
        public var acked: UInt64
        /// Unanswered batches: their last sequence and when they left.
        var inFlight: [(last: UInt64, sentAt: UInt64)] = []
        /// Whether the driver is reading the log for a batch to it.
        var reading = false

        public static func == (lhs: Follower, rhs: Follower) -> Bool {
            lhs.phase == rhs.phase && lhs.sent == rhs.sent && lhs.acked == rhs.acked
                && lhs.inFlight.map(\.last) == rhs.inFlight.map(\.last) && lhs.reading == rhs.reading
        }

        public var unanswered: Int { inFlight.count }
    }

    public enum Action: Sendable, Equatable {
        /// Read the log after `after` and send the follower one batch (then call
        /// ``batchSent(to:last:now:)``, or ``nothingToSend(to:)`` when the log has nothing
        /// after `after`). `waitForSync`: the batch must be durable on the follower.
        case send(follower: String, after: UInt64, waitForSync: Bool)
        /// Answer the waiting write.
        case complete(token: UInt64)
        /// Fail the waiting write with the error.
        case fail(token: UInt64, ReplicationError)
        /// Ask the agency to change Current's in-sync servers from `old` to `new`, in one
        /// precondition transaction: Plan unchanged, Current's servers still `old` and its
        /// in-sync version still `version` (0: none yet); the change sets the version to
        /// `version + 1` and records this leadership's epoch. The version makes every change a
        /// compare-and-set on the whole history: a change sent earlier — by this leadership
        /// or an older one, delayed in the network — can never apply after a later one. A
        /// leadership's first change is made even when the list stays the same (it claims
        /// the version before any write is admitted).
        ///
        /// Then call ``inSyncChangeFinished(applied:now:)`` when the agency answered. When
        /// the answer is lost (a timeout), call ``changeUncertain(now:)``, fence the change
        /// (a transaction moving the version from `version` to `version + 1` with the old
        /// list) and read the agency: the fence applied → not applied, list `old` at
        /// `version + 1`; else the version and list read tell which.
        case changeInSync(old: [String], new: [String], version: UInt64, reason: String)
        /// Stop streaming to the follower (it failed before it was ever counted, or was
        /// removed). `session` is the position the stopped stream started after, so the
        /// follower ends that session and not a newer one.
        case stopStream(follower: String, session: UInt64)
    }

    public let leader: String
    public let epoch: UInt64
    public var settings: Settings
    public private(set) var writeConcern: Int
    /// The highest sequence the leader's log is known to hold.
    public private(set) var head: UInt64
    public private(set) var followers: [String: Follower] = [:]
    /// The in-sync servers as the agency lists them (leader first), after the last change
    /// the agency took.
    public private(set) var inSyncServers: [String]
    /// The change under way in the agency, if any.
    public private(set) var pendingChange: (old: [String], new: [String])?
    /// The in-sync version the agency holds after the last change this leader knows of.
    public private(set) var agencyVersion: UInt64
    /// Whether this leadership's first change applied. Until then no write is admitted.
    public private(set) var epochClaimed = false
    var nextChangeAttempt: UInt64 = 0
    /// Waiting writes: (sequence, token, durable), in the order they arrived.
    var waiting: [(sequence: UInt64, token: UInt64, durable: Bool)] = []
    /// The highest sequence a durable write waits for: batches up to it ask for a sync.
    var durableUpTo: UInt64 = 0

    /// - Parameters:
    ///   - inSyncServers: what the agency lists now (leader first); only followers the
    ///     driver starts streams for count, so a fresh leader starts with the agency's list
    ///     cut to itself by its first change.
    ///   - head: the shard's last sequence.
    ///   - agencyVersion: the in-sync version read with `inSyncServers` (0: none).
    public init(leader: String, epoch: UInt64, writeConcern: Int, head: UInt64, inSyncServers: [String] = [],
                agencyVersion: UInt64 = 0, settings: Settings = Settings()) {
        self.leader = leader
        self.agencyVersion = agencyVersion
        self.epoch = epoch
        self.writeConcern = writeConcern
        self.head = head
        self.inSyncServers = inSyncServers.isEmpty ? [leader] : inSyncServers
        self.settings = settings
    }

    // MARK: Questions

    /// Copies in sync (the leader, and followers listed in sync that are not being dropped).
    public var inSyncCount: Int {
        1 + followers.values.filter { $0.phase == .inSync || $0.phase == .joining }.count
    }

    /// Whether a new write may be applied: enough copies in sync, and the agency lists no
    /// server this leader does not hold writes for (a fresh leader first cuts the list to
    /// what it knows).
    public func admission() -> ReplicationError? {
        if !epochClaimed { return .claimingLeadership("the agency has not yet recorded leadership epoch \(epoch)") }
        if inSyncCount < writeConcern { return .readOnly(inSync: inSyncCount, writeConcern: writeConcern) }
        let unaccounted = inSyncServers.contains { id in id != leader && (followers[id].map { $0.phase == .catchingUp } ?? true) }
        if unaccounted { return .readOnly(inSync: inSyncCount, writeConcern: writeConcern) }
        return nil
    }

    /// Followers whose applied position counts for acknowledgements.
    var counting: [Follower] {
        followers.values.filter { $0.phase != .catchingUp }
    }

    // MARK: Events

    /// The shard's log reached `sequence`; a write up to it waits for its answer under
    /// `token` (0: no one waits, the log just moved).
    public mutating func wrote(upTo sequence: UInt64, token: UInt64 = 0, durable: Bool = false) -> [Action] {
        head = max(head, sequence)
        if durable { durableUpTo = max(durableUpTo, sequence) }
        var actions: [Action] = []
        if token != 0 { waiting.append((sequence, token, durable)) }
        actions += completions()
        actions += sends()
        return actions
    }

    /// A follower finished its resync copy up to `after` and gets the stream from there.
    ///
    /// A follower this leader still counts (in sync, joining, or being dropped) cannot start
    /// over: the agency may list it, and writes it has not applied must not be answered
    /// without it. It is dropped first (through the agency) and the start is refused; the
    /// follower's next resync finds it gone.
    public mutating func startStream(to follower: String, after: UInt64, now: UInt64) -> (accepted: Bool, actions: [Action]) {
        if let existing = followers[follower] {
            guard existing.phase == .catchingUp else {
                return (false, fail(follower, reason: "it restarted its stream", now: now))
            }
            followers[follower] = nil
        }
        followers[follower] = Follower(phase: .catchingUp, session: after, sent: after, acked: after)
        promoteCaughtUp()
        return (true, changes(now: now) + sends())
    }

    /// The driver read the log for a batch to `follower` ending at `last` and sent it.
    public mutating func batchSent(to follower: String, last: UInt64, now: UInt64) -> [Action] {
        guard var state = followers[follower] else { return [] }
        state.reading = false
        state.sent = max(state.sent, last)
        state.inFlight.append((last, now))
        followers[follower] = state
        head = max(head, last)
        return sends()
    }

    /// The log had nothing after the follower's position (the head hint was ahead of the log).
    public mutating func nothingToSend(to follower: String) {
        followers[follower]?.reading = false
    }

    /// The follower applied the stream up to `applied`.
    public mutating func batchAnswered(by follower: String, applied: UInt64, now: UInt64) -> [Action] {
        guard var state = followers[follower] else { return [] }
        state.acked = max(state.acked, applied)
        state.inFlight.removeAll { $0.last <= applied }
        followers[follower] = state
        var actions: [Action] = []
        promoteCaughtUp()
        actions += completions()
        actions += changes(now: now)
        actions += sends()
        return actions
    }

    /// A batch to the follower failed (refused, connection lost): the follower leaves.
    public mutating func batchFailed(for follower: String, reason: String, now: UInt64) -> [Action] {
        guard followers[follower] != nil else { return [] }
        return fail(follower, reason: reason, now: now)
    }

    /// Time passed: unanswered batches older than the timeout fail their followers; a
    /// failed agency change is retried.
    public mutating func tick(now: UInt64) -> [Action] {
        var actions: [Action] = []
        for (id, state) in followers.sorted(by: { $0.key < $1.key }) {
            guard let oldest = state.inFlight.first,
                  now >= oldest.sentAt + settings.followerTimeoutMilliseconds,
                  state.phase != .dropping else { continue }
            actions += fail(id, reason: "no answer for \(now - oldest.sentAt) ms (timeout \(settings.followerTimeoutMilliseconds) ms)",
                            now: now)
        }
        promoteCaughtUp()
        return actions + changes(now: now) + sends()
    }

    /// The agency took (or refused, or could not be asked for) the pending change.
    public mutating func inSyncChangeFinished(applied: Bool, now: UInt64) -> [Action] {
        guard let change = pendingChange else { return [] }
        pendingChange = nil
        if applied {
            inSyncServers = change.new
            agencyVersion += 1
            epochClaimed = true
            return settle() + changes(now: now)
        }
        nextChangeAttempt = now + settings.agencyRetryMilliseconds
        // Writes held up by a follower the agency still lists must not be answered.
        return failWritesHeldByDroppingFollowers(reason: "the agency did not take the removal of a failed follower") + completions()
    }

    /// Plan changed the write concern.
    public mutating func setWriteConcern(_ value: Int) -> [Action] {
        writeConcern = value
        return completions()
    }

    /// The leader stops leading (Plan moved it, or the process stops): every waiting write fails.
    public mutating func resign(reason: String) -> [Action] {
        let actions = waiting.map { Action.fail(token: $0.token, .resigned(reason)) }
        waiting.removeAll()
        return actions + followers.keys.sorted().map { .stopStream(follower: $0, session: followers[$0]!.session) }
    }

    /// Plan no longer lists `follower` for the shard: it leaves without holding up writes
    /// (the agency change lists it no more).
    public mutating func removeFollower(_ follower: String, now: UInt64) -> [Action] {
        guard followers[follower] != nil else { return [] }
        return fail(follower, reason: "Plan no longer lists it", now: now)
    }

    // MARK: Rules

    mutating func fail(_ follower: String, reason: String, now: UInt64) -> [Action] {
        guard let state = followers[follower] else { return [] }
        switch state.phase {
        case .catchingUp:
            return remove(follower, reason: reason)
        case .joining where !inSyncServers.contains(follower) && pendingChange?.new.contains(follower) != true:
            // Never listed in sync: it may leave at once.
            return remove(follower, reason: reason) + completions()
        case .joining, .inSync:
            followers[follower]?.phase = .dropping
            followers[follower]?.inFlight.removeAll()
            return changes(now: now)
        case .dropping:
            return []
        }
    }

    mutating func remove(_ follower: String, reason: String) -> [Action] {
        let session = followers[follower]?.session ?? 0
        followers[follower] = nil
        return [.stopStream(follower: follower, session: session)]
    }

    /// Catching-up followers that have been sent everything up to the head, with at most
    /// `joinLagBatchesMax` batches unanswered, join.
    mutating func promoteCaughtUp() {
        for (id, state) in followers where state.phase == .catchingUp
            && state.sent >= head && state.inFlight.count <= settings.joinLagBatchesMax && !state.reading {
            followers[id]?.phase = .joining
        }
    }

    /// The waiting writes every counting follower has applied, on at least `writeConcern`
    /// copies, are answered. A write a dropping follower has not applied waits for the drop;
    /// one that cannot reach `writeConcern` copies any more fails with 1004.
    mutating func completions() -> [Action] {
        guard !waiting.isEmpty else { return [] }
        let holding = counting
        let live = holding.filter { $0.phase != .dropping }
        // Copies that count for the write concern: the leader and the followers the agency
        // lists (a joining follower holds writes up but counts once listed).
        let listed = 1 + holding.filter { $0.phase == .inSync }.count
        var actions: [Action] = []
        var kept: [(sequence: UInt64, token: UInt64, durable: Bool)] = []
        for write in waiting {
            if holding.contains(where: { $0.phase == .dropping && $0.acked < write.sequence }) {
                kept.append(write)
            } else if 1 + live.count < writeConcern {
                actions.append(.fail(token: write.token, .readOnly(inSync: 1 + live.count, writeConcern: writeConcern)))
            } else if live.allSatisfy({ $0.acked >= write.sequence }) && listed >= writeConcern {
                actions.append(.complete(token: write.token))
            } else {
                kept.append(write)
            }
        }
        waiting = kept
        return actions
    }

    /// The in-sync set the agency should list: the leader, then the followers in sync or
    /// joining (in the agency's order, new ones after).
    var desiredInSync: [String] {
        let holding = Set(followers.filter { $0.value.phase == .inSync || $0.value.phase == .joining }.keys)
        var desired = [leader] + inSyncServers.filter { $0 != leader && holding.contains($0) }
        for id in holding.sorted() where !desired.contains(id) { desired.append(id) }
        return desired
    }

    /// The next change of the in-sync set, when none is under way.
    mutating func changes(now: UInt64) -> [Action] {
        guard pendingChange == nil, now >= nextChangeAttempt else { return [] }
        let new = desiredInSync
        guard new != inSyncServers || !epochClaimed else { return settle() }
        pendingChange = (inSyncServers, new)
        let removed = inSyncServers.filter { !new.contains($0) }
        let added = new.filter { !inSyncServers.contains($0) }
        var reasons: [String] = []
        if !removed.isEmpty { reasons.append("remove \(removed.joined(separator: ", "))") }
        if !added.isEmpty { reasons.append("add \(added.joined(separator: ", "))") }
        if !epochClaimed { reasons.append("claim epoch \(epoch)") }
        return [.changeInSync(old: inSyncServers, new: new, version: agencyVersion, reason: reasons.joined(separator: "; "))]
    }

    /// After the agency lists `inSyncServers`: joining followers it lists are in sync,
    /// dropping ones it does not list are gone.
    mutating func settle() -> [Action] {
        var actions: [Action] = []
        for id in followers.keys.sorted() {
            guard let state = followers[id] else { continue }
            if state.phase == .joining, inSyncServers.contains(id) { followers[id]?.phase = .inSync }
            if state.phase == .dropping, !inSyncServers.contains(id) {
                followers[id] = nil
                actions.append(.stopStream(follower: id, session: state.session))
            }
        }
        return actions + completions()
    }

    /// The agency's in-sync list and version as read after a change that did not apply
    /// (refused, or fenced after a timeout), when no change is under way.
    public mutating func agencyLists(_ servers: [String], version: UInt64, now: UInt64) -> [Action] {
        guard pendingChange == nil, !servers.isEmpty else { return [] }
        inSyncServers = servers
        agencyVersion = version
        return settle() + changes(now: now)
    }

    /// The agency's answer to the pending change was lost: it may or may not apply. The
    /// writes a dropping follower holds up fail now (they must not wait for an agency that
    /// may be gone); the change stays pending until the driver has fenced and read it.
    public mutating func changeUncertain(now: UInt64) -> [Action] {
        guard pendingChange != nil else { return [] }
        return failWritesHeldByDroppingFollowers(reason: "the agency did not answer the removal of a failed follower")
    }

    mutating func failWritesHeldByDroppingFollowers(reason: String) -> [Action] {
        var actions: [Action] = []
        guard let floor = followers.values.filter({ $0.phase == .dropping }).map(\.acked).min() else { return [] }
        waiting.removeAll { write in
            guard write.sequence > floor else { return false }
            actions.append(.fail(token: write.token, .couldNotDropFollower(reason)))
            return true
        }
        return actions
    }

    /// Batches for every follower with something unsent and room in its window.
    mutating func sends() -> [Action] {
        var actions: [Action] = []
        for id in followers.keys.sorted() {
            guard let state = followers[id], state.phase != .dropping, !state.reading, state.sent < head,
                  state.inFlight.count < settings.batchesInFlightMax else { continue }
            followers[id]?.reading = true
            actions.append(.send(follower: id, after: state.sent, waitForSync: durableUpTo > state.sent))
        }
        return actions
    }
}
