#if canImport(Glibc)
import Glibc
#endif

/// A value behind a `pthread_mutex_t`.
///
/// The transport uses this instead of the standard library's `Mutex`: on Linux that one locks
/// with raw futex calls that ThreadSanitizer cannot see, so every contended use is reported as
/// a race (checked with a bare `Mutex` program), which would hide real races in this layer.
///
/// `@unchecked Sendable`: `value` is only touched while `mutex` is held.
final class Locked<Value>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var value: Value

    init(_ value: Value) {
        self.value = value
        precondition(pthread_mutex_init(&mutex, nil) == 0, "pthread_mutex_init failed")
    }

    deinit { pthread_mutex_destroy(&mutex) }

    /// Runs `body` with the value while holding the lock.
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body(&value)
    }
}
