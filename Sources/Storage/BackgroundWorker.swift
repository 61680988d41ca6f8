import Foundation

/// The engine's own thread: flushes and syncs writes that did not wait (so they reach the
/// disk within `syncIntervalMilliseconds`), compacts every `compactionIntervalMilliseconds`,
/// and writes a checkpoint every `checkpointIntervalOperations` operations. It never runs on
/// a caller's thread, so the event loop never waits for it.
final class BackgroundWorker: Sendable {
    struct Control {
        var stopping = false
        var finished = false
    }

    private let control = Monitor(Control())

    /// Starts the thread. It holds the engine weakly, so an engine dropped without `close()`
    /// still goes away (and its `deinit` stops the thread).
    init(engine: ShardEngine) {
        let control = self.control
        let options = engine.options
        let thread = Thread { [weak engine] in
            Self.run(engine: { engine }, options: options, control: control)
        }
        thread.name = "tessera-storage"
        thread.start()
    }

    private static func run(engine: () -> ShardEngine?, options: ShardOptions, control: Monitor<Control>) {
        var sinceCompaction = 0
        let tick = max(1, options.syncIntervalMilliseconds)
        while true {
            let stopping = control.withLock { control, waiter in
                if !control.stopping { waiter.wait(milliseconds: tick) }
                return control.stopping
            }
            if stopping { break }
            guard let engine = engine() else { break }
            engine.backgroundStep(compact: options.compactionIntervalMilliseconds > 0
                                  && sinceCompaction >= options.compactionIntervalMilliseconds)
            sinceCompaction = sinceCompaction >= options.compactionIntervalMilliseconds ? 0 : sinceCompaction + tick
        }
        control.withLock { control, waiter in
            control.finished = true
            waiter.broadcast()
        }
    }

    /// Asks the thread to stop and waits until it has.
    func stop() {
        control.withLock { control, waiter in
            control.stopping = true
            waiter.broadcast()
            while !control.finished { waiter.wait(milliseconds: 100) }
        }
    }
}

extension ShardEngine {
    /// One round of background work. Errors are not lost: a failed sync fails the engine
    /// (every later write reports it); a failed compaction or checkpoint leaves the files as
    /// they were and is tried again next round.
    func backgroundStep(compact shouldCompact: Bool) {
        let (last, closed, operations) = state.withLock { ($0.lastSequence, $0.isClosed || $0.failure != nil, $0.operationsSinceCheckpoint) }
        if closed { return }
        if last > groupCommit.durableSequence {
            do { try groupCommit.waitDurable(last, countsAsSyncedWrite: false) } catch { return }
        }
        if shouldCompact {
            _ = try? compact()
        }
        if options.checkpointIntervalOperations > 0 && operations >= options.checkpointIntervalOperations {
            _ = try? checkpoint()
        }
    }
}
