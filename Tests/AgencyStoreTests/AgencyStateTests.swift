import Testing
import VelocyPack
@testable import AgencyStore

@Suite("agency store: TTL, inquire, poll, observers, snapshots")
struct AgencyStateTests {
    // MARK: TTL

    @Test func ttlExpiryIsTakenFromTheEntryAndDrivenThroughTheLog() throws {
        var store = AgencyStore()
        try store.write(#"[[{"/lease": {"op": "set", "new": "me", "ttl": 5}, "/fast": {"op": "set", "new": 1, "ttl": 0.5}, "/keep": 1}]]"#, time: 1_000)
        #expect(store.expiry(of: try AgencyPath("/lease")) == 6_000)
        #expect(store.expiredKeys(now: 1_499).isEmpty)
        #expect(store.expiredKeys(now: 6_000).map(\.description) == ["/fast", "/lease"])
        let paths = store.expiredKeys(now: 2_000)
        #expect(paths.map(\.description) == ["/fast"])
        let outcome = store.apply(index: 2, payload: AgencyLogEntry.expiryPayload(timeMilliseconds: 2_000, paths: paths))
        #expect(outcome.error == nil)
        #expect(store.treeJSON == #"{"keep":1,"lease":"me"}"#)
        #expect(store.expiredKeys(now: 5_999).isEmpty)
    }

    @Test func aKeySetAgainAfterTheLeaderAskedIsNotExpired() throws {
        var store = AgencyStore()
        try store.write(#"[[{"/a": {"op": "set", "new": 1, "ttl": 1}, "/b/c": {"op": "set", "new": 2, "ttl": 1}}]]"#, time: 0)
        let expired = store.expiredKeys(now: 1_000)
        #expect(expired.count == 2)
        // Before the expiry entry commits, /a is set again without a ttl and /b is replaced.
        try store.write(#"[[{"/a": 10, "/b": {"d": 3}}]]"#, time: 900)
        _ = store.apply(index: store.index + 1, payload: AgencyLogEntry.expiryPayload(timeMilliseconds: 1_000, paths: expired))
        #expect(store.treeJSON == #"{"a":10,"b":{"d":3}}"#)
        #expect(store.expiredKeys(now: .max).isEmpty)
    }

    @Test func incrementOfAnExpiredValueCountsFromZero() throws {
        var store = AgencyStore()
        try store.write(#"[[{"/n": {"op": "set", "new": 40, "ttl": 1}}]]"#, time: 0)
        try store.write(#"[[{"/n": {"op": "increment"}}]]"#, time: 500)
        #expect(store.valueJSON("/n") == "41")
        try store.write(#"[[{"/n": {"op": "increment"}}]]"#, time: 1_000)
        #expect(store.valueJSON("/n") == "1")
    }

    // MARK: Inquire

    @Test func inquireTellsAppliedFailedAndUnknownApart() throws {
        var store = AgencyStore()
        try store.write(#"[[{"/a": 1}, {}, "ok-1"], [{"/a": 2}, {"/a": 5}, "fail-1"]]"#)
        try store.write(#"[[{"/b": 1}, {}, "ok-2"]]"#)
        let inquiries = store.inquire(["ok-1", "fail-1", "ok-2", "never"])
        #expect(inquiries == [.applied(index: 1), .preconditionFailed(index: 1), .applied(index: 2), .unknown])
        #expect(json(AgencyInquiry.answer(inquiries)) == #"{"inquired":true,"preconditionFailed":[0,1,0,0],"results":[1,0,2,0]}"#)
        #expect(try AgencyInquiry.parseRequest(vpack(#"["a","b"]"#)) == ["a", "b"])
        #expect(throws: AgencyError.self) { try AgencyInquiry.parseRequest(vpack("[1]")) }
    }

    @Test func aRetriedWriteWithTheSameClientIdAppliesOnce() throws {
        var store = AgencyStore()
        try store.write(#"[[{"/n": {"op": "increment"}}, {}, "retry-1"]]"#)
        let again = try store.transact(#"[[{"/n": {"op": "increment"}}, {}, "retry-1"]]"#)
        #expect(again.results == [.applied(index: 1)])
        #expect(store.valueJSON("/n") == "1")
        // A retry of a write whose precondition failed is evaluated again.
        try store.write(#"[[{"/m": 1}, {"/go": true}, "retry-2"]]"#)
        try store.write(#"[[{"/go": true}]]"#)
        try store.write(#"[[{"/m": 1}, {"/go": true}, "retry-2"]]"#)
        #expect(store.valueJSON("/m") == "1")
        #expect(store.inquire(["retry-2"]) == [.applied(index: 5)])
    }

    @Test func clientIdsAreForgottenOldestFirstBeyondTheRetentionBound() throws {
        var store = AgencyStore()
        let limit = AgencyLimits.clientIdRetentionCount
        var written = 0
        while written < limit + 5 {
            let batch = min(AgencyLimits.envelopeElementCountMax, limit + 5 - written)
            let transactions = (written..<(written + batch)).map { #"[{"/n": {"op": "increment"}}, {}, "id-\#($0)"]"# }
            try store.write("[" + transactions.joined(separator: ",") + "]")
            written += batch
        }
        #expect(store.inquire(["id-0", "id-4"]) == [.unknown, .unknown])
        #expect(store.inquire(["id-5"]) != [.unknown])
        // Reusing an id moves it to the back: id-5 now outlives id-6.
        try store.write(#"[[{"/n": 0}, {}, "id-5"], [{"/n": 0}, {}, "new-1"]]"#)
        #expect(store.inquire(["id-5", "id-6", "new-1"]).map { $0 == .unknown } == [false, true, false])
        #expect(store.clientIdOrder.count == limit)
        #expect(store.clientRecords.count == limit)
    }

    // MARK: Poll

    @Test func pollReturnsTheChangesAfterAnIndexOrASnapshot() throws {
        var store = AgencyStore()
        try store.write(#"[[{"/a": 1}]]"#, time: 10)                                   // 1
        try store.write(#"[[{"/a": 2}, {"/a": 5}]]"#, time: 20)                        // 2: fails, no change
        try store.write(#"[[{"/b": {"op": "push", "new": "x"}, "c": {"op": "observe", "url": "u"}}]]"#, time: 30)  // 3
        #expect(json(store.poll(from: 2).encoded())
            == #"{"commitIndex":3,"firstIndex":2,"log":[{"index":3,"query":[{"/b":{"new":"x","op":"push"}}],"time":30}]}"#)
        #expect(json(store.poll(from: 1).encoded()).contains(#"{"index":1,"query":[{"/a":1}],"time":10}"#))
        #expect(store.poll(from: 4) == .log(firstIndex: 4, commitIndex: 3, entries: []))
        #expect(json(store.poll(from: 0).encoded()) == #"{"commitIndex":3,"firstIndex":0,"readDB":[{"a":1,"b":["x"]}]}"#)
    }

    @Test func replayingThePollLogReproducesTheTree() throws {
        var leader = AgencyStore()
        var cache = try AgencyStore(restoring: leader.snapshot())
        let bodies = [
            #"[[{"/a": {"x": 1}, "/n": {"op": "increment"}}], [{"/q": 1}, {"/a/x": 2}]]"#,
            #"[[{"/a/x": {"op": "delete"}, "/l": {"op": "push", "new": [1]}, "/t": {"op": "set", "new": 1, "ttl": 1}}]]"#,
            #"[[{"/l": {"op": "prepend", "new": 0}, "/n": {"op": "decrement", "step": 5}}]]"#,
        ]
        for body in bodies { try leader.write(body, time: 100) }
        _ = leader.apply(index: leader.index + 1, payload: AgencyLogEntry.expiryPayload(timeMilliseconds: 5_000, paths: leader.expiredKeys(now: 5_000)))
        guard case .log(_, _, let entries) = leader.poll(from: cache.index + 1) else {
            Issue.record("expected a log")
            return
        }
        #expect(entries.count == 4)
        for entry in entries {
            // Each change applies unconditionally: a write of transactions without preconditions.
            let envelope = AgencyValue.bytes { builder in
                builder.openArray()
                for transaction in entry.transactions {
                    builder.openArray()
                    builder.add(Slice(trustedBytes: transaction))
                    builder.closeBuilt()
                }
                builder.closeBuilt()
            }
            _ = cache.apply(index: entry.index, payload: AgencyLogEntry.payload(timeMilliseconds: entry.timeMilliseconds, envelope: Slice(trustedBytes: envelope)))
        }
        #expect(cache.treeJSON == leader.treeJSON)
        #expect(cache.treeJSON == #"{"a":{},"l":[0,[1]],"n":-4}"#)
    }

    @Test func pollAnswersTooOldIndexesWithTheWholeTree() throws {
        var store = AgencyStore()
        for _ in 0..<(AgencyLimits.historyEntryCountMax + 3) {
            try store.write(#"[[{"/n": {"op": "increment"}}]]"#)
        }
        let last = store.index
        #expect(store.history.count == AgencyLimits.historyEntryCountMax)
        #expect(json(store.poll(from: 3).encoded()) == #"{"commitIndex":\#(last),"firstIndex":0,"readDB":[{"n":\#(last)}]}"#)
        guard case .log(let first, _, let entries) = store.poll(from: 4) else {
            Issue.record("index 4 should still be in the history")
            return
        }
        #expect(first == 4 && entries.count == AgencyLimits.historyEntryCountMax && entries.first?.index == 4)
        // After a restore the history starts at the snapshot.
        let restored = try AgencyStore(restoring: store.snapshot())
        if case .snapshot = restored.poll(from: last) {} else { Issue.record("a restored store cannot replay") }
        #expect(restored.poll(from: last + 1) == .log(firstIndex: last + 1, commitIndex: last, entries: []))
    }

    // MARK: Observers

    @Test func observersAreNotifiedOfChangesAtAboveAndBelowTheirPath() throws {
        var store = try store(#"{"plan": {"v": 1}}"#)
        let outcome = try store.transact(#"[[{"/plan": {"op": "observe", "url": "http://a/cb"}, "/plan/v": {"op": "observe", "url": "http://b/cb"}}]]"#)
        #expect(outcome.notifications.isEmpty)
        #expect(store.observerTable.map(\.path.description) == ["/plan", "/plan/v"])

        var notified = try store.transact(#"[[{"/plan/v": {"op": "increment"}, "/other": 1}]]"#)
        #expect(notified.notifications.map(\.url) == ["http://a/cb", "http://b/cb"])
        #expect(json(notified.notifications[0].body(term: 7)) == #"{"/plan":{"/plan/v":{"op":"increment"}},"index":3,"term":7}"#)

        // A set of an ancestor replaces what /plan/v observes: both hear of it.
        notified = try store.transact(#"[[{"/": {"plan": {"v": 9}}}]]"#)
        #expect(json(notified.notifications[1].body(term: 7)) == #"{"/plan/v":{"/":{"op":"set"}},"index":4,"term":7}"#)

        // A failed transaction notifies nobody; unobserve stops notifications.
        #expect(try store.transact(#"[[{"/plan/v": 1}, {"/plan/v": 0}]]"#).notifications.isEmpty)
        try store.transact(#"[[{"/plan/v": {"op": "unobserve", "url": "http://b/cb"}}]]"#)
        notified = try store.transact(#"[[{"/plan/v": 2}]]"#)
        #expect(notified.notifications.map(\.url) == ["http://a/cb"])
        #expect(try store.transact(#"[[{"/elsewhere": 2}]]"#).notifications.isEmpty)
    }

    // MARK: Snapshots

    static func busyStore() throws -> AgencyStore {
        var store = AgencyStore()
        try store.write(#"[[{"/arango/Plan": {"Version": 1, "Collections": {"db": {"c1": {"shards": {"s1": ["A", "B"]}}}}}, "/.agency": {"x": 1}}, {}, "c-1"]]"#, time: 100)
        try store.write(#"[[{"/arango/Plan/Version": {"op": "increment"}, "/lease": {"op": "set", "new": "A", "ttl": 30}}, {"/arango/Plan/Version": 1}, "c-2"]]"#, time: 200)
        try store.write(#"[[{"/x": 1}, {"/arango/Plan/Version": 1}, "c-3"], [{"/arango": {"op": "observe", "url": "http://s/cb"}}]]"#, time: 300)
        return store
    }

    @Test func snapshotRoundTripGivesTheSameStore() throws {
        let original = try Self.busyStore()
        let bytes = original.snapshot()
        var restored = try AgencyStore(restoring: bytes)
        #expect(restored.snapshot() == bytes)
        #expect(restored.index == original.index && restored.timeMilliseconds == original.timeMilliseconds)
        #expect(restored.root == original.root)
        #expect(restored.expiredKeys(now: 30_200).map(\.description) == ["/lease"])
        #expect(restored.inquire(["c-1", "c-2", "c-3"]) == original.inquire(["c-1", "c-2", "c-3"]))
        // Both behave alike from here on.
        var continued = original
        for index in 0..<2 {
            _ = index
            let body = #"[[{"/arango/Plan/Version": {"op": "increment"}}]]"#
            #expect(try continued.transact(body).notifications == (try restored.transact(body)).notifications)
        }
        #expect(continued.snapshot() == restored.snapshot())
    }

    @Test func sameEntriesGiveByteIdenticalSnapshots() throws {
        let first = try Self.busyStore()
        let second = try Self.busyStore()
        #expect(first.snapshot() == second.snapshot())
        #expect(json(first.snapshot()).contains(#""clientIds":[["c-1",1,true],["c-2",2,true],["c-3",3,false]]"#))
    }

    @Test(arguments: [
        ("", AgencyError.Code.invalidVelocyPack),
        ("[]", .malformedSnapshot),
        (#"{"format": 2, "index": 1, "time": 0, "tree": {}, "ttl": [], "clientIds": [], "observers": []}"#, .malformedSnapshot),
        (#"{"format": 1, "index": -1, "time": 0, "tree": {}, "ttl": [], "clientIds": [], "observers": []}"#, .malformedSnapshot),
        (#"{"format": 1, "index": 1, "time": 0, "tree": [], "ttl": [], "clientIds": [], "observers": []}"#, .malformedSnapshot),
        (#"{"format": 1, "index": 1, "time": 0, "tree": {}, "ttl": [["a", 1]], "clientIds": [], "observers": []}"#, .malformedSnapshot),
        (#"{"format": 1, "index": 1, "time": 0, "tree": {}, "ttl": [["/a", 1], ["/a", 2]], "clientIds": [], "observers": []}"#, .malformedSnapshot),
        (#"{"format": 1, "index": 1, "time": 0, "tree": {}, "ttl": [], "clientIds": [["c", 2, true]], "observers": []}"#, .malformedSnapshot),
        (#"{"format": 1, "index": 1, "time": 0, "tree": {}, "ttl": [], "clientIds": [["c", 1, true], ["c", 1, false]], "observers": []}"#, .malformedSnapshot),
        (#"{"format": 1, "index": 1, "time": 0, "tree": {}, "ttl": [], "clientIds": [], "observers": [["/a", ""]]}"#, .malformedSnapshot),
        (#"{"format": 1, "index": 1, "time": 0, "tree": {}, "ttl": [], "clientIds": [], "observers": [], "more": 1}"#, .malformedSnapshot),
        (#"{"format": 1, "index": 1, "time": 0, "tree": {"e\u0301": 1, "\u00e9": 2}, "ttl": [], "clientIds": [], "observers": []}"#, .malformedSnapshot),
    ] as [(String, AgencyError.Code)])
    func restoreRefusesMalformedSnapshots(json: String, code: AgencyError.Code) {
        do {
            _ = try AgencyStore(restoring: json.isEmpty ? [] : vpack(json))
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.code == code, "\(json): \(error)")
            #expect(!error.detail.isEmpty)
        }
    }

    @Test func restoreRefusesDuplicateKeysAndBadBytes() {
        #expect(throws: AgencyError.self) { try AgencyStore(restoring: [0x0b, 0x05]) }
        var bytes = (try? Self.busyStore().snapshot()) ?? []
        bytes[bytes.count / 2] ^= 0xff
        // A flipped byte is refused or gives a valid store; it never traps.
        _ = try? AgencyStore(restoring: bytes)
    }
}
