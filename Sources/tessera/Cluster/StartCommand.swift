import ArgumentParser
import Client
import Foundation
import Transport

#if canImport(Glibc)
import Glibc
#endif
import VPackTool

/// The counts and ports of a local cluster.
struct LocalClusterOptions: ParsableArguments {
    /// A new cluster's counts when none is given.
    static let defaultAgents = 3, defaultDBServers = 3, defaultCoordinators = 2

    @Option(help: "Where the cluster keeps its data, secret, logs and cluster.json.")
    var data: String = "tessera-data/cluster"
    @Option(help: "The first port: coordinators listen on it and the next ones, then agents, then DBServers.")
    var portBase: Int = 8529
    @Option(help: "Agents (an odd number; default 3, or as many as the cluster in --data has).")
    var agents: Int?
    @Option(help: "DBServers (default 3, or as many as the cluster in --data has; more adds new ones).")
    var dbservers: Int?
    @Option(help: "Coordinators (default 2, or as many as the cluster in --data has; more adds new ones).")
    var coordinators: Int?

    func validate() throws {
        if let agents { guard agents >= 1, agents % 2 == 1 else { throw ValidationError("--agents must be an odd number, at least 1") } }
        guard (dbservers ?? 0) >= 0, (coordinators ?? 0) >= 0 else { throw ValidationError("counts cannot be negative") }
        guard portBase > 0, portBase + (agents ?? Self.defaultAgents) + (dbservers ?? Self.defaultDBServers)
            + (coordinators ?? Self.defaultCoordinators) <= 65535 else {
            throw ValidationError("--port-base leaves no room for every process's port")
        }
    }

    /// A new cluster's layout.
    var plan: LaunchPlan {
        LaunchPlan.local(directory: data, portBase: portBase, agents: agents ?? Self.defaultAgents,
                         dbservers: dbservers ?? Self.defaultDBServers, coordinators: coordinators ?? Self.defaultCoordinators)
    }

    /// The layout of the cluster `previous` describes (the one in --data), with the DBServers
    /// and coordinators asked for beyond it added on the next free ports. A new DBServer holds
    /// nothing until a move or a rebalance gives it copies. The agency's membership is fixed,
    /// and servers are retired by cleaning out and removing them, not by starting fewer.
    func grown(from previous: LaunchPlan) throws -> LaunchPlan {
        var plan = previous
        for index in plan.members.indices { plan.members[index].pid = nil }
        let have = { (role: LaunchPlan.Role) in previous.members(role).count }
        if let agents, agents != have(.agent) {
            throw ValidationError("the cluster in \(data) has \(have(.agent)) agents; the agency's membership cannot change (start it without --agents)")
        }
        for (role, wanted, retire) in [(LaunchPlan.Role.dbserver, dbservers, "`tessera cluster clean-out` it, stop it, then remove it with POST /_admin/cluster/removeServer"),
                                       (.coordinator, coordinators, "stop it and remove it with POST /_admin/cluster/removeServer once it is FAILED")] {
            guard let wanted else { continue }
            if wanted < have(role) {
                throw ValidationError("the cluster in \(data) has \(have(role)) \(role.rawValue)s, not \(wanted); to retire one, \(retire)")
            }
            var port = (plan.members.map(\.port).max() ?? portBase - 1) + 1
            for number in stride(from: have(role) + 1, through: wanted, by: 1) {
                guard port <= 65535 else { throw ValidationError("no port is left for \(role.rawValue)\(number)") }
                plan.members.append(LaunchPlan.localMember(role: role, number: number, port: port, directory: data))
                port += 1
            }
        }
        return plan
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
        // A restart keeps the cluster's processes as they were (ports, data, ids), adding any
        // new DBServers and coordinators asked for.
        var plan = local.plan
        if let previous = try? LaunchPlan.load(local.data + "/cluster.json") {
            do { plan = try local.grown(from: previous) } catch {
                InputOutput.writeStandardError("tessera start: \(error)")
                throw ExitCode(1)
            }
            let added = plan.members.count - previous.members.count
            if added > 0 { print("tessera start: adding \(plan.members.suffix(added).map(\.name).joined(separator: ", ")) to the cluster in \(local.data)") }
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
