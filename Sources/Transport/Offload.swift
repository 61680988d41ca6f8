internal import CLibUV
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Blocking or CPU-heavy work runs on libuv's thread pool, never on the loop thread; its
/// result comes back to the loop thread (libuv signals completion through its internal
/// `uv_async` handle).
extension EventLoop {
    /// Runs `work` on a thread-pool thread, then `completion` with its result on the loop
    /// thread. Call on the loop thread.
    ///
    /// The pool has `UV_THREADPOOL_SIZE` threads (libuv's default is 4) shared by the whole
    /// process, so work that blocks for long (an fsync) holds one of them for that long.
    public func offload<Value: Sendable>(_ work: @escaping @Sendable () -> Value,
                                         then completion: @escaping (Value) -> Void) {
        assertInLoopThread("EventLoop.offload")
        let job = OffloadJob(work: work, completion: completion)
        let request = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(job).toOpaque()
        let result = uv_queue_work(loop, request, { request in
            Unmanaged<AnyOffloadJob>.fromOpaque(request!.pointee.data).takeUnretainedValue().runWork()
        }, { request, _ in
            let job = Unmanaged<AnyOffloadJob>.fromOpaque(request!.pointee.data).takeRetainedValue()
            request!.deallocate()
            job.complete()
        })
        precondition(result == 0, "uv_queue_work failed: \(result)")
    }

    /// The thread-pool size servers use unless `UV_THREADPOOL_SIZE` says otherwise: durable
    /// writes each hold a pool thread while they wait for their group commit, so libuv's
    /// default of 4 would let only 4 writes share one fsync.
    public static let serverThreadPoolSize = 64

    /// Sets libuv's pool size for this process (before the first offload; libuv reads the
    /// variable once). An operator's own `UV_THREADPOOL_SIZE` wins.
    public static func sizeThreadPool(_ size: Int = serverThreadPoolSize) {
        setenv("UV_THREADPOOL_SIZE", String(size), 0)
    }

    /// Runs `work` on a thread-pool thread and returns its result; callable from any context.
    /// After ``shutdown()`` began, `work` runs on the calling thread instead.
    public func offload<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
            let accepted = execute { [self] in
                offload(work) { continuation.resume(returning: $0) }
            }
            if !accepted { continuation.resume(returning: nil) }
        }
        return result ?? work()
    }
}

/// One unit of offloaded work: `work` runs on a pool thread and stores its value, then
/// `completion` runs on the loop thread.
///
/// `@unchecked Sendable`: `value` is written by the pool thread before libuv hands the
/// request back to the loop thread (libuv orders the two), and `completion` is only touched
/// on the loop thread.
class AnyOffloadJob: @unchecked Sendable {
    func runWork() {}
    func complete() {}
}

/// (A C callback cannot name a generic type, so libuv sees the non-generic base class.)
final class OffloadJob<Value: Sendable>: AnyOffloadJob, @unchecked Sendable {
    let work: @Sendable () -> Value
    let completion: (Value) -> Void
    var value: Value?

    init(work: @escaping @Sendable () -> Value, completion: @escaping (Value) -> Void) {
        self.work = work
        self.completion = completion
    }

    override func runWork() { value = work() }
    override func complete() { completion(value!) }
}
