import Testing
import VelocyPack
@testable import AgencyStore

@Suite("agency store: paths, reads and operations")
struct AgencyOperationTests {
    @Test(arguments: [
        ("/a/b", "/a/b"), ("a/b", "/a/b"), ("/a//b/", "/a/b"), ("//a///b//", "/a/b"), ("/", "/"), ("", "/"), ("///", "/"),
    ])
    func pathsNormalizeAsArangoDB(input: String, normalized: String) throws {
        #expect(try AgencyPath(input).description == normalized)
    }

    @Test func pathLimitsAreEnforced() throws {
        let deep = String(repeating: "/x", count: AgencyLimits.pathComponentCountMax + 1)
        #expect(throws: AgencyError.self) { try AgencyPath(deep) }
        #expect(try AgencyPath(String(deep.dropFirst(2))).components.count == AgencyLimits.pathComponentCountMax)
    }

    @Test func parentsApplyBeforeChildrenAndSiblingsByKey() throws {
        let paths = try ["/ab", "/a/b", "/a", "/", "/a/a"].map { try AgencyPath($0) }.sorted()
        #expect(paths.map(\.description) == ["/", "/a", "/a/a", "/a/b", "/ab"])
    }

    @Test func readAnswersAreBuiltFromTheRoot() throws {
        let store = try store(#"{"a": {"b": {"c": 1, "d": [1, 2]}, "e": "x"}, "f": true}"#)
        #expect(try store.read(#"[["/a/b/c"]]"#) == #"[{"a":{"b":{"c":1}}}]"#)
        #expect(try store.read(#"[["/a/b/c", "/a/e"], ["/f"]]"#) == #"[{"a":{"b":{"c":1},"e":"x"}},{"f":true}]"#)
        #expect(try store.read(#"[["/a/b", "/a/b/c"]]"#) == #"[{"a":{"b":{"c":1,"d":[1,2]}}}]"#)
        #expect(try store.read(#"[["/"]]"#) == #"[{"a":{"b":{"c":1,"d":[1,2]},"e":"x"},"f":true}]"#)
    }

    @Test func readOfMissingPathsOmitsTheMissingKeys() throws {
        let store = try store(#"{"a": {"b": {}}, "n": null, "v": 5}"#)
        #expect(try store.read(#"[["/a/b/c"]]"#) == #"[{"a":{"b":{}}}]"#)
        #expect(try store.read(#"[["/x/y"]]"#) == #"[{}]"#)
        #expect(try store.read(#"[["/a/z", "/q"]]"#) == #"[{"a":{}}]"#)
        // A path running into a leaf gives nothing for the leaf; a present null is present.
        #expect(try store.read(#"[["/v/w"], ["/n"]]"#) == #"[{},{"n":null}]"#)
        #expect(try store.read(#"[[]]"#) == #"[{}]"#)
    }

    @Test func dotKeysAreHiddenUnlessNamed() throws {
        let store = try store(#"{".agency": {"x": 1}, "a": {".hidden": 2, "b": 3}}"#)
        #expect(try store.read(#"[["/"]]"#) == #"[{"a":{"b":3}}]"#)
        #expect(try store.read(#"[["/.agency"]]"#) == #"[{".agency":{"x":1}}]"#)
        #expect(try store.read(#"[["/a/.hidden"]]"#) == #"[{"a":{".hidden":2}}]"#)
    }

    @Test func setOfAnObjectReplacesTheSubtree() throws {
        var store = try store(#"{"a": {"b": 1, "c": {"d": 2}}}"#)
        try store.write(#"[[{"/a": {"x": {"y": 3}}}]]"#)
        #expect(store.treeJSON == #"{"a":{"x":{"y":3}}}"#)
        // Below a leaf, a set turns the leaf into an object node.
        try store.write(#"[[{"/a/x/y/z": {"op": "set", "new": [1]}}]]"#)
        #expect(store.treeJSON == #"{"a":{"x":{"y":{"z":[1]}}}}"#)
        // The root can be replaced by an object.
        try store.write(#"[[{"/": {"r": 1}}]]"#)
        #expect(store.treeJSON == #"{"r":1}"#)
    }

    @Test func deleteRemovesTheSubtreeAndIgnoresMissingKeys() throws {
        var store = try store(#"{"a": {"b": {"c": 1}, "d": 2}}"#)
        try store.write(#"[[{"/a/b": {"op": "delete"}}]]"#)
        #expect(store.treeJSON == #"{"a":{"d":2}}"#)
        #expect(try store.write(#"[[{"/a/zz/y": {"op": "delete"}, "/a/d/below-leaf": {"op": "delete"}}]]"#) == #"{"results":[3]}"#)
        #expect(store.treeJSON == #"{"a":{"d":2}}"#)
        try store.write(#"[[{"/": {"op": "delete"}}]]"#)
        #expect(store.treeJSON == "{}")
    }

    @Test(arguments: [
        // (initial value of /k or nil, operation, expected value of /k)
        (nil, #"{"op":"increment"}"#, "1"),
        (nil, #"{"op":"decrement"}"#, "-1"),
        ("41", #"{"op":"increment"}"#, "42"),
        ("10", #"{"op":"increment","step":5}"#, "15"),
        ("10", #"{"op":"decrement","step":3}"#, "7"),
        ("1.5", #"{"op":"increment"}"#, "2.5"),
        (#""text""#, #"{"op":"increment","step":2}"#, "2"),
        ("9223372036854775807", #"{"op":"increment"}"#, "9223372036854775807"),
        (nil, #"{"op":"push","new":1}"#, "[1]"),
        ("5", #"{"op":"push","new":1}"#, "[1]"),
        ("[1,2]", #"{"op":"push","new":{"x":3}}"#, #"[1,2,{"x":3}]"#),
        ("[1,2]", #"{"op":"prepend","new":0}"#, "[0,1,2]"),
        (#""s""#, #"{"op":"prepend","new":0}"#, "[0]"),
        ("[1,2,3]", #"{"op":"pop"}"#, "[1,2]"),
        ("[]", #"{"op":"pop"}"#, "[]"),
        (nil, #"{"op":"pop"}"#, "[]"),
        ("[1,2,3]", #"{"op":"shift"}"#, "[2,3]"),
        ("[]", #"{"op":"shift"}"#, "[]"),
        ("[1,2,1,3]", #"{"op":"erase","val":1}"#, "[2,3]"),
        ("[1,2,1.0,3]", #"{"op":"erase","val":1.0}"#, "[2,3]"),
        ("[1,2,3]", #"{"op":"erase","pos":1}"#, "[1,3]"),
        ("[1,2,3]", #"{"op":"erase","pos":7}"#, "[1,2,3]"),
        ("7", #"{"op":"erase","val":7}"#, "[]"),
        (#"["a","b","a"]"#, #"{"op":"replace","val":"a","new":"z"}"#, #"["z","b","z"]"#),
        (#"[[1],{"x":1}]"#, #"{"op":"replace","val":{"x":1.0},"new":null}"#, "[[1],null]"),
        (nil, #"{"op":"replace","val":1,"new":2}"#, "[]"),
        ("3", #"{"op":"set","new":{"a":[]}}"#, #"{"a":[]}"#),
        ("3", "[4]", "[4]"),
        (#"{"nested":1}"#, #"{"op":"push","new":1}"#, "[1]"),
    ] as [(String?, String, String)])
    func valueOperationsFollowTheReferenceSheet(initial: String?, operation: String, expected: String) throws {
        var store = try store(initial.map { #"{"k": \#($0)}"# } ?? "{}")
        #expect(try store.write(#"[[{"/k": \#(operation)}]]"#) == #"{"results":[2]}"#)
        #expect(store.valueJSON("/k") == expected, "\(initial ?? "missing") with \(operation)")
    }

    @Test(arguments: [
        #"[[{"/a": {"op": "frobnicate"}}]]"#,
        #"[[{"/a": {"op": 1}}]]"#,
        #"[[{"/a": {"op": "set"}}]]"#,
        #"[[{"/a": {"op": "set", "new": 1, "ttl": -1}}]]"#,
        #"[[{"/a": {"op": "set", "new": 1, "ttl": "soon"}}]]"#,
        #"[[{"/a": {"op": "increment", "step": 1.5}}]]"#,
        #"[[{"/a": {"op": "push"}}]]"#,
        #"[[{"/a": {"op": "erase"}}]]"#,
        #"[[{"/a": {"op": "erase", "val": 1, "pos": 0}}]]"#,
        #"[[{"/a": {"op": "erase", "pos": -1}}]]"#,
        #"[[{"/a": {"op": "replace", "new": 1}}]]"#,
        #"[[{"/a": {"op": "observe"}}]]"#,
        #"[[{"/a": {"op": "observe", "url": ""}}]]"#,
        #"[[{"/a": {"op": "read-lock", "by": "me"}}]]"#,
        #"[[{"/": 5}]]"#,
        #"[[{"/": {"op": "push", "new": 1}}]]"#,
        #"[[{"/a": 1, "a/": 2}]]"#,
        #"[[{"/a": 1}, []]]"#,
        #"[[{"/a": 1}, {}, 7]]"#,
        #"[[{"/a": 1}, {}, "id", "extra"]]"#,
        #"[[{"/a": 1}, {"/a": {"isArray": "yes"}}]]"#,
        #"[[{"/a": 1}, {"/a": {"intersectionEmpty": 1}}]]"#,
        #"[["/a"]]"#,
        #"[[]]"#,
        #"[5]"#,
        #"{"a": 1}"#,
    ])
    func invalidWritesAreRefusedBeforeTheLog(body: String) {
        #expect(throws: AgencyError.self, "\(body)") { try AgencyEnvelope(validating: vpack(body), as: .write) }
    }

    @Test func invalidBytesAreRefusedWithTheirFault() {
        do {
            _ = try AgencyEnvelope(validating: [0x02, 0x05], as: .write)
            Issue.record("truncated bytes accepted")
        } catch {
            #expect(error.code == .invalidVelocyPack)
        }
    }

    @Test func operationsOfOneTransactionApplyInPathOrder() throws {
        var store = AgencyStore()
        // The parent's set comes first whatever the request order, so the child survives it.
        try store.write(#"[[{"/a/b": 2, "/a": {"c": 1}, "/a/c": {"op": "increment"}}]]"#)
        #expect(store.treeJSON == #"{"a":{"b":2,"c":2}}"#)
    }

    @Test func transactionsOfOneWriteApplyInSequence() throws {
        var store = AgencyStore()
        let answer = try store.write(#"[[{"/n": 1}], [{"/n": {"op": "increment"}}, {"/n": 1}], [{"/n": 10}, {"/n": 1}], [{"/m": {"op": "increment"}}, {"/n": 2}]]"#)
        #expect(answer == #"{"results":[1,1,0,1]}"#)
        #expect(store.treeJSON == #"{"m":1,"n":2}"#)
    }
}
