import ArgumentParser
import Foundation
import VPackTool

/// `tessera cluster plan|launch|shutdown|relaunch|health|cleanup`: the two-phase form of
/// `tessera start` (ArangoDB's planner and kickstarter): write a plan, then act on it. The
/// processes of `launch` keep running after the command ends; their pids are kept in the plan.
/// `health` and `jobs` also ask a running cluster's coordinator (`ClusterAdminCommands.swift`).
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Plan a cluster, then launch, check, stop or clean it up; show its health and jobs.",
        subcommands: [ClusterPlanCommand.self, ClusterLaunchCommand.self, ClusterRelaunchCommand.self,
                      ClusterShutdownCommand.self, ClusterHealthCommand.self, ClusterJobsCommand.self, ClusterCleanupCommand.self,
                      ClusterMoveShardCommand.self, ClusterServerJobCommand.self, ClusterResignCommand.self, ClusterRebalanceCommand.self])
}

struct PlanFileOption: ParsableArguments {
    @Option(help: "The cluster plan (JSON, as `tessera cluster plan` writes it).")
    var plan: String

    func load() throws -> LaunchPlan { try Self.load(plan) }

    /// The plan in the file at `path`; exits 2 when it cannot be read.
    static func load(_ path: String) throws -> LaunchPlan {
        do { return try LaunchPlan.load(path) } catch {
            InputOutput.writeStandardError("tessera cluster: \(error)")
            throw ExitCode(2)
        }
    }
}

struct ClusterPlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Write a cluster plan for this machine.")
    @OptionGroup var local: LocalClusterOptions
    @Option(help: "Where to write the plan.")
    var output: String = "cluster-plan.json"

    func run() throws {
        do { try local.plan.save(output) } catch {
            InputOutput.writeStandardError("tessera cluster plan: \(error)")
            throw ExitCode(1)
        }
        print("tessera cluster plan: wrote \(output) (\(local.plan.members.count) processes)")
    }
}

/// Launches the plan's processes and records their pids in the plan file.
func launchPlan(_ file: PlanFileOption, fresh: Bool, rootPassword: String?) async throws {
    let plan = try file.load()
    if let running = plan.members.first(where: { $0.pid.map(ClusterLauncher.isRunning) ?? false }) {
        InputOutput.writeStandardError("tessera cluster: \(running.name) still runs (pid \(running.pid!)); shut the cluster down first")
        throw ExitCode(1)
    }
    if fresh, let existing = plan.members.first(where: { FileManager.default.fileExists(atPath: $0.dataDirectory) }) {
        InputOutput.writeStandardError("tessera cluster launch: \(existing.dataDirectory) exists; use relaunch to keep the data or cleanup to remove it")
        throw ExitCode(1)
    }
    var launcher = ClusterLauncher(plan: plan, rootPassword: rootPassword ?? ProcessInfo.processInfo.environment["TESSERA_ROOT_PASSWORD"],
                                   planPath: file.plan)
    do {
        try launcher.launch()
    } catch {
        InputOutput.writeStandardError("tessera cluster: \(error)")
        launcher.shutdown()
        throw ExitCode(1)
    }
    print("tessera cluster: launched \(plan.members.count) processes; pids in \(file.plan)")
}

struct ClusterLaunchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "launch", abstract: "Start the plan's processes with fresh data.")
    @OptionGroup var file: PlanFileOption
    @Option(help: "Root's password for the coordinators (default: TESSERA_ROOT_PASSWORD).")
    var rootPassword: String?
    func run() async throws { try await launchPlan(file, fresh: true, rootPassword: rootPassword) }
}

struct ClusterRelaunchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "relaunch", abstract: "Start the plan's processes again, keeping their data.")
    @OptionGroup var file: PlanFileOption
    @Option(help: "Root's password for the coordinators (default: TESSERA_ROOT_PASSWORD).")
    var rootPassword: String?
    func run() async throws { try await launchPlan(file, fresh: false, rootPassword: rootPassword) }
}

struct ClusterShutdownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "shutdown", abstract: "Stop the processes the plan's launch started.")
    @OptionGroup var file: PlanFileOption
    func run() throws {
        var launcher = ClusterLauncher(plan: try file.load(), rootPassword: nil, planPath: file.plan)
        launcher.shutdown()
        print("tessera cluster: stopped")
    }
}

struct ClusterCleanupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cleanup", abstract: "Remove the data and logs of the plan's processes (asks first).")
    @OptionGroup var file: PlanFileOption
    @Flag(help: "Do not ask.")
    var yes = false

    func run() throws {
        let plan = try file.load()
        if let running = plan.members.first(where: { $0.pid.map(ClusterLauncher.isRunning) ?? false }) {
            InputOutput.writeStandardError("tessera cluster cleanup: \(running.name) still runs; shut the cluster down first")
            throw ExitCode(1)
        }
        if !yes {
            print("Remove the data of \(plan.members.count) processes under \(plan.directory)? Type 'yes': ", terminator: "")
            guard readLine() == "yes" else {
                print("nothing removed")
                return
            }
        }
        for member in plan.members {
            try? FileManager.default.removeItem(atPath: member.dataDirectory)
            try? FileManager.default.removeItem(atPath: plan.directory + "/\(member.name).log")
        }
        print("tessera cluster cleanup: removed the data of \(plan.members.count) processes")
    }
}
