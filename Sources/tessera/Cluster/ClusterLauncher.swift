import Auth
import Client
import Foundation
import AgentRole
import ClusterMember
import RESTRoutes
import Users
import DBServerRole
import CoordinatorRole
import SingleServerRole
import TesseraPlatform
import Transport

/// Starts and stops the processes of a cluster plan on this machine. Each process writes its
/// output to `<plan directory>/<role><n>.log`; the plan with the pids is kept in
/// `<plan directory>/cluster.json`. Only processes this launcher started (their pids are in
/// the plan) are ever signalled.
struct ClusterLauncher {
    var plan: LaunchPlan

    init(plan: LaunchPlan, rootPassword: String?, planPath: String? = nil, logLevel: String? = nil) {
        self.plan = plan
        self.rootPassword = rootPassword
        self.planPath = planPath ?? plan.directory + "/cluster.json"
        self.logLevel = logLevel
    }
    /// Given to every process as `--log-level` (nil: each one's default).
    var logLevel: String?
    /// For coordinators: root's password (`--root-password`, else `TESSERA_ROOT_PASSWORD`).
    var rootPassword: String?

    static let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    /// Where the plan with the pids is kept.
    var planPath: String

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Starts every process: agents first, then DBServers, then coordinators, each group
    /// once the previous one listens.
    mutating func launch() throws {
        try FileManager.default.createDirectory(atPath: plan.directory, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: plan.secretFile) {
            do { _ = try ClusterSecret.generate(path: plan.secretFile) } catch {
                throw Failure(description: "cannot make the cluster secret \(plan.secretFile): \(error)")
            }
        }
        for role in [LaunchPlan.Role.agent, .dbserver, .coordinator] {
            for index in plan.members.indices where plan.members[index].role == role {
                plan.members[index].pid = try start(plan.members[index])
            }
            for member in plan.members(role) { try waitListening(member) }
            try plan.save(planPath)
        }
    }

    func logPath(_ member: LaunchPlan.Member) -> String { plan.directory + "/\(member.name).log" }

    func start(_ member: LaunchPlan.Member) throws -> Int32 {
        let log = logPath(member)
        // Appended to, never truncated: the log of an earlier run is what an operator reads
        // after a crash.
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        output.seekToEndOfFile()
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = plan.arguments(for: member) + (logLevel.map { ["--log-level", $0] } ?? [])
        var environment = ProcessInfo.processInfo.environment
        if let rootPassword { environment["TESSERA_ROOT_PASSWORD"] = rootPassword }
        process.environment = environment
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process.processIdentifier
    }

    /// Waits (at most 60 s) until the member's log says it listens.
    func waitListening(_ member: LaunchPlan.Member) throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: logPath(member), encoding: .utf8)) ?? ""
            if text.contains("listening on \(member.endpoint)") { return }
            if let pid = member.pid, kill(pid, 0) != 0 {
                throw Failure(description: "\(member.name) exited at start; its log \(logPath(member)) ends with:\n" +
                              text.split(separator: "\n").suffix(5).joined(separator: "\n"))
            }
            usleep(50_000)
        }
        throw Failure(description: "\(member.name) did not listen on \(member.endpoint) within 60 s (log: \(logPath(member)))")
    }

    /// Stops the launched processes: coordinators, then DBServers, then agents; SIGTERM, and
    /// SIGKILL after `graceSeconds`.
    mutating func shutdown(graceSeconds: Double = 30) {
        for role in [LaunchPlan.Role.coordinator, .dbserver, .agent] {
            let pids = plan.members(role).compactMap(\.pid)
            for pid in pids where kill(pid, 0) == 0 { kill(pid, SIGTERM) }
            let deadline = Date().addingTimeInterval(graceSeconds)
            for pid in pids {
                while Self.isRunning(pid) && Date() < deadline { usleep(20_000) }
                if Self.isRunning(pid) { kill(pid, SIGKILL) }
                var status: Int32 = 0
                waitpid(pid, &status, WNOHANG)
            }
        }
        for index in plan.members.indices { plan.members[index].pid = nil }
        try? plan.save(planPath)
    }

    /// Whether `pid` is still a running process (a zombie child counts as ended).
    static func isRunning(_ pid: Int32) -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return false }
        return kill(pid, 0) == 0
    }

    /// One line per member: whether it runs and answers.
    func health() async -> [(member: LaunchPlan.Member, healthy: Bool, detail: String)] {
        var token = ""
        if let secret = try? ClusterSecret.load(path: plan.secretFile).secret.bytes {
            token = ClusterAuthenticator.token(serverID: "LAUNCHER", secret: secret, now: WallClock.seconds())
        }
        var rows: [(LaunchPlan.Member, Bool, String)] = []
        for member in plan.members {
            guard let endpoint = Endpoint(member.endpoint) else { continue }
            var configuration = VSTClient.Configuration(endpoint: endpoint, credentials: .jwt(token: token))
            configuration.requestTimeoutSeconds = 3
            configuration.connection.connectTimeoutSeconds = 1
            let client = VSTClient(configuration: configuration)
            // A coordinator is healthy once it sees every planned DBServer registered and
            // heartbeating (before that, a new collection would miss DBServers).
            let path = member.role == .agent ? "/_api/agency/config" : member.role == .coordinator ? "/_admin/cluster/health" : "/_api/version"
            do {
                let response = try await client.request(.get, path)
                if member.role == .agent {
                    let leader = response.body?["leaderId"]?.stringValue
                    rows.append((member, response.status == 200 && leader != nil,
                                 "\(response.body?["role"]?.stringValue ?? "?"), leader \(leader ?? "none")"))
                } else if member.role == .coordinator {
                    let good = response.body?["Health"]?.objectMembers.filter {
                        $0.value["Role"]?.stringValue == "DBServer" && $0.value["Status"]?.stringValue == "GOOD"
                    }.count ?? 0
                    let wanted = plan.members(.dbserver).count
                    rows.append((member, response.status == 200 && good >= wanted, "\(good) of \(wanted) DBServers GOOD"))
                } else {
                    rows.append((member, response.status == 200, "status \(response.status)"))
                }
            } catch {
                rows.append((member, false, "\(error)"))
            }
            await client.shutdown()
        }
        return rows
    }
}
