import Auth
import ClusterMember
import Foundation
import Testing
import TesseraPlatform
import TesseraProcessSupport
import VelocyPack

/// python-arango (from PyPI, in a virtual environment of its own under the build folder) runs
/// `Python/arango_scenario.py` unchanged over HTTP: against `tessera single`, and against a
/// coordinator of `tessera start` (in ``ClusterProcesses``).
enum PythonArango {
    /// Where the virtual environment lives: beside the build products (`.build*/`), so that a
    /// clean build removes it and no two checkouts share one.
    static let environmentDirectory: URL = TesseraExecutable.url.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("python-arango-venv")
    static let scenario = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Python/arango_scenario.py")

    enum Preparation {
        case ready(python: URL)
        /// PyPI cannot be reached: the only reason the tests skip.
        case pypiUnreachable(String)
        /// Anything else: the tests run and fail with this.
        case failed(String)
    }

    /// Made once per test run: the environment with python-arango installed (kept between runs).
    static let preparation: Preparation = {
        let python = environmentDirectory.appendingPathComponent("bin/python")
        if FileManager.default.fileExists(atPath: python.path),
           run(python, ["-c", "import arango"], seconds: 60).status == 0 {
            return .ready(python: python)
        }
        let created = run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-m", "venv", "--clear", environmentDirectory.path], seconds: 120)
        guard created.status == 0 else { return .failed("python3 -m venv failed: \(created.output)") }
        let installed = run(environmentDirectory.appendingPathComponent("bin/pip"),
                            ["install", "--quiet", "--disable-pip-version-check", "--timeout", "30", "python-arango"], seconds: 300)
        guard installed.status == 0 else {
            let networkSigns = ["NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
                                "No matching distribution found", "ConnectTimeoutError", "Max retries exceeded"]
            if networkSigns.contains(where: installed.output.contains) { return .pypiUnreachable(installed.output) }
            return .failed("pip install python-arango failed: \(installed.output)")
        }
        return .ready(python: python)
    }()

    static var pypiReachable: Bool {
        if case .pypiUnreachable(let why) = preparation {
            print("python-arango tests skipped: PyPI cannot be reached from this machine (\(why.suffix(300)))")
            return false
        }
        return true
    }

    /// Runs the scenario against `url`; records the failure with the script's output.
    static func runScenario(url: String, rootPassword: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let python: URL
        switch preparation {
        case .ready(let found): python = found
        case .failed(let why), .pypiUnreachable(let why):
            Issue.record("python-arango is not usable: \(why)", sourceLocation: sourceLocation)
            return
        }
        let result = run(python, [scenario.path, url, rootPassword], seconds: 240)
        #expect(result.status == 0, "the python-arango scenario failed against \(url):\n\(result.output)", sourceLocation: sourceLocation)
        #expect(result.output.contains("scenario passed"), "\(result.output)", sourceLocation: sourceLocation)
    }

    /// Runs a program to its end (killed after `seconds`), its output and exit status.
    static func run(_ executable: URL, _ arguments: [String], seconds: Double) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let outputPath = NSTemporaryDirectory() + "tessera-python-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        guard let output = FileHandle(forWritingAtPath: outputPath) else { return (-1, "cannot write \(outputPath)") }
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch { return (-1, "cannot run \(executable.path): \(error)") }
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? output.close()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (process.terminationStatus, text)
    }
}

@Suite("python-arango over HTTP")
struct PythonArangoSingleTests {
    @Test("the python-arango scenario passes against tessera single",
          .enabled("PyPI cannot be reached to install python-arango", { PythonArango.pypiReachable }))
    func scenarioAgainstSingleServer() throws {
        let server = try ServerProcess(arguments: ["--root-password", "py-secret"])
        defer { server.stop() }
        PythonArango.runScenario(url: "http://127.0.0.1:\(server.port)", rootPassword: "py-secret")
    }
}

extension ClusterProcesses {
    @Suite("python-arango over HTTP against a coordinator")
    struct PythonArangoClusterTests {
        @Test("the python-arango scenario passes against a coordinator of tessera start",
              .enabled("PyPI cannot be reached to install python-arango", { PythonArango.pypiReachable }))
        func scenarioAgainstCoordinator() throws {
            let cluster = try ClusterTests.LocalCluster(rootPassword: "py-secret")
            defer { cluster.stop() }
            PythonArango.runScenario(url: "http://127.0.0.1:\(cluster.coordinators[0].port)", rootPassword: "py-secret")
        }
    }

    /// Every role serves `/_admin/metrics/v2` over HTTP; agents and DBServers only to a
    /// cluster token, as they refuse client VelocyStream.
    @Suite("HTTP on every role of a cluster")
    struct HTTPClusterRoleTests {
        @Test("agents, DBServers and coordinators serve their metrics over HTTP; agents refuse client credentials")
        func everyRoleServesMetrics() throws {
            let cluster = try ClusterTests.LocalCluster(rootPassword: "m3trics")
            defer { cluster.stop() }
            let plan = try JSONParser.parse(Array(FileManager.default.contents(atPath: cluster.directory + "/cluster/cluster.json")!)).slice
            let secret = try ClusterSecret.load(path: plan["secretFile"]?.stringValue ?? "").secret.bytes
            let token = ClusterAuthenticator.token(serverID: "TEST", secret: secret, now: Date().timeIntervalSince1970)
            let processes = plan["processes"]?.arrayElements.map { $0 } ?? []
            func scrape(_ endpoint: String, authorization: String) throws -> HTTPMessage {
                let port = UInt16(endpoint.split(separator: ":").last ?? "") ?? 0
                let socket = try RawSocket(port: port)
                socket.send(Array("GET /_admin/metrics/v2 HTTP/1.1\r\nHost: x\r\nAuthorization: \(authorization)\r\n\r\n".utf8))
                return try socket.readHTTPResponses(1)[0]
            }
            var seen: Set<String> = []
            for process in processes {
                let role = process["role"]?.stringValue ?? "", endpoint = process["endpoint"]?.stringValue ?? ""
                seen.insert(role)
                let answer = try scrape(endpoint, authorization: "bearer \(token)")
                #expect(answer.head.status == 200, "\(role) \(endpoint)")
                let text = String(decoding: answer.body, as: UTF8.self)
                #expect(text.contains("arangodb_http_request_statistics_total_requests_total"), "\(role)")
                switch role {
                case "agent":
                    #expect(text.contains("\narangodb_agency_term "), "\(text)")
                    #expect(text.contains("\ntessera_agency_commit_index "))
                    let refused = try scrape(endpoint, authorization: "Basic " + Data("root:m3trics".utf8).base64EncodedString())
                    #expect(refused.head.status == 401)
                case "dbserver":
                    #expect(text.contains("# TYPE tessera_shard_documents gauge"))
                default:
                    #expect(text.contains("superuser_requests_total"))
                }
            }
            #expect(seen == ["agent", "dbserver", "coordinator"])
        }
    }
}
