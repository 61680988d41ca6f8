import Foundation
import Testing
import TesseraPlatform
import VelocyPack
@testable import Storage

/// `whenDurable`: durable writes answered by callback from the group commit's thread.
@Suite("Asynchronous durability")
struct AsyncDurabilityTests {
    @Test func everyWaiterIsAnsweredOnceAfterItsSyncAndSyncsAreShared() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try ShardEngine(directory: directory.path, options: testOptions())
        let writes = 2000
        let answers = Locked([UInt64: Int]())
        let durableAtAnswer = Locked([UInt64]())
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let remaining = Locked(writes)
            for index in 0..<writes {
                let result = try! engine.insert(document("k\(index)"), options: WriteOptions(waitForSync: false))
                engine.whenDurable(result.sequence) { failure in
                    #expect(failure == nil)
                    answers.withLock { $0[result.sequence, default: 0] += 1 }
                    // The answer comes only once the record is durable.
                    durableAtAnswer.withLock { $0.append(engine.groupCommit.durableSequence >= result.sequence ? 1 : 0) }
                    let last = remaining.withLock { count -> Bool in
                        count -= 1
                        return count == 0
                    }
                    if last { done.resume() }
                }
            }
        }
        #expect(answers.withLock { $0.count } == writes)
        #expect(answers.withLock { $0.values.allSatisfy { $0 == 1 } })
        #expect(durableAtAnswer.withLock { $0.allSatisfy { $0 == 1 } })
        let statistics = engine.statistics
        #expect(statistics.syncedWriteCount == writes)
        #expect(statistics.syncCount < writes, "waiters queued behind one sync share it")
        try engine.close()

        // After close nothing waits: the engine answers at once.
        let late = Locked<StorageError??>(.none)
        engine.whenDurable(UInt64.max) { failure in late.withLock { $0 = .some(failure) } }
        #expect(late.withLock { $0 } == .some(.closed))
    }

    @Test func reopenedEngineHoldsWhatWasAnsweredDurable() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var engine: ShardEngine? = try ShardEngine(directory: directory.path, options: testOptions())
        let confirmed = Locked([String]())
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let remaining = Locked(100)
            for index in 0..<100 {
                let key = "d\(index)"
                let result = try! engine!.insert(document(key), options: WriteOptions(waitForSync: false))
                engine!.whenDurable(result.sequence) { failure in
                    if failure == nil { confirmed.withLock { $0.append(key) } }
                    if remaining.withLock({ count -> Bool in count -= 1; return count == 0 }) { done.resume() }
                }
            }
        }
        try engine!.close()
        engine = nil
        let reopened = try ShardEngine(directory: directory.path, options: testOptions())
        for key in confirmed.withLock({ $0 }) { #expect(try reopened.get(key) != nil) }
        #expect(confirmed.withLock { $0.count } == 100)
        try reopened.close()
    }
}
