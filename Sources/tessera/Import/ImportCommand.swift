import ArgumentParser
import ArangoAPI
import Client
import VelocyPack
import VelocyStream
import VPackTool

/// `tessera import --collection C FILE`: JSON lines or one JSON array into a collection, in
/// batches sent as array inserts, several in flight (arangoimport's job).
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import documents from JSON lines or a JSON array into a collection.",
        discussion: """
            The input is one JSON array when its first non-blank character is [, else JSON \
            lines (one document a line). Each document that cannot be imported is reported on \
            standard error with its line; the others are imported. The summary goes to standard \
            output. Exits 0 when every document was imported, 1 when some failed, 2 on usage or \
            connection errors.
            """)

    @Option(help: "The collection to import into.")
    var collection: String

    @Argument(help: "The file to read; - for standard input.")
    var file: String

    @Option(help: "Documents per request.")
    var batchSize = 1000

    @Option(help: "Requests kept in flight at once.")
    var parallel = 4

    @Flag(help: "Create the collection when it does not exist.")
    var createCollection = false

    @Option(help: "What to do when a document's _key exists: conflict (fail), ignore, replace or update.")
    var overwriteMode: String?

    @OptionGroup var client: ClientOptions

    /// Bounds that keep one request below the server's message limit for small documents and
    /// the connection pool small.
    static let batchSizeMax = 100_000
    static let parallelMax = 64
    static let overwriteModes = ["conflict", "ignore", "replace", "update"]

    func validate() throws {
        guard (1...Self.batchSizeMax).contains(batchSize) else {
            throw ValidationError("--batch-size must be in 1...\(Self.batchSizeMax)")
        }
        guard (1...Self.parallelMax).contains(parallel) else {
            throw ValidationError("--parallel must be in 1...\(Self.parallelMax)")
        }
        if let overwriteMode, !Self.overwriteModes.contains(overwriteMode) {
            throw ValidationError("--overwrite-mode must be one of \(Self.overwriteModes.joined(separator: ", "))")
        }
    }

    func run() async throws {
        let client = VSTClient(configuration: self.client.clientConfiguration(poolSize: parallel))
        let tally: DocumentImporter.Tally
        do {
            let reader = try InputOutput.FileReader(file)
            defer { reader.close() }
            try await client.ensureCollection(collection, create: createCollection)
            var parameters: [String: [String]] = [:]
            if let overwriteMode { parameters["overwriteMode"] = [overwriteMode] }
            var importer = DocumentImporter(
                client: client, path: "/_api/document/\(VSTClient.pathEscaped(collection))", parameters: parameters,
                batchSize: batchSize, parallel: parallel,
                progress: ImportProgress(terminal: InputOutput.standardErrorIsTerminal, byteCountTotal: reader.regularFileByteCount))
            tally = try await importer.run(reading: reader)
        } catch {
            await client.shutdown()
            InputOutput.writeStandardError("tessera import: \(error)")
            throw ExitCode(2)
        }
        await client.shutdown()
        print(tally.summary)
        if tally.failed > 0 { throw ExitCode(1) }
    }
}

/// The import loop: scans records, parses each into the open batch, and keeps up to
/// `parallel` batches in flight; answers are mapped back to input lines.
struct DocumentImporter {
    /// What happened to the documents so far.
    struct Tally {
        var imported = 0
        var failed = 0
        var startSeconds = monotonicSeconds()

        var seconds: Double { monotonicSeconds() - startSeconds }
        var documentsPerSecond: Double { seconds > 0 ? Double(imported) / seconds : 0 }
        var summary: String {
            "imported \(imported), failed \(failed), \(Self.format(seconds, digits: 3)) s, \(Self.format(documentsPerSecond, digits: 0)) documents/s"
        }

        static func format(_ value: Double, digits: Int) -> String {
            if digits == 0 { return String(Int(value.rounded())) }
            let scale = Double([1, 10, 100, 1000][digits])
            return String((value * scale).rounded() / scale)
        }
    }

    /// One request's documents: the array being built and the input line of each element.
    struct Batch: Sendable {
        var builder = Builder()
        var lines: [Int] = []

        init(capacity: Int) {
            builder = Builder(capacity: capacity)
            builder.openArray()
            lines.reserveCapacity(capacity / 64)
        }
    }

    struct Answer: Sendable {
        let lines: [Int]
        let response: ClientResponse
    }

    let client: VSTClient
    let path: String
    let parameters: [String: [String]]
    let batchSize: Int
    let parallel: Int
    var progress: ImportProgress
    var tally = Tally()
    var bytesRead = 0
    /// Input chunks this size bound the scanner's buffer (plus one record).
    static let chunkByteCount = 1 << 20
    /// A batch's starting capacity; it grows as documents need.
    static let batchCapacityBytes = 1 << 16
    /// Checks a record client-side, so that a fault the server would refuse for the whole
    /// request (bad UTF-8, repeated attribute) fails only its own line.
    static let parserOptions = JSONParser.Options(validateUTF8: true, rejectDuplicateKeys: true)

    init(client: VSTClient, path: String, parameters: [String: [String]], batchSize: Int, parallel: Int,
         progress: ImportProgress) {
        self.client = client
        self.path = path
        self.parameters = parameters
        self.batchSize = batchSize
        self.parallel = parallel
        self.progress = progress
    }

    /// Imports everything `reader` holds; returns the tally.
    /// - Throws: ``ToolFailure`` or ``ClientError`` when reading or the connection fails.
    mutating func run(reading reader: InputOutput.FileReader) async throws -> Tally {
        var scanner = RecordScanner()
        var chunk: [UInt8] = []
        var batch = Batch(capacity: Self.batchCapacityBytes)
        try await withThrowingTaskGroup(of: Answer.self) { group in
            var inFlight = 0
            var atEnd = false
            while !atEnd {
                chunk.removeAll(keepingCapacity: true)
                let count = try reader.read(appendingTo: &chunk, upTo: Self.chunkByteCount)
                atEnd = count == 0
                bytesRead += count
                scanner.append(chunk)
                var ready: [Batch] = []
                do {
                    try scanner.forEachRecord(atEnd: atEnd) { bytes, line in
                        add(bytes, line: line, to: &batch)
                        if batch.lines.count >= batchSize {
                            ready.append(batch)
                            batch = Batch(capacity: Self.batchCapacityBytes)
                        }
                    }
                } catch {
                    tally.failed += 1
                    progress.report("tessera import: \(error)")
                }
                if atEnd && !batch.lines.isEmpty { ready.append(batch) }
                for var full in ready {
                    if inFlight == parallel, let answer = try await group.next() {
                        inFlight -= 1
                        account(answer)
                    }
                    full.builder.closeTrusted()
                    let body = full.builder.bytes, lines = full.lines
                    let client = self.client, path = self.path, parameters = self.parameters
                    group.addTask {
                        Answer(lines: lines, response: try await client.request(.post, path, parameters: parameters, body: body))
                    }
                    inFlight += 1
                }
            }
            while let answer = try await group.next() { account(answer) }
        }
        progress.finish(tally)
        return tally
    }

    /// Parses one record into the batch; a record that is not JSON fails here, with its line.
    mutating func add(_ bytes: ArraySlice<UInt8>, line: Int, to batch: inout Batch) {
        do {
            try JSONParser.parse(bytes, into: &batch.builder, options: Self.parserOptions)
            batch.lines.append(line)
        } catch {
            tally.failed += 1
            progress.report("line \(line): invalid JSON: \(error)")
        }
    }

    /// Counts one answer and reports each refused document with its line.
    mutating func account(_ answer: Answer) {
        defer { progress.update(tally, bytesRead: bytesRead) }
        let response = answer.response, lines = answer.lines
        guard response.status < 400 else {
            // The whole request was refused: every document of the batch failed alike.
            tally.failed += lines.count
            progress.report("lines \(lines.first!)-\(lines.last!): batch refused: \(VSTClient.describe(response))")
            return
        }
        guard let results = response.body, results.isArray, results.count == lines.count else {
            tally.failed += lines.count
            progress.report("lines \(lines.first!)-\(lines.last!): unexpected answer (not one result per document)")
            return
        }
        // Without the x-arango-error-codes meta every element succeeded: skip the walk.
        guard response.meta[ErrorCodeCounts.headerName] != nil else {
            tally.imported += lines.count
            return
        }
        for (index, result) in results.arrayElements.enumerated() {
            if result["error"]?.boolValue == true {
                tally.failed += 1
                let number = result["errorNum"]?.intValue ?? 0
                progress.report("line \(lines[index]): error \(number): \(result["errorMessage"]?.stringValue ?? "")")
            } else {
                tally.imported += 1
            }
        }
    }
}
