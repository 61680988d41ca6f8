import ArgumentParser
import Auth
import AgentRole
import ClusterMember
import RESTRoutes
import Users
import DBServerRole
import CoordinatorRole
import SingleServerRole
import TesseraPlatform
import Client
import Transport
import VelocyStream

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VPackTool

/// The options every client command takes (`call`, `bench`, and those to come).
struct ClientOptions: ParsableArguments {
    @Option(help: "The server to talk to: tcp://HOST:PORT (VelocyStream), or http://HOST:PORT for HTTP/1.1.")
    var endpoint: String = "tcp://127.0.0.1:8529"

    @Flag(help: "Speak HTTP/1.1 instead of VelocyStream (the same port serves both).")
    var http = false

    @Option(help: "The database requests name.")
    var database: String = "_system"

    @Option(help: "The user to authenticate as.")
    var user: String = "root"

    @Option(help: "The password (default: the TESSERA_PASSWORD environment variable, else empty).")
    var password: String?

    @Option(help: "Seconds to wait for each answer.")
    var timeout: Double = 60

    @Option(help: "Authenticate with a cluster token signed with the secret in this file instead of a user and password (agents and internal APIs).")
    var secretFile: String?

    func validate() throws {
        guard Endpoint(Self.withoutHTTPScheme(endpoint)) != nil else {
            throw ValidationError("--endpoint must look like tcp://127.0.0.1:8529 or http://127.0.0.1:8529, not '\(endpoint)'")
        }
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be in (0, 3600] seconds") }
    }

    var parsedEndpoint: Endpoint { Endpoint(Self.withoutHTTPScheme(endpoint))! }

    /// Whether requests go as HTTP/1.1: `--http`, or an endpoint that starts with `http://`.
    var usesHTTP: Bool { http || endpoint.hasPrefix("http://") }

    static func withoutHTTPScheme(_ text: String) -> String {
        text.hasPrefix("http://") ? String(text.dropFirst(7)).trimmingTrailingSlash() : text
    }

    var resolvedPassword: String {
        if let password { return password }
        if let value = getenv("TESSERA_PASSWORD") { return String(cString: value) }
        return ""
    }

    /// A user and password, or with `--secret-file` a cluster token (loaded once per call).
    var credentials: Authentication {
        guard let secretFile else { return .plain(user: user, password: resolvedPassword) }
        do {
            let secret = try ClusterSecret.load(path: secretFile).secret.bytes
            return .jwt(token: ClusterAuthenticator.token(serverID: "CLI-\(getpid())", secret: secret, now: WallClock.seconds()))
        } catch {
            InputOutput.writeStandardError("tessera: cannot read the cluster secret: \(error)")
            // An empty token is refused by every server: the command then reports 401.
            return .jwt(token: "")
        }
    }

    func clientConfiguration(poolSize: Int = 1) -> VSTClient.Configuration {
        var configuration = VSTClient.Configuration(endpoint: parsedEndpoint, credentials: credentials)
        configuration.database = database
        configuration.poolSize = poolSize
        configuration.requestTimeoutSeconds = timeout
        return configuration
    }
}

extension String {
    func trimmingTrailingSlash() -> String { hasSuffix("/") ? String(dropLast()) : self }
}
