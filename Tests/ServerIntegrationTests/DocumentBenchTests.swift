import Foundation
import Testing
import VelocyPack

/// The document workloads of `tessera bench` against a real server: each runs, reports, and
/// drops its collection unless told to keep it.
@Suite("tessera bench document workloads", .serialized)
struct DocumentBenchTests {
    func collectionExists(_ name: String, _ server: ServerProcess) throws -> Bool {
        let run = try runTessera(["call", "GET", "/_api/collection/\(name)", "--endpoint", server.endpoint.description])
        return run.status == 0
    }

    @Test(arguments: [["insert"], ["read"], ["update"], ["mixed", "--read-ratio", "0.7"]])
    func workloadRunsAndDropsItsCollection(_ workload: [String]) throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let run = try runTessera(["bench"] + workload + [
            "--endpoint", server.endpoint.description, "--collection", "bench_\(workload[0])",
            "--concurrency", "3", "--pipeline", "2", "--requests", "300", "--duration", "20", "--warmup", "0",
            "--documents", "200", "--document-size", "300", "--json"])
        #expect(run.status == 0, "\(run.errors)")
        let report = try JSONParser.parse(run.output).slice
        #expect(report["workload"]?.stringValue == workload[0])
        #expect(report["requests"]?.intValue == 300)
        #expect(report["errors"]?.intValue == 0, "\(run.output)")
        #expect(try !collectionExists("bench_\(workload[0])", server))
    }

    @Test func keepLeavesTheCollectionWithItsDocuments() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let endpoint = ["--endpoint", server.endpoint.description]
        for workload in ["read", "update"] {
            let run = try runTessera(["bench", workload, "--keep", "--collection", "kept", "--documents", "50",
                                      "--concurrency", "2", "--requests", "40", "--warmup", "0", "--wait-for-sync"] + endpoint)
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output.contains("workload \(workload)"))
        }
        let count = try runTessera(["call", "GET", "/_api/collection/kept/count", "--compact"] + endpoint)
        #expect(try JSONParser.parse(count.output).slice["count"]?.intValue == 50)
    }
}
