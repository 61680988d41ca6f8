import Foundation
import Testing
import TesseraProcessSupport
import Transport

/// A real `tessera single` process on loopback, for tests that drive it from outside.
final class ServerProcess: @unchecked Sendable {  // used from one test at a time
    let process = Process()
    let dataDirectory: String
    let outputPath: String
    private(set) var port: UInt16 = 0

    var endpoint: Endpoint { Endpoint(host: "127.0.0.1", port: port) }

    static var executable: URL { TesseraExecutable.url }

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "tessera-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Starts `tessera single` on `port` (0: any free port) and waits until it listens.
    convenience init(port: UInt16 = 0, dataDirectory: String? = nil, arguments: [String] = [],
                     environment: [String: String] = [:]) throws {
        let directory = dataDirectory ?? Self.temporaryDirectory() + "/data"
        try self.init(command: ["single", "--endpoint", "tcp://127.0.0.1:\(port)", "--data", directory] + arguments,
                      dataDirectory: directory, environment: environment)
    }

    /// Starts `tessera COMMAND…` (a server role that prints "listening on") and waits until
    /// it listens.
    init(command: [String], dataDirectory: String, environment: [String: String] = [:]) throws {
        self.dataDirectory = dataDirectory
        outputPath = Self.temporaryDirectory() + "/server.out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        process.executableURL = Self.executable
        process.arguments = command
        var fullEnvironment = ProcessInfo.processInfo.environment
        fullEnvironment.merge(environment) { $1 }
        process.environment = fullEnvironment
        let output = FileHandle(forWritingAtPath: outputPath)!
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Wait (bounded) for the line that names the port.
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            let text = self.output
            if let range = text.range(of: "listening on tcp://127.0.0.1:") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let bound = UInt16(digits) {
                    self.port = bound
                    return
                }
            }
            if !process.isRunning { break }
            usleep(20_000)
        }
        stop()
        throw Failure(description: "tessera \(command.first ?? "") did not start: \(self.output)")
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits (bounded) for the process to end; returns its exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, waitSeconds: Double = 20) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(waitSeconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    deinit { if process.isRunning { stop(signal: SIGKILL) } }
}
