import ArgumentParser
import VelocyPack

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VPackTool

/// `tessera bench vpack`: VelocyPack throughput on four generated corpus shapes.
///
/// For each shape: JSON → VelocyPack (MB/s of JSON read), VelocyPack → JSON (MB/s of JSON
/// written), validation (MB/s of VelocyPack), and object lookup by key (ns per lookup).
/// Each phase repeats over the whole corpus until `--seconds` have passed (at least once)
/// and reports the best pass, so a busy moment on the machine does not count.
struct VPackBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vpack",
        abstract: "Measure VelocyPack parse, dump, validate and lookup speed.")

    @Option(help: "Seconds to spend on each phase of each shape.")
    var seconds: Double = 3

    @Option(help: "Corpus size factor (1 = the documented sizes).")
    var scale: Double = 1

    @Option(help: "Only these shapes (comma-separated: flat,nested,numbers,strings,deep).")
    var shapes: String = "flat,nested,numbers,strings,deep"

    @Option(help: "Write each corpus as JSON lines into this directory (for comparison runs) and exit.")
    var writeCorpus: String?

    func run() throws {
        let selected = try shapes.split(separator: ",").map { name in
            guard let shape = Corpus.Shape(rawValue: String(name)) else {
                throw ValidationError("unknown shape '\(name)'")
            }
            return shape
        }
        guard seconds > 0, seconds <= 600, scale > 0, scale <= 10 else {
            throw ValidationError("--seconds must be in (0, 600] and --scale in (0, 10]")
        }
        if let directory = writeCorpus {
            for shape in selected {
                let corpus = Corpus(shape: shape, scale: scale)
                var lines: [UInt8] = []
                for document in corpus.documents {
                    lines.append(contentsOf: document)
                    lines.append(0x0a)
                }
                let path = directory + "/" + shape.rawValue + ".jsonl"
                guard let file = fopen(path, "wb") else { throw ValidationError("cannot write \(path)") }
                _ = lines.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
                fclose(file)
                print("wrote \(path) (\(lines.count) bytes, \(corpus.documents.count) documents)")
            }
            return
        }
        print("shape    docs     JSON MB  VPack MB  parse MB/s  dump MB/s  validate MB/s  lookup ns")
        for shape in selected {
            let result = try measure(Corpus(shape: shape, scale: scale))
            print(result)
        }
    }

    struct Result: CustomStringConvertible {
        let shape: Corpus.Shape
        let documents: Int
        let jsonBytes: Int
        let vpackBytes: Int
        let parseRate: Double
        let dumpRate: Double
        let validateRate: Double
        let lookupNanoseconds: Double?

        var description: String {
            func column(_ value: Double, _ width: Int, _ digits: Int = 1) -> String {
                var text = String(Int((value * 10).rounded()) / 10)
                if digits == 1 {
                    let tenths = Int((value * 10).rounded()) % 10
                    text = "\(Int(value * 10) / 10).\(tenths)"
                }
                return String(repeating: " ", count: max(0, width - text.count)) + text
            }
            let name = shape.rawValue + String(repeating: " ", count: 8 - shape.rawValue.count)
            let count = String(documents)
            return name + " " + count + String(repeating: " ", count: max(0, 7 - count.count))
                + column(Double(jsonBytes) / 1e6, 9) + column(Double(vpackBytes) / 1e6, 10)
                + column(parseRate, 12) + column(dumpRate, 11) + column(validateRate, 15)
                + (lookupNanoseconds.map { column($0, 11) } ?? "          -")
        }
    }

    /// Runs `body` over and over for the configured time; returns the best pass's seconds.
    func best(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        var bestSeconds = Double.infinity
        repeat {
            let start = clock.now
            try body()
            let elapsed = start.duration(to: clock.now)
            let passSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bestSeconds = min(bestSeconds, passSeconds)
        } while clock.now < deadline
        return bestSeconds
    }

    func measure(_ corpus: Corpus) throws -> Result {
        let jsonBytes = corpus.byteCount
        // Build every document once to have the VelocyPack side.
        // The offline tools' nesting limit, so the deep shape parses; it costs nothing per value.
        var parseOptions = JSONParser.Options()
        parseOptions.nestingLimit = VPackJob.maxDepthDefault
        var validateOptions = Validator.Options()
        validateOptions.nestingLimit = VPackJob.maxDepthDefault
        var encoded: [[UInt8]] = []
        for document in corpus.documents {
            encoded.append(try JSONParser.parse(document, options: parseOptions).bytes)
        }
        let vpackBytes = encoded.reduce(0) { $0 + $1.count }

        var builder = Builder(capacity: 1 << 16)
        let parseSeconds = try best {
            for document in corpus.documents {
                builder.clear()
                try JSONParser.parse(document, into: &builder, options: parseOptions)
            }
        }

        let slices = encoded.map { Slice(trustedBytes: $0) }
        var output: [UInt8] = []
        output.reserveCapacity(1 << 16)
        var dumpedBytes = 0
        let dumpSeconds = try best {
            dumpedBytes = 0
            for slice in slices {
                output.removeAll(keepingCapacity: true)
                try JSONDumper.dump(slice, into: &output)
                dumpedBytes += output.count
            }
        }

        let validator = Validator(options: validateOptions)
        let validateSeconds = try best {
            for bytes in encoded { try validator.validate(bytes) }
        }

        var lookupNanoseconds: Double? = nil
        if corpus.shape == .flat || corpus.shape == .strings {
            let keys = corpus.shape == .flat
                ? ["_key", "name", "email", "age", "score", "active", "city", "balance", "note"]
                : ["title", "body", "tags"]
            var found = 0
            let lookupSeconds = best {
                found = 0
                for slice in slices {
                    for key in keys where slice[key] != nil { found += 1 }
                }
            }
            precondition(found == slices.count * keys.count, "every generated key must be found")
            lookupNanoseconds = lookupSeconds * 1e9 / Double(slices.count * keys.count)
        }
        return Result(
            shape: corpus.shape, documents: corpus.documents.count, jsonBytes: jsonBytes,
            vpackBytes: vpackBytes, parseRate: Double(jsonBytes) / parseSeconds / 1e6,
            dumpRate: Double(dumpedBytes) / dumpSeconds / 1e6,
            validateRate: Double(vpackBytes) / validateSeconds / 1e6,
            lookupNanoseconds: lookupNanoseconds)
    }
}
