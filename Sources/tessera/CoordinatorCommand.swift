import ArgumentParser
import Auth
import AgentRole
import ClusterMember
import RESTRoutes
import Users
import DBServerRole
import CoordinatorRole
import SingleServerRole
import Server
import TesseraPlatform
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// `tessera coordinator`: the front door of a cluster.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run a coordinator (serves clients; routes documents to the DBServers).",
        discussion: """
            Initializes the agency if no coordinator did yet, registers, and serves the \
            document API cluster-wide. Users are the cluster's, kept in the agency and shared \
            by every coordinator; root's password is set from --root-password or \
            TESSERA_ROOT_PASSWORD when given (kept otherwise; empty at first start, with a warning).
            """)

    @Option(help: "Where this server listens (loopback).")
    var endpoint: String

    @Option(help: "Every agent's endpoint, comma-separated.")
    var agencyEndpoints: String

    @Option(help: "The data directory (its id; created when missing, locked while the server runs).")
    var data: String = "tessera-data/coordinator"

    @Option(help: "The file holding the cluster secret.")
    var secretFile: String

    @Option(help: "Set root's password (default: TESSERA_ROOT_PASSWORD; when neither is given the stored one stays).")
    var rootPassword: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard let own = Endpoint(endpoint), own.port != 0 else {
            throw ValidationError("--endpoint must name a fixed port, like tcp://127.0.0.1:8529")
        }
        guard agencyEndpoints.split(separator: ",").allSatisfy({ Endpoint(String($0)) != nil }) else {
            throw ValidationError("--agency-endpoints must be comma-separated endpoints")
        }
    }

    func run() async throws {
        let log = logging.start(role: "coordinator")
        let directory: DataDirectory
        let coordinator: Coordinator
        let password = rootPassword ?? getenv("TESSERA_ROOT_PASSWORD").map { String(cString: $0) }
        let loop = ServeUntilSignal.makeLoop()
        do {
            directory = try DataDirectory(path: data)
            let secret = try ClusterSecret.load(path: secretFile).secret.bytes
            var options = Coordinator.Options(
                endpoint: Endpoint(endpoint)!, dataDirectory: directory.path,
                agencyEndpoints: agencyEndpoints.split(separator: ",").compactMap { Endpoint(String($0)) },
                secret: secret, version: Tessera.version, rootPassword: password)
            options.eventLoop = loop
            coordinator = try Coordinator(options: options)
        } catch {
            log.critical("\(error)")
            loop.shutdown()
            throw ExitCode(1)
        }
        ProcessLog.identify(server: coordinator.identity.id)
        do {
            for warning in try await coordinator.start(listeningOn: Endpoint(endpoint)!) {
                log.warning("\(warning)")
            }
        } catch {
            log.critical("\(error)")
            await coordinator.stop()
            loop.shutdown()
            throw ExitCode(1)
        }
        try await ServeUntilSignal.run(
            role: "coordinator", on: loop, endpoint: endpoint,
            detail: "id \(coordinator.identity.id)", configuration: coordinator.configuration(), router: coordinator.router())
        await coordinator.stop()
        withExtendedLifetime(directory) {}
        log.info("stopped")
    }
}
