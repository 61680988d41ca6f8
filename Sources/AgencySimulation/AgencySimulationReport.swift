public import Raft

/// A failed agency run: what broke, and how to replay it.
public struct AgencySimulationFailure: Error, Sendable, CustomStringConvertible {
    /// The checker's message.
    public var message: String
    /// The run's settings (the seed first).
    public var settings: AgencySimulationSettings
    /// Simulated milliseconds when it broke.
    public var time: Int
    /// The last events before the failure, oldest first.
    public var recentTrace: [String]

    /// The shell command that replays this run exactly.
    public var replayCommand: String {
        "swift run -c release --scratch-path .build-agency raft-simulate --mode \(settings.cluster == nil ? "agency" : "cluster") --seed \(settings.seed)"
            + " --nodes \(settings.nodeCount) --fault-milliseconds \(settings.faultMilliseconds) --trace"
    }

    public var description: String {
        "Agency simulation FAILED at \(time) ms: \(message)\n  \(settings)\n  replay: \(replayCommand)\n  last events:\n"
            + recentTrace.map { "    " + $0 }.joined(separator: "\n")
    }
}

/// What an agency run did.
public struct AgencySimulationReport: Sendable {
    public var settings: AgencySimulationSettings
    /// Simulated milliseconds the run covered.
    public var simulatedMilliseconds = 0
    /// Events processed.
    public var eventCount = 0
    /// A hash of every event and its outcome: equal for equal seeds.
    public var traceHash: UInt64 = 0xCBF2_9CE4_8422_2325
    /// Data writes acknowledged (each with its own client id; retries not counted).
    public var writesAcknowledged = 0
    /// Transactions whose precondition held / failed.
    public var compareAndSwapsApplied = 0
    public var compareAndSwapsRefused = 0
    /// Retried requests (timeouts, unknown outcomes, leader changes).
    public var retries = 0
    public var readsServed = 0
    public var pollsServed = 0
    public var ttlKeysWritten = 0
    public var notificationsSent = 0
    public var crashes = 0
    public var crashesBeforeSync = 0
    public var diskFailures = 0
    public var tornWrites = 0
    public var partitions = 0
    public var messagesSent = 0
    public var messagesDropped = 0
    /// Snapshots persisted (own compactions and installed ones).
    public var snapshotsPersisted = 0
    /// The highest term any agent reached.
    public var termMax: Term = 0
    /// The commit index every agent reached at the end.
    public var finalIndex: LogIndex = 0
    /// Simulated milliseconds from the end of the faults until the run converged.
    public var convergenceMilliseconds = 0
    /// What the cluster of a cluster run did (writes, failovers, faults), for the summary.
    public var cluster: String?
    /// Set when a checker failed.
    public var failure: AgencySimulationFailure?

    /// One line for logs.
    public var summary: String {
        "\(eventCount) events, \(simulatedMilliseconds) ms simulated, \(writesAcknowledged) writes, "
            + "\(compareAndSwapsApplied)/\(compareAndSwapsApplied + compareAndSwapsRefused) CAS applied, \(readsServed) reads, "
            + "\(pollsServed) polls, \(ttlKeysWritten) TTL keys, \(notificationsSent) notifications, \(retries) retries, "
            + "\(crashes) crashes (\(crashesBeforeSync) before sync, \(tornWrites) torn, \(diskFailures) disk failures), "
            + "\(partitions) partitions, \(messagesDropped)/\(messagesSent) messages lost, \(snapshotsPersisted) snapshots, "
            + "term \(termMax), index \(finalIndex), converged \(convergenceMilliseconds) ms after faults, "
            + "trace \(String(traceHash, radix: 16))" + (cluster.map { "; cluster: \($0)" } ?? "")
    }
}
