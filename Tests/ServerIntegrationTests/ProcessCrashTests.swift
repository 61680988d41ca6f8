import Client
import Foundation
import Testing
import VelocyPack
import TestRandomness

/// A crash of the process (`kill -9`) loses no acknowledged write, with or without
/// `waitForSync`: the kernel holds every record handed to it before the answer went out.
/// `scripts/crash-trials` runs more rounds.
@Suite("Process crashes lose no acknowledged write", .serialized)
struct ProcessCrashTests {
    @Test("a single server killed under concurrent inserts, updates and removes keeps every acknowledged write",
          arguments: [false, true])
    func singleServer(waitForSync: Bool) async throws {
        let seed = CrashWorkload.seed("single waitForSync=\(waitForSync)")
        var random = SeededGenerator(seed: seed)
        let workload = CrashWorkload(waitForSync: waitForSync, collection: "crash")
        let directory = ServerProcess.temporaryDirectory() + "/data"
        let writers = 6
        var ledgers = [CrashWorkload.Ledger](repeating: .init(), count: writers)
        var server = try ServerProcess(dataDirectory: directory, arguments: ["--no-authentication"])
        // Whatever server runs when the test ends (a failed check throws past the last stop).
        defer { server.stop(signal: SIGKILL) }
        var api = API(client: makeClient(server, poolSize: writers, credentials: nil))
        try await api.expect(200, .post, "/_api/collection", #"{"name": "crash"}"#)

        for round in 0..<CrashWorkload.rounds(default: 3) {
            let stop = StopFlag()
            let writerAPI = api
            let running = Task { [ledgers] in
                await withTaskGroup(of: (Int, CrashWorkload.Ledger).self) { group in
                    for writer in 0..<writers {
                        let writerSeed = seed &+ UInt64(round * 100 + writer)
                        group.addTask { [ledger = ledgers[writer]] in
                            var ledger = ledger
                            await workload.write(writer: "w\(writer)", api: writerAPI, seed: writerSeed,
                                                 ledger: &ledger, stop: stop)
                            return (writer, ledger)
                        }
                    }
                    var result = ledgers
                    for await (writer, ledger) in group { result[writer] = ledger }
                    return result
                }
            }
            // Kill at a moment the seed picks, once the writers are under way.
            try await stop.waitForAcknowledged(50)
            try await Task.sleep(for: .milliseconds(Int(random.next() % 500)))
            server.stop(signal: SIGKILL)
            stop.stop()
            let before = ledgers.map(\.acknowledged).reduce(0, +)
            ledgers = await running.value
            let acknowledged = ledgers.map(\.acknowledged).reduce(0, +) - before
            await api.client.shutdown()
            #expect(acknowledged > 0, "round \(round): no write was acknowledged before the kill")

            server = try ServerProcess(dataDirectory: directory, arguments: ["--no-authentication"])
            api = API(client: makeClient(server, poolSize: writers, credentials: nil))
            let checked = try await workload.verify(ledgers, api: api, context: "seed \(seed) round \(round)")
            print("single waitForSync=\(waitForSync) round \(round): \(acknowledged) writes acknowledged, \(checked) keys checked after kill -9")
            for writer in 0..<writers { try await CrashWorkload.settle(&ledgers[writer], api: api, collection: "crash") }
        }
        await api.client.shutdown()
        #expect(server.stop() == 0)
    }
}
