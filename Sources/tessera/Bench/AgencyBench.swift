import ArgumentParser
import Client
import Transport
import VelocyPack
import VelocyStream
import VPackTool

/// `tessera bench agency-write|agency-read`: writes of 100-byte values to random keys under
/// one prefix, and linearizable reads of them, sent to the leader (found from `--endpoint`,
/// which may name any agent). `--secret-file` signs the cluster token the agents require.
struct AgencyBenchWorkload: BenchWorkload {
    enum Kind: String, Sendable { case write = "agency-write", read = "agency-read" }
    let kind: Kind
    let keyCount: Int
    let messages: [[UInt8]]

    var name: String { kind.rawValue }

    init(kind: Kind, keyCount: Int) {
        self.kind = kind
        self.keyCount = keyCount
        let value = String(repeating: "v", count: 100)
        let path = kind == .write ? "/_api/agency/write" : "/_api/agency/read"
        // A ring of prepared requests; the key depends on the sequence number.
        messages = (0..<keyCount).map { key in
            var builder = Builder()
            builder.openArray()
            builder.openArray()
            if kind == .write {
                builder.openObject()
                builder.add(key: "/bench/k\(key)", value)
                builder.closeTrusted()
            } else {
                builder.add("/bench/k\(key)")
            }
            builder.closeTrusted()
            builder.closeTrusted()
            return RequestHeader(database: "_system", method: .post, path: path).encoded() + builder.bytes
        }
    }

    func message(connection: Int, sequence: Int) -> [UInt8] {
        // A multiplicative hash spreads consecutive sequence numbers over the keys.
        messages[Int((UInt64(sequence) &* 0x9E37_79B9_7F4A_7C15) >> 40) % keyCount]
    }

    func succeeded(status: Int) -> Bool { status == 200 }
}

/// `tessera bench agency-write`.
struct AgencyWriteBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agency-write", abstract: "Measure agency writes (100-byte values to random keys under /bench), sent to the leader.")
    @Option(help: "Distinct keys written.")
    var keys: Int = 10_000
    @OptionGroup var load: LoadOptions
    @OptionGroup var client: ClientOptions

    func run() async throws { try await AgencyBenchRunner.run(kind: .write, keys: keys, load: load, client: client) }
}

/// `tessera bench agency-read`.
struct AgencyReadBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agency-read", abstract: "Measure linearizable agency reads of keys under /bench, sent to the leader.")
    @Option(help: "Distinct keys read.")
    var keys: Int = 10_000
    @OptionGroup var load: LoadOptions
    @OptionGroup var client: ClientOptions

    func run() async throws { try await AgencyBenchRunner.run(kind: .read, keys: keys, load: load, client: client) }
}

enum AgencyBenchRunner {
    static func run(kind: AgencyBenchWorkload.Kind, keys: Int, load: LoadOptions, client: ClientOptions) async throws {
        guard client.secretFile != nil else {
            InputOutput.writeStandardError("tessera bench \(kind.rawValue): --secret-file is required (agents accept only cluster tokens)")
            throw ExitCode(2)
        }
        // Find the leader through any agent; the load then goes straight to it.
        var configuration = AgencyClient.Configuration(endpoints: [client.parsedEndpoint], credentials: client.credentials)
        configuration.deadlineSeconds = 15
        let agency = AgencyClient(configuration: configuration)
        var leader: Endpoint?
        do {
            _ = try await agency.read([["/bench/none"]])
            leader = agency.knownLeader
        } catch {
            InputOutput.writeStandardError("tessera bench \(kind.rawValue): no agency leader found through \(client.endpoint): \(error)")
        }
        await agency.shutdown()
        guard let leader else { throw ExitCode(2) }
        var direct = client
        direct.endpoint = leader.description
        try await BenchRunner.runAndReport(AgencyBenchWorkload(kind: kind, keyCount: max(1, keys)), load: load, client: direct,
                                           command: kind.rawValue)
    }
}
