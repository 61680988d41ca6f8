import Client
import Foundation
import Testing
import VelocyPack
import VelocyStream

/// `/_api/cursor` with the supported query subset, against a real server.
@Suite("Cursor API", .serialized)
struct CursorAPITests {
    /// 200 documents: `n` 0..<200, `group` n % 7, `tag` "t\(n % 3)", `nested.v` n % 5, every
    /// tenth without `tag`.
    static func load(_ api: API) async throws {
        try await api.expect(200, .post, "/_api/collection", #"{"name": "c"}"#)
        let documents = (0..<200).map { n -> String in
            let tag = n % 10 == 0 ? "" : #", "tag": "t\#(n % 3)""#
            return #"{"_key": "k\#(String(format: "%03d", n))", "n": \#(n), "group": \#(n % 7)\#(tag), "nested": {"v": \#(n % 5)}}"#
        }
        try await api.expect(202, .post, "/_api/document/c", "[" + documents.joined(separator: ",") + "]")
    }

    static func numbers(_ results: [Slice]) -> [Int] { results.compactMap { $0.intValue.map(Int.init) } }

    @Test("filters, sorts, limits and projections give the expected answers, with and without an index")
    func queries() async throws {
        try await withServer { api, _ in
            try await Self.load(api)
            // The same questions before and after indexes exist must give the same answers.
            var answers: [[String]] = []
            for round in 0..<2 {
                if round == 1 {
                    try await api.expect(201, .post, "/_api/index", #"{"type": "persistent", "fields": ["group"]}"#, ["collection": "c"])
                    try await api.expect(201, .post, "/_api/index", #"{"type": "persistent", "fields": ["tag", "group"], "sparse": true}"#,
                                         ["collection": "c"])
                    try await api.expect(201, .post, "/_api/index", #"{"type": "persistent", "fields": ["nested.v"]}"#, ["collection": "c"])
                }
                var round: [String] = []
                func run(_ query: String, _ bindVars: String = "{}") async throws -> [Slice] {
                    let results = try await api.query(query, bindVars: bindVars, batchSize: 7)
                    round.append(results.map(\.json).joined(separator: ","))
                    return results
                }
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.n == 42 RETURN d.n")) == [42])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.n != 0 && d.n < 3 RETURN d.n")) == [1, 2])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.n <= 2 SORT d.n DESC RETURN d.n")) == [2, 1, 0])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.n > 197 RETURN d.n")) == [198, 199])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.n >= 198 SORT d.n RETURN d.n")) == [198, 199])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.group == 3 AND d.n < 30 SORT d.n RETURN d.n")) == [3, 10, 17, 24])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.group IN [1, 2] AND d.n < 10 SORT d.n RETURN d.n")) == [1, 2, 8, 9])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.n < 5 AND NOT (d.n == 2 OR d.n == 3) SORT d.n RETURN d.n")) == [0, 1, 4])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.n NOT IN [0, 1] && d.n < 4 SORT d.n RETURN d.n")) == [2, 3])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.tag == @t && d.group == @g SORT d.n RETURN d.n",
                                                   #"{"t": "t1", "g": 0}"#)) == [7, 28, 49, 91, 112, 133, 154, 175, 196])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.tag == null SORT d.n LIMIT 3 RETURN d.n")) == [0, 10, 20])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d.nested.v == 4 SORT d.n DESC LIMIT 1, 2 RETURN d.n")) == [194, 189])
                #expect(Self.numbers(try await run("FOR d IN @@coll FILTER d._key == 'k007' RETURN d.n", #"{"@coll": "c"}"#)) == [7])
                #expect(Self.numbers(try await run("FOR d IN c FILTER d._key IN ['k001', 'k002', 'zzz'] SORT d.n RETURN d.n")) == [1, 2])
                let objects = try await run("FOR d IN c FILTER d.n < 2 SORT d.n RETURN {n: d.n, id: d._id, g: d.group}")
                #expect(objects.map(\.json) == [#"{"g":0,"id":"c/k000","n":0}"#, #"{"g":1,"id":"c/k001","n":1}"#])
                let whole = try await run("FOR d IN c FILTER d.n == 5 RETURN d")
                #expect(whole.first?["_rev"]?.stringValue?.isEmpty == false)
                #expect(try await run("FOR d IN c SORT d.n LIMIT 150, 100 RETURN d.n").count == 50)
                #expect(try await run("FOR d IN c RETURN d._key").count == 200)
                answers.append(round)
            }
            #expect(answers[0] == answers[1])
        }
    }

    @Test("count, fullCount, batches, PUT and POST for more, DELETE, and expiry")
    func batches() async throws {
        try await withServer { api, _ in
            try await Self.load(api)
            let first = try await api.expect(201, .post, "/_api/cursor",
                                             #"{"query": "FOR d IN c FILTER d.group == 1 SORT d.n LIMIT 10 RETURN d.n", "count": true, "batchSize": 4, "options": {"fullCount": true}}"#)
            #expect(first["count"]?.intValue == 10)
            #expect(first["hasMore"]?.boolValue == true)
            #expect(first["extra"]?["stats"]?["fullCount"]?.intValue == 29)
            #expect(first["result"]?.count == 4)
            let id = first["id"]?.stringValue ?? ""
            let second = try await api.expect(200, .put, "/_api/cursor/\(id)")
            #expect(Self.numbers(second["result"]?.arrayElements.map { $0 } ?? []) == [29, 36, 43, 50])
            let third = try await api.expect(200, .post, "/_api/cursor/\(id)")
            #expect(third["hasMore"]?.boolValue == false)
            #expect(third["result"]?.count == 2)
            try await api.expectError(404, 1600, .put, "/_api/cursor/\(id)")

            let deleted = try await api.expect(201, .post, "/_api/cursor", #"{"query": "FOR d IN c RETURN d.n", "batchSize": 10}"#)
            let deletedID = deleted["id"]?.stringValue ?? ""
            try await api.expect(202, .delete, "/_api/cursor/\(deletedID)")
            try await api.expectError(404, 1600, .put, "/_api/cursor/\(deletedID)")
            try await api.expectError(404, 1600, .delete, "/_api/cursor/\(deletedID)")

            let expiring = try await api.expect(201, .post, "/_api/cursor", #"{"query": "FOR d IN c RETURN d.n", "batchSize": 10, "ttl": 1}"#)
            try await Task.sleep(for: .milliseconds(1500))
            try await api.expectError(404, 1600, .put, "/_api/cursor/\(expiring["id"]?.stringValue ?? "")")

            let single = try await api.expect(201, .post, "/_api/cursor", #"{"query": "FOR d IN c FILTER d.n == 1 RETURN d.n"}"#)
            #expect(single["hasMore"]?.boolValue == false)
            #expect(single["id"] == nil)
        }
    }

    @Test("queries outside the subset or with bad input get clear errors")
    func errors() async throws {
        try await withServer { api, _ in
            try await Self.load(api)
            try await api.expectError(400, 1501, .post, "/_api/cursor", #"{"query": "FOR d IN c FILTER RETURN d"}"#)
            try await api.expectError(400, 1501, .post, "/_api/cursor", #"{"query": "FOR d IN"}"#)
            try await api.expectError(400, 1502, .post, "/_api/cursor", #"{"query": ""}"#)
            try await api.expectError(400, 1502, .post, "/_api/cursor", #"{"bindVars": {}}"#)
            try await api.expectError(400, 1551, .post, "/_api/cursor", #"{"query": "FOR d IN c FILTER d.n == @x RETURN d"}"#)
            try await api.expectError(400, 1552, .post, "/_api/cursor", #"{"query": "FOR d IN c RETURN d", "bindVars": {"y": 1}}"#)
            try await api.expectError(404, 1203, .post, "/_api/cursor", #"{"query": "FOR d IN nothere RETURN d"}"#)
            let unsupported = try await api.call(.post, "/_api/cursor", #"{"query": "FOR d IN c COLLECT g = d.group RETURN g"}"#)
            #expect(unsupported.status >= 400)
            #expect(unsupported.error?.message.contains("not supported") == true, "\(unsupported.json)")
            let distinct = try await api.call(.post, "/_api/cursor", #"{"query": "FOR d IN c RETURN DISTINCT d.group"}"#)
            #expect(distinct.error?.number.rawValue == 9)
            try await api.expectError(400, 10, .post, "/_api/cursor", #"{"query": "FOR d IN c RETURN d", "batchSize": 0}"#)
            try await api.expectError(400, 10, .post, "/_api/cursor", #"{"query": "FOR d IN c RETURN d", "ttl": -1}"#)
            try await api.expectError(400, 600, .post, "/_api/cursor")
        }
    }
}
