import Crypto
import Testing
import VelocyPack
@testable import Auth

let testSecret = Array("tessera-test-secret-0123456789abcdef".utf8)
let testNow = 1_700_000_100.0

/// Signs arbitrary header and claims text, so tests can make tokens `sign` would never write.
func forge(header: String, claims: String, secret: [UInt8] = testSecret) -> String {
    let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
    let code = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: SymmetricKey(data: secret))
    return signingInput + "." + Base64URL.encode(Array(code))
}

let goodHeader = #"{"alg":"HS256","typ":"JWT"}"#

func verifying(_ token: String, now: Double = testNow, issuer: String = "tessera") -> Result<Slice, JWTError> {
    Result { () throws(JWTError) in try JSONWebToken.verify(token, secret: testSecret, nowSeconds: now, issuer: issuer) }
}

func error(of token: String, now: Double = testNow, issuer: String = "tessera") -> JWTError? {
    if case let .failure(error) = verifying(token, now: now, issuer: issuer) { return error }
    return nil
}

/// Compares errors; for `invalidJSON` only the part and the parser's code, not its offset or detail.
func expectSameError(_ found: JWTError?, _ expected: JWTError, sourceLocation: SourceLocation = #_sourceLocation) {
    if case let .invalidJSON(part, parserError) = expected {
        guard case let .invalidJSON(foundPart, foundError) = found, foundPart == part, foundError.code == parserError.code else {
            Issue.record("got \(String(describing: found)), expected \(expected)", sourceLocation: sourceLocation)
            return
        }
    } else {
        #expect(found == expected, sourceLocation: sourceLocation)
    }
}

@Suite("JSON Web Tokens")
struct JSONWebTokenTests {
    /// Golden values computed independently with Python's hmac, hashlib, base64 and
    /// json.dumps(sort_keys=True, separators=(",", ":")) for the same secret and claims.
    static let userTokenGolden =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoidGVzc2VyYSIsInByZWZlcnJlZF91c2VybmFtZSI6InJvb3QifQ.aQNuRiejlHAjPCGjJAz-I66mW8xKvzOpRxXAo06C3mw"
    static let superuserTokenGolden =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImlzcyI6InRlc3NlcmEiLCJzZXJ2ZXJfaWQiOiJQUk1SLTAwMDEifQ.teOhAY4Yv0TmdY0qi2ml-VLZxcGsWM0TDEm11KmFUX4"

    @Test func userTokenMatchesIndependentlyComputedGolden() {
        let token = JSONWebToken.userToken(user: "root", secret: testSecret, lifetimeSeconds: 3600, now: 1_700_000_000.75)
        #expect(token == Self.userTokenGolden)
    }

    @Test func superuserTokenMatchesIndependentlyComputedGolden() {
        let token = JSONWebToken.superuserToken(serverID: "PRMR-0001", secret: testSecret, now: 1_700_000_000)
        #expect(token == Self.superuserTokenGolden)
    }

    @Test func issuedTokensVerifyAndGiveTheirClaims() throws {
        let claims = try JSONWebToken.verify(Self.userTokenGolden, secret: testSecret, nowSeconds: testNow)
        #expect(claims["preferred_username"]?.stringValue == "root")
        #expect(claims["exp"]?.intValue == 1_700_003_600)
        let cluster = try JSONWebToken.verify(Self.superuserTokenGolden, secret: testSecret, nowSeconds: testNow + 1e8)
        #expect(cluster["server_id"]?.stringValue == "PRMR-0001")
    }

    @Test func signedArbitraryClaimsRoundTrip() throws {
        // Keys in sorted order: the dumper writes objects sorted, so the text comes back unchanged.
        let json = #"{"iss":"tessera","nbf":1700000000,"nested":{"a":[1,2.5,"ü",null,true]}}"#
        let token = JSONWebToken.sign(claims: try JSONParser.parse(json).slice, secret: testSecret)
        let claims = try JSONWebToken.verify(token, secret: testSecret, nowSeconds: testNow)
        #expect(try JSONDumper.dumpString(claims) == json)
    }

    @Test func forgedHelperAgreesWithSign() throws {
        let claims = #"{"iat":1,"iss":"tessera"}"#
        #expect(forge(header: goodHeader, claims: claims)
            == JSONWebToken.sign(claims: try JSONParser.parse(claims).slice, secret: testSecret))
    }

    @Test func otherSecretIsABadSignature() {
        let other = Array("another-secret-of-enough-length-0123456789".utf8)
        let result = Result { () throws(JWTError) in
            try JSONWebToken.verify(Self.userTokenGolden, secret: other, nowSeconds: testNow)
        }
        #expect(result.failureValue == .badSignature)
    }

    @Test func everyAlteredCharacterIsRefused() {
        // Changing any one character of a valid token must make it fail (and never trap).
        let token = Array(Self.superuserTokenGolden.utf8)
        for index in token.indices {
            var altered = token
            altered[index] = altered[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect(error(of: String(decoding: altered, as: UTF8.self)) != nil, "index \(index)")
        }
    }

    @Test(arguments: [
        (#"{"alg":"none","typ":"JWT"}"#, JWTError.unsupportedAlgorithm("none")),
        (#"{"alg":"HS512","typ":"JWT"}"#, .unsupportedAlgorithm("HS512")),
        (#"{"alg":"hs256"}"#, .unsupportedAlgorithm("hs256")),
        (#"{"alg":"RS256"}"#, .unsupportedAlgorithm("RS256")),
        (#"{"typ":"JWT"}"#, .unsupportedAlgorithm(nil)),
        (#"{"alg":256}"#, .unsupportedAlgorithm("(not a string)")),
        (#"{"alg":"HS256","typ":"JOSE+JSON"}"#, .unsupportedType("JOSE+JSON")),
        (#"{"alg":"HS256","crit":["exp"]}"#, .criticalExtension),
        (#"["HS256"]"#, .headerNotObject),
        (#"{"alg":"HS256","alg":"none"}"#, .invalidJSON(.header, VPackError(.duplicateKey, at: 0))),
    ])
    func headerIsChecked(header: String, expected: JWTError) {
        let token = forge(header: header, claims: #"{"iss":"tessera"}"#)
        let found = error(of: token)
        expectSameError(found, expected)
    }

    @Test func headerWithoutTypeIsAccepted() {
        #expect(error(of: forge(header: #"{"alg":"HS256"}"#, claims: #"{"iss":"tessera"}"#)) == nil)
        #expect(error(of: forge(header: #"{"alg":"HS256","typ":"jwt"}"#, claims: #"{"iss":"tessera"}"#)) == nil)
    }

    @Test func algNoneWithoutSignatureIsRefused() {
        let token = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + Base64URL.encode(Array(#"{"iss":"tessera"}"#.utf8)) + "."
        #expect(error(of: token) == .unsupportedAlgorithm("none"))
    }

    @Test func truncatedOrEmptySignatureIsBad() {
        let token = Self.superuserTokenGolden
        let withoutSignature = String(token[...token.lastIndex(of: ".")!])
        #expect(error(of: withoutSignature) == .badSignature)
        #expect(error(of: withoutSignature + "AAAA") == .badSignature)
    }

    @Test(arguments: [
        (#"{"iss":"tessera","exp":1700000100}"#, JWTError.expired(expiry: 1_700_000_100, now: testNow)),
        (#"{"iss":"tessera","exp":1}"#, .expired(expiry: 1, now: testNow)),
        (#"{"iss":"tessera","exp":"2030-01-01"}"#, .invalidClaim("exp")),
        (#"{"iss":"tessera","nbf":1700000161}"#, .notYetValid(notBefore: 1_700_000_161, now: testNow)),
        (#"{"iss":"tessera","nbf":null}"#, .invalidClaim("nbf")),
        (#"{"iss":"tessera","iat":1700000200.5}"#, .issuedInFuture(issuedAt: 1_700_000_200.5, now: testNow)),
        (#"{"iss":"tessera","iat":[1]}"#, .invalidClaim("iat")),
        (#"{"iss":"arangodb"}"#, .wrongIssuer("arangodb")),
        (#"{"iss":["tessera"]}"#, .wrongIssuer("(not a string)")),
        (#"{"preferred_username":"root"}"#, .wrongIssuer(nil)),
        (#"["iss","tessera"]"#, .claimsNotObject),
        (#""tessera""#, .claimsNotObject),
    ])
    func claimsAreChecked(claims: String, expected: JWTError) {
        #expect(error(of: forge(header: goodHeader, claims: claims)) == expected)
    }

    @Test func timeClaimsWithinTheSkewAreAccepted() {
        let claims = #"{"iss":"tessera","exp":1700000100.5,"nbf":1700000160,"iat":1700000160}"#
        #expect(error(of: forge(header: goodHeader, claims: claims)) == nil)
    }

    @Test func expectedIssuerIsAParameter() {
        let token = forge(header: goodHeader, claims: #"{"iss":"arangodb"}"#)
        #expect(error(of: token, issuer: "arangodb") == nil)
        #expect(error(of: Self.superuserTokenGolden, issuer: "arangodb") == .wrongIssuer("tessera"))
    }

    @Test(arguments: [
        ("a.b", JWTError.wrongPartCount(2)),
        ("", .wrongPartCount(1)),
        ("a.b.c.d.e", .wrongPartCount(5)),
        ("eyJhbGciOiJIUzI1NiJ9=.e30.", .invalidBase64URL(.header)),  // padding
        ("eyJhbGciOiJIUzI1NiJ9+.e30.", .invalidBase64URL(.header)),  // standard alphabet
        ("eyJhbGciOiJIUzI1NiJ9.e3 0.AAAA", .badSignature),  // claims are read only after the signature
        ("eyJhbGciOiJIUzI1NiJ9.e30.AAAA!", .invalidBase64URL(.signature)),
        ("eyJhbGciOiJIUzI1NiJ9.e30.A", .invalidBase64URL(.signature)),  // 4k+1 characters
        ("e31.e30.", .invalidBase64URL(.header)),  // "e30" with a non-zero unused bit
        ("e30x.e30.", .invalidJSON(.header, VPackError(.trailingContent, at: 0))),
    ])
    func malformedTokensAreRefused(token: String, expected: JWTError) {
        let found = error(of: token)
        expectSameError(found, expected)
    }

    @Test func malformedBase64ClaimsUnderAValidSignatureAreRefused() {
        let signingInput = Base64URL.encode(Array(goodHeader.utf8)) + ".e3 0"
        let code = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: SymmetricKey(data: testSecret))
        #expect(error(of: signingInput + "." + Base64URL.encode(Array(code))) == .invalidBase64URL(.claims))
    }

    @Test func tooLongTokenIsRefusedBeforeAnythingElse() {
        let padding = String(repeating: "x", count: JSONWebToken.tokenByteCountMax)
        let claims = #"{"iss":"tessera","pad":"\#(padding)"}"#
        let token = forge(header: goodHeader, claims: claims)
        #expect(error(of: token) == .tooLong(byteCount: token.utf8.count))
        #expect(error(of: String(repeating: ".", count: JSONWebToken.tokenByteCountMax + 1))
            == .tooLong(byteCount: JSONWebToken.tokenByteCountMax + 1))
        // Exactly at the limit is still read (and fails later, on its parts).
        #expect(error(of: String(repeating: "A", count: JSONWebToken.tokenByteCountMax)) == .wrongPartCount(1))
    }

    @Test func deeplyNestedClaimsAreRefused() {
        let claims = #"{"iss":"tessera","a":"# + String(repeating: "[", count: 20) + String(repeating: "]", count: 20) + "}"
        guard case .invalidJSON(.claims, _) = error(of: forge(header: goodHeader, claims: claims)) else {
            Issue.record("nesting beyond the limit accepted"); return
        }
    }

    @Test func errorCodesAreStableAndDescriptionsReadable() {
        #expect(JWTError.badSignature.code == 9)
        #expect(JWTError.wrongIssuer(nil).code == 15)
        #expect(JWTError.unsupportedAlgorithm("none").description == #"token algorithm "none" is not HS256"#)
        #expect(JWTError.wrongIssuer(String(repeating: "a", count: 100)).description.count < 110)
    }
}

@Suite("Base64URL")
struct Base64URLTests {
    @Test(arguments: [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),  // RFC 4648 §10 without padding
    ])
    func encodesTheRFC4648Vectors(plain: String, encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(Array(encoded.utf8)) == Array(plain.utf8))
    }

    @Test func everyByteStringUpToThreeBytesRoundTripsThroughTheURLAlphabet() {
        for value in 0..<(1 << 16) {
            let bytes = [UInt8(value >> 8), UInt8(value & 0xff), 0xfb]
            for count in 0...3 {
                let text = Base64URL.encode(bytes.prefix(count))
                #expect(!text.contains("+") && !text.contains("/") && !text.contains("="))
                guard Base64URL.decode(Array(text.utf8)) == Array(bytes.prefix(count)) else {
                    Issue.record("\(bytes.prefix(count)) does not round trip via \(text)"); return
                }
            }
        }
    }

    @Test func nonCanonicalTextIsRefused() {
        #expect(Base64URL.decode(Array("Zh".utf8)) == nil)  // "Zg" with a non-zero unused bit
        #expect(Base64URL.decode(Array("Zm9=".utf8)) == nil)
        #expect(Base64URL.decode(Array("Z".utf8)) == nil)
    }
}

extension Result {
    var failureValue: Failure? {
        if case let .failure(error) = self { return error }
        return nil
    }
}
