import ArgumentParser
import ArangoAPI
import Client
import VelocyPack
import VelocyStream

/// The options of the document benchmarks (`bench insert`, `read`, `update`, `mixed`), in the
/// spirit of arangobench's document test cases.
struct DocumentBenchOptions: ParsableArguments {
    @Option(help: "The collection to use; created when missing and dropped afterwards unless --keep.")
    var collection = "tessera_bench"

    @Option(help: "Approximate size of each generated document in bytes (as JSON).")
    var documentSize = 100

    @Option(help: "Documents inserted before a read, update or mixed run (the set they work on).")
    var documents = 10_000

    @Flag(help: "Ask for every write to be on disk before it is answered.")
    var waitForSync = false

    @Flag(help: "Keep the collection after the run.")
    var keep = false

    @Option(help: "Copies of each shard of the collection the run creates (a cluster; 1 = no replication).")
    var replicationFactor: Int?

    @Option(help: "In-sync copies a write needs, for the collection the run creates (≤ --replication-factor).")
    var writeConcern: Int?

    @Option(help: "Shards of the collection the run creates (a cluster).")
    var numberOfShards: Int?

    /// The creation properties given on the command line.
    var collectionProperties: [String: Int] {
        var properties: [String: Int] = [:]
        if let replicationFactor { properties["replicationFactor"] = replicationFactor }
        if let writeConcern { properties["writeConcern"] = writeConcern }
        if let numberOfShards { properties["numberOfShards"] = numberOfShards }
        return properties
    }

    static let documentSizeMax = 1 << 20
    static let documentCountMax = 1_000_000

    func validate() throws {
        guard (1...Self.documentSizeMax).contains(documentSize) else {
            throw ValidationError("--document-size must be in 1...\(Self.documentSizeMax)")
        }
        guard (1...Self.documentCountMax).contains(documents) else {
            throw ValidationError("--documents must be in 1...\(Self.documentCountMax)")
        }
    }
}

/// Document requests against one collection. Every message is encoded before the load (one
/// per key), so the runner's loop only picks one: the client measures the server, not itself.
struct DocumentWorkload: BenchWorkload {
    enum Kind: String, Sendable {
        case insert, read, update, mixed
    }

    let kind: Kind
    let options: DocumentBenchOptions
    /// The share of reads in a mixed run (0...1); the rest are updates.
    let readRatio: Double
    let database: String
    let payload: String
    /// `POST /_api/document/C` with a generated document (the server picks the key).
    let insertMessage: [UInt8]
    /// `GET /_api/document/C/k<i>` for each pre-inserted key.
    let readMessages: [[UInt8]]
    /// `PATCH /_api/document/C/k<i>` headers; the body differs per request.
    let updateHeaders: [[UInt8]]

    var name: String { kind.rawValue }
    var path: String { "/_api/document/\(VSTClient.pathEscaped(options.collection))" }

    init(kind: Kind, options: DocumentBenchOptions, readRatio: Double, database: String) {
        self.kind = kind
        self.options = options
        self.readRatio = readRatio
        self.database = database
        // `{"value":N,"payload":"…"}` is about 30 bytes around the payload.
        payload = Self.payload(byteCount: max(0, options.documentSize - 30))
        let path = "/_api/document/\(VSTClient.pathEscaped(options.collection))"
        let parameters = options.waitForSync ? ["waitForSync": ["true"]] : [:]
        insertMessage = RequestHeader(database: database, method: .post, path: path, parameters: parameters).encoded()
            + Self.document(key: nil, value: 0, payload: payload)
        let keyCount = kind == .insert ? 0 : options.documents
        readMessages = kind == .read || kind == .mixed
            ? (0..<keyCount).map { RequestHeader(database: database, method: .get, path: path + "/k\($0)").encoded() }
            : []
        updateHeaders = kind == .update || kind == .mixed
            ? (0..<keyCount).map {
                RequestHeader(database: database, method: .patch, path: path + "/k\($0)", parameters: parameters).encoded()
            }
            : []
    }

    /// Letters from a fixed-seed generator: varied enough that Snappy in the storage engine
    /// does not shrink documents to nothing, and the same in every run.
    static func payload(byteCount: Int) -> String {
        var state: UInt64 = 0x5445_5353_4552_4121  // fixed seed: runs compare
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount)
        for _ in 0..<byteCount {
            state = splitMix(state)
            bytes.append(UInt8(ascii: "a") + UInt8(state % 26))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// SplitMix64's output function: spreads consecutive numbers over 64 bits.
    static func splitMix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    static func document(key: String?, value: Int, payload: String) -> [UInt8] {
        var builder = Builder()
        builder.openObject()
        if let key { builder.add(key: "_key", key) }
        builder.add(key: "value", value)
        builder.add(key: "payload", payload)
        builder.closeTrusted()
        return builder.bytes
    }

    func setUp(_ client: VSTClient) async throws {
        try await client.ensureCollection(options.collection, create: true, properties: options.collectionProperties)
        guard kind != .insert else { return }
        // The working set, keys k0…k(N-1); overwriteMode=replace makes a rerun with --keep
        // find the same documents instead of failing on existing keys.
        let batchCount = 1000
        for start in stride(from: 0, to: options.documents, by: batchCount) {
            var builder = Builder()
            builder.openArray()
            for index in start..<min(start + batchCount, options.documents) {
                builder.add(Slice(trustedBytes: Self.document(key: "k\(index)", value: index, payload: payload)))
            }
            builder.closeTrusted()
            let answer = try await client.request(.post, path, parameters: ["overwriteMode": ["replace"]], body: builder.bytes)
            guard answer.status < 400, answer.meta[ErrorCodeCounts.headerName] == nil else {
                throw ToolFailure("cannot insert the documents to work on: \(VSTClient.describe(answer)) \(answer.meta[ErrorCodeCounts.headerName] ?? "")")
            }
        }
    }

    func tearDown(_ client: VSTClient) async throws {
        if !options.keep { try await client.dropCollection(options.collection) }
    }

    func message(connection: Int, sequence: Int) -> [UInt8] {
        let spread = Self.splitMix(UInt64(truncatingIfNeeded: sequence))  // sequence ≥ 0: no sign to lose
        switch kind {
        case .insert:
            return insertMessage
        case .read:
            return readMessages[Int(spread % UInt64(readMessages.count))]
        case .update:
            return update(spread: spread, sequence: sequence)
        case .mixed:
            // The top 53 bits as a fraction in [0, 1): reads with probability readRatio.
            let fraction = Double(spread >> 11) / Double(1 << 53)
            if fraction < readRatio { return readMessages[Int(spread % UInt64(readMessages.count))] }
            return update(spread: spread, sequence: sequence)
        }
    }

    /// A patch of `value`, so every update writes a new revision of the whole document.
    func update(spread: UInt64, sequence: Int) -> [UInt8] {
        var builder = Builder(capacity: 16)
        builder.openObject()
        builder.add(key: "value", sequence)
        builder.closeTrusted()
        return updateHeaders[Int(spread % UInt64(updateHeaders.count))] + builder.bytes
    }

    func succeeded(status: Int) -> Bool { (200...202).contains(status) }
}

/// The commands of the four document workloads share everything but their kind.
protocol DocumentBenchCommand: AsyncParsableCommand {
    static var kind: DocumentWorkload.Kind { get }
    var settings: DocumentBenchOptions { get }
    var load: LoadOptions { get }
    var client: ClientOptions { get }
    var readShare: Double { get }
}

extension DocumentBenchCommand {
    var readShare: Double { 0 }

    func run() async throws {
        let workload = DocumentWorkload(kind: Self.kind, options: settings, readRatio: readShare, database: client.database)
        try await BenchRunner.runAndReport(workload, load: load, client: client, command: Self.kind.rawValue)
    }
}

/// `tessera bench insert`: inserts of generated documents (server-chosen keys).
struct InsertBench: DocumentBenchCommand {
    static let configuration = CommandConfiguration(
        commandName: "insert", abstract: "Measure single-document inserts (POST /_api/document).")
    static let kind = DocumentWorkload.Kind.insert
    @OptionGroup var settings: DocumentBenchOptions
    @OptionGroup var load: LoadOptions
    @OptionGroup var client: ClientOptions
}

/// `tessera bench read`: reads by key over a pre-inserted set.
struct ReadBench: DocumentBenchCommand {
    static let configuration = CommandConfiguration(
        commandName: "read", abstract: "Measure reads by key (GET /_api/document/C/K) over pre-inserted documents.")
    static let kind = DocumentWorkload.Kind.read
    @OptionGroup var settings: DocumentBenchOptions
    @OptionGroup var load: LoadOptions
    @OptionGroup var client: ClientOptions
}

/// `tessera bench update`: patches of pre-inserted documents.
struct UpdateBench: DocumentBenchCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Measure updates (PATCH /_api/document/C/K) of pre-inserted documents.")
    static let kind = DocumentWorkload.Kind.update
    @OptionGroup var settings: DocumentBenchOptions
    @OptionGroup var load: LoadOptions
    @OptionGroup var client: ClientOptions
}

/// `tessera bench mixed`: reads and updates over a pre-inserted set.
struct MixedBench: DocumentBenchCommand {
    static let configuration = CommandConfiguration(
        commandName: "mixed", abstract: "Measure a mix of reads and updates over pre-inserted documents.")
    static let kind = DocumentWorkload.Kind.mixed
    @Option(help: "The share of reads, 0.0...1.0; the rest are updates.")
    var readRatio = 0.5
    @OptionGroup var settings: DocumentBenchOptions
    @OptionGroup var load: LoadOptions
    @OptionGroup var client: ClientOptions

    var readShare: Double { readRatio }

    func validate() throws {
        guard (0...1).contains(readRatio) else { throw ValidationError("--read-ratio must be in 0.0...1.0") }
    }
}
