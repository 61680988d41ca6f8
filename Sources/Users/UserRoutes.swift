public import Server
package import VelocyPack
package import ArangoAPI
package import VelocyStream

/// `POST /_open/auth` and `/_api/user`.
///
/// Administrators (users with write access to `_system`) manage every user; a user may read
/// its own record and grants and change its own password.
/// The same routes serve a single server's users and a coordinator's (cluster-wide) users.
public struct UserRoutes: Sendable {
    public let users: any UserAccounts

    public init(users: any UserAccounts) { self.users = users }

    public func register(in router: inout Router) {
        let users = self.users
        router.addDeferrable(.post, "/_open/auth") { request throws(ArangoError) in
            let body = try request.requireBody()
            guard body.isObject, let name = body["username"]?.stringValue, let password = body["password"]?.stringValue else {
                throw ArangoError.badParameter("expecting {\"username\": …, \"password\": …}")
            }
            return .offload {
                guard users.checkPassword(name, password) else {
                    return ServerResponse(ArangoError(status: 401, .httpUnauthorized, "wrong credentials"))
                }
                var builder = Builder()
                builder.openObject()
                builder.add(key: "jwt", users.token(for: name))
                builder.closeTrusted()
                return ServerResponse(status: 200, builder)
            }
        }
        router.add(.get, "/_api/user") { request throws(ArangoError) in
            let visible = Self.isAdmin(users, request) ? users.all : users.all.filter { $0.name == request.user }
            return answer(200) { builder in
                builder.add(key: "result")
                builder.openArray()
                for user in visible { Self.write(user, into: &builder, close: true) }
                builder.closeTrusted()
            }
        }
        router.addAsync(.post, "/_api/user") { request throws(ArangoError) in
            try Self.requireAdmin(users, request)
            let body = try request.requireBody()
            guard body.isObject, let name = body["user"]?.stringValue else {
                throw ArangoError(status: 400, .userInvalidName, "invalid user name: 'user' must be a string")
            }
            let password = try Self.password(body) ?? ""
            let active = body["active"]?.boolValue ?? true
            let extra = body["extra"]
            if let extra, !extra.isObject { throw ArangoError.badParameter("'extra' must be an object") }
            try await users.createUser(name, password: password, active: active, extra: extra)
            return try Self.userAnswer(users, name, status: 201)
        }
        router.add(.get, "/_api/user/:user") { request throws(ArangoError) in
            let name = try Self.requireSelfOrAdmin(users, request)
            guard let user = users.user(name) else { throw UserRecord.notFound(name) }
            return Self.userAnswer(user, status: 200)
        }
        for method in [RequestMethod.put, .patch] {
            router.addAsync(method, "/_api/user/:user") { request throws(ArangoError) in
                let name = try Self.requireSelfOrAdmin(users, request)
                let admin = Self.isAdmin(users, request)
                let body = try request.requireBody()
                guard body.isObject else { throw ArangoError.badParameter("expecting an object") }
                let password = try Self.password(body)
                let active = body["active"]?.boolValue
                let extra = body["extra"]
                if let extra, !extra.isObject { throw ArangoError.badParameter("'extra' must be an object") }
                if !admin && (active != nil || extra != nil) {
                    throw ArangoError.forbidden("only an administrator may change 'active' or 'extra'")
                }
                let newExtra = extra.map { Array($0.bytes) } ?? (method == .put ? [0x0a] : nil)
                try await users.modifyUser(name, password: password ?? (method == .put ? "" : nil)) { user in
                    if let active { user.active = active }
                    if let newExtra { user.extra = newExtra }
                }
                return try Self.userAnswer(users, name, status: 200)
            }
        }
        router.addAsync(.delete, "/_api/user/:user") { request throws(ArangoError) in
            try Self.requireAdmin(users, request)
            try await users.removeUser(request.pathSegment("user"))
            return answer(202) { _ in }
        }
        router.add(.get, "/_api/user/:user/database") { request throws(ArangoError) in
            let name = try Self.requireSelfOrAdmin(users, request)
            guard let user = users.user(name) else { throw UserRecord.notFound(name) }
            return answer(200) { builder in
                builder.add(key: "result")
                builder.openObject()
                for (database, level) in user.grants.sorted(by: { $0.key < $1.key }) { builder.add(key: database, level.grant) }
                builder.closeTrusted()
            }
        }
        router.add(.get, "/_api/user/:user/database/:database") { request throws(ArangoError) in
            let name = try Self.requireSelfOrAdmin(users, request)
            guard users.user(name) != nil else { throw UserRecord.notFound(name) }
            let level = users.level(of: name, in: request.pathSegment("database"))
            return answer(200) { $0.add(key: "result", level.grant) }
        }
        router.addAsync(.put, "/_api/user/:user/database/:database") { request throws(ArangoError) in
            try Self.requireAdmin(users, request)
            let name = request.pathSegment("user")
            let database = request.pathSegment("database")
            let body = try request.requireBody()
            guard body.isObject, let level = body["grant"]?.stringValue.flatMap(AccessLevel.init(grant:)) else {
                throw ArangoError.badParameter("expecting {\"grant\": \"rw\" | \"ro\" | \"none\"}")
            }
            guard database == "*" || users.databaseExists(database) else { throw ArangoError.databaseNotFound(database) }
            try await users.update(name) { $0.grants[database] = level }
            return answer(200) { $0.add(key: database, level.grant) }
        }
        router.addAsync(.delete, "/_api/user/:user/database/:database") { request throws(ArangoError) in
            try Self.requireAdmin(users, request)
            let database = request.pathSegment("database")
            try await users.update(request.pathSegment("user")) { $0.grants[database] = nil }
            return answer(202) { _ in }
        }
    }

    static func isAdmin(_ users: any UserAccounts, _ request: ServerRequest) -> Bool {
        users.level(of: request.user, in: "_system") == .readWrite
    }

    static func requireAdmin(_ users: any UserAccounts, _ request: ServerRequest) throws(ArangoError) {
        guard isAdmin(users, request) else { throw ArangoError.forbidden("only an administrator may manage users") }
    }

    /// The user named in the path, when the caller is that user or an administrator.
    static func requireSelfOrAdmin(_ users: any UserAccounts, _ request: ServerRequest) throws(ArangoError) -> String {
        let name = request.pathSegment("user")
        guard name == request.user || isAdmin(users, request) else {
            throw ArangoError.forbidden("not allowed to see or change user '\(name)'")
        }
        return name
    }

    static func password(_ body: Slice) throws(ArangoError) -> String? {
        guard let value = body["passwd"] else { return nil }
        guard let text = value.stringValue else {
            throw ArangoError(status: 400, .userInvalidPassword, "invalid password: 'passwd' must be a string")
        }
        return text
    }

    static func write(_ user: UserRecord, into builder: inout Builder, close: Bool) {
        if close { builder.openObject() }
        builder.add(key: "user", user.name)
        builder.add(key: "active", user.active)
        builder.add(key: "extra", Slice(trustedBytes: user.extra))
        if close { builder.closeTrusted() }
    }

    static func userAnswer(_ user: UserRecord, status: Int) -> ServerResponse {
        answer(status) { write(user, into: &$0, close: false) }
    }

    /// The answer with `name`'s record as stored now (404 when another request removed it).
    static func userAnswer(_ users: any UserAccounts, _ name: String, status: Int) throws(ArangoError) -> ServerResponse {
        guard let user = users.user(name) else { throw UserRecord.notFound(name) }
        return userAnswer(user, status: status)
    }
}
