public import Documents
public import Server
public import Transport
public import VelocyStream

/// The single-server role: one process that is coordinator and DBServer at once, with no
/// agency. It owns the data directory's document store and serves ArangoDB's API over it.
public final class SingleServer: Sendable {
    public struct Options: Sendable {
        public var endpoint: Endpoint
        public var dataDirectory: String
        /// `nil` turns authentication off.
        public var rootPassword: String?
        public var version: String
        public var connectionCountMax = 1024
        public var idleTimeoutSeconds: Double = 300
        public var messageTimeoutSeconds: Double = 60

        public init(endpoint: Endpoint, dataDirectory: String, rootPassword: String?, version: String) {
            self.endpoint = endpoint
            self.dataDirectory = dataDirectory
            self.rootPassword = rootPassword
            self.version = version
        }
    }

    public let options: Options
    public let store: DocumentStore
    let cursors = CursorRegistry()

    /// Opens the document store under `options.dataDirectory` (the caller holds the
    /// directory's lock).
    public init(options: Options) throws(ArangoError) {
        self.options = options
        store = try DocumentStore(directory: options.dataDirectory + "/documents")
    }

    /// The router of a single server.
    public func router() -> Router {
        var router = Router()
        AdminHandlers.register(in: &router, version: AdminHandlers.VersionInfo(version: options.version))
        let api = DocumentAPI(store: store, cursors: cursors, access: OpenAccess())
        api.register(in: &router)
        return router
    }

    /// The server configuration.
    public func configuration() -> ServerConfiguration {
        var configuration = ServerConfiguration(endpoint: options.endpoint)
        configuration.connectionCountMax = options.connectionCountMax
        configuration.idleTimeoutSeconds = options.idleTimeoutSeconds
        configuration.messageTimeoutSeconds = options.messageTimeoutSeconds
        if let password = options.rootPassword {
            configuration.authenticator = StaticUsers(["root": password])
        }
        let store = self.store
        configuration.databaseExists = { store.databaseExists($0) }
        return configuration
    }

    /// Closes the document store (after the server stopped taking requests).
    public func close() throws(ArangoError) {
        try store.close()
    }
}
