import ArgumentParser
import Client
import Histogram
import Transport
import VelocyStream

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VPackTool

/// The options of every request/response benchmark, in the style of redis-benchmark and
/// arangobench.
struct LoadOptions: ParsableArguments {
    @Option(help: "Connections to open.")
    var concurrency: Int = 50

    @Option(help: "Requests kept in flight on each connection.")
    var pipeline: Int = 1

    @Option(help: "Stop after this many requests (whichever of --requests and --duration comes first).")
    var requests: Int = 200_000

    @Option(help: "Stop after this many seconds.")
    var duration: Double = 30

    @Option(help: "Seconds of load before measuring starts (not counted).")
    var warmup: Double = 1

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard (1...1000).contains(concurrency) else { throw ValidationError("--concurrency must be in 1...1000") }
        guard (1...1024).contains(pipeline) else { throw ValidationError("--pipeline must be in 1...1024") }
        guard requests > 0, requests <= 1_000_000_000 else { throw ValidationError("--requests must be in 1...1e9") }
        guard duration > 0, duration <= 600 else { throw ValidationError("--duration must be in (0, 600] seconds") }
        guard warmup >= 0, warmup <= 60 else { throw ValidationError("--warmup must be in [0, 60] seconds") }
    }
}

/// What one benchmark sends: a request message (header and body, already encoded) per
/// request, and whether an answer counts as a success; with set-up before the load and
/// tear-down after it, neither measured.
protocol BenchWorkload: Sendable {
    var name: String { get }
    /// Prepares what the requests need (a collection, documents to read).
    func setUp(_ client: VSTClient) async throws
    /// The request with number `sequence` (counted over all connections, warm-up included).
    func message(connection: Int, sequence: Int) -> [UInt8]
    /// Whether an answer with this status counts as a success.
    func succeeded(status: Int) -> Bool
    /// Removes what set-up made; runs also when set-up or the load failed.
    func tearDown(_ client: VSTClient) async throws
}

extension BenchWorkload {
    func setUp(_ client: VSTClient) async throws {}
    func tearDown(_ client: VSTClient) async throws {}
}

/// The figures of one run.
struct BenchResult {
    var workload: String
    var concurrency: Int
    var pipeline: Int
    var requests: Int
    var errors: Int
    var seconds: Double
    var histogram: Histogram<UInt64>
    var firstError: String?

    var opsPerSecond: Double { seconds > 0 ? Double(requests) / seconds : 0 }
    /// Latency percentile in milliseconds (the histogram holds microseconds).
    func milliseconds(_ percentile: Double) -> Double {
        histogram.totalCount == 0 ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000
    }

    func report(json: Bool) -> String {
        func format(_ value: Double, _ digits: Int = 3) -> String {
            let scale = Double([1, 10, 100, 1000, 10000][digits])
            let rounded = (value * scale).rounded() / scale
            return String(rounded)
        }
        if json {
            var text = "{\"workload\":\"\(workload)\",\"concurrency\":\(concurrency),\"pipeline\":\(pipeline)"
            text += ",\"requests\":\(requests),\"errors\":\(errors),\"seconds\":\(format(seconds))"
            text += ",\"opsPerSecond\":\(format(opsPerSecond, 1)),\"p50Ms\":\(format(milliseconds(50)))"
            text += ",\"p99Ms\":\(format(milliseconds(99))),\"p999Ms\":\(format(milliseconds(99.9)))"
            text += ",\"maxMs\":\(format(Double(histogram.max) / 1000))}"
            return text
        }
        var lines = ["workload \(workload): \(concurrency) connections, pipeline \(pipeline)"]
        lines.append("  requests     \(requests) in \(format(seconds)) s, errors \(errors)")
        lines.append("  throughput   \(format(opsPerSecond, 1)) requests/s")
        lines.append("  latency ms   p50 \(format(milliseconds(50)))  p99 \(format(milliseconds(99)))  p99.9 \(format(milliseconds(99.9)))  max \(format(Double(histogram.max) / 1000))")
        if let firstError { lines.append("  first error  \(firstError)") }
        return lines.joined(separator: "\n")
    }
}

/// Drives a workload from one client loop thread: every connection keeps `pipeline` requests
/// in flight and sends the next as each answer arrives (closed loop, like redis-benchmark).
/// Latency is measured from send to answer, in microseconds.
///
/// `@unchecked Sendable`: all mutable state is touched only on the loop thread.
final class BenchRunner: @unchecked Sendable {
    let options: LoadOptions
    let client: ClientOptions
    let workload: any BenchWorkload
    let loop = EventLoop()
    var connections: [any BenchConnection] = []
    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    var measuring = false
    var stopping = false
    var completed = 0
    var errors = 0
    var sent = 0
    var firstError: String?
    var measureStart: UInt64 = 0
    var measureEnd: UInt64 = 0
    var finish: ((Result<BenchResult, any Error>) -> Void)?
    /// Read once: an argument-parser property costs a generic lookup on every read, and
    /// these are read for every request.
    let requestCountMax: Int
    let timeoutSeconds: Double?

    init(options: LoadOptions, client: ClientOptions, workload: any BenchWorkload) {
        self.options = options
        self.client = client
        self.workload = workload
        self.requestCountMax = options.requests
        self.timeoutSeconds = client.timeout
    }

    static func monotonicMicroseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_nsec) / 1000
    }

    func run() async throws -> BenchResult {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<BenchResult, any Error>, Never>) in
            loop.execute { [self] in
                finish = { continuation.resume(returning: $0) }
                connectAll()
            }
        }
        loop.shutdown()
        return try result.get()
    }

    func connectAll() {
        var remaining = self.options.concurrency
        var failed = false
        let connected: (Result<any BenchConnection, ClientError>) -> Void = { [self] result in
            remaining -= 1
            switch result {
            case .success(let connection): connections.append(connection)
            case .failure(let error):
                if !failed {
                    failed = true
                    fail(error)
                }
            }
            if remaining == 0 && !failed { startLoad() }
        }
        let credentials = client.credentials
        for _ in 0..<self.options.concurrency {
            if client.usesHTTP {
                var options = HTTPClientConnection.Options(credentials: credentials)
                options.connectTimeoutSeconds = 10
                HTTPClientConnection.connect(on: loop, to: client.parsedEndpoint, options: options) { [timeoutSeconds] result in
                    connected(result.map { HTTPBenchConnection($0, timeoutSeconds: timeoutSeconds) })
                }
            } else {
                PipelinedVSTConnection.connect(on: loop, to: client.parsedEndpoint, credentials: credentials,
                                               timeoutSeconds: 10) { result in
                    connected(result.map { $0 })
                }
            }
        }
    }

    func fail(_ error: any Error) {
        for connection in connections { connection.close() }
        finish?(.failure(error))
        finish = nil
    }

    func startLoad() {
        let startMeasuring = { [self] in
            measuring = true
            measureStart = Self.monotonicMicroseconds()
            let stopTimer = LoopTimer(on: loop)
            stopTimer.start(after: UInt64(options.duration * 1000)) { [self] in
                stopTimer.close()
                stop()
            }
        }
        if options.warmup == 0 {
            // Measured from the first request on: a timer of 0 ms could fire after answers.
            startMeasuring()
        } else {
            let warmupTimer = LoopTimer(on: loop)
            warmupTimer.start(after: UInt64(options.warmup * 1000)) {
                warmupTimer.close()
                startMeasuring()
            }
        }
        for (index, connection) in connections.enumerated() {
            // One handler per connection, made once: no closure per request.
            connection.onAnswer = { [self, unowned connection] answer in answered(answer, on: connection, index: index) }
            for _ in 0..<options.pipeline { sendNext(on: connection, index: index, now: Self.monotonicMicroseconds()) }
        }
    }

    /// Sends the next request on `connection`; `now` is the clock as the caller last read it
    /// (an answer's arrival, when the answer is what lets the next request go): no clock
    /// read of its own.
    func sendNext(on connection: any BenchConnection, index: Int, now: UInt64) {
        guard !stopping else { return }
        let message = workload.message(connection: index, sequence: sent)
        sent += 1
        connection.send(message: message, sentAt: now)
    }

    func answered(_ answer: BenchAnswer, on connection: any BenchConnection, index: Int) {
        if stopping { return }
        let now: UInt64
        switch answer {
        case let .answered(status, errorMessage, sentAt, receivedAt):
            now = receivedAt
            if measuring {
                if !workload.succeeded(status: status) {
                    errors += 1
                    if firstError == nil { firstError = "status \(status): \(errorMessage ?? "")" }
                }
                _ = histogram.record(receivedAt &- sentAt)
            }
        case let .failed(error, sentAt):
            now = Self.monotonicMicroseconds()
            // Told even from the warm-up: a run that a lost connection ends must say why.
            if firstError == nil { firstError = "\(error)" }
            if measuring {
                errors += 1
                _ = histogram.record(now &- sentAt)
            }
            if !connection.isConnected {
                // A lost connection ends the run: its share of the load is gone.
                stop()
                return
            }
        }
        if measuring {
            completed += 1
            if completed >= requestCountMax {
                stop()
                return
            }
        }
        sendNext(on: connection, index: index, now: now)
    }

    func stop() {
        guard !stopping else { return }
        stopping = true
        measureEnd = Self.monotonicMicroseconds()
        for connection in connections { connection.close() }
        let result = BenchResult(
            workload: workload.name, concurrency: options.concurrency, pipeline: options.pipeline,
            requests: completed, errors: errors, seconds: Double(measureEnd &- measureStart) / 1_000_000,
            histogram: histogram, firstError: firstError)
        finish?(.success(result))
        finish = nil
    }
}

/// `tessera bench version`: the no-op round trip, `GET /_api/version`.
struct VersionBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Measure round trips of GET /_api/version (requests/s and latency).")

    @OptionGroup var load: LoadOptions
    @OptionGroup var client: ClientOptions

    struct Workload: BenchWorkload {
        let encoded: [UInt8]
        var name: String { "version" }
        init(database: String) {
            encoded = RequestHeader(database: database, method: .get, path: "/_api/version").encoded()
        }
        func message(connection: Int, sequence: Int) -> [UInt8] { encoded }
        func succeeded(status: Int) -> Bool { status == 200 }
    }

    func run() async throws {
        try await BenchRunner.runAndReport(Workload(database: client.database), load: load, client: client, command: "version")
    }
}

extension BenchRunner {
    /// Set-up, load and tear-down of `workload`, then its figures on standard output. A
    /// failure of any step prints one line and exits 2 (tear-down still runs).
    static func runAndReport(_ workload: any BenchWorkload, load: LoadOptions, client: ClientOptions,
                             command: String) async throws {
        // Set-up and tear-down go through the async driver; the load through the runner's own
        // loop. The driver opens connections on demand, so a workload without set-up opens none.
        let helper = VSTClient(configuration: client.clientConfiguration(poolSize: 4))
        var outcome: Result<BenchResult, any Error>
        do {
            try await workload.setUp(helper)
            outcome = .success(try await BenchRunner(options: load, client: client, workload: workload).run())
        } catch {
            outcome = .failure(error)
        }
        do {
            try await workload.tearDown(helper)
        } catch {
            if case .success = outcome { outcome = .failure(error) }  // the first failure is the one to tell
        }
        await helper.shutdown()
        switch outcome {
        case .success(let result): print(result.report(json: load.json))
        case .failure(let error):
            InputOutput.writeStandardError("tessera bench \(command): \(error)")
            throw ExitCode(2)
        }
    }
}
