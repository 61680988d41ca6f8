import Client
import Foundation
import Testing
import VelocyPack
import VelocyStream

/// The document-database API of a real `tessera single` process, endpoint by endpoint, with
/// success and error cases.
@Suite("Document API", .serialized)
struct DocumentAPITests {
    @Test("databases: list, create, current, drop, and their errors")
    func databases() async throws {
        try await withServer { api, _ in
            let list = try await api.expect(200, .get, "/_api/database")
            #expect(list["result"]?.arrayElements.compactMap(\.stringValue) == ["_system"])
            try await api.expect(201, .post, "/_api/database", #"{"name": "shop"}"#)
            try await api.expectError(409, 1207, .post, "/_api/database", #"{"name": "shop"}"#)
            try await api.expectError(400, 1229, .post, "/_api/database", #"{"name": "1shop"}"#)
            try await api.expectError(400, 1229, .post, "/_api/database", #"{"name": "sh op"}"#)
            try await api.expectError(400, 1229, .post, "/_api/database", #"{"nom": "x"}"#)
            let current = try await api.expect(200, .get, "/_api/database/current", database: "shop")
            #expect(current["result"]?["name"]?.stringValue == "shop")
            #expect(current["result"]?["isSystem"]?.boolValue == false)
            try await api.expectError(403, 1230, .post, "/_api/database", #"{"name": "other"}"#, database: "shop")
            // Collections of different databases are apart.
            try await api.expect(200, .post, "/_api/collection", #"{"name": "items"}"#, database: "shop")
            try await api.expectError(404, 1203, .get, "/_api/collection/items")
            let names = try await api.expect(200, .get, "/_api/database")["result"]?.arrayElements.compactMap(\.stringValue)
            #expect(names == ["_system", "shop"])
            try await api.expect(200, .delete, "/_api/database/shop")
            try await api.expectError(404, 1228, .get, "/_api/collection", database: "shop")
            try await api.expectError(404, 1228, .delete, "/_api/database/shop")
            try await api.expectError(403, 11, .delete, "/_api/database/_system")
        }
    }

    @Test("collections: create, list, get, properties, count, figures, truncate, rename, drop")
    func collections() async throws {
        try await withServer { api, _ in
            let created = try await api.expect(200, .post, "/_api/collection",
                                               #"{"name": "people", "waitForSync": true}"#)
            #expect(created["name"]?.stringValue == "people")
            #expect(created["type"]?.intValue == 2)
            #expect(created["waitForSync"]?.boolValue == true)
            #expect(created["isSystem"]?.boolValue == false)
            let edges = try await api.expect(200, .post, "/_api/collection", #"{"name": "knows", "type": 3}"#)
            #expect(edges["type"]?.intValue == 3)
            try await api.expectError(409, 1207, .post, "/_api/collection", #"{"name": "people"}"#)
            for bad in ["_private", "1abc", "has space", "", String(repeating: "a", count: 257), "dot.ted"] {
                try await api.expectError(400, 1208, .post, "/_api/collection", #"{"name": \#(jsonString(bad))}"#)
            }
            try await api.expectError(400, 1218, .post, "/_api/collection", #"{"name": "x", "type": 7}"#)
            try await api.expectError(400, 10, .post, "/_api/collection", #"{"name": "x", "keyOptions": {"type": "random"}}"#)

            let list = try await api.expect(200, .get, "/_api/collection")
            #expect(Set(list["result"]?.arrayElements.compactMap { $0["name"]?.stringValue } ?? []) == ["people", "knows", "_users"])
            let userCollections = try await api.expect(200, .get, "/_api/collection", nil, ["excludeSystem": "true"])
            #expect(Set(userCollections["result"]?.arrayElements.compactMap { $0["name"]?.stringValue } ?? []) == ["people", "knows"])
            try await api.expectError(403, 11, .delete, "/_api/collection/_users")
            try await api.expectError(403, 11, .put, "/_api/collection/_users/rename", #"{"name": "x"}"#)
            try await api.expect(200, .get, "/_api/collection/people")
            try await api.expectError(404, 1203, .get, "/_api/collection/nobody")
            try await api.expectError(404, 1203, .get, "/_api/collection/nobody/count")

            let properties = try await api.expect(200, .put, "/_api/collection/people/properties", #"{"waitForSync": false}"#)
            #expect(properties["waitForSync"]?.boolValue == false)
            #expect(try await api.expect(200, .get, "/_api/collection/people/properties")["waitForSync"]?.boolValue == false)

            try await api.expect(202, .post, "/_api/document/people", #"[{"a": 1}, {"a": 2}, {"a": 3}]"#)
            #expect(try await api.count("people") == 3)
            let figures = try await api.expect(200, .get, "/_api/collection/people/figures")
            #expect(figures["count"]?.intValue == 3)
            #expect((figures["figures"]?["documentsSize"]?.intValue ?? 0) > 0)

            try await api.expect(200, .put, "/_api/collection/people/truncate")
            #expect(try await api.count("people") == 0)

            try await api.expect(202, .post, "/_api/document/people", #"{"_key": "k", "v": 1}"#)
            try await api.expect(200, .put, "/_api/collection/people/rename", #"{"name": "humans"}"#)
            try await api.expectError(404, 1203, .get, "/_api/collection/people")
            let moved = try await api.expect(200, .get, "/_api/document/humans/k")
            #expect(moved["_id"]?.stringValue == "humans/k")
            try await api.expectError(409, 1207, .put, "/_api/collection/humans/rename", #"{"name": "knows"}"#)
            try await api.expectError(400, 1208, .put, "/_api/collection/humans/rename", #"{"name": "_x"}"#)

            try await api.expect(200, .delete, "/_api/collection/humans")
            try await api.expectError(404, 1203, .get, "/_api/document/humans/k")
            try await api.expectError(404, 1203, .delete, "/_api/collection/humans")
        }
    }

    @Test("key generators: traditional, autoincrement, padded, uuid; allowUserKeys")
    func keyGenerators() async throws {
        try await withServer { api, _ in
            try await api.expect(200, .post, "/_api/collection",
                                 #"{"name": "auto", "keyOptions": {"type": "autoincrement", "offset": 10, "increment": 5}}"#)
            try await api.expect(200, .post, "/_api/collection", #"{"name": "padded", "keyOptions": {"type": "padded"}}"#)
            try await api.expect(200, .post, "/_api/collection", #"{"name": "uuid", "keyOptions": {"type": "uuid"}}"#)
            try await api.expect(200, .post, "/_api/collection",
                                 #"{"name": "fixed", "keyOptions": {"allowUserKeys": false}}"#)
            try await api.expect(200, .post, "/_api/collection", #"{"name": "plain"}"#)

            var autoKeys: [String] = []
            for _ in 0..<3 { autoKeys.append(try await api.expect(202, .post, "/_api/document/auto", "{}")["_key"]?.stringValue ?? "") }
            #expect(autoKeys == ["10", "15", "20"])

            let padded = try await api.expect(202, .post, "/_api/document/padded", "{}")["_key"]?.stringValue ?? ""
            #expect(padded.count == 16 && padded.allSatisfy(\.isHexDigit))

            let uuid = try await api.expect(202, .post, "/_api/document/uuid", "{}")["_key"]?.stringValue ?? ""
            #expect(uuid.count == 36 && uuid.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])

            try await api.expectError(400, 1222, .post, "/_api/document/fixed", #"{"_key": "mine"}"#)
            try await api.expect(202, .post, "/_api/document/fixed", "{}")

            // A numeric user key moves the generator past it.
            try await api.expect(202, .post, "/_api/document/plain", #"{"_key": "100"}"#)
            let next = try await api.expect(202, .post, "/_api/document/plain", "{}")["_key"]?.stringValue ?? ""
            #expect(Int(next) == 101)
            try await api.expectError(400, 1221, .post, "/_api/document/plain", #"{"_key": "a/b"}"#)
            try await api.expectError(400, 1221, .post, "/_api/document/plain", #"{"_key": 12}"#)
            try await api.expectError(400, 1221, .post, "/_api/document/plain", #"{"_key": ""}"#)
        }
    }

    @Test("documents: insert, read, replace, update, remove with every option")
    func documents() async throws {
        try await withServer { api, _ in
            try await api.expect(200, .post, "/_api/collection", #"{"name": "c"}"#)
            let inserted = try await api.expect(202, .post, "/_api/document/c", #"{"_key": "a", "name": "ada", "_id": "x/y", "_rev": "zzz"}"#)
            #expect(inserted["_id"]?.stringValue == "c/a")
            let rev1 = inserted["_rev"]?.stringValue ?? ""
            #expect(!rev1.isEmpty)
            try await api.expect(201, .post, "/_api/document/c", #"{"_key": "synced"}"#, ["waitForSync": "true"])

            let read = try await api.expect(200, .get, "/_api/document/c/a")
            #expect(read["name"]?.stringValue == "ada")
            #expect(read["_rev"]?.stringValue == rev1)
            #expect(read["_key"]?.stringValue == "a")
            #expect(read.meta["etag"] == "\"\(rev1)\"")
            try await api.expect(304, .get, "/_api/document/c/a", meta: ["if-none-match": "\"\(rev1)\""])
            try await api.expectError(412, 1200, .get, "/_api/document/c/a", meta: ["if-match": "\"_zzzzzzzzz\""])
            try await api.expect(200, .head, "/_api/document/c/a")
            try await api.expectError(404, 1202, .get, "/_api/document/c/missing")
            try await api.expectError(404, 1203, .get, "/_api/document/nope/a")
            try await api.expectError(409, 1210, .post, "/_api/document/c", #"{"_key": "a"}"#)
            try await api.expectError(400, 1227, .post, "/_api/document/c", "5")

            // returnNew / returnOld / silent
            let replaced = try await api.expect(202, .put, "/_api/document/c/a", #"{"name": "grace", "tags": {"x": 1}}"#,
                                                ["returnOld": "true", "returnNew": "true"])
            #expect(replaced["old"]?["name"]?.stringValue == "ada")
            #expect(replaced["new"]?["name"]?.stringValue == "grace")
            #expect(replaced["_oldRev"]?.stringValue == rev1)
            let rev2 = replaced["_rev"]?.stringValue ?? ""
            #expect(rev2 != rev1)
            let silent = try await api.expect(202, .patch, "/_api/document/c/a", #"{"n": 1}"#, ["silent": "true"])
            #expect(silent.body?.isObject == true && silent.body?.count == 0)

            // If-Match and ignoreRevs
            try await api.expectError(412, 1200, .put, "/_api/document/c/a", #"{"x": 1}"#, meta: ["if-match": "\"\(rev1)\""])
            try await api.expectError(412, 1200, .patch, "/_api/document/c/a", #"{"_rev": "\#(rev1)", "x": 1}"#, ["ignoreRevs": "false"])
            try await api.expectError(412, 1200, .delete, "/_api/document/c/a", meta: ["if-match": "\"\(rev1)\""])
            let current = try await api.expect(200, .get, "/_api/document/c/a")["_rev"]?.stringValue ?? ""
            try await api.expect(202, .patch, "/_api/document/c/a", #"{"_rev": "\#(rev1)", "ok": true}"#)  // ignored by default
            let afterIgnored = try await api.expect(200, .get, "/_api/document/c/a")["_rev"]?.stringValue ?? ""
            try await api.expect(202, .patch, "/_api/document/c/a", #"{"matched": true}"#, meta: ["if-match": "\"\(afterIgnored)\""])
            #expect(current != afterIgnored)

            // update: keepNull, mergeObjects
            try await api.expect(202, .post, "/_api/document/c", #"{"_key": "m", "keep": 1, "drop": 2, "o": {"x": 1, "y": 2}}"#)
            let merged = try await api.expect(202, .patch, "/_api/document/c/m", #"{"drop": null, "o": {"y": 3, "z": 4}, "add": null}"#,
                                              ["keepNull": "false", "returnNew": "true"])
            let new = merged["new"]
            #expect(new?["keep"]?.intValue == 1)
            #expect(new?["drop"] == nil)
            #expect(new?["add"] == nil)
            #expect(new?["o"]?.json == #"{"x":1,"y":3,"z":4}"#)
            let unmerged = try await api.expect(202, .patch, "/_api/document/c/m", #"{"o": {"only": true}, "n": null}"#,
                                                ["mergeObjects": "false", "returnNew": "true"])
            #expect(unmerged["new"]?["o"]?.json == #"{"only":true}"#)
            #expect(unmerged["new"]?["n"]?.isNull == true)

            // overwriteMode
            let ignored = try await api.expect(202, .post, "/_api/document/c", #"{"_key": "m", "v": 9}"#, ["overwriteMode": "ignore"])
            #expect(ignored["_rev"]?.stringValue == unmerged["_rev"]?.stringValue)
            let overwritten = try await api.expect(202, .post, "/_api/document/c", #"{"_key": "m", "v": 9}"#,
                                                   ["overwriteMode": "replace", "returnNew": "true", "returnOld": "true"])
            #expect(overwritten["new"]?["keep"] == nil)
            #expect(overwritten["old"]?["keep"]?.intValue == 1)
            let updated = try await api.expect(202, .post, "/_api/document/c", #"{"_key": "m", "w": 1}"#,
                                               ["overwriteMode": "update", "returnNew": "true"])
            #expect(updated["new"]?["v"]?.intValue == 9)
            #expect(updated["new"]?["w"]?.intValue == 1)
            try await api.expectError(409, 1210, .post, "/_api/document/c", #"{"_key": "m"}"#, ["overwriteMode": "conflict"])
            try await api.expectError(400, 10, .post, "/_api/document/c", #"{"_key": "m"}"#, ["overwriteMode": "sometimes"])
            let fresh = try await api.expect(202, .post, "/_api/document/c", #"{"_key": "new1"}"#, ["overwriteMode": "replace"])
            #expect(fresh["_oldRev"] == nil)

            // remove
            let removed = try await api.expect(202, .delete, "/_api/document/c/m", nil, ["returnOld": "true"])
            #expect(removed["old"]?["w"]?.intValue == 1)
            try await api.expectError(404, 1202, .delete, "/_api/document/c/m")
            try await api.expectError(404, 1202, .put, "/_api/document/c/m", #"{"a": 1}"#)
            try await api.expectError(404, 1202, .patch, "/_api/document/c/m", #"{"a": 1}"#)
            try await api.expect(200, .delete, "/_api/document/c/synced", nil, ["waitForSync": "true"])

            // bad bodies
            try await api.expectError(400, 600, .put, "/_api/document/c/a")
            try await api.expectError(400, 1227, .put, "/_api/document/c/a", #""text""#)
            try await api.expectError(400, 10, .post, "/_api/document/c", #"{"a": 1}"#, ["waitForSync": "perhaps"])
        }
    }

    @Test("documents: arrays answer per element, with error counts")
    func arrays() async throws {
        try await withServer { api, _ in
            try await api.expect(200, .post, "/_api/collection", #"{"name": "c"}"#)
            let inserted = try await api.expect(202, .post, "/_api/document/c",
                                                #"[{"_key": "a"}, {"_key": "a"}, 7, {"_key": "b", "v": 1}, {"_key": "bad key"}]"#)
            let items = inserted.body?.arrayElements.map { $0 } ?? []
            #expect(items.count == 5)
            #expect(items[0]["_key"]?.stringValue == "a")
            #expect(items[1]["errorNum"]?.intValue == 1210)
            #expect(items[2]["errorNum"]?.intValue == 1227)
            #expect(items[3]["_key"]?.stringValue == "b")
            #expect(items[4]["errorNum"]?.intValue == 1221)
            #expect(inserted.meta["x-arango-error-codes"] == #"{"1210":1,"1221":1,"1227":1}"#)
            #expect(try await api.count("c") == 2)

            let replaced = try await api.expect(202, .put, "/_api/document/c", #"[{"_key": "a", "v": 2}, {"_key": "zz"}, {"v": 3}]"#)
            let replaceItems = replaced.body?.arrayElements.map { $0 } ?? []
            #expect(replaceItems[0]["_key"]?.stringValue == "a")
            #expect(replaceItems[1]["errorNum"]?.intValue == 1202)
            #expect(replaceItems[2]["errorNum"]?.intValue == 1221)

            let updated = try await api.expect(202, .patch, "/_api/document/c", #"[{"_id": "c/b", "w": 1}, {"_id": "other/b"}]"#,
                                               ["returnNew": "true"])
            let updateItems = updated.body?.arrayElements.map { $0 } ?? []
            #expect(updateItems[0]["new"]?["w"]?.intValue == 1)
            #expect(updateItems[1]["errorNum"]?.intValue == 1213)

            let read = try await api.expect(200, .put, "/_api/document/c", #"["a", {"_key": "b"}, "nope"]"#, ["onlyget": "true"])
            let readItems = read.body?.arrayElements.map { $0 } ?? []
            #expect(readItems[0]["v"]?.intValue == 2)
            #expect(readItems[1]["w"]?.intValue == 1)
            #expect(readItems[2]["errorNum"]?.intValue == 1202)

            let removed = try await api.expect(202, .delete, "/_api/document/c", #"["a", "c/b", "a"]"#)
            let removeItems = removed.body?.arrayElements.map { $0 } ?? []
            #expect(removeItems[0]["_key"]?.stringValue == "a")
            #expect(removeItems[1]["_key"]?.stringValue == "b")
            #expect(removeItems[2]["errorNum"]?.intValue == 1202)
            #expect(try await api.count("c") == 0)

            // A large array (beyond the inline limit) goes through the thread pool, same answers.
            let many = "[" + (0..<500).map { #"{"_key": "k\#($0)", "i": \#($0)}"# }.joined(separator: ",") + "]"
            let bulk = try await api.expect(202, .post, "/_api/document/c", many)
            #expect(bulk.body?.count == 500)
            #expect(bulk.meta["x-arango-error-codes"] == nil)
            #expect(try await api.count("c") == 500)
        }
    }

    @Test("edges need _from and _to as document ids")
    func edges() async throws {
        try await withServer { api, _ in
            try await api.expect(200, .post, "/_api/collection", #"{"name": "e", "type": 3}"#)
            try await api.expectError(400, 1233, .post, "/_api/document/e", #"{"_from": "v/1"}"#)
            try await api.expectError(400, 1233, .post, "/_api/document/e", #"{"_from": "v/1", "_to": "nokey"}"#)
            try await api.expectError(400, 1233, .post, "/_api/document/e", #"{"_from": 5, "_to": "v/2"}"#)
            let edge = try await api.expect(202, .post, "/_api/document/e", #"{"_key": "x", "_from": "v/1", "_to": "v/2", "w": 1}"#)
            #expect(edge["_id"]?.stringValue == "e/x")
            let read = try await api.expect(200, .get, "/_api/document/e/x")
            #expect(read["_from"]?.stringValue == "v/1")
            #expect(read["_to"]?.stringValue == "v/2")
            try await api.expectError(400, 1233, .put, "/_api/document/e/x", #"{"w": 2}"#)
            let patched = try await api.expect(202, .patch, "/_api/document/e/x", #"{"_to": "v/3"}"#, ["returnNew": "true"])
            #expect(patched["new"]?["_to"]?.stringValue == "v/3")
            #expect(patched["new"]?["_from"]?.stringValue == "v/1")
            try await api.expectError(400, 1233, .patch, "/_api/document/e/x", #"{"_to": "broken"}"#)
        }
    }

    @Test("indexes: persistent create, list, get, drop; unique and sparse")
    func indexes() async throws {
        try await withServer { api, _ in
            try await api.expect(200, .post, "/_api/collection", #"{"name": "c"}"#)
            try await api.expect(202, .post, "/_api/document/c", #"[{"_key": "1", "email": "a@x"}, {"_key": "2", "email": "a@x"}]"#)
            try await api.expectError(409, 1210, .post, "/_api/index", #"{"type": "persistent", "fields": ["email"], "unique": true}"#,
                                      ["collection": "c"])
            try await api.expect(202, .delete, "/_api/document/c/2")
            let created = try await api.expect(201, .post, "/_api/index",
                                               #"{"type": "persistent", "fields": ["email"], "unique": true, "name": "byEmail"}"#,
                                               ["collection": "c"])
            #expect(created["isNewlyCreated"]?.boolValue == true)
            let id = created["id"]?.stringValue ?? ""
            #expect(id.hasPrefix("c/"))
            let again = try await api.expect(200, .post, "/_api/index",
                                             #"{"type": "persistent", "fields": ["email"], "unique": true}"#, ["collection": "c"])
            #expect(again["isNewlyCreated"]?.boolValue == false)
            #expect(again["id"]?.stringValue == id)
            try await api.expectError(409, 1207, .post, "/_api/index", #"{"type": "persistent", "fields": ["other"], "name": "byEmail"}"#,
                                      ["collection": "c"])

            try await api.expectError(409, 1210, .post, "/_api/document/c", #"{"email": "a@x"}"#)
            try await api.expect(202, .post, "/_api/document/c", #"{"email": "b@x"}"#)

            let list = try await api.expect(200, .get, "/_api/index", nil, ["collection": "c"])
            let types = list["indexes"]?.arrayElements.compactMap { $0["type"]?.stringValue }
            #expect(types == ["primary", "persistent"])
            #expect(list["identifiers"]?[id]?["name"]?.stringValue == "byEmail")
            try await api.expect(200, .get, "/_api/index/\(id)")
            try await api.expect(200, .get, "/_api/index/c/0")

            try await api.expectError(400, 10, .post, "/_api/index", #"{"type": "geo", "fields": ["loc"]}"#, ["collection": "c"])
            try await api.expectError(400, 10, .post, "/_api/index", #"{"type": "persistent", "fields": []}"#, ["collection": "c"])
            try await api.expectError(400, 10, .post, "/_api/index", #"{"type": "persistent", "fields": ["a[*]"]}"#, ["collection": "c"])
            try await api.expectError(400, 10, .get, "/_api/index")
            try await api.expectError(404, 1203, .get, "/_api/index", nil, ["collection": "none"])
            try await api.expectError(403, 11, .delete, "/_api/index/c/0")
            try await api.expectError(400, 1214, .delete, "/_api/index/c/abc")

            try await api.expect(200, .delete, "/_api/index/\(id)")
            try await api.expectError(404, 1212, .delete, "/_api/index/\(id)")
            try await api.expect(202, .post, "/_api/document/c", #"{"email": "a@x"}"#)  // no longer unique

            let sparse = try await api.expect(201, .post, "/_api/index", #"{"type": "persistent", "fields": ["opt"], "unique": true, "sparse": true}"#,
                                              ["collection": "c"])
            #expect(sparse["sparse"]?.boolValue == true)
            try await api.expect(202, .post, "/_api/document/c", #"[{"x": 1}, {"x": 2}]"#)  // missing values do not collide
        }
    }
}
