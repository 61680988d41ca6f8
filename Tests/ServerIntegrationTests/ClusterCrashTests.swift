import Client
import Foundation
import Testing
import TesseraProcessSupport
import VelocyPack
import TestRandomness

extension ClusterProcesses {
    /// A DBServer killed with `kill -9` under concurrent writers through both coordinators loses
    /// nothing that was acknowledged (replicationFactor 1: the restarted DBServer itself must
    /// have every write). `scripts/crash-trials` runs more rounds.
    @Suite("Cluster DBServer crashes", .serialized)
    struct ClusterCrashTests {
        typealias LocalCluster = ClusterTests.LocalCluster

        @Test("a DBServer killed under concurrent inserts, updates and removes keeps every acknowledged write")
        func dbserverKilled() async throws {
            let seed = CrashWorkload.seed("cluster DBServer")
            var random = SeededGenerator(seed: seed)
            let cluster = try LocalCluster()
            defer { cluster.stop() }
            let setup = cluster.api(0)
            try await setup.expect(200, .post, "/_api/collection", #"{"name": "crash", "numberOfShards": 3}"#)
            await setup.client.shutdown()
            let member = try cluster.member("dbserver1")
            var pid = member.pid
            var restarted: ServerProcess?
            defer { restarted?.stop() }
            let writers = 6
            var ledgers = [CrashWorkload.Ledger](repeating: .init(), count: writers)

            // Rounds without waitForSync, then one with it.
            let rounds = CrashWorkload.rounds(default: 2)
            for round in 0...rounds {
                let workload = CrashWorkload(waitForSync: round == rounds, collection: "crash")
                let apis = [cluster.api(0), cluster.api(1)]
                let stop = StopFlag()
                let running = Task { [ledgers] in
                    await withTaskGroup(of: (Int, CrashWorkload.Ledger).self) { group in
                        for writer in 0..<writers {
                            let writerSeed = seed &+ UInt64(round * 100 + writer)
                            let api = apis[writer % 2]
                            group.addTask { [ledger = ledgers[writer]] in
                                var ledger = ledger
                                await workload.write(writer: "w\(writer)", api: api, seed: writerSeed,
                                                     ledger: &ledger, stop: stop)
                                return (writer, ledger)
                            }
                        }
                        var result = ledgers
                        for await (writer, ledger) in group { result[writer] = ledger }
                        return result
                    }
                }
                try await stop.waitForAcknowledged(50)
                try await Task.sleep(for: .milliseconds(Int(random.next() % 600)))
                kill(pid, SIGKILL)
                // The writers whose next key lives on the other DBServers go on for a moment.
                try await Task.sleep(for: .milliseconds(200))
                stop.stop()
                let before = ledgers.map(\.acknowledged).reduce(0, +)
                ledgers = await running.value
                let acknowledged = ledgers.map(\.acknowledged).reduce(0, +) - before
                #expect(acknowledged > 0, "round \(round): no write was acknowledged before the kill")
                for api in apis { await api.client.shutdown() }

                // The same DBServer, started again on its data.
                var waited = 0
                while kill(pid, 0) == 0 && waited < 200 { usleep(20_000); waited += 1 }
                restarted = try ServerProcess(command: member.arguments, dataDirectory: member.arguments[4])
                pid = restarted!.process.processIdentifier
                let api = cluster.api(1)
                // Its shards answer again once it has registered and reported them (bounded).
                var serving = false
                for _ in 0..<150 where !serving {
                    serving = (try? await api.call(.get, "/_api/collection/crash/count"))?.status == 200
                    if !serving { try await Task.sleep(for: .milliseconds(200)) }
                }
                #expect(serving, "the restarted DBServer's shards did not come back")
                let checked = try await workload.verify(ledgers, api: api, context: "seed \(seed) round \(round)")
                print("cluster waitForSync=\(workload.waitForSync) round \(round): \(acknowledged) writes acknowledged, \(checked) keys checked after kill -9 of a DBServer")
                for writer in 0..<writers { try await CrashWorkload.settle(&ledgers[writer], api: api, collection: "crash") }
                await api.client.shutdown()
            }
        }
    }
}
