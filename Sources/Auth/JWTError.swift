public import VelocyPack

/// Why a JSON Web Token was refused. The cases and their ``code`` numbers are stable: logs and
/// tests name them; a new reason gets a new case at the end.
public enum JWTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// One of the three dot-separated parts of a token.
    public enum Part: String, Sendable {
        case header, claims, signature
    }

    /// The token is longer than ``JSONWebToken/tokenByteCountMax``.
    case tooLong(byteCount: Int)
    /// The token does not have exactly three dot-separated parts (a JWS compact
    /// serialization; encrypted tokens have five and are not accepted).
    case wrongPartCount(Int)
    /// A part is not canonical unpadded base64url.
    case invalidBase64URL(Part)
    /// The header or the claims are not strict JSON (UTF-8, no repeated keys, shallow).
    case invalidJSON(Part, VPackError)
    /// The header is not a JSON object.
    case headerNotObject
    /// `alg` is missing or is not `HS256`; `none` lands here too.
    case unsupportedAlgorithm(String?)
    /// `typ` is present and is not `JWT`.
    case unsupportedType(String)
    /// The header has a `crit` member: it names extensions this verifier must understand
    /// and does not (RFC 7515 §4.1.11).
    case criticalExtension
    /// The signature is not the HMAC-SHA256 of the first two parts under the secret.
    case badSignature
    /// The claims are not a JSON object.
    case claimsNotObject
    /// A registered claim has the wrong type (such as a string `exp`).
    case invalidClaim(String)
    /// `exp` is not after the current time.
    case expired(expiry: Double, now: Double)
    /// `nbf` is later than the current time plus the allowed clock skew.
    case notYetValid(notBefore: Double, now: Double)
    /// `iat` is later than the current time plus the allowed clock skew.
    case issuedInFuture(issuedAt: Double, now: Double)
    /// `iss` is missing or is not the expected issuer.
    case wrongIssuer(String?)

    /// The stable number of the case, for logs and error bodies.
    public var code: Int {
        switch self {
        case .tooLong: 1
        case .wrongPartCount: 2
        case .invalidBase64URL: 3
        case .invalidJSON: 4
        case .headerNotObject: 5
        case .unsupportedAlgorithm: 6
        case .unsupportedType: 7
        case .criticalExtension: 8
        case .badSignature: 9
        case .claimsNotObject: 10
        case .invalidClaim: 11
        case .expired: 12
        case .notYetValid: 13
        case .issuedInFuture: 14
        case .wrongIssuer: 15
        }
    }

    public var description: String {
        switch self {
        case let .tooLong(byteCount):
            "token of \(byteCount) bytes is longer than \(JSONWebToken.tokenByteCountMax)"
        case let .wrongPartCount(count):
            "token has \(count) dot-separated parts, not 3"
        case let .invalidBase64URL(part):
            "token \(part.rawValue) is not unpadded base64url"
        case let .invalidJSON(part, error):
            "token \(part.rawValue) is not valid JSON: \(error)"
        case .headerNotObject:
            "token header is not a JSON object"
        case let .unsupportedAlgorithm(algorithm):
            "token algorithm \(Self.quoted(algorithm)) is not HS256"
        case let .unsupportedType(type):
            "token type \(Self.quoted(type)) is not JWT"
        case .criticalExtension:
            "token header names critical extensions (crit), which are not supported"
        case .badSignature:
            "token signature does not match"
        case .claimsNotObject:
            "token claims are not a JSON object"
        case let .invalidClaim(name):
            "token claim \(Self.quoted(name)) has the wrong type"
        case let .expired(expiry, now):
            "token expired at \(expiry) (now \(now))"
        case let .notYetValid(notBefore, now):
            "token is not valid before \(notBefore) (now \(now))"
        case let .issuedInFuture(issuedAt, now):
            "token is issued at \(issuedAt), in the future (now \(now))"
        case let .wrongIssuer(issuer):
            "token issuer \(Self.quoted(issuer)) is not the expected one"
        }
    }

    /// Quotes text that came from the token, cut short so a hostile token cannot flood a log.
    static func quoted(_ text: String?) -> String {
        guard let text else { return "(missing)" }
        let limit = 64
        return text.count <= limit ? "\"\(text)\"" : "\"\(text.prefix(limit))…\""
    }
}
