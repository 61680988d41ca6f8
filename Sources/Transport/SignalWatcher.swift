internal import CLibUV

/// Runs a callback on the loop thread when the process receives a signal (through libuv's
/// self-pipe, so the callback is ordinary loop code, not a signal handler). Create and close
/// it on the loop thread.
///
/// `@unchecked Sendable`: confined to the loop thread (asserted on every use).
public final class SignalWatcher: LoopClosable, @unchecked Sendable {
    let eventLoop: EventLoop
    let handle: UnsafeMutablePointer<uv_signal_t>
    let callback: (Int32) -> Void
    var closed = false

    /// Watches `signal` (for example `SIGINT`); `callback` gets the signal number.
    public init(on eventLoop: EventLoop, signal: Int32, _ callback: @escaping (Int32) -> Void) throws(TransportError) {
        eventLoop.assertInLoopThread("SignalWatcher.init")
        self.eventLoop = eventLoop
        self.callback = callback
        handle = .allocate(capacity: 1)
        precondition(uv_signal_init(eventLoop.loop, handle) == 0, "uv_signal_init failed")
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
        eventLoop.register(self)
        let result = uv_signal_start(handle, { handle, number in
            Unmanaged<SignalWatcher>.fromOpaque(handle!.pointee.data).takeUnretainedValue().callback(number)
        }, signal)
        if result != 0 {
            close()
            throw TransportError(result, "watch signal \(signal)")
        }
    }

    /// Stops watching; the signal's default action applies again.
    public func close() {
        eventLoop.assertInLoopThread("SignalWatcher.close")
        guard !closed else { return }
        closed = true
        eventLoop.unregister(self)
        closeHandleReleasingOwner(handle)
    }

    func closeForShutdown() { close() }
}
