package import Auth
public import Server
public import VelocyStream

/// Authentication of internal traffic: only an HS256 token signed with the cluster secret
/// and carrying a `server_id` (the superuser tokens the roles present to each other) is
/// accepted; passwords are not. The authenticated user is `_cluster:<server_id>`.
public struct ClusterAuthenticator: Authenticator {
    let secret: [UInt8]
    let now: @Sendable () -> Double

    public init(secret: [UInt8], now: @escaping @Sendable () -> Double) {
        self.secret = secret
        self.now = now
    }

    public func authenticate(_ credentials: Authentication) -> AuthenticationDecision {
        guard case .jwt(let token) = credentials,
              let claims = try? JSONWebToken.verify(token, secret: secret, nowSeconds: now()),
              let server = claims["server_id"]?.stringValue, !server.isEmpty else {
            return .refused
        }
        return .accepted(user: "_cluster:" + server)
    }

    /// The token a server with `serverID` presents to the others.
    public static func token(serverID: String, secret: [UInt8], now: Double) -> String {
        JSONWebToken.superuserToken(serverID: serverID, secret: secret, now: now)
    }
}
