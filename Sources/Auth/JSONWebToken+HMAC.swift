import Crypto
public import VelocyPack

extension JSONWebToken {
    /// The header of every token we sign, as JSON text. Fixed bytes: the signature covers
    /// the text, so it must not depend on how a dumper orders keys.
    static let headerJSON = #"{"alg":"HS256","typ":"JWT"}"#

    /// Signs claims as an HS256 token.
    ///
    /// - Parameters:
    ///   - claims: A VelocyPack object of JSON-expressible values; members are written in
    ///     sorted key order.
    ///   - secret: The HMAC key (for cluster tokens the cluster secret); must not be empty.
    /// - Returns: The compact token text `header.claims.signature`.
    public static func sign(claims: Slice, secret: [UInt8]) -> String {
        precondition(claims.isObject, "JWT claims must be an object, not \(claims.type)")
        precondition(!secret.isEmpty, "a JWT secret must not be empty")
        let claimsJSON: [UInt8]
        do throws(VPackError) {
            claimsJSON = try JSONDumper.dump(claims)
        } catch {
            // The caller built the claims; a date or binary value among them is a programming error.
            preconditionFailure("JWT claims must be expressible as JSON: \(error)")
        }
        let signingInput = Array((Base64URL.encode(headerJSON.utf8) + "." + Base64URL.encode(claimsJSON)).utf8)
        let code = HMAC<SHA256>.authenticationCode(for: signingInput, using: SymmetricKey(data: secret))
        return String(decoding: signingInput, as: UTF8.self) + "." + Base64URL.encode(Array(code))
    }

    /// Verifies an HS256 token signed with `secret` and returns its claims.
    ///
    /// See ``verify(_:nowSeconds:issuer:signatureIsValid:)`` for the checks and their order;
    /// the signature is compared in constant time.
    ///
    /// - Parameters:
    ///   - token: The token text as received from a peer (untrusted).
    ///   - secret: The HMAC key the token must be signed with.
    ///   - nowSeconds: The current time in seconds since the Unix epoch.
    ///   - issuer: The `iss` the token must carry.
    /// - Returns: The claims, a VelocyPack object.
    /// - Throws: ``JWTError`` naming the first check that failed.
    public static func verify(
        _ token: String, secret: [UInt8], nowSeconds: Double, issuer: String = issuerDefault
    ) throws(JWTError) -> Slice {
        precondition(!secret.isEmpty, "a JWT secret must not be empty")
        let key = SymmetricKey(data: secret)
        return try verify(token, nowSeconds: nowSeconds, issuer: issuer) { signingInput, signature in
            // Constant time: a byte-by-byte early exit would let a peer find the code a byte at a time.
            HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key)
        }
    }

    /// A token for a client user: `{"iss": "tessera", "preferred_username": user, "iat": now,
    /// "exp": now + lifetime}`, times in whole seconds.
    ///
    /// - Parameters:
    ///   - user: The user name the token stands for.
    ///   - secret: The HMAC key.
    ///   - lifetimeSeconds: How long the token stays valid; positive.
    ///   - now: The current time in seconds since the Unix epoch.
    public static func userToken(user: String, secret: [UInt8], lifetimeSeconds: Int, now: Double) -> String {
        precondition(lifetimeSeconds > 0, "a token lifetime must be positive, not \(lifetimeSeconds)")
        let issuedAt = wholeSeconds(now)
        var claims = Builder()
        claims.openObject()
        claims.add(key: "iss", issuerDefault)
        claims.add(key: "preferred_username", user)
        claims.add(key: "iat", issuedAt)
        claims.add(key: "exp", issuedAt + Int64(lifetimeSeconds))
        closeKnownGood(&claims)
        return sign(claims: claims.slice, secret: secret)
    }

    /// A cluster-internal token: `{"iss": "tessera", "server_id": serverID, "iat": now}`.
    ///
    /// Like ArangoDB's superuser tokens it carries no `exp`: the roles make one at start-up and
    /// present it on every connection, and replacing the cluster secret revokes it.
    public static func superuserToken(serverID: String, secret: [UInt8], now: Double) -> String {
        var claims = Builder()
        claims.openObject()
        claims.add(key: "iss", issuerDefault)
        claims.add(key: "server_id", serverID)
        claims.add(key: "iat", wholeSeconds(now))
        closeKnownGood(&claims)
        return sign(claims: claims.slice, secret: secret)
    }

    /// A NumericDate in whole seconds (RFC 7519 §2 allows fractions; whole seconds keep the
    /// tokens short and their JSON free of float formatting).
    static func wholeSeconds(_ now: Double) -> Int64 {
        // The range check makes the conversion exact-or-truncating and never trapping.
        precondition(now.isFinite && now >= 0 && now < 1e15, "time \(now) is not seconds since the epoch")
        return Int64(now.rounded(.down))
    }
}

/// Closes an object this module built with distinct literal keys; closing can only fail on a
/// repeated key, which would be a programming error here.
func closeKnownGood(_ builder: inout Builder) {
    do throws(VPackError) {
        try builder.close()
    } catch {
        preconditionFailure("closing a builder with known keys failed: \(error)")
    }
}
