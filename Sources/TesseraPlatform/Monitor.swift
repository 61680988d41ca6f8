#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a mutex with a condition variable: threads wait until the value says they
/// may go on.
///
/// Waiting happens between accesses to the value, never inside one: an `inout` access is
/// exclusive, so the optimizer may keep the value in registers for its whole duration, and a
/// loop that waited inside one would never see another thread's change (it did not, in
/// release builds, before this shape). So: `lock()`, then short `access` calls and `wait`s
/// in between, then `unlock()`; or `withLock` for one access without waiting.
///
/// `@unchecked Sendable`: `value` is only touched while `mutex` is held.
public final class Monitor<Value>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        precondition(pthread_mutex_init(&mutex, nil) == 0, "pthread_mutex_init failed")
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        // Timed waits measure on the monotonic clock, so a wall-clock step cannot stretch them.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        precondition(pthread_cond_init(&condition, &attributes) == 0, "pthread_cond_init failed")
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body` with the value under the lock (no waiting inside).
    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body(&value)
    }

    public func lock() { pthread_mutex_lock(&mutex) }

    public func unlock() { pthread_mutex_unlock(&mutex) }

    /// One access to the value; the caller holds the lock.
    public func access<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try body(&value)
    }

    /// Releases the lock until woken (or spuriously), then takes it again. The caller holds
    /// the lock and re-reads the value afterwards.
    public func wait() { pthread_cond_wait(&condition, &mutex) }

    /// As `wait()`, but for at most `milliseconds`.
    public func wait(milliseconds: Int) {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int(deadline.tv_nsec) + (milliseconds % 1000) * 1_000_000
        deadline.tv_sec += milliseconds / 1000 + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        pthread_cond_timedwait(&condition, &mutex, &deadline)
    }

    /// Wakes every waiting thread; the caller holds the lock.
    public func broadcast() { pthread_cond_broadcast(&condition) }
}

