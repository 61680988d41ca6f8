import ArgumentParser
import TesseraPlatform
import VPackTool

/// `tessera-server`: every role and tool of Tessera is a subcommand (`tessera`, the small
/// program users call, runs `vpack` itself and hands everything else to this one).
@main
struct Tessera: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Tessera: a sharded, replicated document database.",
        discussion: """
            Start a server with `tessera single`; talk to it with `tessera call` and measure it \
            with `tessera bench version`; move documents in and out with `tessera import` and
            `tessera export`. `tessera vpack` converts and checks VelocyPack.
            """,
        version: "tessera \(version) (libuv \(LibUV.versionString))",
        subcommands: [StartCommand.self, ClusterCommand.self, SingleCommand.self, AgentCommand.self, DBServerCommand.self, CoordinatorCommand.self, CallCommand.self, ImportCommand.self, ExportCommand.self, BenchCommand.self,
                      AgencyCommand.self, VPackCommand.self, DebugCommand.self]
    )

    /// ArgumentParser's own `main`, except that usage errors of `import` and `export` exit 2:
    /// for those tools 1 means "some documents failed", which scripts must tell apart from
    /// "nothing was done".
    static func main() async {
        do {
            var command = try await asyncParseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let tool = CommandLine.arguments.dropFirst().first
            if (tool == "import" || tool == "export") && exitCode(for: error) == .validationFailure {
                InputOutput.writeStandardError(fullMessage(for: error))
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}
