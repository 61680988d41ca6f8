public import ArgumentParser
import VelocyPack

/// `tessera vpack …`: convert and check VelocyPack from the shell.
public struct VPackCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "vpack",
        abstract: "Encode JSON to VelocyPack, decode VelocyPack to JSON, validate VelocyPack.",
        subcommands: [Encode.self, Decode.self, Validate.self]
    )

    public init() {}

    /// Options shared by the three tools.
    struct Common: ParsableArguments {
        @Argument(help: "Input file; standard input when omitted or '-'.")
        var file: String?

        @Flag(help: "Read (validate, decode) or write (encode) VelocyPack as hex text instead of raw bytes.")
        var hex = false

        @Option(help: ArgumentHelp(
            "The deepest nesting of arrays and objects accepted.",
            discussion: "Offline files are trusted as far as their depth goes: the default converts anything the reference tools convert. The server's limit for request bodies is separate (tessera single --body-nesting-max, at most 256)."))
        var maxDepth = VPackCommand.maxDepthDefault

        func validate() throws {
            guard (1...VPackCommand.maxDepthMax).contains(maxDepth) else {
                throw ValidationError("--max-depth must be in 1...\(VPackCommand.maxDepthMax)")
            }
        }
    }

    /// The offline tools' default nesting limit: deeper than the reference tools reach on
    /// their 8 MiB stack (on alternating objects and arrays `vpack-to-json` crashes between
    /// 30 000 and 60 000 levels, `json-to-vpack` between 60 000 and 100 000).
    public static let maxDepthDefault = 100_000
    /// The largest `--max-depth`: its stack reservation (``DeepStackThread``) stays about
    /// 3 GiB of address space in release builds.
    public static let maxDepthMax = 1_000_000

    /// Bytes of JSON gathered before each `write` while decoding.
    static let outputChunkByteCount = 1 << 20

    /// Runs `body` on a thread with a stack for `depth` levels of nesting and turns any failure
    /// into one line on standard error and exit code 1.
    static func run(depth: Int, _ body: @escaping () throws -> Void) throws {
        do {
            try DeepStackThread.run(depth: depth, body)
        } catch let error as VPackError {
            InputOutput.writeStandardError("error: \(error)")
            throw ExitCode(1)
        } catch let error as Hex.DecodingError {
            InputOutput.writeStandardError("error: \(error)")
            throw ExitCode(1)
        } catch let error as InputOutput.Failure {
            InputOutput.writeStandardError("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// Reads VelocyPack input (raw or hex) and validates it.
    static func readVelocyPack(_ common: Common, _ options: Validator.Options) throws -> Slice {
        var bytes = try InputOutput.readAll(common.file)
        if common.hex { bytes = try Hex.decode(bytes) }
        var options = options
        options.nestingLimit = common.maxDepth
        return try Slice(validating: bytes, options: options)
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
            try VPackCommand.run(depth: common.maxDepth) { [common, output, validateUtf8, rejectDuplicateKeys, compact, lines] in
                let json = try InputOutput.readAll(common.file)
                let options = JSONParser.Options(
                    validateUTF8: validateUtf8, nestingLimit: common.maxDepth, rejectDuplicateKeys: rejectDuplicateKeys,
                    builder: .init(buildUnindexedArrays: compact, buildUnindexedObjects: compact))
                let destination = try InputOutput.OutputFile(output)
                if lines {
                    try Self.encodeLines(json, options, to: destination)
                } else {
                    let builder = try JSONParser.parse(json, options: options)
                    if common.hex {
                        try destination.write(Array((Hex.encode(builder.bytes) + "\n").utf8))
                    } else {
                        try destination.write(builder.bytes)
                    }
                }
                try destination.close()
            }
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
            var validation = Validator.Options.default
            validation.validateUTF8 = validateUtf8
            validation.checkUniqueKeys = uniqueKeys
            try VPackCommand.run(depth: common.maxDepth) { [common, output, unsupported, pretty, validation] in
                let slice = try VPackCommand.readVelocyPack(common, validation)
                var options = JSONDumper.Options()
                options.unsupportedTypeBehavior = unsupported.behavior
                options.nonFiniteDoubleBehavior = unsupported.behavior
                options.indent = pretty ? 2 : nil
                let destination = try InputOutput.OutputFile(output)
                // Written in chunks of about a megabyte as the dump goes, not held whole.
                var failure: (any Error)?
                try JSONDumper.dump(slice, options: options, chunkByteCount: VPackCommand.outputChunkByteCount) { chunk in
                    if failure == nil {
                        do { try destination.write(chunk) } catch { failure = error }
                    }
                }
                if let failure { throw failure }
                try destination.write([0x0a])
                try destination.close()
            }
        }
    }

    enum UnsupportedChoice: String, ExpressibleByArgument, CaseIterable {
        case fail, null, string
        var behavior: JSONDumper.UnsupportedBehavior {
            switch self {
            case .fail: .fail
            case .null: .null
            case .string: .string
            }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check VelocyPack: exit 0 when valid, 1 with the error and byte offset on stderr.")

        @OptionGroup var common: Common

        @Flag(help: "Also require valid UTF-8, unique keys, and no tags or custom values (request bodies).")
        var strict = false

        func run() throws {
            try VPackCommand.run(depth: common.maxDepth) { [common, strict] in
                _ = try VPackCommand.readVelocyPack(common, strict ? .strict : .default)
            }
        }
    }
}

extension VPackCommand.Encode {
    /// JSON lines in, hex lines out: the form used for bulk comparison with other encoders.
    static func encodeLines(_ json: [UInt8], _ options: JSONParser.Options, to destination: InputOutput.OutputFile) throws {
        var output: [UInt8] = []
        var builder = Builder(options: options.builder)
        for line in json.split(separator: 0x0a, omittingEmptySubsequences: false).dropLast(json.last == 0x0a ? 1 : 0) {
            builder.clear()
            do {
                try JSONParser.parse(line, into: &builder, options: options)
                output.append(contentsOf: Hex.encode(builder.bytes).utf8)
            } catch {
                output.append(contentsOf: "error: \(error)".utf8)
            }
            output.append(0x0a)
        }
        try destination.write(output)
    }
}
