import ArgumentParser
import VPackTool

/// `tessera vpack …`: convert and check VelocyPack from the shell.
///
/// These are the reference command lines: the small `tessera` program reads the plain forms
/// itself (``VPackArguments``, for a fast start) and hands anything else here, so help and
/// errors always come from these declarations. The work is ``VPackJob``'s.
struct VPackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vpack",
        abstract: "Encode JSON to VelocyPack, decode VelocyPack to JSON, validate VelocyPack.",
        subcommands: [Encode.self, Decode.self, Validate.self]
    )

    /// Options shared by the three tools.
    struct Common: ParsableArguments {
        @Argument(help: "Input file; standard input when omitted or '-'.")
        var file: String?

        @Flag(help: "Read (validate, decode) or write (encode) VelocyPack as hex text instead of raw bytes.")
        var hex = false

        @Option(help: ArgumentHelp(
            "The deepest nesting of arrays and objects accepted.",
            discussion: "Offline files are trusted as far as their depth goes: the default converts anything the reference tools convert. The server's limit for request bodies is separate (tessera single --body-nesting-max, at most 256)."))
        var maxDepth = VPackJob.maxDepthDefault

        func validate() throws {
            if let problem = job(.validate).invalidity { throw ValidationError(problem) }
        }

        func job(_ tool: VPackJob.Tool) -> VPackJob {
            var job = VPackJob(tool: tool)
            job.file = file
            job.hex = hex
            job.maxDepth = maxDepth
            return job
        }
    }

    /// Runs `job`; a failure was already reported on standard error.
    static func run(_ job: VPackJob) throws {
        let status = job.run()
        if status != 0 { throw ExitCode(status) }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read JSON, write VelocyPack bytes (the reference builder's layout).")

        @OptionGroup var common: Common

        @Option(name: [.short, .long], help: "Output file (created or truncated); standard output when omitted or '-'.")
        var output: String?

        @Flag(help: "Build arrays and objects in the compact forms 13/14.")
        var compact = false

        @Flag(help: "Refuse strings that are not valid UTF-8.")
        var validateUtf8 = false

        @Flag(help: "Refuse objects with repeated keys.")
        var rejectDuplicateKeys = false

        @Flag(help: "Treat each input line as its own JSON document; write one hex line (or 'error: …') per line. Implies --hex.")
        var lines = false

        func run() throws {
            var job = common.job(.encode)
            job.output = output
            job.compact = compact
            job.validateUTF8 = validateUtf8
            job.rejectDuplicateKeys = rejectDuplicateKeys
            job.lines = lines
            try VPackCommand.run(job)
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read VelocyPack (validated first), write JSON.")

        @OptionGroup var common: Common

        @Option(name: [.short, .long], help: "Output file (created or truncated); standard output when omitted or '-'.")
        var output: String?

        @Flag(help: "Indent the JSON output.")
        var pretty = false

        @Option(help: "For values JSON cannot express: fail, null or string.")
        var unsupported: UnsupportedChoice = .fail

        @Flag(help: "Also refuse strings that are not valid UTF-8 (as the reference vpack-to-json does).")
        var validateUtf8 = false

        @Flag(help: "Also refuse objects that repeat a key (as the reference vpack-to-json does).")
        var uniqueKeys = false

        func run() throws {
            var job = common.job(.decode)
            job.output = output
            job.pretty = pretty
            job.unsupported = unsupported.job
            job.validateUTF8 = validateUtf8
            job.uniqueKeys = uniqueKeys
            try VPackCommand.run(job)
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check VelocyPack: exit 0 when valid, 1 with the error and byte offset on stderr.")

        @OptionGroup var common: Common

        @Flag(help: "Also require valid UTF-8, unique keys, and no tags or custom values (request bodies).")
        var strict = false

        func run() throws {
            var job = common.job(.validate)
            job.strict = strict
            try VPackCommand.run(job)
        }
    }

    /// ``VPackJob/Unsupported`` as the argument parser reads it.
    enum UnsupportedChoice: String, ExpressibleByArgument, CaseIterable {
        case fail, null, string
        var job: VPackJob.Unsupported { VPackJob.Unsupported(rawValue: rawValue)! }
    }
}
