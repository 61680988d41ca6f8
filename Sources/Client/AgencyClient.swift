import TesseraPlatform
public import Transport
public import VelocyPack
import ArangoAPI
public import VelocyStream

/// A client of the agency: finds the leader among the agents, follows redirects, retries
/// reads, and writes exactly once.
///
/// Every write carries a client id. When its answer is lost (a connection that broke after
/// the request went out, a timeout, a leader change: the agency says 503 "outcome unknown"),
/// the client asks `inquire` which of its ids applied; a write the agency does not know is
/// sent again with the same id, and the agency never applies one id twice. So a write is
/// neither applied twice nor lost silently: it returns its index, or throws.
public final class AgencyClient: Sendable {
    public struct Configuration: Sendable {
        public var endpoints: [Endpoint]
        /// The cluster token (`jwt`) the agents require.
        public var credentials: Authentication?
        /// Per request to one agent.
        public var requestTimeoutSeconds: Double = 10
        /// For one call, retries and redirects included.
        public var deadlineSeconds: Double = 30

        public init(endpoints: [Endpoint], credentials: Authentication?) {
            self.endpoints = endpoints
            self.credentials = credentials
        }
    }

    /// The result of a write: the log index, and whether every transaction applied (false:
    /// a precondition failed; the answer body tells which).
    public struct WriteResult: Sendable {
        public let status: Int
        public let body: Slice
        public var applied: Bool { status == 200 }
        /// The index of the first transaction (all transactions of one write share one entry).
        public var index: UInt64 { body["results"]?[0]?.uintValue ?? 0 }
    }

    public let configuration: Configuration
    let eventLoop = EventLoop()
    let clients: Locked<[String: VSTClient]> = Locked([:])
    let leader: Locked<Endpoint?> = Locked(nil)

    public init(configuration: Configuration) {
        precondition(!configuration.endpoints.isEmpty, "an agency client needs at least one endpoint")
        self.configuration = configuration
    }

    public func shutdown() async {
        for client in clients.withLock({ Array($0.values) }) { await client.shutdown() }
        eventLoop.shutdown()
    }

    // MARK: Calls

    /// `/_api/agency/read` with one or more queries (each a list of paths).
    public func read(_ queries: [[String]]) async throws(ClientError) -> Slice {
        var builder = Builder()
        builder.openArray()
        for query in queries {
            builder.openArray()
            for path in query { builder.add(path) }
            builder.closeTrusted()
        }
        builder.closeTrusted()
        let response = try await send(.post, "/_api/agency/read", body: builder.bytes, idempotent: true)
        guard let body = try response.checked().body else { throw .protocolViolation("agency read without a body") }
        return body
    }

    /// `/_api/agency/write` of one transaction: `operations` is the object of operations,
    /// `preconditions` the object of preconditions (or nil).
    public func write(operations: Slice, preconditions: Slice? = nil) async throws(ClientError) -> WriteResult {
        let clientID = Self.newClientID()
        var builder = Builder()
        builder.openArray()
        builder.openArray()
        builder.add(operations)
        if let preconditions { builder.add(preconditions) } else { builder.openObject(); builder.closeTrusted() }
        builder.add(clientID)
        builder.closeTrusted()
        builder.closeTrusted()
        return try await write(envelope: builder.bytes, clientID: clientID)
    }

    /// `/_api/agency/write` of a whole request body (`[[operations, preconditions,
    /// clientId], …]`). With the `clientID` of one of its transactions, a lost answer is
    /// looked up with `inquire` and the body resent only when that transaction is unknown
    /// (the agency applies an id at most once); without one, a lost answer is an error.
    public func write(envelope body: [UInt8], clientID: String?) async throws(ClientError) -> WriteResult {
        let deadline = Self.now() + configuration.deadlineSeconds
        while true {
            var outcomeUnknown = false
            do throws(ClientError) {
                let response = try await send(.post, "/_api/agency/write", body: body, idempotent: false)
                if response.status == 200 || response.status == 412, let answer = response.body {
                    return WriteResult(status: response.status, body: answer)
                }
                if response.status == 503 {
                    outcomeUnknown = true
                } else {
                    _ = try response.checked()
                    throw ClientError.protocolViolation("agency write answered \(response.status) without a body")
                }
            } catch .connectionClosed, .timeout {
                outcomeUnknown = true
            }
            guard let clientID else { throw .timeout(seconds: configuration.requestTimeoutSeconds) }
            guard Self.now() < deadline else { throw .timeout(seconds: configuration.deadlineSeconds) }
            if outcomeUnknown, let index = try await inquire(clientID), index > 0 {
                var answer = Builder()
                answer.openObject()
                answer.add(key: "results")
                answer.openArray()
                answer.add(index)
                answer.closeTrusted()
                answer.closeTrusted()
                return WriteResult(status: 200, body: answer.slice)
            }
            // Not applied (or not known yet): send again with the same id; the agency
            // applies an id at most once.
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// `/_api/agency/transact` of a request body: reads and writes in one log entry. The
    /// answer array holds one result per element (200, or 412 when a write's precondition
    /// failed). Not retried after a lost answer.
    public func transact(_ body: [UInt8]) async throws(ClientError) -> WriteResult {
        let response = try await send(.post, "/_api/agency/transact", body: body, idempotent: false)
        if response.status == 200 || response.status == 412, let answer = response.body {
            return WriteResult(status: response.status, body: answer)
        }
        _ = try response.checked()
        throw .protocolViolation("agency transact answered \(response.status) without a body")
    }

    /// The index `clientID`'s write applied in, 0 when the agency does not know it.
    func inquire(_ clientID: String) async throws(ClientError) -> UInt64? {
        var builder = Builder()
        builder.openArray()
        builder.add(clientID)
        builder.closeTrusted()
        let response = try await send(.post, "/_api/agency/inquire", body: builder.bytes, idempotent: true)
        guard response.status == 200, let body = response.body else { return nil }
        return body["results"]?[0]?.uintValue
    }

    /// `/_api/agency/poll`: the changes from `index` on (a `log`), or the whole tree (a
    /// `readDB`) when `index` is 0 or older than the leader's history; waits up to
    /// `timeoutSeconds` when nothing new exists yet.
    public func poll(from index: UInt64, timeoutSeconds: Double) async throws(ClientError) -> Slice {
        let wait = max(0, min(timeoutSeconds, configuration.requestTimeoutSeconds - 1))
        let response = try await send(.get, "/_api/agency/poll", body: [], idempotent: true,
                                      parameters: ["index": [String(index)], "timeout": [String(wait)]])
        guard let body = try response.checked().body else { throw .protocolViolation("agency poll without a body") }
        return body
    }

    /// `/_api/agency/config` of whichever agent answers.
    public func config() async throws(ClientError) -> Slice {
        let response = try await send(.get, "/_api/agency/config", body: [], idempotent: true, followLeader: false)
        guard let body = try response.checked().body else { throw .protocolViolation("agency config without a body") }
        return body
    }

    /// `/_api/agency/config` of the agent at `endpoint` only (no redirects, no retries),
    /// answered within `timeoutSeconds`: how a health check learns each agent's id, role,
    /// term and leader.
    public func config(at endpoint: Endpoint, timeoutSeconds: Double) async throws(ClientError) -> Slice {
        let response = try await client(for: endpoint).request(.get, "/_api/agency/config", timeoutSeconds: timeoutSeconds)
        guard let body = try response.checked().body else { throw .protocolViolation("agency config without a body") }
        return body
    }

    /// The leader's endpoint once known.
    public var knownLeader: Endpoint? { leader.withLock { $0 } }

    // MARK: Routing

    /// Sends to the leader (or, not knowing it, to each agent in turn), following 307 and
    /// waiting out elections (503 "no leader"). A request that failed in transport is only
    /// retried when `idempotent`; otherwise the error goes to the caller, who knows how to
    /// find out what happened.
    func send(_ method: RequestMethod, _ path: String, body: [UInt8], idempotent: Bool,
              followLeader: Bool = true, parameters: [String: [String]] = [:]) async throws(ClientError) -> ClientResponse {
        let deadline = Self.now() + configuration.deadlineSeconds
        var attempt = 0
        var lastError = ClientError.timeout(seconds: configuration.deadlineSeconds)
        while Self.now() < deadline {
            let endpoint = (followLeader ? leader.withLock { $0 } : nil)
                ?? configuration.endpoints[attempt % configuration.endpoints.count]
            attempt += 1
            do throws(ClientError) {
                let response = try await client(for: endpoint).request(method, path, parameters: parameters, body: body,
                                                                       timeoutSeconds: configuration.requestTimeoutSeconds)
                if response.status == 307, let location = response.meta["location"], let next = Endpoint(location) {
                    leader.withLock { $0 = next }
                    continue
                }
                if response.status == 503, response.error?.code == .clusterLeadershipChallengeOngoing {
                    // An election is under way.
                    leader.withLock { $0 = nil }
                    try? await Task.sleep(for: .milliseconds(100))
                    continue
                }
                if followLeader { leader.withLock { $0 = endpoint } }
                return response
            } catch {
                leader.withLock { if $0 == endpoint { $0 = nil } }
                lastError = error
                switch error {
                case .connectFailed:
                    break  // nothing was sent: always safe to try another agent
                case .connectionClosed, .timeout:
                    if !idempotent { throw error }
                default:
                    throw error
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        throw lastError
    }

    func client(for endpoint: Endpoint) -> VSTClient {
        clients.withLock { clients in
            if let client = clients[endpoint.description] { return client }
            var configuration = VSTClient.Configuration(endpoint: endpoint, credentials: self.configuration.credentials)
            configuration.poolSize = 4
            configuration.requestTimeoutSeconds = self.configuration.requestTimeoutSeconds
            configuration.connection.connectTimeoutSeconds = 1
            let client = VSTClient(configuration: configuration, eventLoop: eventLoop)
            clients[endpoint.description] = client
            return client
        }
    }

    static func newClientID() -> String {
        var generator = SystemRandomNumberGenerator()
        return "c-" + String(generator.next(), radix: 36) + String(generator.next(), radix: 36)
    }

    static func now() -> Double { MonotonicClock.seconds() }
}
