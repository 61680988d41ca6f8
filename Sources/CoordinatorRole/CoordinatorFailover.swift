import ArangoAPI
import Client
import ClusterLogic
import Server
import TesseraPlatform
import VelocyPack
import VelocyStream

/// Forwarding that survives a change of shard leader (`Protocol/Cluster.md`, "Failover as a
/// client sees it"). A request whose leader died, was paused, or handed the shard on is sent
/// again to whoever Plan names now, until ``Coordinator/failoverWaitSeconds`` have passed —
/// but only when sending it again cannot apply it twice:
///
/// - a request the leader never saw (no connection) or refused before applying (`1495`
///   the new leader is still claiming its epoch, `1478` replication starting, `1490` this
///   copy is a follower, `1496` not the leader) is always sent again;
/// - a read is always sent again;
/// - a single-document insert is sent again under its own key — also when the leader applied
///   it without acknowledging it (1488, 1491): if the first attempt did apply, the second
///   finds the key taken (1210), reads the stored document, and when it is the document sent,
///   replaces it by itself under `If-Match` (an acknowledged write, so the first attempt is now
///   on every in-sync copy) and answers as the insert would have;
/// - any other write whose outcome is unknown (the connection broke after it was sent)
///   is answered with 503 saying so: replaying an update or remove could apply it twice.
///
/// A client gets 503 "no in-sync copy" only when the leader is gone and no in-sync follower
/// can take over (supervision then leaves the shard without a leader rather than lose
/// acknowledged writes).
extension Coordinator {
    /// How long a request waits for a shard's new leader (ArangoDB's clients see 12–30 s of
    /// errors instead).
    static let failoverWaitSeconds = 15.0
    /// Between attempts while waiting for a new leader.
    static let failoverRetryMilliseconds = 50

    enum RetryRule: Sendable {
        /// Reads: any failure is retried.
        case always
        /// A single insert: retried, a key conflict on a retry checked against the document.
        case insert
        /// Other writes: retried only when they cannot have been applied.
        case whenNotSent
    }

    /// One forwarded request and what its retries need.
    struct ShardCall: Sendable {
        let method: RequestMethod
        let path: String
        let parameters: [String: [String]]
        let meta: [String: String]
        let body: [UInt8]
        let database: String
        let dirty: Bool
        let shard: String
        let collectionId: String
        let collectionName: String
        let rule: RetryRule
        let deadline: Double
    }

    func shardCall(_ request: ServerRequest, shard: String, collection: PlanCollection, key: String?, body: [UInt8]) -> ShardCall {
        var path = "/_api/document/\(shard)"
        if let key { path += "/" + key }
        var meta: [String: String] = [:]
        for name in ["if-match", "if-none-match"] { if let value = request.header.meta[name] { meta[name] = value } }
        let dirty = Self.allowsDirtyRead(request)
        let rule: RetryRule
        if request.method == .get || request.method == .head || (request.method == .put && request.parameter("onlyget") == "true") {
            rule = .always
        } else if request.method == .post, key == nil, Slice(trustedBytes: body.isEmpty ? [0x18] : body).isObject,
                  ["ignore", "conflict", nil].contains(request.parameter("overwriteMode")), request.parameter("overwrite") != "true" {
            rule = .insert
        } else {
            rule = .whenNotSent
        }
        return ShardCall(method: request.method, path: path, parameters: request.header.parameters, meta: meta, body: body,
                         database: request.database, dirty: dirty, shard: shard, collectionId: collection.id,
                         collectionName: collection.name, rule: rule, deadline: MonotonicClock.seconds() + Self.failoverWaitSeconds)
    }

    /// The server to send `call` to now: the leader Plan names (or, for a dirty read, any
    /// in-sync copy).
    func target(of call: ShardCall) throws(ArangoError) -> String {
        let plan = try plan()
        guard let collection = plan.collections[call.database]?[call.collectionId] else {
            throw ArangoError.collectionNotFound(call.collectionName)
        }
        return call.dirty ? try readServer(of: call.shard, in: collection, database: call.database)
            : try leader(of: call.shard, in: collection)
    }

    /// Sends `call` and hands `completion` the answer, retrying as the rules above allow.
    func send(_ call: ShardCall, retried: Bool, completion: @escaping @Sendable (ServerResponse) -> Void) {
        let server: String
        let client: VSTClient
        do throws(ArangoError) {
            server = try target(of: call)
            client = try self.client(for: server)
        } catch {
            completion(ServerResponse(error))
            return
        }
        client.send(call.method, call.path, parameters: call.parameters, meta: call.meta, body: call.body,
                    database: call.database) { result in
            switch result {
            case .success(let response):
                if Self.refusedBeforeApplying(response), MonotonicClock.seconds() < call.deadline {
                    return self.retry(call, completion: completion)
                }
                // Applied on the leader but not acknowledged (a follower could not be dropped,
                // or the leader resigned under it): an insert is sent again under its key.
                if call.rule == .insert, Self.appliedButNotAcknowledged(response), MonotonicClock.seconds() < call.deadline {
                    return self.retry(call, completion: completion)
                }
                if retried, call.rule == .insert, response.status == 409,
                   response.body.flatMap({ $0["errorNum"]?.intValue }) == Int64(ArangoErrorCode.uniqueConstraintViolated.rawValue) {
                    return self.confirmInsert(call, on: client, conflict: response, completion: completion)
                }
                var answerMeta = response.meta.filter { $0.key == "etag" || $0.key == ErrorCodeCounts.headerName }
                if call.dirty { answerMeta[Self.dirtyReadAnswerHeader] = "true" }
                completion(ServerResponse(status: response.status, meta: answerMeta, body: response.body.map { Array($0.bytes) } ?? []))
            case .failure(let error):
                let neverSent: Bool
                switch error {
                case .connectFailed: neverSent = true
                default: neverSent = false
                }
                guard neverSent || call.rule != .whenNotSent else {
                    return completion(ServerResponse(ArangoError(
                        status: 503, .clusterBackendUnavailable,
                        "the leader \(server) of shard \(call.shard) failed while this write was in flight (\(error)); whether it applied is unknown — read the document to see")))
                }
                // Only a refused connection says the leader is down. A connection that closed
                // under the request may be a stale one to a process that was restarted since
                // (supervision still calls it FAILED until its next heartbeat): try again.
                if case .connectFailed = error, let refusal = self.noCopyLeft(call, failed: server, error: error) {
                    return completion(ServerResponse(refusal))
                }
                guard MonotonicClock.seconds() < call.deadline else {
                    return completion(ServerResponse(ArangoError(
                        status: 503, .clusterBackendUnavailable,
                        "shard \(call.shard) has no reachable leader: \(server) did not answer (\(error)) and no other copy took over within \(Int(Self.failoverWaitSeconds)) s")))
                }
                self.retry(call, completion: completion)
            }
        }
    }

    /// Whether the DBServer refused the request before applying anything, as a copy that is
    /// not (yet) the shard's leader does.
    static func refusedBeforeApplying(_ response: ClientResponse) -> Bool {
        guard response.status == 503 || response.status == 406 || response.status == 421,
              let number = response.body?["errorNum"]?.intValue else { return false }
        switch ArangoErrorCode(rawValue: Int(number)) {
        case .clusterLeadershipChallengeOngoing, .clusterBackendUnavailable, .clusterShardFollowerRefusesOperation, .clusterNotLeader:
            return true
        default:
            return false
        }
    }

    /// Whether the DBServer applied the write but did not acknowledge it: its outcome depends
    /// on copies the leader could not account for (1488), or the leader resigned under it (1491).
    static func appliedButNotAcknowledged(_ response: ClientResponse) -> Bool {
        guard response.status >= 500, let number = response.body?["errorNum"]?.intValue else { return false }
        return number == Int64(ArangoErrorCode.clusterCouldNotDropFollower.rawValue)
            || number == Int64(ArangoErrorCode.clusterShardLeaderResigned.rawValue)
    }

    /// Sends `call` again after a short wait, to whoever Plan names then.
    func retry(_ call: ShardCall, completion: @escaping @Sendable (ServerResponse) -> Void) {
        Task {
            try? await Task.sleep(for: .milliseconds(Self.failoverRetryMilliseconds))
            self.send(call, retried: true, completion: completion)
        }
    }

    /// The 503 for a shard whose leader supervision declared FAILED while none of the other
    /// in-sync copies is healthy: no failover can happen, so waiting is pointless.
    func noCopyLeft(_ call: ShardCall, failed server: String, error: ClientError) -> ArangoError? {
        func status(_ id: String) -> String? {
            cache.value(at: AgencyLayout.supervisionHealth(id))?["Status"]?.stringValue
        }
        guard status(server) == ServerHealth.failed.rawValue else { return nil }
        let report = current().shard(database: call.database, collectionId: call.collectionId, shard: call.shard)
        let others = (report?.failoverCandidates ?? []).filter { $0 != server }
        guard !others.contains(where: { status($0) != ServerHealth.failed.rawValue }) else { return nil }
        return ArangoError(status: 503, .clusterBackendUnavailable,
                           "shard \(call.shard) of \(call.collectionName) has no in-sync copy left: its leader \(server) FAILED and no in-sync follower (\(others.isEmpty ? "none" : others.joined(separator: ", "))) is healthy (\(error))")
    }

    /// A retried insert found its key taken: read the stored document; if it is the one this
    /// request sent, the first attempt applied — but was perhaps never acknowledged, so not yet
    /// on every in-sync copy. The document is then replaced by itself, under `If-Match` of the
    /// revision read: an acknowledged write, which the leader answers only once every in-sync
    /// copy has applied it and everything before it (the stream is in order), the first
    /// attempt included. The client gets the insert's answer with that revision.
    func confirmInsert(_ call: ShardCall, on client: VSTClient, conflict: ClientResponse,
                       completion: @escaping @Sendable (ServerResponse) -> Void) {
        let sent = Slice(trustedBytes: call.body)
        let refuse: @Sendable () -> Void = { completion(ServerResponse(status: conflict.status, body: conflict.body.map { Array($0.bytes) } ?? [])) }
        guard let key = sent["_key"]?.stringValue else { return refuse() }
        client.send(.get, "/_api/document/\(call.shard)/\(key)", database: call.database) { result in
            guard case .success(let read) = result, read.status == 200, let stored = read.body,
                  let revision = stored["_rev"]?.stringValue, Self.sameContent(stored, sent) else { return refuse() }
            var parameters = call.parameters
            parameters["overwriteMode"] = nil
            parameters["overwrite"] = nil
            client.send(.put, "/_api/document/\(call.shard)/\(key)", parameters: parameters, meta: ["if-match": revision],
                        body: call.body, database: call.database) { result in
                guard case .success(let replaced) = result, (200..<300).contains(replaced.status), let answer = replaced.body else {
                    return refuse()
                }
                var builder = Builder()
                builder.openObject()
                builder.add(key: "_id", call.collectionName + "/" + key)
                builder.add(key: "_key", key)
                builder.add(key: "_rev", answer["_rev"]?.stringValue ?? revision)
                if let new = answer["new"] {
                    builder.add(key: "new")
                    builder.add(new)
                }
                builder.closeTrusted()
                completion(ServerResponse(status: replaced.status, body: builder.bytes))
            }
        }
    }

    /// Whether two documents have the same content, system attributes `_id`, `_key` and
    /// `_rev` aside (numbers compared by value).
    static func sameContent(_ a: Slice, _ b: Slice, top: Bool = true) -> Bool {
        let a = a.untagged, b = b.untagged
        if a.isNumber && b.isNumber { return a.doubleValue == b.doubleValue }
        if a.isObject && b.isObject {
            func members(_ slice: Slice) -> [String: Slice] {
                var result: [String: Slice] = [:]
                for member in slice.objectMembers {
                    guard let name = member.key.keyName, !(top && ["_id", "_key", "_rev"].contains(name)) else { continue }
                    result[name] = member.value
                }
                return result
            }
            let left = members(a), right = members(b)
            return left.count == right.count && left.allSatisfy { name, value in right[name].map { sameContent(value, $0, top: false) } ?? false }
        }
        if a.isArray && b.isArray {
            return a.count == b.count && zip(a.arrayElements, b.arrayElements).allSatisfy { sameContent($0, $1, top: false) }
        }
        return a.bytes == b.bytes
    }

    /// Watches the DBServers' reboot ids: when one moves (the server restarted, or
    /// supervision declared it FAILED), the connections to it are closed, so requests waiting
    /// on a dead or paused server fail now — and are retried against the new leader — rather
    /// than after their timeout (ArangoDB's RebootTracker does the same).
    func watchRebootIds() -> Task<Void, Never> {
        Task { [self] in
            var known: [String: Int64] = [:]
            var seen: UInt64 = 0
            while !Task.isCancelled {
                _ = await cache.waitFor(index: seen + 1, timeoutSeconds: 1)
                seen = cache.index
                guard let servers = cache.value(at: AgencyLayout.currentServersKnown), servers.isObject else { continue }
                for member in servers.objectMembers {
                    guard let id = member.key.keyName, let reboot = member.value["rebootId"]?.intValue else { continue }
                    defer { known[id] = reboot }
                    guard let previous = known[id], reboot > previous,
                          let client = shardClients.withLock({ $0.removeValue(forKey: id) }) else { continue }
                    ProcessLog.logger("coordinator").notice("DBServer \(id) restarted or was declared FAILED (reboot id \(previous) → \(reboot)): closing its connections")
                    await client.shutdown()
                }
            }
        }
    }
}
