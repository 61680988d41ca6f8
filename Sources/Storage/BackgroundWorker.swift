#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TesseraPlatform
import Logging

/// The engine's own thread: flushes and syncs writes that did not wait (so they reach the
/// disk within `syncIntervalMilliseconds`), compacts every `compactionIntervalMilliseconds`,
/// and writes a checkpoint every `checkpointIntervalOperations` operations. It never runs on
/// a caller's thread, so the event loop never waits for it.
final class BackgroundWorker: Sendable {
    struct Control {
        var stopping = false
        var finished = false
        /// The worker's own thread, so `stop()` called on it (the engine's last reference
        /// dropped during a background step) does not wait for itself.
        var thread: pthread_t?
    }

    private let control = Monitor(Control())

    /// The thread's work, handed to `pthread_create` as its argument.
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts the thread. It holds the engine weakly, so an engine dropped without `close()`
    /// still goes away (and its `deinit` stops the thread).
    init(engine: ShardEngine) {
        let control = self.control
        let options = engine.options
        weak let weakEngine = engine
        let body = Unmanaged.passRetained(Body {
            Self.run(engine: { weakEngine }, options: options, control: control)
        })
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            let body = Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue()
            body.run()
            return nil
        }, body.toOpaque())
        precondition(status == 0, "pthread_create failed: \(status)")
        pthread_detach(thread)
    }

    private static func run(engine: () -> ShardEngine?, options: ShardOptions, control: Monitor<Control>) {
        control.withLock { $0.thread = pthread_self() }
        var sinceCompaction = 0
        let tick = max(1, options.syncIntervalMilliseconds)
        while true {
            control.lock()
            if !control.access({ $0.stopping }) { control.wait(milliseconds: tick) }
            let stopping = control.access { $0.stopping }
            control.unlock()
            if stopping { break }
            guard let engine = engine() else { break }
            engine.backgroundStep(compact: options.compactionIntervalMilliseconds > 0
                                  && sinceCompaction >= options.compactionIntervalMilliseconds)
            sinceCompaction = sinceCompaction >= options.compactionIntervalMilliseconds ? 0 : sinceCompaction + tick
        }
        control.lock()
        control.access { $0.finished = true }
        control.broadcast()
        control.unlock()
    }

    /// Asks the thread to stop and waits until it has.
    func stop() {
        control.lock()
        defer { control.unlock() }
        control.access { $0.stopping = true }
        control.broadcast()
        if let thread = control.access({ $0.thread }), pthread_equal(thread, pthread_self()) != 0 { return }
        while !control.access({ $0.finished }) { control.wait(milliseconds: 100) }
    }
}

extension ShardEngine {
    /// One round of background work. Errors are not lost: a failed sync fails the engine
    /// (every later write reports it, and it is logged); a failed compaction or checkpoint
    /// leaves the files as they were, is logged, and is tried again next round.
    func backgroundStep(compact shouldCompact: Bool) {
        let (last, closed, operations, documents) = state.withLock {
            ($0.lastSequence, $0.isClosed || $0.failure != nil, $0.operationsSinceCheckpoint, $0.documents.count)
        }
        if closed { return }
        if last > groupCommit.durableSequence {
            do { try groupCommit.waitDurable(last, countsAsSyncedWrite: false) } catch {
                Self.log.critical("background sync failed; the shard refuses writes until it is reopened: \(error)",
                                  metadata: ["shard": "\(directory)"])
                return
            }
        }
        if shouldCompact {
            do { _ = try compact() } catch {
                Self.log.error("compaction failed, will retry: \(error)", metadata: ["shard": "\(directory)"])
            }
        }
        if options.checkpointDue(operations: operations, documents: documents) {
            do { _ = try checkpoint() } catch {
                Self.log.error("checkpoint failed, will retry: \(error)", metadata: ["shard": "\(directory)"])
            }
        }
    }
}
