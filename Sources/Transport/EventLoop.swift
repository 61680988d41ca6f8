internal import CLibUV
import Synchronization
import TesseraPlatform

#if canImport(Glibc)
import Glibc
#endif

/// One libuv event loop running on its own thread: the process's network and timer engine.
///
/// State owned by the loop (handles, connections, timers) is touched only on the loop thread.
/// Other threads hand work to it with ``execute(_:)``, which queues a closure and wakes the
/// loop through a `uv_async_t`. Swift concurrency runs on it too: the loop is a
/// `SerialExecutor`, so an actor whose `unownedExecutor` is the loop's runs every method on the
/// loop thread.
///
/// `@unchecked Sendable`: the only state touched from other threads is the job queue and the
/// run state (each behind a `Locked` pthread mutex), the loop thread's id (an atomic), and `uv_async_send`,
/// which libuv documents as thread-safe; everything else is confined to the loop thread
/// (checked with ``assertInLoopThread()``).
public final class EventLoop: SerialExecutor, @unchecked Sendable {
    let loop: UnsafeMutablePointer<uv_loop_t>
    let wakeup: UnsafeMutablePointer<uv_async_t>
    let jobs = Locked<[@Sendable () -> Void]>([])
    let state = Locked<State>(.running)
    var thread = pthread_t()
    /// The loop thread's id, published by that thread when it starts (0 before).
    let loopThreadID = Atomic<UInt>(0)
    /// Handles to close when the loop shuts down; loop-thread only.
    var closables: [ObjectIdentifier: any LoopClosable] = [:]
    /// Runs once per loop iteration after I/O callbacks, to send what connections queued in
    /// them (see ``TCPConnection/write(_:)``): many replies produced by one read leave in one
    /// system call.
    let flushCheck: UnsafeMutablePointer<uv_check_t>
    /// Active while a flush is pending, so that the loop does not block in poll first (a write
    /// from a timer callback would otherwise wait for the next I/O event or timer).
    let flushIdle: UnsafeMutablePointer<uv_idle_t>
    /// Connections with queued output not yet handed to the kernel; loop-thread only.
    var connectionsToFlush: [TCPConnection] = []
    /// Work that must be done before this iteration's output leaves (see
    /// ``beforeOutputLeaves(_:)``); loop-thread only.
    var actionsBeforeOutput: [() -> Void] = []
    var flushCheckActive = false

    enum State { case running, stopping, stopped }

    /// Starts a loop on a new thread.
    public init() {
        loop = .allocate(capacity: 1)
        precondition(uv_loop_init(loop) == 0, "uv_loop_init failed")
        flushCheck = .allocate(capacity: 1)
        precondition(uv_check_init(loop, flushCheck) == 0, "uv_check_init failed")
        flushIdle = .allocate(capacity: 1)
        precondition(uv_idle_init(loop, flushIdle) == 0, "uv_idle_init failed")
        wakeup = .allocate(capacity: 1)
        // The async handle is initialized before the thread starts, so `execute` works at once.
        precondition(uv_async_init(loop, wakeup, { handle in
            EventLoop.from(handle!.pointee.data).runJobs()
        }) == 0, "uv_async_init failed")
        wakeup.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        flushCheck.pointee.data = Unmanaged.passUnretained(self).toOpaque()
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
        loopThreadID.store(UInt(pthread_self()), ordering: .releasing)  // pthread_t is UInt on Linux
        uv_run(loop, UV_RUN_DEFAULT)
        // All handles are closed; run once more so their close callbacks finish.
        uv_run(loop, UV_RUN_DEFAULT)
        uv_loop_close(loop)
        state.withLock { $0 = .stopped }
    }

    /// Whether the caller is on this loop's thread.
    public var inLoopThread: Bool {
        let id = loopThreadID.load(ordering: .acquiring)
        return id != 0 && pthread_equal(pthread_t(id), pthread_self()) != 0
    }

    /// Traps when called off the loop thread: loop state must only be touched there.
    public func assertInLoopThread(_ what: @autoclosure () -> String = "loop state") {
        precondition(inLoopThread, "\(what()) touched off the event loop thread")
    }

    /// Runs `job` on the loop thread soon, from any thread. Jobs run in submission order.
    /// Returns `false` (and drops the job) once ``shutdown()`` began: a caller waiting for
    /// the job must then finish on its own.
    @discardableResult
    public func execute(_ job: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state -> Bool in
            guard state == .running else { return false }
            jobs.withLock { $0.append(job) }
            // Under the state lock: shutdown() cannot free the handle between the check and
            // the send.
            uv_async_send(wakeup)
            return true
        }
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
            flushCheck.deallocate()
            flushIdle.deallocate()
            loop.deallocate()
        }
    }

    func closeEverything() {
        // Close callbacks may open handles (a reconnect, a timer); close until none is left.
        while !closables.isEmpty {
            let open = closables.values
            closables.removeAll()
            for closable in open { closable.closeForShutdown() }
        }
        connectionsToFlush.removeAll()
        actionsBeforeOutput.removeAll()
        uv_close(UnsafeMutableRawPointer(flushCheck).assumingMemoryBound(to: uv_handle_t.self), nil)
        uv_close(UnsafeMutableRawPointer(flushIdle).assumingMemoryBound(to: uv_handle_t.self), nil)
        if uv_is_closing(UnsafeMutableRawPointer(wakeup).assumingMemoryBound(to: uv_handle_t.self)) == 0 {
            uv_close(UnsafeMutableRawPointer(wakeup).assumingMemoryBound(to: uv_handle_t.self), nil)
        }
    }

    /// Sends `connection`'s queued output at the end of this loop iteration.
    func scheduleFlush(_ connection: TCPConnection) {
        connectionsToFlush.append(connection)
        activateEndOfIteration()
    }

    /// Runs `action` at the end of this loop iteration, after its I/O callbacks and before any
    /// output queued in it leaves for the kernel: a server can queue many answers in one
    /// iteration and make them all true with one piece of work (one `pwrite` for all the
    /// writes they acknowledge). Call on the loop thread.
    public func beforeOutputLeaves(_ action: @escaping () -> Void) {
        assertInLoopThread("EventLoop.beforeOutputLeaves")
        actionsBeforeOutput.append(action)
        activateEndOfIteration()
    }

    func activateEndOfIteration() {
        guard !flushCheckActive else { return }
        flushCheckActive = true
        uv_check_start(flushCheck) { handle in
            EventLoop.from(handle!.pointee.data).flushConnections()
        }
        uv_idle_start(flushIdle) { _ in }
    }

    func flushConnections() {
        // The work the output depends on first; it may close connections (their output then
        // never leaves).
        let actions = actionsBeforeOutput
        actionsBeforeOutput.removeAll(keepingCapacity: true)
        for action in actions { action() }
        // Flushing may queue more (a write completing synchronously never does, but a close
        // callback may write elsewhere), so take the list first.
        let batch = connectionsToFlush
        connectionsToFlush.removeAll(keepingCapacity: true)
        for connection in batch { connection.flush() }
        if connectionsToFlush.isEmpty && actionsBeforeOutput.isEmpty {
            flushCheckActive = false
            uv_check_stop(flushCheck)
            uv_idle_stop(flushIdle)
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

/// Closes a libuv handle whose `data` holds a retained reference to its Swift owner; once
/// libuv is done with it, the reference is released and the handle's memory freed. (The
/// owner's class does not matter to `release`, so one callback serves every kind of handle.)
func closeHandleReleasingOwner<Handle>(_ handle: UnsafeMutablePointer<Handle>) {
    uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)) { raw in
        Unmanaged<AnyObject>.fromOpaque(raw!.pointee.data).release()
        UnsafeMutableRawPointer(raw!).deallocate()
    }
}

/// Something the loop closes when it shuts down.
protocol LoopClosable: AnyObject {
    func closeForShutdown()
}

// MARK: - SerialExecutor: Swift jobs run on the loop thread, in submission order.

extension EventLoop {
    public func enqueue(_ job: consuming ExecutorJob) {
        let unownedJob = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        execute { unownedJob.runSynchronously(on: executor) }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func checkIsolated() {
        assertInLoopThread("an actor isolated to the event loop")
    }
}
