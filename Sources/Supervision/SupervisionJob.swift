public import VelocyPack
import ClusterLogic

/// The kinds of job supervision runs, with ArangoDB's `type` names (reference §2.3).
public enum SupervisionJobType: String, Sendable, CaseIterable {
    /// A DBServer is FAILED: one FailedLeader or FailedFollower per shard it holds.
    case failedServer
    /// Promote an in-sync follower of a shard whose leader is FAILED.
    case failedLeader
    /// Replace a FAILED follower of a shard by a healthy spare server.
    case failedFollower
    /// Add followers to a shard that has fewer live copies than its replication factor.
    case addFollower
    /// Remove followers beyond the replication factor once enough copies are in sync.
    case removeFollower
    /// Move one copy of a shard from one DBServer to another (the leader's: with a hand-over).
    case moveShard
    /// Move every copy off a DBServer (MoveShard sub-jobs), then list it as cleaned out.
    case cleanOutServer
    /// Hand every leadership of a DBServer to in-sync followers (MoveShard sub-jobs that keep
    /// the server as follower).
    case resignLeadership

    /// The job types that repair a failure: they run before any other job in a round.
    var repairsFailure: Bool { self == .failedServer || self == .failedLeader || self == .failedFollower }

    /// The job types an operator may create (`/_admin/cluster/…`, `tessera cluster …`).
    public var isOperatorJob: Bool { self == .moveShard || self == .cleanOutServer || self == .resignLeadership }
}

/// One job as it is stored under `Target/ToDo|Pending|Finished|Failed/<jobId>`: ArangoDB's
/// field names; a field that does not apply to the job's type is absent.
public struct SupervisionJob: Sendable, Equatable {
    public var type: SupervisionJobType
    public var jobId: String
    public var creator = "supervision"
    /// ISO 8601 times of the agency leader's clock.
    public var timeCreated: String
    public var timeStarted: String?
    public var timeFinished: String?
    /// The parent of a sub-job (a FailedServer's FailedLeader jobs): sub-job ids are `<parent>-<n>`.
    public var parentJob: String?
    /// FailedServer: the server.
    public var server: String?
    public var database: String?
    public var collection: String?
    public var shard: String?
    public var fromServer: String?
    public var toServer: String?
    /// AddFollower: the followers added. MoveShard: `[toServer]` when the job added it to Plan
    /// (an abort takes it out again).
    public var newFollowers: [String]?
    /// MoveShard: whether `fromServer` leads the shard, and whether it stays a follower after
    /// a leader move (default: when `toServer` already held a copy — a leadership switch).
    public var isLeader: Bool?
    public var remainsFollower: Bool?
    /// Why a job ended the way it did (Finished as unnecessary, or Failed).
    public var reason: String?

    /// Names a MoveShard's shard and its two servers (operators, the coordinator, clean-outs
    /// and the simulator all describe moves this way).
    public mutating func describeMove(database: String, collection: String, shard: String, from: String, to: String,
                                      isLeader: Bool? = nil, remainsFollower: Bool? = nil) {
        self.database = database
        self.collection = collection
        self.shard = shard
        fromServer = from
        toServer = to
        self.isLeader = isLeader
        self.remainsFollower = remainsFollower
    }

    public init(type: SupervisionJobType, jobId: String, timeCreated: String) {
        self.type = type
        self.jobId = jobId
        self.timeCreated = timeCreated
    }

    /// The job's VelocyPack, keys in sorted order.
    public var vpack: [UInt8] {
        var builder = Builder()
        builder.openObject()
        var strings: [(String, String)] = [("type", type.rawValue), ("jobId", jobId), ("creator", creator), ("timeCreated", timeCreated)]
        for (key, value) in [("timeStarted", timeStarted), ("timeFinished", timeFinished), ("parentJob", parentJob), ("server", server),
                             ("database", database), ("collection", collection), ("shard", shard), ("fromServer", fromServer),
                             ("toServer", toServer), ("reason", reason)] {
            if let value { strings.append((key, value)) }
        }
        for (key, value) in strings { builder.add(key: key, value) }
        if let isLeader { builder.add(key: "isLeader", isLeader) }
        if let newFollowers { builder.add(key: "newFollowers", strings: newFollowers) }
        if let remainsFollower { builder.add(key: "remainsFollower", remainsFollower) }
        builder.closeTrusted()
        return builder.bytes
    }

    /// Decodes a stored job; `nil` for a job of a type this supervision does not run (a later
    /// version's, or an operator's) or one without the fields its type needs.
    public init?(decoding slice: Slice) {
        guard slice.isObject, let typeName = slice["type"]?.stringValue, let type = SupervisionJobType(rawValue: typeName),
              let jobId = slice["jobId"]?.stringValue else { return nil }
        self.init(type: type, jobId: jobId, timeCreated: slice["timeCreated"]?.stringValue ?? "")
        creator = slice["creator"]?.stringValue ?? "supervision"
        timeStarted = slice["timeStarted"]?.stringValue
        timeFinished = slice["timeFinished"]?.stringValue
        parentJob = slice["parentJob"]?.stringValue
        server = slice["server"]?.stringValue
        database = slice["database"]?.stringValue
        collection = slice["collection"]?.stringValue
        shard = slice["shard"]?.stringValue
        fromServer = slice["fromServer"]?.stringValue
        toServer = slice["toServer"]?.stringValue
        reason = slice["reason"]?.stringValue
        if let followers = slice["newFollowers"], followers.isArray {
            newFollowers = followers.arrayElements.compactMap(\.stringValue)
        }
        isLeader = slice["isLeader"]?.boolValue
        remainsFollower = slice["remainsFollower"]?.boolValue
        switch type {
        case .failedServer, .cleanOutServer, .resignLeadership:
            guard server != nil else { return nil }
        case .moveShard:
            guard database != nil, collection != nil, shard != nil, fromServer != nil, toServer != nil else { return nil }
        case .failedLeader, .failedFollower:
            guard database != nil, collection != nil, shard != nil, fromServer != nil else { return nil }
        case .addFollower, .removeFollower:
            guard database != nil, collection != nil, shard != nil else { return nil }
        }
    }

    /// Orders job ids as numbers, part by part (`105` < `105-2` < `105-10` < `106`), so jobs
    /// run in the order they were made.
    public static func idPrecedes(_ a: String, _ b: String) -> Bool {
        let left = a.split(separator: "-"), right = b.split(separator: "-")
        for (x, y) in zip(left, right) where x != y {
            if let m = UInt64(x), let n = UInt64(y) { return m < n }
            return x < y
        }
        return left.count < right.count
    }
}

/// ISO 8601 in UTC, to the second, of milliseconds since the epoch (the format of ArangoDB's
/// job times): `2026-12-06T05:20:52Z`.
public func isoTime(milliseconds: Int64) -> String {
    let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
    var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let secondOfDay = seconds - days * 86_400
    // Days since 1970-01-01 to a civil date (Howard Hinnant's well-known algorithm).
    days += 719_468
    let era = (days >= 0 ? days : days - 146_096) / 146_097
    let dayOfEra = days - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(year)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z"
}

extension SupervisionJob {
    /// The transaction that puts a job an operator asked for into `Target/ToDo` under the next
    /// id of `Sync/LatestID` — requiring the counter still at `latestId` (read just before), so
    /// two creators never share an id; a refused transaction is retried after reading again.
    /// Returns the job with its id and the envelope to write.
    public static func creation(_ type: SupervisionJobType, latestId: UInt64, creator: String, time: String,
                                fill: (inout SupervisionJob) -> Void) -> (job: SupervisionJob, envelope: [UInt8]) {
        var job = SupervisionJob(type: type, jobId: String(latestId + 1), timeCreated: time)
        job.creator = creator
        fill(&job)
        var write = AgencyWrite()
        write.increment(AgencyLayout.syncLatestID)
        write.require(AgencyLayout.syncLatestID, latestId == 0 ? .oldEmpty(true) : .old(vpackBytes { $0.add(latestId) }))
        write.set(AgencyLayout.job(job.jobId, in: AgencyLayout.targetToDo), job.vpack)
        return (job, agencyEnvelope([.write(write)]))
    }
}
