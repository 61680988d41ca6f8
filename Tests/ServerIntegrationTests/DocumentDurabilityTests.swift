import Client
import Foundation
import Testing
import VelocyPack
import VelocyStream

/// Restarts, concurrent writers and hostile bodies against a real server.
@Suite("Document durability and safety", .serialized)
struct DocumentDurabilityTests {
    /// Every document acknowledged before a clean shutdown is there after the restart, and
    /// every durable (`waitForSync`) one survives `kill -9`.
    @Test("acknowledged documents survive a restart, durable ones survive SIGKILL")
    func restart() async throws {
        let directory = ServerProcess.temporaryDirectory() + "/data"
        var server = try ServerProcess(dataDirectory: directory, arguments: ["--no-authentication"])
        var client = makeClient(server, poolSize: 4, credentials: nil)
        var api = API(client: client)
        try await api.expect(200, .post, "/_api/collection", #"{"name": "c", "keyOptions": {"type": "autoincrement"}}"#)
        try await api.expect(201, .post, "/_api/index", #"{"type": "persistent", "fields": ["n"], "unique": true}"#, ["collection": "c"])
        var expected: [String: Int] = [:]
        for batch in 0..<5 {
            let body = "[" + (0..<100).map { #"{"_key": "b\#(batch)-\#($0)", "n": \#(batch * 100 + $0)}"# }.joined(separator: ",") + "]"
            try await api.expect(202, .post, "/_api/document/c", body)
            for i in 0..<100 { expected["b\(batch)-\(i)"] = batch * 100 + i }
        }
        for i in 0..<50 {
            let key = try await api.expect(202, .post, "/_api/document/c", #"{"n": \#(1000 + i)}"#)["_key"]?.stringValue ?? ""
            expected[key] = 1000 + i
        }
        try await api.expect(202, .patch, "/_api/document/c/b0-0", #"{"patched": true}"#)
        try await api.expect(202, .delete, "/_api/document/c/b0-1")
        expected["b0-1"] = nil
        await client.shutdown()
        #expect(server.stop() == 0)

        server = try ServerProcess(dataDirectory: directory, arguments: ["--no-authentication"])
        client = makeClient(server, poolSize: 4, credentials: nil)
        api = API(client: client)
        #expect(try await api.count("c") == expected.count)
        let stored = try await api.query("FOR d IN c RETURN [d._key, d.n]")
        var found: [String: Int] = [:]
        for pair in stored { found[pair[0]?.stringValue ?? ""] = Int(pair[1]?.intValue ?? -1) }
        #expect(found == expected)
        #expect(try await api.expect(200, .get, "/_api/document/c/b0-0")["patched"]?.boolValue == true)
        // The unique index came back with the collection; the key generator continues past
        // the keys it handed out.
        try await api.expectError(409, 1210, .post, "/_api/document/c", #"{"n": 1000}"#)
        let next = try await api.expect(202, .post, "/_api/document/c", #"{"n": 5000}"#)["_key"]?.stringValue ?? ""
        #expect(expected[next] == nil)

        // Durable writes from concurrent clients, then kill -9.
        let writerAPI = api
        let durable = try await withThrowingTaskGroup(of: [String].self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var keys: [String] = []
                    for i in 0..<25 {
                        let key = "d\(writer)-\(i)"
                        let response = try await writerAPI.call(.post, "/_api/document/c", #"{"_key": "\#(key)", "n": \#(10_000 + writer * 100 + i)}"#,
                                                          ["waitForSync": "true"])
                        if response.status == 201 { keys.append(key) }
                    }
                    return keys
                }
            }
            var all: [String] = []
            for try await keys in group { all += keys }
            return all
        }
        #expect(durable.count == 200)
        await client.shutdown()
        server.stop(signal: SIGKILL)

        server = try ServerProcess(dataDirectory: directory, arguments: ["--no-authentication"])
        client = makeClient(server, poolSize: 4, credentials: nil)
        api = API(client: client)
        let survivors = try await api.expect(200, .put, "/_api/document/c", "[" + durable.map { "\"\($0)\"" }.joined(separator: ",") + "]",
                                             ["onlyget": "true"])
        let missing = survivors.body?.arrayElements.filter { $0["error"]?.boolValue == true }.count
        #expect(missing == 0)
        await client.shutdown()
        #expect(server.stop() == 0)
    }

    /// Read-modify-write with `If-Match` from many clients: every acknowledged increment is
    /// counted exactly once; losers get 412 and retry.
    @Test("concurrent writers on the same keys get conflicts, never lost updates")
    func concurrentWriters() async throws {
        try await withServer { api, _ in
            try await api.expect(200, .post, "/_api/collection", #"{"name": "c"}"#)
            try await api.expect(202, .post, "/_api/document/c", #"{"_key": "counter", "value": 0}"#)
            try await api.expect(202, .post, "/_api/document/c", #"{"_key": "patched"}"#)
            let writers = 8, increments = 20
            let conflicts = try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var conflicts = 0
                        var done = 0
                        var attempts = 0
                        while done < increments && attempts < 10_000 {
                            attempts += 1
                            let current = try await api.expect(200, .get, "/_api/document/c/counter")
                            let value = current["value"]?.intValue ?? -1
                            let rev = current["_rev"]?.stringValue ?? ""
                            let put = try await api.call(.put, "/_api/document/c/counter", #"{"value": \#(value + 1)}"#,
                                                         meta: ["if-match": "\"\(rev)\""])
                            if put.status == 202 { done += 1 } else {
                                #expect(put.status == 412 && put.error?.number.rawValue == 1200, "\(put.json)")
                                conflicts += 1
                            }
                            // Blind merges of distinct attributes: none may be lost.
                            try await api.expect(202, .patch, "/_api/document/c/patched", #"{"w\#(writer)_\#(done)_\#(attempts)": true}"#)
                        }
                        #expect(done == increments)
                        return conflicts
                    }
                }
                var total = 0
                for try await count in group { total += count }
                return total
            }
            let counter = try await api.expect(200, .get, "/_api/document/c/counter")
            #expect(counter["value"]?.intValue == Int64(writers * increments))
            let patched = try await api.expect(200, .get, "/_api/document/c/patched")
            // `_key`, `_id`, `_rev` plus one attribute per PATCH.
            #expect(patched.body?.count == 3 + writers * increments + conflicts)
        }
    }

    @Test("oversize and malformed bodies are refused and change nothing")
    func hostileBodies() async throws {
        try await withServer { api, server in
            try await api.expect(200, .post, "/_api/collection", #"{"name": "c"}"#)
            try await api.expect(202, .post, "/_api/document/c", #"{"_key": "keep", "v": 1}"#)
            let huge = #"{"_key": "big", "blob": ""# + String(repeating: "x", count: 17 << 20) + #""}"#
            try await api.expectError(413, 1216, .post, "/_api/document/c", huge)
            try await api.expectError(413, 1216, .put, "/_api/document/c/keep", huge)
            let hugeArray = try await api.expect(202, .post, "/_api/document/c", "[" + huge + #", {"_key": "small"}]"#)
            #expect(hugeArray.body?[0]?["errorNum"]?.intValue == 1216)
            try await api.expect(202, .delete, "/_api/document/c/small")

            // Malformed JSON and VelocyPack, sent raw.
            let badJSON = try await api.client.request(.post, "/_api/document/c", meta: ["content-type": "application/json"],
                                                       body: Array(#"{"_key": "x", "v": }"#.utf8))
            #expect(badJSON.status == 400 && badJSON.error?.number.rawValue == 600)
            let badVPack = try await api.client.request(.put, "/_api/document/c/keep", body: [0x0b, 0x05, 0x01, 0xff])
            #expect(badVPack.status == 400 && badVPack.error?.number.rawValue == 600)
            let duplicateKeys = try await api.client.request(.put, "/_api/document/c/keep", body: vpackWithDuplicateKeys())
            #expect(duplicateKeys.status == 400, "\(duplicateKeys.json)")
            let duplicateJSON = try await api.client.request(.put, "/_api/document/c/keep", meta: ["content-type": "application/json"],
                                                             body: Array(#"{"v": 2, "v": 3}"#.utf8))
            #expect(duplicateJSON.status == 400 && duplicateJSON.error?.number.rawValue == 600)

            #expect(try await api.count("c") == 1)
            let kept = try await api.expect(200, .get, "/_api/document/c/keep")
            #expect(kept["v"]?.intValue == 1)
            #expect(kept["blob"] == nil)
            _ = server
        }
    }

    /// `{"a": 1, "a": 2}` as VelocyPack (the builder refuses to make it, so by hand).
    func vpackWithDuplicateKeys() -> [UInt8] {
        // Compact object 0x14: byte length, members, member count.
        let members: [UInt8] = [0x41, 0x61, 0x31, 0x41, 0x61, 0x32]
        return [0x14, UInt8(members.count + 3)] + members + [0x02]
    }
}
