import Crypto
import TesseraPlatform

/// Remembers which password last passed a slow ``PasswordHash/verify(_:)`` for each user, so
/// a client that reconnects with the same password does not pay the KDF again.
///
/// An entry is the user and a keyed digest, HMAC-SHA256 under a key drawn at random when the
/// cache is made, of the password together with the stored hash's rounds, salt and derived
/// key. So:
/// - the cache never holds a password, and its digests are worthless outside this process
///   (the key never leaves memory), unlike a plain SHA-256 an attacker could test guesses against;
/// - a changed stored hash (new password, new salt or rounds) no longer matches the entry,
///   so the next login runs the KDF again and a stale password cannot slip through.
///
/// At most ``capacity`` users are held; when full, the entry used longest ago makes room.
/// Thread-safe; the KDF runs outside the lock.
public final class VerifiedPasswordCache: Sendable {
    /// Counts of lookups, for tests and metrics.
    public struct Statistics: Sendable, Equatable {
        /// Logins answered from the cache.
        public var hits = 0
        /// Logins that ran the KDF.
        public var misses = 0
    }

    struct Entry {
        var digest: [UInt8]
        var lastUse: UInt64
    }

    struct State {
        var entries: [String: Entry] = [:]
        /// A counter, not a clock: orders uses for eviction without reading time.
        var useCount: UInt64 = 0
        var statistics = Statistics()
    }

    /// The most users remembered at once.
    public let capacity: Int
    let key = SymmetricKey(size: .bits256)
    let state = Locked(State())

    /// An empty cache for up to `capacity` users (positive).
    public init(capacity: Int = 1024) {
        precondition(capacity > 0, "a password cache needs room for at least one user, not \(capacity)")
        self.capacity = capacity
    }

    /// Whether `password` is `user`'s password under `stored`: from the cache when the same
    /// password passed against the same stored hash before, otherwise by the KDF (and then
    /// remembered when it passes).
    public func verify(user: String, password: String, against stored: PasswordHash) -> Bool {
        let digest = self.digest(password: password, stored: stored)
        let hit = state.withLock { state in
            state.useCount += 1
            // A keyed digest: comparing it in constant time is not needed for secrecy, but
            // is cheap and keeps timing from telling anything about the entry.
            guard let entry = state.entries[user], constantTimeEqual(entry.digest, digest) else {
                state.statistics.misses += 1
                return false
            }
            state.entries[user]!.lastUse = state.useCount
            state.statistics.hits += 1
            return true
        }
        if hit { return true }
        guard stored.verify(password) else { return false }
        remember(user: user, digest: digest)
        return true
    }

    /// Forgets `user` (for instance when the user is removed).
    public func remove(user: String) {
        state.withLock { _ = $0.entries.removeValue(forKey: user) }
    }

    /// The number of users remembered.
    public var count: Int { state.withLock { $0.entries.count } }

    /// Hits and misses so far.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    func remember(user: String, digest: [UInt8]) {
        state.withLock { state in
            state.useCount += 1
            if state.entries[user] == nil, state.entries.count >= capacity,
               let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                // A linear scan, only on the slow path, which has just spent milliseconds in the KDF.
                state.entries.removeValue(forKey: oldest)
            }
            state.entries[user] = Entry(digest: digest, lastUse: state.useCount)
        }
    }

    /// HMAC over the password's length and bytes, then the stored hash's parts: the length
    /// prefix keeps (password, salt) pairs from running into one another.
    func digest(password: String, stored: PasswordHash) -> [UInt8] {
        var message: [UInt8] = []
        let passwordBytes = Array(password.utf8)
        withUnsafeBytes(of: UInt64(passwordBytes.count).littleEndian) { message.append(contentsOf: $0) }
        message += passwordBytes
        withUnsafeBytes(of: UInt64(stored.rounds).littleEndian) { message.append(contentsOf: $0) }
        message += stored.salt
        message += stored.hash
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }
}

/// Compares without stopping at the first difference.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
