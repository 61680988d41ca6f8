import Foundation
import Testing
import VelocyPack
import VelocyStream

/// Runs `tessera ARGUMENTS` to the end (bounded) and returns its exit status and output.
func runTessera(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, errors: String) {
    let process = Process()
    process.executableURL = ServerProcess.executable
    process.arguments = arguments
    var fullEnvironment = ProcessInfo.processInfo.environment
    fullEnvironment.merge(environment) { $1 }
    process.environment = fullEnvironment
    let directory = ServerProcess.temporaryDirectory()
    let outPath = directory + "/out", errPath = directory + "/err"
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    process.standardOutput = FileHandle(forWritingAtPath: outPath)!
    process.standardError = FileHandle(forWritingAtPath: errPath)!
    try process.run()
    let deadline = Date().addingTimeInterval(60)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    return (process.terminationStatus,
            (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

@Suite("tessera call and tessera bench", .serialized)
struct ClientCommandTests {
    @Test func callPrintsTheAnswerAndExitsByStatus() throws {
        let server = try ServerProcess(environment: ["TESSERA_ROOT_PASSWORD": "s3cret"])
        defer { server.stop() }
        let endpoint = ["--endpoint", server.endpoint.description]

        let version = try runTessera(["call", "GET", "/_api/version", "--compact"] + endpoint, environment: ["TESSERA_PASSWORD": "s3cret"])
        #expect(version.status == 0)
        let body = try JSONParser.parse(version.output).slice
        #expect(body["server"]?.stringValue == "tessera")

        let echo = try runTessera(["call", "POST", "/_admin/echo?x=a%20b&x=2", "--body", #"{"k":[1,true]}"#,
                                   "--header", "X-Trace: 7", "--password", "s3cret", "--compact"] + endpoint)
        #expect(echo.status == 0)
        let echoed = try JSONParser.parse(echo.output).slice
        #expect(echoed["parameters"]?["x"]?.stringValue == "a b,2")
        #expect(echoed["headers"]?["x-trace"]?.stringValue == "7")
        #expect(echoed["requestBody"]?["k"]?[1]?.boolValue == true)

        let missing = try runTessera(["call", "GET", "/_api/nothing", "--password", "s3cret", "--compact"] + endpoint)
        #expect(missing.status == 1)
        #expect(try JSONParser.parse(missing.output).slice["errorNum"]?.intValue == 404)

        let refused = try runTessera(["call", "GET", "/_api/version", "--password", "wrong"] + endpoint)
        #expect(refused.status == 2)
        #expect(refused.errors.contains("authentication failed"))

        let badBody = try runTessera(["call", "POST", "/_admin/echo", "--body", "{nope"] + endpoint)
        #expect(badBody.status != 0)
        #expect(badBody.errors.contains("--body is not valid JSON"))

        let nobody = try runTessera(["call", "GET", "/_api/version", "--endpoint", "tcp://127.0.0.1:1"])
        #expect(nobody.status == 2)
        #expect(nobody.errors.contains("cannot connect"))
    }

    @Test func benchVersionReportsJSON() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let run = try runTessera(["bench", "version", "--endpoint", server.endpoint.description, "--concurrency", "4",
                                  "--pipeline", "4", "--requests", "2000", "--duration", "20", "--warmup", "0", "--json"])
        #expect(run.status == 0, "\(run.errors)")
        let report = try JSONParser.parse(run.output).slice
        #expect(report["workload"]?.stringValue == "version")
        #expect(report["requests"]?.intValue == 2000)
        #expect(report["errors"]?.intValue == 0)
        #expect((report["opsPerSecond"]?.numberValue ?? 0) > 0)
        let p50 = report["p50Ms"]?.numberValue ?? -1, p99 = report["p99Ms"]?.numberValue ?? -1, p999 = report["p999Ms"]?.numberValue ?? -1
        #expect(p50 > 0 && p50 <= p99 && p99 <= p999)

        let refused = try runTessera(["bench", "version", "--endpoint", server.endpoint.description, "--password", "x",
                                      "--requests", "10", "--warmup", "0"])
        #expect(refused.status == 2)
        #expect(refused.errors.contains("authentication failed"))
    }

    /// The load generator checks every answer as a client must: against a server that
    /// answers with an error, with a body that is no VelocyPack, or to a message never sent.
    @Test func benchVersionChecksEveryAnswer() throws {
        var errorBody = Builder()
        errorBody.openObject()
        errorBody.add(key: "code", 503)
        errorBody.add(key: "error", true)
        errorBody.add(key: "errorMessage", "too busy to answer")
        errorBody.add(key: "errorNum", 503)
        try errorBody.close()
        let cases: [(name: String, id: UInt64?, status: Int, body: [UInt8], expected: String)] = [
            ("an error answer", nil, 503, errorBody.bytes, "status 503: too busy to answer"),
            ("a body that is no VelocyPack", nil, 200, [0x0b, 0x00], "protocol violation by the server: answer body"),
            ("an answer to a message never sent", 99, 200, [], "answer to message 99, which waits for none"),
        ]
        for test in cases {
            let listener = try RawListener()
            let served = DispatchSemaphore(value: 0)
            let server = Thread {
                defer { served.signal() }
                // The preamble, the credentials (accepted), then the request.
                guard let peer = listener.accept(), peer.read(exactly: 11) == Array("VST/1.1\r\n\r\n".utf8),
                      let credentials = try? peer.readMessages(1).first else { return }
                peer.send(VSTEncoder.encode(messageID: credentials.id, message: ResponseHeader(responseCode: 200).encoded()))
                guard let request = try? peer.readMessages(1).first else { return }
                let answer = ResponseHeader(responseCode: test.status).encoded() + test.body
                peer.send(VSTEncoder.encode(messageID: test.id ?? request.id, message: answer))
                _ = peer.readUntilClosed()
            }
            server.start()
            let run = try runTessera(["bench", "version", "--endpoint", "tcp://127.0.0.1:\(listener.port)", "--concurrency", "1",
                                      "--pipeline", "1", "--requests", "1", "--duration", "10", "--warmup", "0"])
            #expect(run.status == 0, "\(test.name): \(run.errors)")
            #expect(run.output.contains("errors 1"), "\(test.name): \(run.output)")
            #expect(run.output.contains(test.expected), "\(test.name): \(run.output)")
            #expect(served.wait(timeout: .now() + 10) == .success, "\(test.name)")
        }
    }

    @Test func callAndBenchSpeakHTTPWhenAsked() throws {
        let server = try ServerProcess(environment: ["TESSERA_ROOT_PASSWORD": "s3cret"])
        defer { server.stop() }
        let http = "http://127.0.0.1:\(server.port)"
        let password = ["--password", "s3cret"]
        // --http and an http:// endpoint are the same; the server saw an HTTP connection.
        let echo = try runTessera(["call", "POST", "/_admin/echo?x=a%20b", "--body", #"{"k":1}"#, "--http", "--compact",
                                   "--endpoint", server.endpoint.description] + password)
        #expect(echo.status == 0, "\(echo.errors)")
        let echoed = try JSONParser.parse(echo.output).slice
        #expect(echoed["parameters"]?["x"]?.stringValue == "a b")
        #expect(echoed["requestBody"]?["k"]?.intValue == 1)
        #expect(echoed["headers"]?["content-type"]?.stringValue == "application/x-velocypack")
        let metrics = try runTessera(["call", "GET", "/_admin/metrics/v2", "--endpoint", http] + password)
        #expect(metrics.status == 0)
        #expect(metrics.output.contains(#"tessera_connections_accepted_total{protocol=\"http\"}"#), "\(metrics.output.prefix(2000))")
        // Error answers keep their exit code; a wrong password is a 401 answer over HTTP.
        let missing = try runTessera(["call", "GET", "/_api/nothing", "--compact", "--endpoint", http] + password)
        #expect(missing.status == 1)
        #expect(try JSONParser.parse(missing.output).slice["errorNum"]?.intValue == 404)
        let refused = try runTessera(["call", "GET", "/_api/version", "--endpoint", http, "--password", "wrong", "--compact"])
        #expect(refused.status == 1)
        #expect(try JSONParser.parse(refused.output).slice["code"]?.intValue == 401)

        let bench = try runTessera(["bench", "read", "--http", "--endpoint", server.endpoint.description, "--concurrency", "4",
                                    "--pipeline", "2", "--documents", "100", "--requests", "2000", "--duration", "20",
                                    "--warmup", "0", "--json"] + password)
        #expect(bench.status == 0, "\(bench.errors)")
        let report = try JSONParser.parse(bench.output).slice
        #expect(report["requests"]?.intValue == 2000)
        #expect(report["errors"]?.intValue == 0)
    }
}
