import ArgumentParser
import Client
import VelocyPack
import VelocyStream
import VPackTool

/// `tessera export --collection C`: every document as one compact JSON line on standard
/// output, read through a cursor batch by batch (arangoexport's JSONL output).
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a collection's documents to standard output as JSON lines.",
        discussion: "Exits 0 when every document was written, 2 on usage, connection or server errors.")

    @Option(help: "The collection to export.")
    var collection: String

    @Option(help: "Documents per cursor batch.")
    var batchSize = 1000

    @OptionGroup var client: ClientOptions

    /// The server's limit for a cursor batch.
    static let batchSizeMax = 100_000

    func validate() throws {
        guard (1...Self.batchSizeMax).contains(batchSize) else {
            throw ValidationError("--batch-size must be in 1...\(Self.batchSizeMax)")
        }
    }

    func run() async throws {
        let client = VSTClient(configuration: self.client.clientConfiguration(poolSize: 1))
        do {
            try await export(client)
        } catch {
            await client.shutdown()
            InputOutput.writeStandardError("tessera export: \(error)")
            throw ExitCode(2)
        }
        await client.shutdown()
    }

    func export(_ client: VSTClient) async throws {
        var query = Builder()
        query.openObject()
        query.add(key: "query", "FOR d IN @@c RETURN d")
        query.add(key: "bindVars")
        query.openObject()
        query.add(key: "@c", collection)
        query.closeTrusted()
        query.add(key: "batchSize", batchSize)
        query.closeTrusted()
        var answer = try await client.request(.post, "/_api/cursor", body: query.bytes)
        var output: [UInt8] = []
        while true {
            guard answer.status < 400 else { throw ToolFailure("the server refused the cursor: \(VSTClient.describe(answer))") }
            guard let body = answer.body, let results = body["result"], results.isArray else {
                throw ToolFailure("the cursor answer has no result array")
            }
            // Ask for the next batch before writing this one: the server's work overlaps ours.
            let next: Task<ClientResponse, any Error>?
            if body["hasMore"]?.boolValue == true {
                guard let id = body["id"]?.stringValue else { throw ToolFailure("the cursor has more but no id") }
                next = Task { try await client.request(.put, "/_api/cursor/\(VSTClient.pathEscaped(id))") }
            } else {
                next = nil
            }
            output.removeAll(keepingCapacity: true)
            for document in results.arrayElements {
                try JSONDumper.dump(document, into: &output)
                output.append(0x0a)
            }
            try InputOutput.writeStandardOutput(output)
            guard let next else { return }
            answer = try await next.value
        }
    }
}
