public import VelocyStream

/// Checks the credentials of an authentication message (`[1, 1000, "plain", user, password]`
/// or `[1, 1000, "jwt", token]`).
public protocol Authenticator: Sendable {
    /// Called on the loop thread, so it must not block: a check that costs real time (a
    /// password hash) is returned as `.check` and runs on the thread pool.
    func authenticate(_ credentials: Authentication) -> AuthenticationDecision
}

/// An ``Authenticator``'s answer.
public enum AuthenticationDecision: Sendable {
    case accepted(user: String)
    case refused
    /// Run on a thread-pool thread: the user's name, or `nil` when refused.
    case check(@Sendable () -> String?)
}

/// A fixed table of users and passwords, held in memory. The single-server issue replaces it
/// with users stored in the database; until then `tessera single` has one user, `root`.
public struct StaticUsers: Authenticator {
    let passwords: [String: [UInt8]]

    public init(_ passwords: [String: String]) {
        self.passwords = passwords.mapValues { Array($0.utf8) }
    }

    public func authenticate(_ credentials: Authentication) -> AuthenticationDecision {
        guard case let .plain(user, password) = credentials, let expected = passwords[user] else { return .refused }
        return constantTimeEqual(expected, Array(password.utf8)) ? .accepted(user: user) : .refused
    }
}

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a password was right.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for index in 0..<min(a.count, b.count) { difference |= a[index] ^ b[index] }
    return difference == 0
}
