import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Auth
import Client
import AgentRole
import ClusterMember
import RESTRoutes
import Users
import DBServerRole
import CoordinatorRole
import SingleServerRole
import TesseraPlatform
import Transport
import VelocyPack
import VelocyStream
import VPackTool

/// `tessera agency config|read|write`: the agency for operators.
struct AgencyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agency", abstract: "Read and write the agency's configuration tree.",
        subcommands: [AgencyConfigCommand.self, AgencyReadCommand.self, AgencyWriteCommand.self])
}

/// Where the agency is and the secret its token is signed with.
struct AgencyOptions: ParsableArguments {
    @Option(help: "Agent endpoints, comma-separated (any one is enough; the leader is found).")
    var agencyEndpoints: String = "tcp://127.0.0.1:8531"

    @Option(help: "The file holding the cluster secret.")
    var secretFile: String

    @Option(help: "Seconds one call may take, retries included.")
    var timeout: Double = 30

    func validate() throws {
        guard !endpoints.isEmpty, endpoints.count == agencyEndpoints.split(separator: ",").count else {
            throw ValidationError("--agency-endpoints must be comma-separated endpoints like tcp://127.0.0.1:8531")
        }
    }

    var endpoints: [Endpoint] { agencyEndpoints.split(separator: ",").compactMap { Endpoint(String($0)) } }

    func client() throws -> AgencyClient {
        let secret: [UInt8]
        do {
            secret = try ClusterSecret.load(path: secretFile).secret.bytes
        } catch {
            InputOutput.writeStandardError("tessera agency: cannot read the cluster secret: \(error)")
            throw ExitCode(2)
        }
        var configuration = AgencyClient.Configuration(
            endpoints: endpoints,
            credentials: .jwt(token: ClusterAuthenticator.token(serverID: "CLI-\(getpid())", secret: secret, now: WallClock.seconds())))
        configuration.deadlineSeconds = timeout
        return AgencyClient(configuration: configuration)
    }
}

/// Runs `body` with an agency client, printing a failure as one line (exit 2).
func withAgency(_ options: AgencyOptions, _ body: (AgencyClient) async throws(ClientError) -> Void) async throws {
    let client = try options.client()
    do {
        try await body(client)
    } catch {
        await client.shutdown()
        InputOutput.writeStandardError("tessera agency: \(error)")
        throw ExitCode(2)
    }
    await client.shutdown()
}

func printJSON(_ slice: Slice) {
    var options = JSONDumper.Options()
    options.indent = 2
    print((try? JSONDumper.dumpString(slice, options: options)) ?? "(not JSON-representable)")
}

struct AgencyConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Show an agent's view: term, leader, indexes, members.")
    @OptionGroup var agency: AgencyOptions

    func run() async throws {
        try await withAgency(agency) { (client) throws(ClientError) in printJSON(try await client.config()) }
    }
}

struct AgencyReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "read", abstract: "Read paths (a linearizable read through the leader).")
    @OptionGroup var agency: AgencyOptions
    @Argument(help: "Paths such as /arango/Plan (default: the whole tree).")
    var paths: [String] = ["/"]

    func run() async throws {
        try await withAgency(agency) { (client) throws(ClientError) in
            let answer = try await client.read([paths])
            printJSON(answer[0] ?? answer)
        }
    }
}

struct AgencyWriteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write", abstract: "Write one transaction (exactly once); exit 1 when a precondition failed.",
        discussion: #"Example: tessera agency write '{"/arango/Target/x": {"op": "set", "new": 1}}' --precondition '{"/arango/Target/x": {"oldEmpty": true}}'"#)
    @OptionGroup var agency: AgencyOptions
    @Argument(help: "The operations: a JSON object of path → value or {\"op\": …}.")
    var operations: String
    @Option(help: "The preconditions: a JSON object of path → condition.")
    var precondition: String?

    func run() async throws {
        let parsedOperations: Builder
        var parsedPrecondition: Builder?
        do {
            parsedOperations = try JSONParser.parse(operations)
            if let precondition { parsedPrecondition = try JSONParser.parse(precondition) }
        } catch {
            InputOutput.writeStandardError("tessera agency write: not JSON: \(error)")
            throw ExitCode(2)
        }
        var applied = true
        try await withAgency(agency) { (client) throws(ClientError) in
            let result = try await client.write(operations: parsedOperations.slice, preconditions: parsedPrecondition?.slice)
            printJSON(result.body)
            applied = result.applied
        }
        if !applied { throw ExitCode(1) }
    }
}
