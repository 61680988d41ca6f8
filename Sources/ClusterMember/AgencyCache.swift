package import AgencyStore
public import Client
import TesseraPlatform
public import Transport
public import VelocyPack

/// A server's local copy of the agency tree, kept current by long-polling the leader
/// (`/_api/agency/poll`): the first answer is the whole tree, later ones the changes since
/// the last applied index, which a local `AgencyStore` applies exactly as the agents did.
/// Coordinators and DBServers read Plan and Current from here instead of asking the agency
/// on every request.
public final class AgencyCache: Sendable {
    struct State: Sendable {
        var store = AgencyStore()
        var waiters: [(index: UInt64, deadline: Double, continuation: CheckedContinuation<Bool, Never>)] = []
        var stopped = false
        /// Set when the cache is known to be out of date (the history moved past it).
        var lastError: String?
    }

    let client: AgencyClient
    let state = Locked(State())
    /// Seconds one long poll may wait at the leader.
    let pollSeconds: Double
    let task = Locked<Task<Void, Never>?>(nil)

    public init(client: AgencyClient, pollSeconds: Double = 5) {
        self.client = client
        self.pollSeconds = pollSeconds
    }

    /// Starts polling in the background.
    public func start() {
        let loop = Task { [self] in await run() }
        task.withLock { $0 = loop }
    }

    public func stop() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.stopped = true
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(returning: false) }
        task.withLock { $0?.cancel() }
    }

    /// The last applied agency index.
    public var index: UInt64 { state.withLock { $0.store.index } }

    /// The value at `path` (`/arango/Plan/...`) in the cached tree, as an owned copy.
    public func value(at path: String) -> Slice? {
        guard let parsed = try? AgencyPath(path) else { return nil }
        return state.withLock { state in state.store.value(at: parsed).map { Slice(trustedBytes: $0.copiedBytes) } }
    }

    /// Waits until the cache has applied `index` (a write's index), or `timeoutSeconds` passed
    /// (checked whenever a poll returns, so at most `pollSeconds` late).
    public func waitFor(index: UInt64, timeoutSeconds: Double) async -> Bool {
        let deadline = MonotonicClock.seconds() + timeoutSeconds
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let now = state.withLock { state -> Bool? in
                if state.stopped { return false }
                if state.store.index >= index { return true }
                state.waiters.append((index, deadline, continuation))
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    func releaseExpiredWaiters() {
        let now = MonotonicClock.seconds()
        let expired = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            let late = state.waiters.filter { $0.deadline <= now }.map(\.continuation)
            state.waiters.removeAll { $0.deadline <= now }
            return late
        }
        for waiter in expired { waiter.resume(returning: false) }
    }

    func run() async {
        var backoff = 0.05
        while !Task.isCancelled, !state.withLock({ $0.stopped }) {
            let next = state.withLock { $0.store.index } + 1
            do {
                let answer = try await client.poll(from: next == 1 ? 0 : next, timeoutSeconds: pollSeconds)
                apply(answer)
                backoff = 0.05
            } catch {
                state.withLock { $0.lastError = "\(error)" }
                try? await Task.sleep(for: .milliseconds(Int(backoff * 1000)))
                backoff = min(backoff * 2, 1)
            }
            releaseExpiredWaiters()
        }
    }

    /// Applies one poll answer: a `readDB` replaces the tree, a `log` replays its entries.
    func apply(_ answer: Slice) {
        let ready: [CheckedContinuation<Bool, Never>] = state.withLock { state in
            if let tree = answer["readDB"]?[0], let commit = answer["commitIndex"]?.uintValue {
                var fresh = AgencyStore()
                // The whole tree as one unconditional write at the leader's commit index.
                var builder = Builder()
                builder.openArray()
                builder.openArray()
                builder.openObject()
                for member in tree.objectMembers {
                    guard let name = member.key.keyName, !name.hasPrefix(".") else { continue }
                    builder.add(key: "/" + name)
                    builder.openObject()
                    builder.add(key: "op", "set")
                    builder.add(key: "new", member.value)
                    builder.closeTrusted()
                }
                builder.closeTrusted()
                builder.closeTrusted()
                builder.closeTrusted()
                if commit > 0 {
                    _ = fresh.apply(index: commit, payload: AgencyLogEntry.payload(timeMilliseconds: 0, envelope: builder.slice))
                }
                state.store = fresh
            } else if let log = answer["log"], log.isArray {
                for entry in log.arrayElements {
                    guard let index = entry["index"]?.uintValue, index > state.store.index,
                          let query = entry["query"], query.isArray else { continue }
                    var envelope = Builder()
                    envelope.openArray()
                    for transaction in query.arrayElements {
                        envelope.openArray()
                        envelope.add(transaction)
                        envelope.closeTrusted()
                    }
                    envelope.closeTrusted()
                    _ = state.store.apply(index: index, payload: AgencyLogEntry.payload(
                        timeMilliseconds: entry["time"]?.intValue ?? 0, envelope: envelope.slice))
                }
                // Entries without changes are not in the log: catch up with the commit index
                // so waiters for it are released.
                if let commit = answer["commitIndex"]?.uintValue, commit > state.store.index {
                    _ = state.store.apply(index: commit, payload: AgencyLogEntry.payload(
                        timeMilliseconds: 0, envelope: Slice(trustedBytes: [0x01])))
                }
            }
            let index = state.store.index
            let released = state.waiters.filter { $0.index <= index }.map(\.continuation)
            state.waiters.removeAll { $0.index <= index }
            return released
        }
        for waiter in ready { waiter.resume(returning: true) }
    }
}

extension AgencyCache {
    /// The DBServers registered in `Current/ServersRegistered`, by id, with their endpoints.
    public func dbServerEndpoints() -> [String: Endpoint] {
        guard let registered = value(at: "/arango/Current/ServersRegistered"), registered.isObject else { return [:] }
        var servers: [String: Endpoint] = [:]
        for member in registered.objectMembers {
            guard let id = member.key.keyName, id.hasPrefix("PRMR-"),
                  let text = member.value["endpoint"]?.stringValue, let endpoint = Endpoint(text) else { continue }
            servers[id] = endpoint
        }
        return servers
    }
}
