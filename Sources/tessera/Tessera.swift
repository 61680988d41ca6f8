import ArgumentParser
import TesseraPlatform

/// The one executable: every role and tool of Tessera is a subcommand.
@main
struct Tessera: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Tessera: a sharded, replicated document database.",
        discussion: """
            Tools available now: `tessera vpack` (VelocyPack encode/decode/validate) and \
            `tessera bench vpack` (VelocyPack throughput). Server roles arrive with later work.
            """,
        version: "tessera \(version) (libuv \(LibUV.versionString))",
        subcommands: [VPackCommand.self, BenchCommand.self, DebugCommand.self]
    )
}
