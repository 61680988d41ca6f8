#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VelocyPack

/// One run of `tessera vpack encode|decode|validate`: what to do, read from either of the two
/// command lines that describe it (``VPackArguments`` in the small `tessera` program, the
/// argument-parser commands in `tessera-server`), and the work itself.
public struct VPackJob: Equatable, Sendable {
    public enum Tool: String, Sendable {
        case encode, decode, validate
    }

    /// For values JSON cannot express (decode): fail, write null, or write a string.
    public enum Unsupported: String, CaseIterable, Sendable {
        case fail, null, string

        var behavior: JSONDumper.UnsupportedBehavior {
            switch self {
            case .fail: .fail
            case .null: .null
            case .string: .string
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

    public var tool: Tool
    /// Input file; standard input when nil or "-".
    public var file: String?
    /// Output file (encode, decode); standard output when nil or "-".
    public var output: String?
    public var hex = false
    public var maxDepth = VPackJob.maxDepthDefault
    // encode
    public var compact = false
    public var validateUTF8 = false
    public var rejectDuplicateKeys = false
    public var lines = false
    // decode
    public var pretty = false
    public var unsupported = Unsupported.fail
    public var uniqueKeys = false
    // validate
    public var strict = false

    public init(tool: Tool) {
        self.tool = tool
    }

    /// Why the options cannot run together, or nil.
    public var invalidity: String? {
        guard (1...Self.maxDepthMax).contains(maxDepth) else { return "--max-depth must be in 1...\(Self.maxDepthMax)" }
        return nil
    }

    /// Runs the job on a thread with a stack for `maxDepth` levels; any failure becomes one
    /// line on standard error. Returns the exit status (0, or 1 after an error).
    public func run() -> Int32 {
        do {
            try DeepStackThread.run(depth: maxDepth) { [self] in try work() }
            return 0
        } catch {
            InputOutput.writeStandardError("error: \(error)")
            return 1
        }
    }

    func work() throws {
        switch tool {
        case .encode: try encode()
        case .decode: try decode()
        case .validate: _ = try readVelocyPack(strict ? .strict : .default)
        }
    }

    func encode() throws {
        let json = try InputOutput.readAll(file)
        let options = JSONParser.Options(
            validateUTF8: validateUTF8, nestingLimit: maxDepth, rejectDuplicateKeys: rejectDuplicateKeys,
            builder: .init(buildUnindexedArrays: compact, buildUnindexedObjects: compact))
        let destination = try InputOutput.OutputFile(output)
        if lines {
            try Self.encodeLines(json, options, to: destination)
        } else {
            let builder = try JSONParser.parse(json, options: options)
            if hex {
                try destination.write(Array((Hex.encode(builder.bytes) + "\n").utf8))
            } else {
                try destination.write(builder.bytes)
            }
        }
        try destination.close()
    }

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

    func decode() throws {
        var validation = Validator.Options.default
        validation.validateUTF8 = validateUTF8
        validation.checkUniqueKeys = uniqueKeys
        let slice = try readVelocyPack(validation)
        var options = JSONDumper.Options()
        options.unsupportedTypeBehavior = unsupported.behavior
        options.nonFiniteDoubleBehavior = unsupported.behavior
        options.indent = pretty ? 2 : nil
        let destination = try InputOutput.OutputFile(output)
        // Written in chunks of about a megabyte as the dump goes, not held whole.
        var failure: (any Error)?
        try JSONDumper.dump(slice, options: options, chunkByteCount: Self.outputChunkByteCount) { chunk in
            if failure == nil {
                do { try destination.write(chunk) } catch { failure = error }
            }
        }
        if let failure { throw failure }
        try destination.write([0x0a])
        try destination.close()
    }

    /// Reads VelocyPack input (raw or hex) and validates it.
    func readVelocyPack(_ options: Validator.Options) throws -> Slice {
        var bytes = try InputOutput.readAll(file)
        if hex { bytes = try Hex.decode(bytes) }
        var options = options
        options.nestingLimit = maxDepth
        return try Slice(validating: bytes, options: options)
    }
}
