internal import CLibUV

/// A one-shot or repeating timer on an ``EventLoop``. Create, start and cancel it on the loop
/// thread; its callback runs there.
///
/// `@unchecked Sendable`: confined to the loop thread (asserted on every use).
public final class LoopTimer: LoopClosable, @unchecked Sendable {
    let eventLoop: EventLoop
    let handle: UnsafeMutablePointer<uv_timer_t>
    var callback: (() -> Void)?
    var closed = false

    /// A stopped timer on `eventLoop`.
    public init(on eventLoop: EventLoop) {
        eventLoop.assertInLoopThread("LoopTimer.init")
        self.eventLoop = eventLoop
        handle = .allocate(capacity: 1)
        precondition(uv_timer_init(eventLoop.loop, handle) == 0, "uv_timer_init failed")
        // The handle holds a strong reference until its close callback releases it.
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
        eventLoop.register(self)
    }

    /// Fires `callback` after `milliseconds`, then every `repeatMilliseconds` if not zero.
    public func start(after milliseconds: UInt64, repeatEvery repeatMilliseconds: UInt64 = 0, _ callback: @escaping () -> Void) {
        eventLoop.assertInLoopThread("LoopTimer.start")
        precondition(!closed, "timer already closed")
        self.callback = callback
        uv_timer_start(handle, { handle in
            let timer = Unmanaged<LoopTimer>.fromOpaque(handle!.pointee.data).takeUnretainedValue()
            timer.callback?()
        }, milliseconds, repeatMilliseconds)
    }

    /// Stops the timer; it may be started again.
    public func stop() {
        eventLoop.assertInLoopThread("LoopTimer.stop")
        if !closed { uv_timer_stop(handle) }
    }

    /// Stops the timer for good and frees it.
    public func close() {
        eventLoop.assertInLoopThread("LoopTimer.close")
        guard !closed else { return }
        closed = true
        callback = nil
        eventLoop.unregister(self)
        closeHandleReleasingOwner(handle)
    }

    func closeForShutdown() { close() }
}
