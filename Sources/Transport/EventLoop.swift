internal import CLibUV
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One libuv event loop running on its own thread: the process's network and timer engine.
///
/// State owned by the loop (handles, connections, timers) is touched only on the loop thread.
/// Other threads hand work to it with ``execute(_:)``, which queues a closure and wakes the
/// loop through a `uv_async_t`. Swift concurrency runs on it through ``executor``: an actor
/// whose `unownedExecutor` is the loop's runs every method on the loop thread.
///
/// `@unchecked Sendable`: the only state touched from other threads is the job queue, which
/// a `Mutex` guards, and `uv_async_send`, which libuv documents as thread-safe; everything
/// else is confined to the loop thread (checked with ``assertInLoopThread()``).
public final class EventLoop: @unchecked Sendable {
    let loop: UnsafeMutablePointer<uv_loop_t>
    let wakeup: UnsafeMutablePointer<uv_async_t>
    let jobs = Mutex<[@Sendable () -> Void]>([])
    let state = Mutex<State>(.running)
    var thread = pthread_t()
    nonisolated(unsafe) var loopThread: pthread_t? = nil
    /// Handles to close when the loop shuts down; loop-thread only.
    var closables: [ObjectIdentifier: any LoopClosable] = [:]

    enum State { case running, stopping, stopped }

    /// The executor that runs Swift jobs on this loop's thread.
    public private(set) lazy var executor = EventLoopExecutor(loop: self)

    /// Starts a loop on a new thread.
    public init() {
        loop = .allocate(capacity: 1)
        precondition(uv_loop_init(loop) == 0, "uv_loop_init failed")
        wakeup = .allocate(capacity: 1)
        // The async handle is initialized before the thread starts, so `execute` works at once.
        precondition(uv_async_init(loop, wakeup, { handle in
            EventLoop.from(handle!.pointee.data).runJobs()
        }) == 0, "uv_async_init failed")
        wakeup.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            let loop = Unmanaged<EventLoop>.fromOpaque(context!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> EventLoop {
        Unmanaged<EventLoop>.fromOpaque(pointer!).takeUnretainedValue()
    }

    func run() {
        loopThread = pthread_self()
        uv_run(loop, UV_RUN_DEFAULT)
        // All handles are closed; run once more so their close callbacks finish.
        uv_run(loop, UV_RUN_DEFAULT)
        uv_loop_close(loop)
        state.withLock { $0 = .stopped }
    }

    /// Whether the caller is on this loop's thread.
    public var inLoopThread: Bool {
        guard let loopThread else { return false }
        return pthread_equal(loopThread, pthread_self()) != 0
    }

    /// Traps when called off the loop thread: loop state must only be touched there.
    public func assertInLoopThread(_ what: @autoclosure () -> String = "loop state") {
        precondition(inLoopThread, "\(what()) touched off the event loop thread")
    }

    /// Runs `job` on the loop thread soon, from any thread. Jobs run in submission order.
    /// Jobs submitted after ``shutdown()`` began are dropped.
    public func execute(_ job: @escaping @Sendable () -> Void) {
        let accepted = state.withLock { state -> Bool in
            guard state == .running else { return false }
            jobs.withLock { $0.append(job) }
            return true
        }
        if accepted { uv_async_send(wakeup) }
    }

    func runJobs() {
        // Take the whole batch at once so jobs that submit jobs do not starve the loop.
        let batch = jobs.withLock { queued -> [@Sendable () -> Void] in
            defer { queued.removeAll(keepingCapacity: true) }
            return queued
        }
        for job in batch { job() }
        if state.withLock({ $0 }) == .stopping { closeEverything() }
    }

    /// Stops the loop: closes every open handle (listeners, connections, timers), lets their
    /// close callbacks run, and waits for the loop thread to end. Safe to call more than once;
    /// must not be called on the loop thread.
    public func shutdown() {
        precondition(!inLoopThread, "shutdown() would wait for its own thread")
        let first = state.withLock { state -> Bool in
            guard state == .running else { return false }
            state = .stopping
            return true
        }
        if first {
            uv_async_send(wakeup)
            pthread_join(thread, nil)
            wakeup.deallocate()
            loop.deallocate()
        }
    }

    func closeEverything() {
        for closable in closables.values { closable.closeForShutdown() }
        closables.removeAll()
        if uv_is_closing(UnsafeMutableRawPointer(wakeup).assumingMemoryBound(to: uv_handle_t.self)) == 0 {
            uv_close(UnsafeMutableRawPointer(wakeup).assumingMemoryBound(to: uv_handle_t.self), nil)
        }
    }

    func register(_ closable: any LoopClosable) { closables[ObjectIdentifier(closable)] = closable }
    func unregister(_ closable: any LoopClosable) { closables[ObjectIdentifier(closable)] = nil }

    /// Milliseconds of the loop's clock (cached per loop iteration, as libuv keeps it).
    public var nowMilliseconds: UInt64 {
        assertInLoopThread("the loop clock")
        return uv_now(loop)
    }

    deinit {
        precondition(state.withLock { $0 } != .running, "an EventLoop was released without shutdown()")
    }
}

/// Something the loop closes when it shuts down.
protocol LoopClosable: AnyObject {
    func closeForShutdown()
}

/// Runs Swift concurrency jobs on an ``EventLoop``'s thread.
public final class EventLoopExecutor: SerialExecutor, @unchecked Sendable {
    // `@unchecked Sendable`: holds only the loop, itself Sendable; `unowned(unsafe)` would
    // dangle, so the executor keeps the loop alive.
    let loop: EventLoop

    init(loop: EventLoop) { self.loop = loop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unownedJob = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        loop.execute { unownedJob.runSynchronously(on: executor) }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func isSameExclusiveExecutionContext(other: EventLoopExecutor) -> Bool { other === self }

    public func checkIsolated() {
        loop.assertInLoopThread("an actor isolated to the event loop")
    }
}
