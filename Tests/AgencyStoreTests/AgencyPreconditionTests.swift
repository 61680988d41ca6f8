import Testing
import VelocyPack
@testable import AgencyStore

@Suite("agency store: preconditions and transactions")
struct AgencyPreconditionTests {
    static let tree = #"{"n": 1, "s": "x", "z": null, "arr": [1, "two", {"t": 3}], "obj": {"k": [1], "l": 2}, "empty": []}"#

    @Test(arguments: [
        // (precondition object, holds)
        (#"{"/n": 1}"#, true),
        (#"{"/n": 1.0}"#, true),
        (#"{"/n": 2}"#, false),
        (#"{"/missing": 1}"#, false),
        (#"{"/n": {"old": 1}}"#, true),
        (#"{"/obj": {"old": {"l": 2, "k": [1]}}}"#, true),
        (#"{"/obj": {"l": 2, "k": [1.0]}}"#, true),
        (#"{"/obj": {"old": {"l": 2}}}"#, false),
        (#"{"/z": null}"#, true),
        (#"{"/n": {"oldNot": 2}}"#, true),
        (#"{"/n": {"oldNot": 1}}"#, false),
        (#"{"/missing": {"oldNot": 1}}"#, true),
        (#"{"/missing": {"oldEmpty": true}}"#, true),
        (#"{"/n": {"oldEmpty": true}}"#, false),
        (#"{"/n": {"oldEmpty": false}}"#, true),
        (#"{"/z": {"oldEmpty": false}}"#, true),
        (#"{"/obj/k": {"oldEmpty": false}}"#, true),
        (#"{"/missing": {"oldEmpty": false}}"#, false),
        (#"{"/arr": {"isArray": true}}"#, true),
        (#"{"/empty": {"isArray": true}}"#, true),
        (#"{"/n": {"isArray": true}}"#, false),
        (#"{"/n": {"isArray": false}}"#, true),
        (#"{"/missing": {"isArray": false}}"#, true),
        (#"{"/missing": {"isArray": true}}"#, false),
        (#"{"/arr": {"in": "two"}}"#, true),
        (#"{"/arr": {"in": {"t": 3.0}}}"#, true),
        (#"{"/arr": {"in": 2}}"#, false),
        (#"{"/s": {"in": "x"}}"#, false),
        (#"{"/missing": {"in": 1}}"#, false),
        (#"{"/arr": {"notin": 2}}"#, true),
        (#"{"/arr": {"notin": 1}}"#, false),
        (#"{"/missing": {"notin": 1}}"#, true),
        (#"{"/s": {"notin": "x"}}"#, true),
        (#"{"/arr": {"intersectionEmpty": [5, "six"]}}"#, true),
        (#"{"/arr": {"intersectionEmpty": [5, "two"]}}"#, false),
        (#"{"/arr": {"intersectionEmpty": []}}"#, true),
        (#"{"/missing": {"intersectionEmpty": [1]}}"#, true),
        (#"{"/n": {"old": 1, "isArray": false}}"#, true),
        (#"{"/n": {"old": 1, "isArray": true}}"#, false),
        (#"{"/n": {"old": 1, "can-write-lock": "me"}}"#, false),
        (#"{"/n": 1, "/s": "x", "/missing": {"oldEmpty": true}}"#, true),
        (#"{"/n": 1, "/s": "y"}"#, false),
        (#"{"n/": 1}"#, true),
    ] as [(String, Bool)])
    func preconditionsFollowTheReferenceSheet(preconditions: String, holds: Bool) throws {
        var store = try store(Self.tree)
        let before = store.treeJSON
        let answer = try store.write(#"[[{"/done": true}, \#(preconditions)]]"#)
        #expect(answer == (holds ? #"{"results":[2]}"# : #"{"results":[0]}"#), "\(preconditions)")
        #expect(store.valueJSON("/done") == (holds ? "true" : "absent"))
        if !holds { #expect(store.treeJSON == before) }
    }

    @Test func aFailedPreconditionChangesNothingAndNamesTheCurrentValues() throws {
        var store = try store(#"{"a": {"b": 1}, "c": [1]}"#)
        let outcome = try store.transact(#"[[{"/a/b": 5, "/c": {"op": "push", "new": 2}, "/d": 1}, {"/a/b": 2, "/c": [1], "/x/y": 3}]]"#)
        #expect(outcome.results == [.preconditionFailed(current: vpack(#"{"a": {"b": 1}}"#))])
        #expect(!outcome.allWritesApplied)
        #expect(store.treeJSON == #"{"a":{"b":1},"c":[1]}"#)
        #expect(json(outcome.transactAnswer()) == #"[{"a":{"b":1}}]"#)
        #expect(json(outcome.writeAnswer()) == #"{"results":[0]}"#)
    }

    @Test func transactMixesReadsAndWritesInSequence() throws {
        var store = try store(#"{"v": 1}"#)
        let outcome = try store.transact(#"[["/v"], [{"/v": {"op": "increment"}}], ["/v", "/w"], [{"/w": 1}, {"/v": 1}], [{"/w": 2}, {}, "client-1"]]"#)
        #expect(json(outcome.transactAnswer()) == #"[{"v":1},2,{"v":2},{"v":2},2]"#)
        #expect(store.treeJSON == #"{"v":2,"w":2}"#)
        #expect(store.inquire(["client-1"]) == [.applied(index: 2)])
    }

    @Test func anInvalidElementInTheLogIsAnsweredAndChangesNothing() throws {
        var store = AgencyStore()
        // A proposer that skipped validation: the log entry holds a bad operation.
        let envelope = vpack(#"[[{"/a": {"op": "frobnicate"}}], [{"/b": 1}], 5]"#)
        let outcome = store.apply(index: 1, payload: AgencyLogEntry.payload(timeMilliseconds: startTime, envelope: Slice(trustedBytes: envelope)))
        #expect(outcome.results.count == 3)
        if case .invalid(let error) = outcome.results[0] { #expect(error.code == .invalidOperation) } else { Issue.record("\(outcome.results[0])") }
        #expect(outcome.results[1] == .applied(index: 1))
        if case .invalid(let error) = outcome.results[2] { #expect(error.code == .malformedRequest) } else { Issue.record("\(outcome.results[2])") }
        #expect(store.treeJSON == #"{"b":1}"#)
    }

    @Test(arguments: [
        [UInt8](), [0x00], [0x02, 0x05], [0xff, 0xff, 0xff], vpack("[1,2]"), vpack(#"{"time": 1}"#),
        vpack(#"{"time": "now", "query": []}"#), vpack(#"{"time": 1, "query": 5}"#), vpack(#"{"time": 1, "expire": [3]}"#),
        vpack(#"{"time": 1.5, "query": []}"#), vpack(#"{"time": 1, "query": [], "extra": 1}"#),
    ])
    func undecodableEntriesAreRecordedNoOps(payload: [UInt8]) throws {
        var store = try store(#"{"a": 1}"#)
        let snapshotBefore = store.snapshot()
        let outcome = store.apply(index: 7, payload: payload)
        #expect(outcome.error != nil)
        #expect(outcome.results.isEmpty)
        #expect(store.index == 7)
        #expect(store.treeJSON == #"{"a":1}"#)
        var expected = try AgencyStore(restoring: snapshotBefore)
        expected.index = 7
        #expect(store.snapshot() == expected.snapshot())
    }
}
