import AgentStorage
import ArgumentParser
import Auth
import Raft
import AgentRole
import ClusterLogic
import Supervision
import ClusterMember
import RESTRoutes
import Users
import DBServerRole
import CoordinatorRole
import SingleServerRole
import Server
import TesseraPlatform
import Transport

/// `tessera agent`: one member of the agency.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run an agent (a member of the agency).",
        discussion: """
            Members are numbered by their place in --agency-endpoints (1, 2, …); --id is this \
            agent's number and --endpoint must be the endpoint at that place. Membership is \
            fixed. All traffic to an agent carries a token signed with the cluster secret \
            (--secret-file); requests without one are refused with 401.
            """)

    @Option(help: "This agent's number: its place in --agency-endpoints, from 1.")
    var id: UInt64

    @Option(help: "Where this agent listens (loopback).")
    var endpoint: String

    @Option(help: "Every agent's endpoint, comma-separated, in member order.")
    var agencyEndpoints: String

    @Option(help: "The data directory (created when missing, locked while the agent runs).")
    var data: String = "tessera-data/agent"

    @Option(help: "The file holding the cluster secret (at least 32 bytes).")
    var secretFile: String

    @Option(help: "Applied entries between snapshots of the store (log compaction).")
    var snapshotEvery: UInt64 = 10_000

    @Option(help: "Supervision: milliseconds without a new heartbeat before a server is BAD.")
    var supervisionOkThreshold: Int64 = HealthThresholds.tesseraDefault.okMilliseconds

    @Option(help: "Supervision: milliseconds without a new heartbeat before a server is FAILED and its shards fail over.")
    var supervisionGracePeriod: Int64 = HealthThresholds.tesseraDefault.gracePeriodMilliseconds

    @Option(help: "Supervision: milliseconds between rounds that found nothing to do.")
    var supervisionFrequency: Int64 = SupervisionOptions().frequencyMilliseconds

    var members: [Agent.Member] {
        agencyEndpoints.split(separator: ",").enumerated().compactMap { index, text in
            Endpoint(String(text)).map { Agent.Member(id: NodeID(UInt64(index + 1)), endpoint: $0) }
        }
    }

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard let own = Endpoint(endpoint) else { throw ValidationError("--endpoint must look like tcp://127.0.0.1:8531") }
        let texts = agencyEndpoints.split(separator: ",")
        guard !texts.isEmpty, members.count == texts.count else {
            throw ValidationError("--agency-endpoints must be comma-separated endpoints like tcp://127.0.0.1:8531")
        }
        guard texts.count % 2 == 1 else { throw ValidationError("an agency needs an odd number of agents, not \(texts.count)") }
        guard id >= 1, id <= UInt64(texts.count) else { throw ValidationError("--id must be in 1...\(texts.count)") }
        guard members[Int(id) - 1].endpoint == own else {
            throw ValidationError("--endpoint \(endpoint) is not entry \(id) of --agency-endpoints")
        }
        guard own.port != 0 else { throw ValidationError("an agent needs a fixed port: the others must know it") }
        guard snapshotEvery >= 1 else { throw ValidationError("--snapshot-every must be at least 1") }
        guard supervisionOkThreshold >= 100, supervisionGracePeriod >= supervisionOkThreshold else {
            throw ValidationError("--supervision-ok-threshold must be at least 100 ms and at most --supervision-grace-period")
        }
        guard (10...60_000).contains(supervisionFrequency) else {
            throw ValidationError("--supervision-frequency must be between 10 and 60000 ms")
        }
    }

    func run() async throws {
        let log = logging.start(role: "agent")
        ProcessLog.identify(server: "AGNT-\(id)")
        let directory: DataDirectory
        let secret: [UInt8]
        let disk: RaftDisk
        do {
            directory = try DataDirectory(path: data)
            secret = try ClusterSecret.load(path: secretFile).secret.bytes
            disk = try RaftDisk(directory: directory.path + "/raft")
        } catch {
            log.critical("\(error)")
            throw ExitCode(1)
        }
        if let tear = disk.recoveryReport.tornTail {
            log.warning("recovered the Raft log after a torn write: \(tear)")
        }
        var options = Agent.Options(id: NodeID(id), members: members)
        options.snapshotEveryEntries = snapshotEvery
        var supervision = SupervisionOptions()
        supervision.thresholds = HealthThresholds(okMilliseconds: supervisionOkThreshold, gracePeriodMilliseconds: supervisionGracePeriod)
        supervision.frequencyMilliseconds = supervisionFrequency
        options.supervision = ClusterSupervision(options: supervision)
        options.peerCredentials = .jwt(token: ClusterAuthenticator.token(serverID: "AGNT-\(id)", secret: secret, now: WallClock.seconds()))
        var configuration = ServerConfiguration(endpoint: Endpoint(endpoint)!)
        configuration.authenticator = ClusterAuthenticator(secret: secret, now: { WallClock.seconds() })
        configuration.openPaths = []
        configuration.databaseExists = { $0 == "_system" }

        let loop = ServeUntilSignal.makeLoop()
        let agent: Agent
        do {
            agent = try Agent(on: loop, options: options, persistence: disk)
        } catch {
            log.critical("cannot load the Raft state in \(directory.path)/raft: \(error)")
            loop.shutdown()
            throw ExitCode(1)
        }
        var router = Router()
        AdminHandlers.register(in: &router, version: AdminHandlers.VersionInfo(version: Tessera.version))
        AgentRoutes(agent: agent).register(in: &router)
        let metrics = Metrics()
        agent.registerMetrics(in: metrics)
        try await ServeUntilSignal.run(
            role: "agent", on: loop, endpoint: endpoint, detail: "id \(id) of \(members.count), data \(directory.path)",
            configuration: configuration, router: router, metrics: metrics,
            started: { _ in agent.start() }, stopping: { agent.stop() })
        withExtendedLifetime(directory) {}
        log.info("stopped")
    }
}
