public import Server
public import Transport
import VelocyStream

/// The single-server role: one process that is coordinator and DBServer at once, with no
/// agency. So far it serves the version, the admin echo and sleep, and authentication; the
/// document API arrives with the storage engine.
public enum SingleServer {
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

    /// The router of a single server.
    public static func router(version: String) -> Router {
        var router = Router()
        AdminHandlers.register(in: &router, version: AdminHandlers.VersionInfo(version: version))
        return router
    }

    /// The server configuration for `options`.
    public static func configuration(_ options: Options) -> ServerConfiguration {
        var configuration = ServerConfiguration(endpoint: options.endpoint)
        configuration.connectionCountMax = options.connectionCountMax
        configuration.idleTimeoutSeconds = options.idleTimeoutSeconds
        configuration.messageTimeoutSeconds = options.messageTimeoutSeconds
        if let password = options.rootPassword {
            configuration.authenticator = StaticUsers(["root": password])
        }
        return configuration
    }
}
