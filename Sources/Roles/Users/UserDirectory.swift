import Auth
public import Documents
public import Server
import Storage
import TesseraPlatform
public import VelocyPack
public import VelocyStream

/// The users of a server and what they may do, kept in the `_users` system collection of
/// `_system` (one document per user, keyed by name) and mirrored in memory so that
/// authentication and permission checks never touch the disk.
///
/// A user record:
/// ```
/// {"_key": name, "user": name, "active": true, "extra": {…},
///  "passwd": {"method": "pbkdf2-sha256", "rounds": …, "salt": …, "hash": …},
///  "databases": {"shop": "rw", "*": "ro"}}
/// ```
/// `root` may do everything everywhere; other users get their grant for the database, else
/// their `*` grant, else nothing.
public final class UserDirectory: Sendable {
    public struct User: Sendable {
        public var name: String
        public var active: Bool
        public var extra: [UInt8]
        var password: PasswordHash
        public var grants: [String: AccessLevel]
    }

    public static let collectionName = "_users"
    public static let rootName = "root"
    /// Lifetime of the tokens `POST /_open/auth` hands out.
    public static let tokenLifetimeSeconds = 3600

    let store: DocumentStore
    let collection: Collection
    let tokenSecret: [UInt8]
    let verified = VerifiedPasswordCache()
    let users: Locked<[String: User]>
    /// Serializes changes, so the disk and the memory copy change in the same order.
    let changes = Locked(())
    let now: @Sendable () -> Double
    /// With authentication off, requests carry no user and may do everything.
    let authenticationEnabled: Bool

    /// Opens (creating when missing) the `_users` collection and loads every user.
    public init(store: DocumentStore, tokenSecret: [UInt8], authenticationEnabled: Bool,
                now: @escaping @Sendable () -> Double) throws(ArangoError) {
        self.authenticationEnabled = authenticationEnabled
        self.store = store
        self.tokenSecret = tokenSecret
        self.now = now
        let collection: Collection
        do {
            collection = try store.collection(Self.collectionName, in: "_system")
        } catch where error.number == .dataSourceNotFound {
            var settings = DocumentStore.CollectionSettings(name: Self.collectionName)
            settings.allowSystemName = true
            settings.waitForSync = true
            collection = try store.createCollection(settings, in: "_system")
        }
        self.collection = collection
        var loaded: [String: User] = [:]
        var after: String?
        while true {
            let page: [StoredDocument]
            do { page = try collection.engine.documentsInKeyOrder(after: after, limit: 1024) } catch {
                throw ArangoError(error, collection: Self.collectionName)
            }
            for stored in page {
                let user = try Self.user(from: stored.document)
                loaded[user.name] = user
            }
            guard let last = page.last, page.count == 1024 else { break }
            after = last.key
        }
        users = Locked(loaded)
    }

    static func user(from document: Slice) throws(ArangoError) -> User {
        guard let name = document["user"]?.stringValue, let hashSlice = document["passwd"] else {
            throw ArangoError.internalError("a record in _users is incomplete: \(document["_key"]?.stringValue ?? "?")")
        }
        let password: PasswordHash
        do { password = try PasswordHash(slice: hashSlice) } catch {
            throw ArangoError.internalError("the password record of user \(name) is damaged: \(error)")
        }
        var grants: [String: AccessLevel] = [:]
        if let databases = document["databases"], databases.isObject {
            for member in databases.objectMembers {
                if let database = member.key.keyName, let level = member.value.stringValue.flatMap(AccessLevel.init(grant:)) {
                    grants[database] = level
                }
            }
        }
        return User(name: name, active: document["active"]?.boolValue ?? true,
                    extra: document["extra"].map { Array($0.bytes) } ?? [0x0a], password: password, grants: grants)
    }

    static func document(of user: User) -> Slice {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "_key", user.name)
        builder.add(key: "user", user.name)
        builder.add(key: "active", user.active)
        builder.add(key: "extra", Slice(trustedBytes: user.extra))
        builder.add(key: "passwd")
        user.password.encode(into: &builder)
        builder.add(key: "databases")
        builder.openObject()
        for (database, level) in user.grants.sorted(by: { $0.key < $1.key }) { builder.add(key: database, level.grant) }
        builder.closeTrusted()
        builder.closeTrusted()
        return builder.slice
    }

    // MARK: Reading

    public func user(_ name: String) -> User? { users.withLock { $0[name] } }
    public var all: [User] { users.withLock { Array($0.values) }.sorted { $0.name < $1.name } }

    /// Whether `password` is the user's (slow: one key derivation unless cached).
    public func checkPassword(_ name: String, _ password: String) -> Bool {
        guard let user = user(name), user.active else { return false }
        return verified.verify(user: name, password: password, against: user.password)
    }

    /// A token for `name`, valid for ``tokenLifetimeSeconds``.
    public func token(for name: String) -> String {
        JSONWebToken.userToken(user: name, secret: tokenSecret, lifetimeSeconds: Self.tokenLifetimeSeconds, now: now())
    }

    // MARK: Changing

    /// Rules for user names: they are `_users` keys.
    static func checkName(_ name: String) throws(ArangoError) {
        guard DocumentKey.isValid(name) else {
            throw ArangoError(status: 400, .userInvalidName,
                              "invalid user name '\(name)': use 1 to 254 of the characters a document key allows")
        }
    }

    /// Creates a user (slow: hashes the password, syncs).
    public func create(_ name: String, password: String, active: Bool = true, extra: Slice? = nil,
                       grants: [String: AccessLevel] = [:]) throws(ArangoError) {
        try Self.checkName(name)
        let user = User(name: name, active: active, extra: extra.map { Array($0.bytes) } ?? [0x0a],
                        password: PasswordHash.make(password: password), grants: grants)
        try changes.withLock { (_) throws(ArangoError) in
            guard self.user(name) == nil else { throw ArangoError(status: 409, .userDuplicate, "duplicate user: '\(name)' exists") }
            var options = DocumentOptions()
            options.waitForSync = true
            _ = try collection.insert(Self.document(of: user), options: options)
            users.withLock { $0[name] = user }
        }
    }

    /// Changes a user: `change` edits the record; `password`, when given, is hashed anew.
    public func modify(_ name: String, password: String? = nil, _ change: (inout User) throws(ArangoError) -> Void) throws(ArangoError) {
        let hash = password.map { PasswordHash.make(password: $0) }
        try changes.withLock { (_) throws(ArangoError) in
            guard var user = self.user(name) else { throw Self.notFound(name) }
            try change(&user)
            if let hash { user.password = hash }
            var options = DocumentOptions()
            options.waitForSync = true
            _ = try collection.replace(name, with: Self.document(of: user), options: options)
            users.withLock { $0[name] = user }
            if hash != nil { verified.remove(user: name) }
        }
    }

    public func remove(_ name: String) throws(ArangoError) {
        guard name != Self.rootName else { throw ArangoError.forbidden("the root user cannot be removed") }
        try changes.withLock { (_) throws(ArangoError) in
            guard self.user(name) != nil else { throw Self.notFound(name) }
            var options = DocumentOptions()
            options.waitForSync = true
            _ = try collection.remove(name, options: options)
            users.withLock { $0[name] = nil }
            verified.remove(user: name)
        }
    }

    /// Forgets every grant for a dropped database.
    public func forgetDatabase(_ database: String) {
        for user in all where user.grants[database] != nil {
            try? modify(user.name) { $0.grants[database] = nil }
        }
    }

    static func notFound(_ name: String) -> ArangoError {
        ArangoError(status: 404, .userNotFound, "user not found: '\(name)'")
    }

    /// Makes sure `root` exists; sets its password when one is given (and differs). Returns
    /// a warning for the operator when root's password is empty.
    public func ensureRoot(password: String?) throws(ArangoError) -> String? {
        if user(Self.rootName) == nil {
            try create(Self.rootName, password: password ?? "", grants: ["*": .readWrite])
        } else if let password, !checkPassword(Self.rootName, password) {
            try modify(Self.rootName, password: password) { $0.active = true }
        }
        if checkPassword(Self.rootName, "") {
            return "the root user has an empty password; set one with --root-password or TESSERA_ROOT_PASSWORD"
        }
        return nil
    }
}

extension UserDirectory: AccessControl {
    public func level(of user: String?, in database: String) -> AccessLevel {
        guard let user else { return authenticationEnabled ? .none : .readWrite }
        if user == Self.rootName { return .readWrite }
        return users.withLock { users in
            guard let record = users[user], record.active else { return .none }
            return record.grants[database] ?? record.grants["*"] ?? .none
        }
    }
}

extension UserDirectory: Authenticator {
    public func authenticate(_ credentials: Authentication) -> AuthenticationDecision {
        switch credentials {
        case let .plain(name, password):
            guard let user = user(name), user.active else { return .refused }
            return .check { [verified] in verified.verify(user: name, password: password, against: user.password) ? name : nil }
        case .jwt(let token):
            guard let claims = try? JSONWebToken.verify(token, secret: tokenSecret, nowSeconds: now()),
                  let name = claims["preferred_username"]?.stringValue,
                  let user = user(name), user.active else { return .refused }
            return .accepted(user: name)
        }
    }
}
