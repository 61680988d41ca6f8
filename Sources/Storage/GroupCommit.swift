#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TesseraPlatform

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
        /// Writers that asked to be called back when durable (see `whenDurable`).
        var asyncWaiters: [AsyncWaiter] = []
        var syncerStarted = false
        var syncerStopping = false
    }

    struct AsyncWaiter {
        let sequence: UInt64
        let completion: @Sendable (StorageError?) -> Void
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

    /// Calls `completion` once every record up to `sequence` is durable (with nil), or the
    /// engine failed (with the failure) — at once when that is already so, otherwise from
    /// the group commit's syncing thread. Nothing blocks: an event loop can write, ask, and
    /// go on serving, and one sync completes every writer queued behind it (the way Redis
    /// completes all clients of one event-loop turn with one `fsync`).
    func whenDurable(_ sequence: UInt64, _ completion: @escaping @Sendable (StorageError?) -> Void) {
        state.lock()
        let outcome: StorageError?? = state.access { state in
            if state.durableSequence >= sequence {
                state.syncedWriteCount += 1
                return .some(nil)
            }
            if let failure = state.failure { return .some(failure) }
            if state.syncerStopping { return .some(.closed) }
            state.asyncWaiters.append(AsyncWaiter(sequence: sequence, completion: completion))
            return .none
        }
        let start = outcome == nil && state.access { state in
            defer { state.syncerStarted = true }
            return !state.syncerStarted
        }
        state.broadcast()
        state.unlock()
        if let outcome { completion(outcome) }
        if start { startSyncer() }
    }

    /// Stops the syncing thread once every waiting writer has its answer (the engine syncs
    /// everything before it closes, so they all get nil unless the sync failed).
    func stopSyncer() {
        state.withLock { $0.syncerStopping = true }
        state.lock()
        state.broadcast()
        state.unlock()
    }

    /// The thread that serves `whenDurable`: waits for waiters, syncs up to the newest one
    /// (sharing the sync with blocking writers through `waitDurable`), completes every waiter
    /// the sync covered, and goes round again.
    private func startSyncer() {
        final class Body {
            let run: () -> Void
            init(_ run: @escaping () -> Void) { self.run = run }
        }
        let body = Unmanaged.passRetained(Body { [self] in runSyncer() })
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue().run()
            return nil
        }, body.toOpaque())
        precondition(status == 0, "pthread_create failed: \(status)")
        pthread_detach(thread)
    }

    private func runSyncer() {
        while true {
            state.lock()
            while state.access({ $0.asyncWaiters.isEmpty && !$0.syncerStopping }) { state.wait() }
            let (target, stop) = state.access { state in
                (state.asyncWaiters.map(\.sequence).max(), state.syncerStopping && state.asyncWaiters.isEmpty)
            }
            state.unlock()
            if stop { return }
            guard let target else { continue }
            let outcome = Result { () throws(StorageError) in try waitDurable(target, countsAsSyncedWrite: false) }
            let done: [AsyncWaiter] = state.withLock { state in
                let failed = state.failure != nil
                let ready = state.asyncWaiters.filter { failed || $0.sequence <= state.durableSequence }
                state.asyncWaiters.removeAll { failed || $0.sequence <= state.durableSequence }
                if !failed { state.syncedWriteCount += ready.count }
                return ready
            }
            let failure: StorageError? = if case .failure(let error) = outcome { error } else { nil }
            for waiter in done { waiter.completion(failure) }
        }
    }

    var durableSequence: UInt64 { state.withLock { $0.durableSequence } }

    var counters: (syncCount: Int, syncedWriteCount: Int) {
        state.withLock { ($0.syncCount, $0.syncedWriteCount) }
    }
}
