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
    //
    // Both live in memory of their own rather than in stored properties: a mutex must not
    // move (a stored property's address, taken with `&`, is not promised to stay put), and
    // reaching a stored property through `&` costs a run-time exclusivity check on every
    // lock, unlock and use of the value, where the mutex already gives that exclusivity.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let value: UnsafeMutablePointer<Value>

    public init(_ value: Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        self.value = .allocate(capacity: 1)
        self.value.initialize(to: value)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` with the value while holding the lock.
    @inlinable
    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
}
