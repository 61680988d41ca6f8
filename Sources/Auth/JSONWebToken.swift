public import VelocyPack

/// HS256 JSON Web Tokens (RFC 7519, signed as a JWS compact serialization, RFC 7515): the
/// tokens clients present instead of a password and the tokens the cluster's roles present to
/// one another, signed with the cluster secret.
///
/// ```
/// base64url(header JSON) "." base64url(claims JSON) "." base64url(HMAC-SHA256(secret, first two parts))
/// ```
///
/// This file holds the checks that touch the token's bytes and need no cryptography, so the
/// fuzz build (which has no swift-crypto) compiles them as they are;
/// `JSONWebToken+HMAC.swift` adds signing and the verification with a secret.
public enum JSONWebToken {
    /// The longest token accepted, in bytes. Our tokens are about 200 bytes; the limit bounds
    /// the work an unauthenticated peer can cause before the signature is checked.
    public static let tokenByteCountMax = 8 * 1024
    /// How far a token's `nbf` or `iat` may lie in the future, for clocks that disagree a little
    /// between the machines of a cluster.
    public static let clockSkewSecondsMax = 60.0
    /// The issuer Tessera writes into its tokens and expects by default.
    public static let issuerDefault = "tessera"
    /// The only algorithm accepted. Taking the algorithm from the token would let an attacker
    /// pick `none` (RFC 8725 §2.1, §3.1).
    public static let algorithm = "HS256"
    /// The byte count of an HMAC-SHA256 signature.
    public static let signatureByteCount = 32

    /// How the header and claims JSON are read: strict UTF-8, no repeated keys (which a
    /// different reader might resolve differently, RFC 7515 §5.2), and shallow nesting.
    static let jsonOptions = JSONParser.Options(validateUTF8: true, nestingLimit: 16, rejectDuplicateKeys: true)

    /// Verifies a token with a caller-given signature check and returns its claims.
    ///
    /// The checks run in this order, each on bytes the previous one vouched for: length,
    /// parts, header (`alg` exactly `HS256`, `typ` absent or `JWT`, no `crit`), signature,
    /// then the claims (an object; `exp`, `nbf`, `iat` numbers in range; `iss` equal to
    /// `issuer`). The claims JSON is parsed only after the signature matched.
    ///
    /// - Parameters:
    ///   - token: The token text as received.
    ///   - nowSeconds: The current time in seconds since the Unix epoch.
    ///   - issuer: The `iss` the token must carry.
    ///   - signatureIsValid: Whether the signature bytes sign the signing input (the ASCII
    ///     bytes of the first two parts with the dot between them); must compare in constant time.
    /// - Returns: The claims, a VelocyPack object.
    /// - Throws: ``JWTError`` naming the first check that failed.
    public static func verify(
        _ token: String, nowSeconds: Double, issuer: String = issuerDefault,
        signatureIsValid: (_ signingInput: ArraySlice<UInt8>, _ signature: [UInt8]) -> Bool
    ) throws(JWTError) -> Slice {
        let bytes = Array(token.utf8)
        guard bytes.count <= tokenByteCountMax else { throw .tooLong(byteCount: bytes.count) }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .wrongPartCount(parts.count) }

        let header = try parseJSON(parts[0], .header)
        try checkHeader(header)
        guard let signature = Base64URL.decode(parts[2]) else { throw .invalidBase64URL(.signature) }
        // The signing input is the text of the first two parts and the dot (RFC 7515 §5.1).
        let signingInput = bytes[parts[0].startIndex..<parts[1].endIndex]
        guard signature.count == signatureByteCount, signatureIsValid(signingInput, signature) else {
            throw .badSignature
        }
        let claims = try parseJSON(parts[1], .claims)
        try checkClaims(claims, nowSeconds: nowSeconds, issuer: issuer)
        return claims
    }

    static func parseJSON(_ part: ArraySlice<UInt8>, _ name: JWTError.Part) throws(JWTError) -> Slice {
        guard let json = Base64URL.decode(part) else { throw .invalidBase64URL(name) }
        do throws(VPackError) {
            return try JSONParser.parse(json, options: jsonOptions).slice
        } catch {
            throw .invalidJSON(name, error)
        }
    }

    /// RFC 7515 §4.1: `alg` decides the algorithm and must be ours; `typ` is advisory but a
    /// different media type means a token meant for something else; `crit` extensions must
    /// be understood, and we understand none.
    static func checkHeader(_ header: Slice) throws(JWTError) {
        guard header.isObject else { throw .headerNotObject }
        let algorithm = header["alg"]
        guard algorithm?.stringValue == Self.algorithm else {
            throw .unsupportedAlgorithm(algorithm.map { $0.stringValue ?? "(not a string)" })
        }
        if let type = header["typ"], type.stringValue?.uppercased() != "JWT" {
            throw .unsupportedType(type.stringValue ?? "(not a string)")
        }
        guard header["crit"] == nil else { throw .criticalExtension }
    }

    /// RFC 7519 §4.1: the registered time claims are NumericDate numbers; `exp` must be in the
    /// future, `nbf` and `iat` not later than now (give or take the clock skew); `iss` names
    /// the issuer.
    static func checkClaims(_ claims: Slice, nowSeconds: Double, issuer: String) throws(JWTError) {
        guard claims.isObject else { throw .claimsNotObject }
        if let expiry = try numericDate(claims, "exp"), !(nowSeconds < expiry) {
            throw .expired(expiry: expiry, now: nowSeconds)
        }
        if let notBefore = try numericDate(claims, "nbf"), notBefore > nowSeconds + clockSkewSecondsMax {
            throw .notYetValid(notBefore: notBefore, now: nowSeconds)
        }
        if let issuedAt = try numericDate(claims, "iat"), issuedAt > nowSeconds + clockSkewSecondsMax {
            throw .issuedInFuture(issuedAt: issuedAt, now: nowSeconds)
        }
        let tokenIssuer = claims["iss"]
        guard tokenIssuer?.stringValue == issuer else {
            throw .wrongIssuer(tokenIssuer.map { $0.stringValue ?? "(not a string)" })
        }
    }

    /// The number a time claim holds, `nil` when the claim is absent.
    static func numericDate(_ claims: Slice, _ name: String) throws(JWTError) -> Double? {
        guard let value = claims[name] else { return nil }
        guard let number = value.numberValue, number.isFinite else { throw .invalidClaim(name) }
        return number
    }
}
