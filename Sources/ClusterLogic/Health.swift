/// Supervision's health classification (reference §2.2). Time is the agent's own clock in
/// milliseconds: `lastHeartbeat` is when the agent last saw a *new* heartbeat value, never
/// the time the server wrote into it, so clock skew between machines does not matter.
public struct HealthThresholds: Sendable, Equatable {
    /// Up to this long since the last new heartbeat, a server is GOOD.
    public var okMilliseconds: Int64
    /// Up to this long, BAD; beyond it, FAILED.
    public var gracePeriodMilliseconds: Int64

    public init(okMilliseconds: Int64, gracePeriodMilliseconds: Int64) {
        precondition(0 <= okMilliseconds && okMilliseconds <= gracePeriodMilliseconds,
                     "HealthThresholds: ok \(okMilliseconds) ms must not exceed the grace period \(gracePeriodMilliseconds) ms")
        self.okMilliseconds = okMilliseconds
        self.gracePeriodMilliseconds = gracePeriodMilliseconds
    }

    /// ArangoDB's defaults: `--agency.supervision-ok-threshold` 5 s and
    /// `--agency.supervision-grace-period` 10 s.
    public static let arangoDefault = HealthThresholds(okMilliseconds: 5_000, gracePeriodMilliseconds: 10_000)

    /// The health of a server whose last new heartbeat the agent saw at `lastHeartbeat`.
    ///
    /// - Parameter previous: the persisted status, if any. From GOOD a server always passes
    ///   through BAD before FAILED, as in ArangoDB, so a single slow supervision round (or an
    ///   agency leader change) cannot fail a server at once.
    public func status(lastHeartbeatMilliseconds lastHeartbeat: Int64, nowMilliseconds now: Int64,
                       previous: ServerHealth? = nil) -> ServerHealth {
        // A heartbeat stamped after `now` (a new agency leader with a slower clock) counts as
        // just seen rather than as negative elapsed time.
        let elapsed = max(0, now &- lastHeartbeat)
        let status: ServerHealth = elapsed <= okMilliseconds ? .good : elapsed <= gracePeriodMilliseconds ? .bad : .failed
        if status == .failed && previous == .good { return .bad }
        return status
    }

    /// The health of every server in `lastHeartbeats` (server id → agent time of its last
    /// new heartbeat), given their persisted statuses.
    public func classify(lastHeartbeats: [String: Int64], nowMilliseconds now: Int64,
                         previous: [String: ServerHealth] = [:]) -> [String: ServerHealth] {
        lastHeartbeats.reduce(into: [:]) { result, entry in
            result[entry.key] = status(lastHeartbeatMilliseconds: entry.value, nowMilliseconds: now, previous: previous[entry.key])
        }
    }
}
