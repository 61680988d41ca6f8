import Foundation
import Testing
import TesseraProcessSupport

extension ClusterProcesses {
    /// `tessera cluster …` and `tessera start` as an operator runs them (agents only until the
    /// DBServer and coordinator roles exist).
    @Suite("Cluster launcher", .serialized)
    struct LauncherTests {
        /// Runs `tessera arguments…` to its end; returns exit status and output.
        static func tessera(_ arguments: [String], in directory: String) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = TesseraExecutable.url
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: output, as: UTF8.self))
        }

        @Test("plan, launch, health, shutdown, relaunch keeps data, cleanup")
        func twoPhase() throws {
            let directory = ServerProcess.temporaryDirectory()
            let base = ClusterTests.LocalCluster.freePortRange(3)
            var result = try Self.tessera(["cluster", "plan", "--dbservers", "0", "--coordinators", "0", "--port-base", "\(base)",
                                           "--data", "c", "--output", "plan.json"], in: directory)
            #expect(result.status == 0, "\(result.output)")
            result = try Self.tessera(["cluster", "launch", "--plan", "plan.json"], in: directory)
            #expect(result.status == 0, "\(result.output)")
            defer { _ = try? Self.tessera(["cluster", "shutdown", "--plan", "plan.json"], in: directory) }
            var healthy = false
            for _ in 0..<50 where !healthy {
                result = try Self.tessera(["cluster", "health", "--plan", "plan.json"], in: directory)
                healthy = result.status == 0
                if !healthy { usleep(200_000) }
            }
            #expect(healthy, "\(result.output)")
            #expect(result.output.components(separatedBy: "GOOD").count == 4)
            let plan = try String(contentsOfFile: directory + "/plan.json", encoding: .utf8)
            #expect(plan.contains("\"pid\""))
            result = try Self.tessera(["cluster", "launch", "--plan", "plan.json"], in: directory)
            #expect(result.status == 1 && result.output.contains("still runs"))
            result = try Self.tessera(["cluster", "shutdown", "--plan", "plan.json"], in: directory)
            #expect(result.status == 0)
            result = try Self.tessera(["cluster", "launch", "--plan", "plan.json"], in: directory)
            #expect(result.status == 1 && result.output.contains("relaunch"), "fresh launch over existing data is refused")
            result = try Self.tessera(["cluster", "relaunch", "--plan", "plan.json"], in: directory)
            #expect(result.status == 0, "\(result.output)")
            result = try Self.tessera(["cluster", "shutdown", "--plan", "plan.json"], in: directory)
            result = try Self.tessera(["cluster", "cleanup", "--plan", "plan.json", "--yes"], in: directory)
            #expect(result.status == 0)
            #expect(!FileManager.default.fileExists(atPath: directory + "/c/agent1"))
        }
    }
}
