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

/// `tessera dbserver`: a server that holds shards for the cluster.
struct DBServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dbserver",
        abstract: "Run a DBServer (holds shards; serves coordinators only).",
        discussion: """
            Makes its server id at the first start (DATA/SERVER) and keeps it; waits until a \
            coordinator initialized the agency, registers, heartbeats, and runs Maintenance: \
            the shards Plan gives it are created, those it no longer has are dropped, and \
            Current hears of both. Requests must carry a cluster token (--secret-file).
            """)

    @Option(help: "Where this server listens (loopback).")
    var endpoint: String

    @Option(help: "Every agent's endpoint, comma-separated.")
    var agencyEndpoints: String

    @Option(help: "The data directory (created when missing, locked while the server runs).")
    var data: String = "tessera-data/dbserver"

    @Option(help: "The file holding the cluster secret.")
    var secretFile: String

    @Option(help: ArgumentHelp(
        "How long (ms) a follower may leave a replication batch unanswered before its leader drops it from the in-sync set.",
        discussion: "Dropped followers resync and rejoin by themselves. ArangoDB waits at least 900 s here; see Protocol/Replication.md."))
    var followerTimeoutMilliseconds: UInt64 = 5_000

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard let own = Endpoint(endpoint), own.port != 0 else {
            throw ValidationError("--endpoint must name a fixed port, like tcp://127.0.0.1:8534")
        }
        guard !agencyEndpoints.split(separator: ",").isEmpty,
              agencyEndpoints.split(separator: ",").allSatisfy({ Endpoint(String($0)) != nil }) else {
            throw ValidationError("--agency-endpoints must be comma-separated endpoints")
        }
    }

    func run() async throws {
        let log = logging.start(role: "dbserver")
        let directory: DataDirectory
        let secret: [UInt8]
        let server: DBServer
        let loop = ServeUntilSignal.makeLoop()
        do {
            directory = try DataDirectory(path: data)
            secret = try ClusterSecret.load(path: secretFile).secret.bytes
            var options = DBServer.Options(
                endpoint: Endpoint(endpoint)!, dataDirectory: directory.path,
                agencyEndpoints: agencyEndpoints.split(separator: ",").compactMap { Endpoint(String($0)) },
                secret: secret, version: Tessera.version)
            options.eventLoop = loop
            options.followerTimeoutMilliseconds = followerTimeoutMilliseconds
            server = try DBServer(options: options)
        } catch {
            log.critical("\(error)")
            throw ExitCode(1)
        }
        ProcessLog.identify(server: server.identity.id)
        log.info("server id \(server.identity.id)")
        let startup = Task {
            do {
                try await server.start(listeningOn: Endpoint(endpoint)!)
            } catch {
                log.critical("\(error)")
            }
        }
        let metrics = StoreMetrics.metrics(for: server.store)
        server.registerMetrics(in: metrics)
        try await ServeUntilSignal.run(
            role: "dbserver", on: loop, endpoint: endpoint,
            detail: "id \(server.identity.id), data \(directory.path)",
            configuration: server.configuration(), router: server.router(), metrics: metrics)
        startup.cancel()
        await server.stop()
        do { try server.close() } catch {
            log.error("closing the shards failed: \(error.message)")
        }
        withExtendedLifetime(directory) {}
        log.info("stopped")
    }
}
