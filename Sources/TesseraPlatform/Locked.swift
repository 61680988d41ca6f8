#if canImport(Glibc)
public import Glibc
#elseif canImport(Darwin)
public import Darwin
#endif

/// A value behind a `pthread_mutex_t`, for the layers that share state between threads (the
/// event loop's job queue, the storage engine's shard state).
///
/// Used instead of the standard library's `Mutex`: on Linux that one locks with raw futex
/// calls that ThreadSanitizer cannot see, so every contended use is reported as a race
/// (checked with a bare `Mutex` program), which would hide real races.
///
/// `@unchecked Sendable`: `value` is only touched while `mutex` is held.
public final class Locked<Value>: @unchecked Sendable {
    // Visible to inlined code only: `withLock` is inlined into its callers so it is
    // specialized for their value and closure (a generic call cost every request a lot).
    @usableFromInline var mutex = pthread_mutex_t()
    @usableFromInline var value: Value

    public init(_ value: Value) {
        self.value = value
        precondition(pthread_mutex_init(&mutex, nil) == 0, "pthread_mutex_init failed")
    }

    deinit { pthread_mutex_destroy(&mutex) }

    /// Runs `body` with the value while holding the lock.
    @inlinable
    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body(&value)
    }
}
