public import Server
package import Auth
package import VelocyPack
package import ArangoAPI
package import VelocyStream

/// One user: the record `_users` (single server) or the agency (cluster) keeps.
///
/// ```
/// {"_key": name, "user": name, "active": true, "extra": {…},
///  "passwd": {"method": "pbkdf2-sha256", "rounds": …, "salt": …, "hash": …},
///  "databases": {"shop": "rw", "*": "ro"}}
/// ```
/// `root` may do everything everywhere; other users get their grant for the database, else
/// their `*` grant, else nothing.
public struct UserRecord: Sendable {
    public var name: String
    public var active: Bool
    /// An object, as VelocyPack bytes.
    public var extra: [UInt8]
    var password: PasswordHash
    public var grants: [String: AccessLevel]

    public static let rootName = "root"
    /// Authenticated names with this prefix are other servers of the cluster (cluster
    /// tokens), never users; no user may be named so.
    public static let serverPrefix = "_cluster:"

    package init(name: String, password: PasswordHash, active: Bool = true, extra: Slice? = nil, grants: [String: AccessLevel] = [:]) {
        self.name = name
        self.password = password
        self.active = active
        self.extra = extra.map { Array($0.bytes) } ?? [0x0a]
        self.grants = grants
    }

    /// Reads a stored record; a record that is not one is an internal error (storage damage).
    package init(decoding document: Slice) throws(ArangoError) {
        guard document.isObject, let name = document["user"]?.stringValue, let hashSlice = document["passwd"] else {
            throw ArangoError.internalError("a stored user record is incomplete: \(document["_key"]?.stringValue ?? "?")")
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
        self.init(name: name, password: password, active: document["active"]?.boolValue ?? true,
                  extra: document["extra"], grants: grants)
    }

    /// The stored form (grants in name order, so equal records have equal bytes).
    package var document: Slice {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "_key", name)
        builder.add(key: "user", name)
        builder.add(key: "active", active)
        builder.add(key: "extra", Slice(trustedBytes: extra))
        builder.add(key: "passwd")
        password.encode(into: &builder)
        builder.add(key: "databases")
        builder.openObject()
        for (database, level) in grants.sorted(by: { $0.key < $1.key }) { builder.add(key: database, level.grant) }
        builder.closeTrusted()
        builder.closeTrusted()
        return builder.slice
    }

    /// What this user may do in `database`.
    func level(in database: String) -> AccessLevel {
        if name == Self.rootName { return .readWrite }
        guard active else { return .none }
        return grants[database] ?? grants["*"] ?? .none
    }

    /// Rules for user names: they are `_users` keys, and not server names.
    static func checkName(_ name: String) throws(ArangoError) {
        guard DocumentKey.isValid(name), !name.hasPrefix(serverPrefix) else {
            throw ArangoError(status: 400, .userInvalidName,
                              "invalid user name '\(name)': use 1 to 254 of the characters a document key allows, not starting with '\(serverPrefix)'")
        }
    }

    package static func notFound(_ name: String) -> ArangoError {
        ArangoError(status: 404, .userNotFound, "user not found: '\(name)'")
    }

    package static func duplicate(_ name: String) -> ArangoError {
        ArangoError(status: 409, .userDuplicate, "duplicate user: '\(name)' exists")
    }
}
