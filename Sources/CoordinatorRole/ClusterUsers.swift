public import Auth
package import Client
package import ClusterLogic
import TesseraPlatform
package import VelocyPack
public import ArangoAPI
package import VelocyStream
public import ClusterMember
public import RESTRoutes
public import Users

/// The users of a cluster, kept in the agency under `/arango/Users/<name>` and shared by
/// every coordinator: reads come from the coordinator's agency cache (decoded once per agency
/// change), changes are agency writes with a precondition on the record they were computed
/// from, so concurrent changes on two coordinators never overwrite each other.
///
/// ArangoDB keeps users in a sharded `_users` collection and tells coordinators to reload
/// them through `Sync/UserVersion`; we keep the records themselves in the agency (they are
/// small, and every coordinator already follows the agency), and still bump
/// `Sync/UserVersion` with each change.
public final class ClusterUsers: UserAccounts {
    let cache: AgencyCache
    let agency: AgencyClient
    public let tokenSecret: [UInt8]
    public let verifiedPasswords = VerifiedPasswordCache()
    public var authenticationEnabled: Bool { true }
    /// The users decoded from the cache, with the agency index they were checked at and the
    /// `Sync/UserVersion` they are of.
    let decoded = Locked<(index: UInt64, version: Int64?, users: [String: UserRecord])?>(nil)
    /// How often a change is retried when another coordinator changed the record meanwhile.
    static let attemptsMax = 8

    init(cache: AgencyCache, agency: AgencyClient, tokenSecret: [UInt8]) {
        self.cache = cache
        self.agency = agency
        self.tokenSecret = tokenSecret
    }

    /// Every permission check reads this. The agency index moves with every heartbeat, so
    /// a new index only costs a look at `Sync/UserVersion`; the records are decoded again
    /// when that changed.
    var users: [String: UserRecord] {
        let index = cache.index
        if let users = decoded.withLock({ $0?.index == index ? $0?.users : nil }) { return users }
        let version = cache.value(at: AgencyLayout.syncUserVersion)?.intValue
        if let users = decoded.withLock({ state -> [String: UserRecord]? in
            guard let known = state, known.version == version else { return nil }
            state!.index = index
            return known.users
        }) {
            return users
        }
        var users: [String: UserRecord] = [:]
        if let records = cache.value(at: AgencyLayout.users), records.isObject {
            for member in records.objectMembers {
                // A damaged record locks that one user out instead of every user, and says so.
                do throws(ArangoError) {
                    let record = try UserRecord(decoding: member.value)
                    users[record.name] = record
                } catch {
                    ProcessLog.logger("users").error("user record '\(member.key.keyName ?? "?")' in the agency is damaged; that user cannot log in: \(error.message)")
                }
            }
        }
        decoded.withLock { $0 = (index, version, users) }
        return users
    }

    public func user(_ name: String) -> UserRecord? { users[name] }
    public var all: [UserRecord] { users.values.sorted { $0.name < $1.name } }
    public func currentTime() -> Double { WallClock.seconds() }
    public func databaseExists(_ database: String) -> Bool { cache.value(at: AgencyLayout.planDatabase(database)) != nil }

    public func insert(_ record: UserRecord) async throws(ArangoError) {
        try AgencyLayout.validateUserName(record.name)
        let result = try await write(AgencyTransactions.storeUser(record.name, record: Array(record.document.bytes), previous: nil))
        guard result.applied else { throw UserRecord.duplicate(record.name) }
        _ = await cache.waitFor(index: result.index, timeoutSeconds: 10)
    }

    public func update(_ name: String, _ change: @escaping @Sendable (inout UserRecord) throws(ArangoError) -> Void) async throws(ArangoError) {
        try await rewrite(name) { stored throws(ArangoError) in
            var record = try UserRecord(decoding: stored)
            try change(&record)
            return AgencyTransactions.storeUser(name, record: Array(record.document.bytes), previous: Array(stored.bytes))
        }
    }

    public func delete(_ name: String) async throws(ArangoError) {
        try await rewrite(name) { stored throws(ArangoError) in
            AgencyTransactions.removeUser(name, previous: Array(stored.bytes))
        }
    }

    /// Read-modify-write of one record: reads it from the agency (not the cache, which may be
    /// behind), builds the write from it, and retries while another change got in between.
    func rewrite(_ name: String, _ makeWrite: (Slice) throws(ArangoError) -> [UInt8]) async throws(ArangoError) {
        guard (try? AgencyLayout.validateName(name)) != nil else { throw UserRecord.notFound(name) }
        for _ in 0..<Self.attemptsMax {
            let answer: Slice
            do { answer = try await agency.read([[AgencyLayout.user(name)]]) } catch { throw Self.unavailable(error) }
            guard answer.isArray, let first = answer[0],
                  let stored = AgencyLayout.value(at: AgencyLayout.user(name), inReadAnswer: first) else {
                throw UserRecord.notFound(name)
            }
            let result = try await write(try makeWrite(stored))
            if result.applied {
                _ = await cache.waitFor(index: result.index, timeoutSeconds: 10)
                return
            }
        }
        throw ArangoError(status: 409, .conflict,
                          "user '\(name)' kept changing on other coordinators; try again")
    }

    func write(_ envelope: [UInt8]) async throws(ArangoError) -> AgencyClient.WriteResult {
        do {
            return try await agency.write(envelope: envelope, clientID: nil)
        } catch {
            throw Self.unavailable(error)
        }
    }

    static func unavailable(_ error: any Error) -> ArangoError {
        ArangoError(status: 503, .clusterTimeout, "the agency did not take the user change: \(error)")
    }
}

extension AgencyLayout {
    /// User names become agency path components; the few document keys that cannot be one
    /// (a leading `.`) are refused in a cluster.
    static func validateUserName(_ name: String) throws(ArangoError) {
        guard (try? validateName(name)) != nil else {
            throw ArangoError(status: 400, .userInvalidName, "invalid user name '\(name)' in a cluster: it cannot start with '.'")
        }
    }
}
