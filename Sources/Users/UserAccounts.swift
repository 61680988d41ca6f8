import TesseraPlatform
public import Auth
public import Server
public import VelocyPack
public import ArangoAPI
public import VelocyStream

/// The users of a server and what they may do, wherever they are kept: a single server keeps
/// them in its `_users` collection (``UserDirectory``), a coordinator in the agency, shared by
/// every coordinator (``ClusterUsers``). Both answer reads from memory, so authentication and
/// permission checks never wait for a disk or the network; both change one record at a time,
/// atomically with respect to other changes.
///
/// Conformers supply the storage primitives; logins, tokens, grants and the user operations
/// of the API are written once, here.
public protocol UserAccounts: AccessControl, Authenticator {
    /// The record of `name`, from memory.
    func user(_ name: String) -> UserRecord?
    /// Every user, from memory, in name order.
    var all: [UserRecord] { get }
    /// Logins that passed recently (the KDF is slow).
    var verifiedPasswords: VerifiedPasswordCache { get }
    /// The HS256 secret of user tokens.
    var tokenSecret: [UInt8] { get }
    /// Seconds since the epoch, for token lifetimes.
    func currentTime() -> Double
    /// With authentication off, requests carry no user and may do everything.
    var authenticationEnabled: Bool { get }
    /// Whether a grant for `database` may be given.
    func databaseExists(_ database: String) -> Bool

    /// Stores a new record; 409 `userDuplicate` when the name is taken.
    func insert(_ record: UserRecord) async throws(ArangoError)
    /// Changes the stored record of `name` through `change`; 404 `userNotFound` when absent.
    func update(_ name: String, _ change: @escaping @Sendable (inout UserRecord) throws(ArangoError) -> Void) async throws(ArangoError)
    /// Removes the record of `name`; 404 `userNotFound` when absent.
    func delete(_ name: String) async throws(ArangoError)
}

/// Lifetime of the tokens `POST /_open/auth` hands out.
let userTokenLifetimeSeconds = 3600

extension UserAccounts {
    /// Whether `password` is the user's (slow: one key derivation unless cached).
    public func checkPassword(_ name: String, _ password: String) -> Bool {
        guard let user = user(name), user.active else { return false }
        return verifiedPasswords.verify(user: name, password: password, against: user.password)
    }

    /// A token for `name`, valid for an hour.
    public func token(for name: String) -> String {
        JSONWebToken.userToken(user: name, secret: tokenSecret, lifetimeSeconds: userTokenLifetimeSeconds, now: currentTime())
    }

    public func level(of user: String?, in database: String) -> AccessLevel {
        guard let user else { return authenticationEnabled ? .none : .readWrite }
        // Only the cluster authenticator hands out such names (user names cannot have the prefix).
        if user.hasPrefix(UserRecord.serverPrefix) { return .readWrite }
        return self.user(user)?.level(in: database) ?? .none
    }

    public func authenticate(_ credentials: Authentication) -> AuthenticationDecision {
        switch credentials {
        case let .plain(name, password):
            guard let user = user(name), user.active else { return .refused }
            let verified = verifiedPasswords
            return .check { verified.verify(user: name, password: password, against: user.password) ? name : nil }
        case .jwt(let token):
            guard let claims = try? JSONWebToken.verify(token, secret: tokenSecret, nowSeconds: currentTime()),
                  let name = claims["preferred_username"]?.stringValue,
                  let user = user(name), user.active else { return .refused }
            return .accepted(user: name)
        }
    }

    // MARK: Changes (slow: a password is hashed, the change is made durable)

    public func createUser(_ name: String, password: String, active: Bool = true, extra: Slice? = nil,
                           grants: [String: AccessLevel] = [:]) async throws(ArangoError) {
        try UserRecord.checkName(name)
        try await insert(UserRecord(name: name, password: PasswordHash.make(password: password), active: active,
                                    extra: extra, grants: grants))
    }

    /// Changes a user: `change` edits the record; `password`, when given, is hashed anew.
    public func modifyUser(_ name: String, password: String? = nil,
                           _ change: @escaping @Sendable (inout UserRecord) throws(ArangoError) -> Void = { _ in }) async throws(ArangoError) {
        let hash = password.map { PasswordHash.make(password: $0) }
        try await update(name) { (user: inout UserRecord) throws(ArangoError) in
            try change(&user)
            if let hash { user.password = hash }
        }
        if hash != nil { verifiedPasswords.remove(user: name) }
    }

    public func removeUser(_ name: String) async throws(ArangoError) {
        guard name != UserRecord.rootName else { throw ArangoError.forbidden("the root user cannot be removed") }
        try await delete(name)
        verifiedPasswords.remove(user: name)
    }

    /// Makes sure `root` exists; sets its password when one is given (and differs). Returns
    /// a warning for the operator when root's password is empty.
    public func ensureRoot(password: String?) async throws(ArangoError) -> String? {
        if user(UserRecord.rootName) == nil {
            do {
                try await createUser(UserRecord.rootName, password: password ?? "", grants: ["*": .readWrite])
            } catch where error.code == .userDuplicate {
                // Another coordinator made it meanwhile; the password is set below.
            }
        }
        if let password, !checkPassword(UserRecord.rootName, password) {
            try await modifyUser(UserRecord.rootName, password: password) { $0.active = true }
        }
        if checkPassword(UserRecord.rootName, "") {
            return "the root user has an empty password; set one with --root-password or TESSERA_ROOT_PASSWORD"
        }
        return nil
    }

    /// Forgets every grant for a dropped database (best effort: a user changed meanwhile
    /// keeps a grant for a database that no longer exists, which grants nothing).
    public func forgetDatabase(_ database: String) async {
        for user in all where user.grants[database] != nil {
            do { try await update(user.name) { $0.grants[database] = nil } } catch {
                ProcessLog.logger("users").notice("grant of \(user.name) for dropped database \(database) stays (it grants nothing): \(error)")
            }
        }
    }

    /// After `creator` made `database`: the creator (unless root) and the users the request
    /// listed get `rw` on it; listed users that do not exist are created.
    public func grantNewDatabase(_ database: String, creator: String?, requested: [DatabaseUser]) async throws(ArangoError) {
        if let creator, creator != UserRecord.rootName, !creator.hasPrefix(UserRecord.serverPrefix) {
            try await update(creator) { $0.grants[database] = .readWrite }
        }
        for entry in requested {
            if user(entry.name) == nil {
                try await createUser(entry.name, password: entry.password, active: entry.active, grants: [database: .readWrite])
            } else {
                try await update(entry.name) { $0.grants[database] = .readWrite }
            }
        }
    }
}

/// One entry of the `users` list of `POST /_api/database`.
public struct DatabaseUser: Sendable {
    public var name: String
    public var password: String
    public var active: Bool

    /// The entries of a `users` list (absent: none); each needs a string `username`.
    public static func parse(_ list: Slice?) throws(ArangoError) -> [DatabaseUser] {
        guard let list else { return [] }
        guard list.isArray else { throw ArangoError.badParameter("'users' must be an array") }
        var users: [DatabaseUser] = []
        for entry in list.arrayElements {
            guard entry.isObject, let name = entry["username"]?.stringValue else {
                throw ArangoError.badParameter("each entry of 'users' needs a string 'username'")
            }
            users.append(DatabaseUser(name: name, password: entry["passwd"]?.stringValue ?? "", active: entry["active"]?.boolValue ?? true))
        }
        return users
    }
}
