import ArgumentParser
import Client
import Foundation
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// The counts and ports of a local cluster.
struct LocalClusterOptions: ParsableArguments {
    @Option(help: "Where the cluster keeps its data, secret, logs and cluster.json.")
    var data: String = "tessera-data/cluster"
    @Option(help: "The first port: coordinators listen on it and the next ones, then agents, then DBServers.")
    var portBase: Int = 8529
    @Option(help: "Agents (an odd number).")
    var agents: Int = 3
    @Option(help: "DBServers.")
    var dbservers: Int = 3
    @Option(help: "Coordinators.")
    var coordinators: Int = 2

    func validate() throws {
        guard agents >= 1, agents % 2 == 1 else { throw ValidationError("--agents must be an odd number, at least 1") }
        guard dbservers >= 0, coordinators >= 0 else { throw ValidationError("counts cannot be negative") }
        guard portBase > 0, portBase + agents + dbservers + coordinators <= 65535 else {
            throw ValidationError("--port-base leaves no room for every process's port")
        }
    }

    var plan: LaunchPlan {
        LaunchPlan.local(directory: data, portBase: portBase, agents: agents, dbservers: dbservers, coordinators: coordinators)
    }
}

/// `tessera start`: a whole cluster on this machine in one command, stopped with Ctrl-C.
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a local cluster (3 agents, 3 DBServers, 2 coordinators by default).",
        discussion: """
            Runs until SIGINT or SIGTERM, then stops every process it started. Run it again \
            with the same --data and the same cluster comes back with its data. The cluster \
            secret is made at the first start (DIR/secret); DIR/cluster.json lists every \
            process with its role, endpoint and pid.
            """)

    @OptionGroup var local: LocalClusterOptions
    @Option(help: "Root's password for the coordinators (default: TESSERA_ROOT_PASSWORD).")
    var rootPassword: String?
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        var plan = local.plan
        // A restart keeps the ids the servers made at their first start.
        if let previous = try? LaunchPlan.load(local.data + "/cluster.json"), previous.members.count == plan.members.count {
            for index in plan.members.indices { plan.members[index].id = previous.members[index].id }
        }
        var launcher = ClusterLauncher(plan: plan, rootPassword: rootPassword ?? ProcessInfo.processInfo.environment["TESSERA_ROOT_PASSWORD"],
                                       logLevel: logging.logLevel.rawValue)
        do {
            try launcher.launch()
        } catch {
            InputOutput.writeStandardError("tessera start: \(error)")
            launcher.shutdown()
            throw ExitCode(1)
        }
        // Healthy: every agent sees a leader and every server answers (at most 60 s).
        var health = await launcher.health()
        let deadline = Date().addingTimeInterval(60)
        while health.contains(where: { !$0.healthy }), Date() < deadline {
            try? await Task.sleep(for: .milliseconds(200))
            health = await launcher.health()
        }
        for row in health where !row.healthy {
            InputOutput.writeStandardError("tessera start: \(row.member.name) at \(row.member.endpoint) is not healthy: \(row.detail)")
        }
        let coordinators = launcher.plan.members(.coordinator).map(\.endpoint)
        if let first = coordinators.first.flatMap(Endpoint.init), await Self.rootPasswordIsEmpty(at: first) {
            InputOutput.writeStandardError(
                "tessera start: warning: the root user has an empty password; set one with --root-password or TESSERA_ROOT_PASSWORD")
        }
        print("tessera start: cluster running, data \(local.data); " +
              (coordinators.isEmpty ? "agency at \(launcher.plan.agencyEndpoints)" : "coordinators at \(coordinators.joined(separator: ", "))"))
        fflush(nil)
        await Self.waitForSignal()
        InputOutput.writeStandardError("tessera start: stopping the cluster")
        launcher.shutdown()
        InputOutput.writeStandardError("tessera start: stopped")
    }

    /// Whether `root` logs in with an empty password at the coordinator `endpoint` (as the
    /// single server does, the operator is told).
    static func rootPasswordIsEmpty(at endpoint: Endpoint) async -> Bool {
        var configuration = VSTClient.Configuration(endpoint: endpoint, credentials: .plain(user: "root", password: ""))
        configuration.poolSize = 1
        configuration.requestTimeoutSeconds = 10
        let client = VSTClient(configuration: configuration)
        let accepted = (try? await client.request(.get, "/_api/version").status) == 200
        await client.shutdown()
        return accepted
    }

    /// Returns once SIGINT or SIGTERM arrives.
    static func waitForSignal() async {
        let loop = EventLoop()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute {
                var watchers: [SignalWatcher] = []
                var done = false
                for signal in [SIGINT, SIGTERM] {
                    if let watcher = try? SignalWatcher(on: loop, signal: signal, { _ in
                        guard !done else { return }
                        done = true
                        for watcher in watchers { watcher.close() }
                        continuation.resume()
                    }) {
                        watchers.append(watcher)
                    }
                }
            }
        }
        loop.shutdown()
    }
}
