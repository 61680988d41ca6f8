import Client
import Foundation
import Testing
import VelocyPack
import VelocyStream
import TestRandomness

/// Writers that remember exactly what the server acknowledged, for crash tests: each writer
/// owns its keys, inserts, updates and removes them one request at a time, and records the
/// state every acknowledged answer promised. A request that fails (the server was killed
/// under it) leaves its key *uncertain*: either the state before or the one it asked for.
struct CrashWorkload {
    /// What an acknowledged answer promised for one key.
    enum Promise: Equatable, Sendable {
        case present(version: Int, revision: String)
        case absent
    }

    /// Everything one writer was told, plus its one in-flight request when it stopped.
    struct Ledger: Sendable {
        var promises: [String: Promise] = [:]
        /// The key whose request got no answer: its state before, and the version it asked for
        /// (nil: a removal).
        var uncertain: (key: String, before: Promise?, askedVersion: Int?)?
        var acknowledged = 0
    }

    let waitForSync: Bool
    let collection: String
    let documentPadding = String(repeating: "p", count: 80)

    /// Runs one writer through `api` until a request fails or `stop` says so (or `operationsMax`).
    func write(writer: String, api: API, seed: UInt64, ledger: inout Ledger, stop: StopFlag,
               operationsMax: Int = 100_000) async {
        var random = SeededGenerator(seed: seed)
        var live: [String] = ledger.promises.filter { $0.value != .absent }.map(\.key).sorted()
        var next = ledger.promises.count
        let parameters = waitForSync ? ["waitForSync": "true"] : [:]
        for _ in 0..<operationsMax where !stop.isStopped {
            let choice = Int(random.next() % 10)
            let key: String, method: RequestMethod, path: String, body: String?, version: Int?
            if live.isEmpty || choice < 5 {
                key = "\(writer)-\(next)"
                next += 1
                (method, path, version) = (.post, "/_api/document/\(collection)", 1)
                body = #"{"_key": "\#(key)", "v": 1, "pad": "\#(documentPadding)"}"#
            } else {
                key = live[Int(random.next() % UInt64(live.count))]
                guard case .present(let current, _) = ledger.promises[key] else { preconditionFailure("live key \(key) not present") }
                if choice < 8 {
                    (method, path, version) = (.patch, "/_api/document/\(collection)/\(key)", current + 1)
                    body = #"{"v": \#(current + 1)}"#
                } else {
                    (method, path, version, body) = (.delete, "/_api/document/\(collection)/\(key)", nil, nil)
                }
            }
            let before = ledger.promises[key]
            let answer: ClientResponse
            do {
                answer = try await api.call(method, path, body, parameters)
            } catch {
                ledger.uncertain = (key, before, version)
                return
            }
            guard (200..<300).contains(answer.status), let revision = answer["_rev"]?.stringValue else {
                // The server answered with an error (a coordinator whose DBServer died): the
                // write may or may not have happened.
                ledger.uncertain = (key, before, version)
                return
            }
            ledger.acknowledged += 1
            stop.noteAcknowledged()
            if let version {
                ledger.promises[key] = .present(version: version, revision: revision)
                if before == nil || before == .absent { live.append(key) }
            } else {
                ledger.promises[key] = .absent
                live.removeAll { $0 == key }
            }
        }
    }

    /// Checks every promise of `ledgers` against what `api` serves now. Returns the number of
    /// documents checked; records an issue for each broken promise.
    @discardableResult
    func verify(_ ledgers: [Ledger], api: API, context: String) async throws -> Int {
        var checked = 0
        for ledger in ledgers {
            var keys = ledger.promises.keys.sorted()
            if let uncertain = ledger.uncertain, ledger.promises[uncertain.key] == nil { keys.append(uncertain.key) }
            for start in stride(from: 0, to: keys.count, by: 500) {
                let page = Array(keys[start..<min(start + 500, keys.count)])
                let body = "[" + page.map { "\"\($0)\"" }.joined(separator: ",") + "]"
                let answer = try await api.expect(200, .put, "/_api/document/\(collection)", body, ["onlyget": "true"])
                let found = answer.body?.arrayElements.map { $0 } ?? []
                #expect(found.count == page.count, "\(context): \(found.count) answers for \(page.count) keys")
                for (key, document) in zip(page, found) {
                    checked += 1
                    let actual: Promise = document["error"]?.boolValue == true
                        ? .absent
                        : .present(version: Int(document["v"]?.intValue ?? -1), revision: document["_rev"]?.stringValue ?? "")
                    if let uncertain = ledger.uncertain, uncertain.key == key {
                        // Either the state before the lost request, or the one it asked for.
                        let beforeOK = actual == (uncertain.before ?? .absent)
                        let afterOK: Bool
                        if let asked = uncertain.askedVersion, case .present(let version, _) = actual {
                            afterOK = version == asked
                        } else {
                            afterOK = uncertain.askedVersion == nil && actual == .absent
                        }
                        #expect(beforeOK || afterOK, "\(context): in-flight \(key) is \(actual), before \(String(describing: uncertain.before)), asked \(String(describing: uncertain.askedVersion))")
                    } else {
                        #expect(actual == ledger.promises[key], "\(context): acknowledged \(key) promised \(String(describing: ledger.promises[key])), found \(actual)")
                    }
                }
            }
        }
        return checked
    }

    /// After verification, the uncertain key's state is whatever was found; the ledger forgets
    /// the uncertainty so the next round starts from known states.
    static func settle(_ ledger: inout Ledger, api: API, collection: String) async throws {
        guard let uncertain = ledger.uncertain else { return }
        ledger.uncertain = nil
        let answer = try await api.call(.get, "/_api/document/\(collection)/\(uncertain.key)")
        if answer.status == 200, let revision = answer["_rev"]?.stringValue {
            ledger.promises[uncertain.key] = .present(version: Int(answer["v"]?.intValue ?? -1), revision: revision)
        } else {
            ledger.promises[uncertain.key] = .absent
        }
    }

    /// The number of crash rounds: `TESSERA_CRASH_ROUNDS` when set (for `scripts/crash-trials`),
    /// else `default`.
    static func rounds(default count: Int) -> Int {
        ProcessInfo.processInfo.environment["TESSERA_CRASH_ROUNDS"].flatMap(Int.init) ?? count
    }

    /// The run's seed: `TESSERA_CRASH_SEED` when set (to replay), else a fresh one; printed.
    static func seed(_ test: String) -> UInt64 {
        let seed = ProcessInfo.processInfo.environment["TESSERA_CRASH_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("\(test): seed \(seed) (replay with TESSERA_CRASH_SEED=\(seed))")
        return seed
    }
}

/// A flag the test sets to stop its writers, and the count of writes they got acknowledged
/// meanwhile (so a test kills only once the writers are under way).
final class StopFlag: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var stopped = false
    private var acknowledged = 0
    func stop() { lock.withLock { stopped = true } }
    var isStopped: Bool { lock.withLock { stopped } }
    func noteAcknowledged() { lock.withLock { acknowledged += 1 } }

    /// Waits (at most `seconds`) until the writers have `count` acknowledged writes.
    func waitForAcknowledged(_ count: Int, seconds: Double = 20) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while lock.withLock({ acknowledged }) < count && Date() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
