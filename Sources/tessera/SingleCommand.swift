import ArgumentParser
import TesseraPlatform
import AgentRole
import ClusterMember
import RESTRoutes
import Users
import DBServerRole
import CoordinatorRole
import SingleServerRole
import Server
import VelocyStream
import Transport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `tessera single`: one server process, coordinator and DBServer at once, no agency.
struct SingleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "single",
        abstract: "Run a single server.",
        discussion: """
            Listens until SIGINT or SIGTERM, then finishes the requests in flight and exits. \
            Authentication is on unless --no-authentication: users live in the database; root's \
            password comes from --root-password or TESSERA_ROOT_PASSWORD (empty at first start \
            when neither is given, with a warning).
            """)

    @Option(help: "Where to listen (loopback by default; port 0 picks a free port).")
    var endpoint: String = "tcp://127.0.0.1:8529"

    @Option(help: "The data directory (created when missing, locked while the server runs).")
    var data: String = "tessera-data/single"

    @Option(help: ArgumentHelp(
        "Set root's password (default: the TESSERA_ROOT_PASSWORD environment variable; when neither is given the stored password stays, empty at first start).",
        valueName: "password"))
    var rootPassword: String?

    @Flag(help: "Serve every request without credentials.")
    var noAuthentication = false

    @Option(help: "Close connections idle for this many seconds.")
    var idleTimeout: Double = 300

    @Option(help: "Close a connection whose preamble or started message is not complete after this many seconds.")
    var messageTimeout: Double = 60

    @Option(help: "The most client connections open at once.")
    var maxConnections: Int = 1024

    @Option(help: "The deepest nesting of arrays and objects accepted in request bodies (1...256).")
    var bodyNestingMax: Int = VSTLimits.bodyNestingMaxDefault

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard Endpoint(endpoint) != nil else {
            throw ValidationError("--endpoint must look like tcp://127.0.0.1:8529, not '\(endpoint)'")
        }
        guard messageTimeout > 0 else { throw ValidationError("--message-timeout must be positive") }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be positive") }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard (1...VSTLimits.bodyNestingMaxDefault).contains(bodyNestingMax) else {
            throw ValidationError("--body-nesting-max must be in 1...\(VSTLimits.bodyNestingMaxDefault)")
        }
    }

    func run() async throws {
        let log = logging.start(role: "single")
        let directory: DataDirectory
        do {
            directory = try DataDirectory(path: data)
        } catch {
            log.critical("\(error)")
            throw ExitCode(1)
        }
        var options = SingleServer.Options(
            endpoint: Endpoint(endpoint)!, dataDirectory: directory.path,
            rootPassword: rootPassword ?? getenv("TESSERA_ROOT_PASSWORD").map { String(cString: $0) },
            version: Tessera.version)
        options.authentication = !noAuthentication
        options.idleTimeoutSeconds = idleTimeout
        options.connectionCountMax = maxConnections
        options.messageTimeoutSeconds = messageTimeout
        options.bodyNestingMax = bodyNestingMax

        let single: SingleServer
        do {
            single = try await SingleServer(options: options)
        } catch {
            log.error("cannot open the data in \(directory.path): \(error.message)")
            throw ExitCode(1)
        }
        for warning in single.warnings { log.warning("\(warning)") }
        try await ServeUntilSignal.run(role: "single", on: ServeUntilSignal.makeLoop(), endpoint: endpoint, detail: "data \(directory.path)",
                                       configuration: single.configuration(), router: single.router(),
                                       metrics: StoreMetrics.metrics(for: single.store))
        do {
            try single.close()
        } catch {
            log.error("closing the data failed: \(error.message)")
        }
        withExtendedLifetime(directory) {}
        log.info("stopped")
    }
}
