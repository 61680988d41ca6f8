package import ArangoAPI

/// What a user may do in a database (ArangoDB's grants).
public enum AccessLevel: Int, Sendable, Comparable {
    case none = 0
    case readOnly = 1
    case readWrite = 2

    public static func < (lhs: AccessLevel, rhs: AccessLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    /// ArangoDB's names: `rw`, `ro`, `none`.
    public init?(grant: String) {
        switch grant {
        case "rw": self = .readWrite
        case "ro": self = .readOnly
        case "none": self = .none
        default: return nil
        }
    }

    public var grant: String {
        switch self {
        case .readWrite: "rw"
        case .readOnly: "ro"
        case .none: "none"
        }
    }
}

/// Decides what the authenticated user of a request may do.
public protocol AccessControl: Sendable {
    /// The user's level in `database`; `user` is nil when authentication is off.
    func level(of user: String?, in database: String) -> AccessLevel
}

/// Everyone may do everything (authentication off).
public struct OpenAccess: AccessControl {
    public init() {}
    public func level(of user: String?, in database: String) -> AccessLevel { .readWrite }
}

extension AccessControl {
    /// Throws 403 unless the request's user has at least `needed` in the request's database.
    package func require(_ needed: AccessLevel, _ request: ServerRequest) throws(ArangoError) {
        guard level(of: request.user, in: request.database) >= needed else {
            throw ArangoError.forbidden(needed == .readWrite
                ? "not authorized to write in database '\(request.database)'"
                : "not authorized to read database '\(request.database)'")
        }
    }
}
