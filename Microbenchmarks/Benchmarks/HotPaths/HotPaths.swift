// The per-request and per-document steps the server and the tools repeat most, each on a
// fixed input: wall time per operation, and the allocations per operation that
// malloc-interposer counts exactly (a figure that does not move with the shared machine's
// noise). `scripts/bench-micro` runs them.
import Benchmark
import Storage
import VelocyPack
import VelocyStream

/// A 1 KB document like the durable-insert benchmark's, as JSON text.
let documentJSON: [UInt8] = Array(#"""
{"_key":"k1042","name":"alpha bravo","city":"Zürich","age":42,"active":true,"score":12.5,"tags":["red","green","blue"],"address":{"street":"Main \"Street\" 1","zip":"8001"},"pad":"\#(String(repeating: "x", count: 800))"}
"""#.utf8)

/// Text of the strings corpus's kind: mostly non-ASCII, an escape every few dozen bytes.
let stringsJSON: [UInt8] = Array(("[" + (0..<64).map { i in
    #""Köln \"\#(i)\" São Paulo\nKraków Århus Reykjavík Łódź Málaga \t fin""#
}.joined(separator: ",") + "]").utf8)

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .mallocCountTotal, .throughput]
    let configuration = Benchmark.Configuration(metrics: metrics, maxDuration: .seconds(2), maxIterations: 1_000_000)

    let document = try! JSONParser.parse(documentJSON)
    let documentBytes = document.bytes
    let strings = try! JSONParser.parse(stringsJSON)

    Benchmark("JSON parse: 1 KB document", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! JSONParser.parse(documentJSON)) }
    }
    Benchmark("JSON parse: strings with escapes", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! JSONParser.parse(stringsJSON)) }
    }
    Benchmark("JSON dump: 1 KB document", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! JSONDumper.dump(document.slice)) }
    }
    Benchmark("JSON dump: strings with escapes", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! JSONDumper.dump(strings.slice)) }
    }
    Benchmark("VelocyPack validate (strict): 1 KB document", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! Slice(validating: documentBytes, options: .strict)) }
    }

    // A request as a driver sends it: header and body in one VelocyStream chunk.
    let header = RequestHeader(database: "_system", method: .post, path: "/_api/document/bench",
                               parameters: ["waitForSync": ["true"]], meta: ["content-type": "application/x-velocypack"])
    let chunk = VSTEncoder.encode(messageID: 7, message: header.encoded() + documentBytes)
    // As the server reads it: the header validated and read where the decoder holds the
    // bytes, the body copied once (the handler keeps it).
    Benchmark("VelocyStream: decode a request chunk and read its header", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = VSTDecoder(version: .v1_1)
            decoder.append(chunk)
            let view = try! decoder.nextMessageView()!
            view.withUnsafeBytes { bytes in
                let message = try! BorrowedMessage(bytes)
                blackHole(try! RequestHeader(message))
                blackHole(Array(message.body))
            }
        }
    }
    Benchmark("VelocyStream: encode a request", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(VSTEncoder.encode(messageID: 7, message: header.encoded() + documentBytes))
        }
    }

    // A storage record of that document: encoded as the engine appends it, decoded (CRC
    // checked) as recovery and reads do.
    let record = LogRecord(kind: .document, flags: 0, revision: 0x0102_0304_0506_0708, sequence: 42,
                           documentByteCount: UInt32(documentBytes.count), key: Array("k1042".utf8), payload: documentBytes)
    var encodedRecord: [UInt8] = []
    record.encode(into: &encodedRecord)
    Benchmark("Storage: encode a 1 KB log record", configuration: configuration) { benchmark in
        var output: [UInt8] = []
        output.reserveCapacity(2048)
        for _ in benchmark.scaledIterations {
            output.removeAll(keepingCapacity: true)
            record.encode(into: &output)
            blackHole(output)
        }
    }
    Benchmark("Storage: decode and check a 1 KB log record", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! LogRecord.decode(encodedRecord)) }
    }
}
