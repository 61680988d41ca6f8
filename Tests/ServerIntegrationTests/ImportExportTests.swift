import Foundation
import Testing
import VelocyPack

/// `tessera import` and `tessera export` against a real server.
@Suite("tessera import and export", .serialized)
struct ImportExportTests {
    /// Writes `text` to a new temporary file and returns its path.
    func file(_ text: String) -> String {
        let path = ServerProcess.temporaryDirectory() + "/input.json"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    /// The documents `export` prints, by key, normalized (see ``normalized(_:)``).
    func exported(_ collection: String, _ server: ServerProcess, batchSize: Int = 1000) throws -> [String: String] {
        let run = try runTessera(["export", "--collection", collection, "--endpoint", server.endpoint.description,
                                  "--password", "", "--batch-size", String(batchSize)])
        #expect(run.status == 0, "\(run.errors)")
        var documents: [String: String] = [:]
        for line in run.output.split(separator: "\n") {
            let key = try #require(JSONParser.parse(String(line)).slice["_key"]?.stringValue)
            #expect(documents[key] == nil, "key \(key) exported twice")
            documents[key] = try normalized(String(line))
        }
        return documents
    }

    /// A document as compact JSON with members in key order, without the server's `_id` and
    /// `_rev` (so that what was imported compares with what is exported).
    func normalized(_ json: String) throws -> String {
        let document = try JSONParser.parse(json).slice
        var builder = Builder()
        builder.openObject()
        for member in document.objectMembers where member.key.stringValue != "_id" && member.key.stringValue != "_rev" {
            builder.add(key: member.key)
            builder.add(member.value)
        }
        builder.closeTrusted()
        // Parsing the dump again builds indexed objects, whose index order is key order.
        return try JSONDumper.dumpString(JSONParser.parse(JSONDumper.dumpString(builder.slice)).slice)
    }

    func normalized(_ documents: [String: String]) throws -> [String: String] {
        try documents.mapValues(normalized)
    }

    func documentCount(_ collection: String, _ server: ServerProcess) throws -> Int? {
        let run = try runTessera(["call", "GET", "/_api/collection/\(collection)/count", "--compact",
                                  "--endpoint", server.endpoint.description])
        return try JSONParser.parse(run.output).slice["count"]?.intValue.map(Int.init)
    }

    @Test func jsonLinesWithBadLinesImportTheRestAndNameTheLines() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let input = file("""
            {"_key":"a","x":1}

            {"_key":"b", nope}
            {"_key":"bad key/","x":3}
            {"_key":"a","x":4}
            {"_key":"c","list":[1,2,{"y":"}"}]}
            {"_key":"d","x":5}
            """)
        let run = try runTessera(["import", "--collection", "docs", input, "--create-collection",
                                  "--endpoint", server.endpoint.description, "--batch-size", "2"])
        #expect(run.status == 1, "\(run.errors)")
        #expect(run.output.hasPrefix("imported 3, failed 3,"), "\(run.output)")
        let errors = run.errors.split(separator: "\n").map(String.init)
        #expect(errors.contains { $0.hasPrefix("line 3: invalid JSON") })
        #expect(errors.contains { $0.hasPrefix("line 4: error 1221") })
        #expect(errors.contains { $0.hasPrefix("line 5: error 1210") })
        #expect(errors.count == 3, "\(errors)")
        let documents = try exported("docs", server)
        #expect(try documents == normalized([
            "a": #"{"_key":"a","x":1}"#,
            "c": #"{"_key":"c","list":[1,2,{"y":"}"}]}"#,
            "d": #"{"_key":"d","x":5}"#,
        ]))
    }

    @Test func jsonArrayWithBadElementsImportsTheRestAndNamesTheLines() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let input = file("""
              [
              {"_key": "a", "text": "with, comma and ] bracket"},
              {"_key": "b",
               "broken": tru},
              {"_key": "a"},
              {"_key": 7},
              {"_key": "c", "nested": [{"z": "\\"}"}]}
            ]
            """)
        let run = try runTessera(["import", "--collection", "array", input, "--create-collection",
                                  "--endpoint", server.endpoint.description])
        #expect(run.status == 1, "\(run.errors)")
        #expect(run.output.hasPrefix("imported 2, failed 3,"), "\(run.output)")
        let errors = run.errors.split(separator: "\n").map(String.init)
        #expect(errors.contains { $0.hasPrefix("line 3: invalid JSON") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("line 5: error 1210") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("line 6: error 1221") }, "\(errors)")
        #expect(try exported("array", server) == normalized([
            "a": #"{"_key":"a","text":"with, comma and ] bracket"}"#,
            "c": #"{"_key":"c","nested":[{"z":"\"}"}]}"#,
        ]))
    }

    @Test func exportRoundTripsALargeImportAcrossInputChunks() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        // ~3 MiB of pretty-printed array: records straddle the importer's 1 MiB reads.
        let count = 12_000
        var text = "[\n"
        var expected: [String: String] = [:]
        for index in 0..<count {
            let document = #"{"_key":"k\#(index)","n":\#(index),"s":"\#(String(repeating: "x", count: index % 200))"}"#
            expected["k\(index)"] = document
            text += "  " + document.replacingOccurrences(of: ",", with: ",\n    ") + (index + 1 < count ? ",\n" : "\n")
        }
        text += "]\n"
        let input = file(text)
        let run = try runTessera(["import", "--collection", "big", input, "--create-collection", "--batch-size", "500",
                                  "--endpoint", server.endpoint.description])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.hasPrefix("imported \(count), failed 0,"), "\(run.output)")
        #expect(try documentCount("big", server) == count)
        #expect(try exported("big", server, batchSize: 777) == normalized(expected))

        // Again with overwrite-mode ignore: nothing fails, nothing changes.
        let again = try runTessera(["import", "--collection", "big", input, "--overwrite-mode", "ignore",
                                    "--endpoint", server.endpoint.description])
        #expect(again.status == 0, "\(again.errors)")
        #expect(try documentCount("big", server) == count)
    }

    @Test func usageAndConnectionErrorsExitTwo() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let input = file(#"{"a":1}"#)
        let missing = try runTessera(["import", "--collection", "absent", input, "--endpoint", server.endpoint.description])
        #expect(missing.status == 2)
        #expect(missing.errors.contains("collection 'absent' not found"))
        let noFile = try runTessera(["import", "--collection", "absent", "/nonexistent/file", "--endpoint", server.endpoint.description])
        #expect(noFile.status == 2)
        #expect(noFile.errors.contains("cannot open /nonexistent/file"))
        let noCollectionOption = try runTessera(["import", input])
        #expect(noCollectionOption.status == 2)
        let noServer = try runTessera(["import", "--collection", "c", input, "--endpoint", "tcp://127.0.0.1:1"])
        #expect(noServer.status == 2)
        #expect(noServer.errors.contains("cannot connect"))
        let exportMissing = try runTessera(["export", "--collection", "absent", "--endpoint", server.endpoint.description])
        #expect(exportMissing.status == 2)
        #expect(exportMissing.errors.contains("1203"))
    }
}
