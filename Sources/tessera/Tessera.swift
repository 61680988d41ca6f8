import ArgumentParser
import TesseraPlatform

/// The one executable: every role and tool of Tessera is a subcommand.
@main
struct Tessera: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Tessera: a sharded, replicated document database.",
        discussion: """
            Start a server with `tessera single`; talk to it with `tessera call` and measure it \
            with `tessera bench version`. `tessera vpack` converts and checks VelocyPack.
            """,
        version: "tessera \(version) (libuv \(LibUV.versionString))",
        subcommands: [SingleCommand.self, CallCommand.self, BenchCommand.self, VPackCommand.self, DebugCommand.self]
    )
}
