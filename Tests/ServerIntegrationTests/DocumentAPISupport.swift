import Client
import Foundation
import Testing
import Transport
import VelocyPack
import VelocyStream

/// A test's view of a running server's document API: JSON in, parsed answers out.
struct API {
    let client: VSTClient
    var database: String? = nil

    /// Sends `body` (JSON text) and returns the answer, whatever its status.
    @discardableResult
    func call(_ method: RequestMethod, _ path: String, _ body: String? = nil, _ parameters: [String: String] = [:],
              meta: [String: String] = [:], database: String? = nil) async throws -> ClientResponse {
        let bytes = try body.map { try JSONParser.parse($0).bytes } ?? []
        return try await client.request(method, path, parameters: parameters.mapValues { [$0] }, meta: meta, body: bytes,
                                        database: database ?? self.database)
    }

    /// Like `call`, but the answer must have `status`.
    @discardableResult
    func expect(_ status: Int, _ method: RequestMethod, _ path: String, _ body: String? = nil,
                _ parameters: [String: String] = [:], meta: [String: String] = [:], database: String? = nil,
                sourceLocation: SourceLocation = #_sourceLocation) async throws -> ClientResponse {
        let response = try await call(method, path, body, parameters, meta: meta, database: database)
        #expect(response.status == status, "\(method) \(path): \(response.json)", sourceLocation: sourceLocation)
        return response
    }

    /// The answer must be the ArangoDB error (`status`, `errorNum`).
    func expectError(_ status: Int, _ number: Int, _ method: RequestMethod, _ path: String, _ body: String? = nil,
                     _ parameters: [String: String] = [:], meta: [String: String] = [:], database: String? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let response = try await call(method, path, body, parameters, meta: meta, database: database)
        #expect(response.status == status, "\(method) \(path): \(response.json)", sourceLocation: sourceLocation)
        #expect(response.error?.number.rawValue == number, "\(method) \(path): \(response.json)", sourceLocation: sourceLocation)
    }

    /// Runs a query and returns every result, following the cursor's batches.
    func query(_ text: String, bindVars: String = "{}", batchSize: Int = 1000) async throws -> [Slice] {
        var response = try await expect(201, .post, "/_api/cursor",
                                        #"{"query": \#(jsonString(text)), "bindVars": \#(bindVars), "batchSize": \#(batchSize)}"#)
        var results: [Slice] = []
        while true {
            results.append(contentsOf: response["result"]?.arrayElements.map { $0 } ?? [])
            guard response["hasMore"]?.boolValue == true, let id = response["id"]?.stringValue else { break }
            response = try await expect(200, .put, "/_api/cursor/\(id)")
        }
        return results
    }

    func count(_ collection: String) async throws -> Int {
        Int(try await expect(200, .get, "/_api/collection/\(collection)/count")["count"]?.intValue ?? -1)
    }
}

func jsonString(_ text: String) -> String {
    var builder = Builder()
    builder.add(text)
    return try! JSONDumper.dumpString(builder.slice)
}

extension ClientResponse {
    /// A member of the body object.
    subscript(key: String) -> Slice? { body?[key] }
    /// The body as compact JSON (for failure messages).
    var json: String { body.flatMap { try? JSONDumper.dumpString($0) } ?? "(no body)" }
}

extension Slice {
    var json: String { (try? JSONDumper.dumpString(self)) ?? "(invalid)" }
}

/// Starts a server without authentication and hands its API to `body`.
func withServer(arguments: [String] = ["--no-authentication"], _ body: (API, ServerProcess) async throws -> Void) async throws {
    let server = try ServerProcess(arguments: arguments)
    let client = makeClient(server, poolSize: 4, credentials: nil)
    do {
        try await body(API(client: client), server)
    } catch {
        await client.shutdown()
        server.stop()
        throw error
    }
    await client.shutdown()
    #expect(server.stop() == 0, "server output: \(server.output)")
}
