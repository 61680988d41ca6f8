/// Group commit: writers that need durability share `fdatasync` calls.
///
/// A writer that needs its record (sequence `s`) durable waits until `durableSequence >= s`.
/// If no sync is running it becomes the syncer: it flushes every pending record of the shard
/// (its own and everyone else's), syncs the files, and publishes the last sequence it
/// covered. While it is in `fdatasync`, other writers append and wait; the next syncer then
/// covers all of them with one call. So with many concurrent writers one sync acknowledges
/// many writes, and with one writer nothing waits for a timer.
///
/// After a failed sync the data in the page cache is of unknown state (Linux may drop the
/// dirty pages and clear the error), so the coordinator stays failed and every waiter and
/// later write gets `engineFailed`.
final class GroupCommit: Sendable {
    struct State {
        var durableSequence: UInt64 = 0
        var syncing = false
        var failure: StorageError?
        var syncCount = 0
        var syncedWriteCount = 0
    }

    let state = Monitor(State())
    /// Flushes pending records and syncs the files that need it; returns the last sequence
    /// now durable. Supplied by the engine.
    private let flushAndSync: @Sendable () throws(StorageError) -> UInt64

    init(durableSequence: UInt64, flushAndSync: @escaping @Sendable () throws(StorageError) -> UInt64) {
        self.flushAndSync = flushAndSync
        state.withLock { $0.durableSequence = durableSequence }
    }

    private enum Step {
        case done
        case failed(StorageError)
        case wait
        case sync
    }

    /// Returns once every record up to `sequence` is durable.
    ///
    /// - Parameter countsAsSyncedWrite: count this call in `syncedWriteCount` (writers do,
    ///   the background flusher and maintenance do not).
    func waitDurable(_ sequence: UInt64, countsAsSyncedWrite: Bool = true) throws(StorageError) {
        state.lock()
        defer { state.unlock() }
        while true {
            let step: Step = state.access { state in
                if state.durableSequence >= sequence {
                    if countsAsSyncedWrite { state.syncedWriteCount += 1 }
                    return .done
                }
                if let failure = state.failure { return .failed(failure) }
                if state.syncing { return .wait }
                state.syncing = true
                return .sync
            }
            switch step {
            case .done: return
            case .failed(let failure): throw failure
            case .wait: state.wait()
            case .sync:
                // Sync without holding the lock, so others can queue up behind this sync.
                state.unlock()
                let outcome = Result { () throws(StorageError) in try flushAndSync() }
                state.lock()
                state.access { state in
                    state.syncing = false
                    switch outcome {
                    case .success(let covered):
                        state.durableSequence = max(state.durableSequence, covered)
                        state.syncCount += 1
                    case .failure(let error):
                        state.failure = .engineFailed("sync failed: \(error)")
                    }
                }
                state.broadcast()
            }
        }
    }

    var durableSequence: UInt64 { state.withLock { $0.durableSequence } }

    var counters: (syncCount: Int, syncedWriteCount: Int) {
        state.withLock { ($0.syncCount, $0.syncedWriteCount) }
    }
}
