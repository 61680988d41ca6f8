package import Auth
import TesseraPlatform
public import Documents
public import Server
public import Transport
public import ArangoAPI
package import VelocyStream

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import RESTRoutes
public import Users

/// The single-server role: one process that is coordinator and DBServer at once, with no
/// agency. It owns the data directory's document store and users, and serves ArangoDB's API
/// over them.
///
/// Data directory layout:
/// ```
/// DIR/LOCK            held while the server runs
/// DIR/jwt-secret      signs the tokens of POST /_open/auth (mode 0600, made at first start)
/// DIR/documents/      the DocumentStore (catalog and collections, users in _system/_users)
/// ```
///
/// Concurrency: requests run on the server's event loop; durable writes, catalog changes,
/// queries and large arrays go to the loop's thread pool or answer from a shard engine's
/// syncing thread (see ``DocumentAPI``). There are no other tasks.
public final class SingleServer: Sendable {
    public struct Options: Sendable {
        public var endpoint: Endpoint
        public var dataDirectory: String
        /// Off: every request is served without credentials.
        public var authentication = true
        /// A root password the operator gave; `nil` keeps the stored one (empty at first start).
        public var rootPassword: String?
        public var version: String
        public var connectionCountMax = 1024
        public var idleTimeoutSeconds: Double = 300
        public var messageTimeoutSeconds: Double = 60
        /// The deepest nesting accepted in request bodies (at most the default, 256).
        public var bodyNestingMax = VSTLimits.bodyNestingMaxDefault

        public init(endpoint: Endpoint, dataDirectory: String, rootPassword: String?, version: String) {
            self.endpoint = endpoint
            self.dataDirectory = dataDirectory
            self.rootPassword = rootPassword
            self.version = version
        }
    }

    public let options: Options
    public let store: DocumentStore
    public let users: UserDirectory
    let cursors = CursorRegistry()
    /// What the operator should hear about at start (an empty root password).
    public let warnings: [String]

    /// Opens the document store and users under `options.dataDirectory` (the caller holds
    /// the directory's lock).
    public init(options: Options) async throws(ArangoError) {
        self.options = options
        let secret: [UInt8]
        let secretPath = options.dataDirectory + "/jwt-secret"
        do {
            if access(secretPath, F_OK) == 0 {
                secret = try ClusterSecret.load(path: secretPath).secret.bytes
            } else {
                secret = try ClusterSecret.generate(path: secretPath).bytes
            }
        } catch {
            throw ArangoError.internalError("cannot read or make \(secretPath): \(error)")
        }
        store = try DocumentStore(directory: options.dataDirectory + "/documents")
        users = try UserDirectory(store: store, tokenSecret: secret, authenticationEnabled: options.authentication,
                                  now: { WallClock.seconds() })
        var warnings: [String] = []
        if let warning = try await users.ensureRoot(password: options.rootPassword), options.authentication {
            warnings.append(warning)
        }
        self.warnings = warnings
    }

    /// The router of a single server.
    public func router() -> Router {
        var router = Router()
        AdminHandlers.register(in: &router, version: AdminHandlers.VersionInfo(version: options.version))
        var api = DocumentAPI(store: store, cursors: cursors, access: users)
        let users = self.users
        api.databaseDropped = { await users.forgetDatabase($0) }
        api.databaseCreated = { (name, creator, requested) async throws(ArangoError) in
            try await users.grantNewDatabase(name, creator: creator, requested: requested)
        }
        api.register(in: &router)
        UserRoutes(users: users).register(in: &router)
        return router
    }

    /// The server configuration.
    public func configuration() -> ServerConfiguration {
        var configuration = ServerConfiguration(endpoint: options.endpoint)
        configuration.connectionCountMax = options.connectionCountMax
        configuration.idleTimeoutSeconds = options.idleTimeoutSeconds
        configuration.messageTimeoutSeconds = options.messageTimeoutSeconds
        configuration.limits.bodyNestingMax = options.bodyNestingMax
        configuration.authenticator = options.authentication ? users : nil
        let store = self.store
        // `_system` is made before the server listens and cannot be dropped: no lock for it.
        configuration.databaseExists = { $0 == "_system" || store.databaseExists($0) }
        return configuration
    }

    /// Closes the document store (after the server stopped taking requests).
    public func close() throws(ArangoError) {
        try store.close()
    }
}
