// libFuzzer target: `JSONWebToken.verify`, which reads a token a client or a peer role sends
// (untrusted) and, if it passes, hands its claims to the authorizer.
//
// Input: a mode byte, then the token text.
//   bit 0: the signature check accepts every signature (so the fuzzer reaches the claims
//          checks) or refuses every one;
//   bits 1-7: the current time, `nowBase + mode >> 1` seconds.
//
// The fuzz build has no swift-crypto, so it runs the verification with a signature check
// passed in; the HMAC-SHA256 wrapper around it (`JSONWebToken+HMAC.swift`) adds only the key
// and Crypto's constant-time comparison, and is covered by the unit tests.
//
// Properties beyond "does not crash":
//
// - Order of checks: the signature check is consulted at most once, only for a token of at
//   most `tokenByteCountMax` bytes with three parts and an HS256 header (`typ` absent or JWT,
//   no `crit`), and only with the text of the first two parts and a 32-byte signature whose
//   base64url spelling is canonical. Errors about the claims come only after it said yes.
// - Refusing every signature: no token is accepted.
// - An accepted token's claims: an object with `iss` "tessera"; `exp`, if present, a number
//   after now; `nbf` and `iat`, if present, numbers no later than now plus the clock skew;
//   every base64url part re-encodes to the same text.
// - Round trip: the accepted claims dump to JSON that, under our own header, verifies again to
//   claims that dump to the same JSON.
//
// Build and run with `Fuzz/run.sh` (compiled together with Sources/VelocyPack,
// Sources/VelocyStream and the pure Auth files in one module).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    JWTFuzz.check(input)
    return 0
}

/// Stops the run with a message that names the property; libFuzzer saves the input.
func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzJWT property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum JWTFuzz {
    /// Near the golden tokens' times, so the fuzzer can cross `exp`, `nbf` and `iat` boundaries.
    static let nowBase = 1_700_000_000.0
    static let headerJSON = #"{"alg":"HS256","typ":"JWT"}"#

    struct SignatureCall {
        var signingInput: [UInt8]
        var signature: [UInt8]
    }

    static func verify(_ token: String, now: Double, accept: Bool) -> (Result<Slice, JWTError>, [SignatureCall]) {
        var calls: [SignatureCall] = []
        let result = Result { () throws(JWTError) in
            try JSONWebToken.verify(token, nowSeconds: now) { signingInput, signature in
                calls.append(SignatureCall(signingInput: Array(signingInput), signature: signature))
                return accept
            }
        }
        return (result, calls)
    }

    static func check(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        let accept = mode & 1 == 1
        let now = nowBase + Double(mode >> 1)
        let token = String(decoding: input.dropFirst(), as: UTF8.self)
        let (result, calls) = verify(token, now: now, accept: accept)
        checkOrder(token, result, calls, input)
        if !accept, case .success = result { violated("accepted with every signature refused", input) }
        guard case .success(let claims) = result else { return }
        checkClaims(claims, now: now, input)
        checkCanonicalParts(token, input)
        checkRoundTrip(claims, now: now, input)
    }

    static func checkOrder(_ token: String, _ result: Result<Slice, JWTError>, _ calls: [SignatureCall], _ input: [UInt8]) {
        let bytes = Array(token.utf8)
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard calls.count <= 1 else { violated("signature check consulted \(calls.count) times", input) }
        let preSignature: Bool
        switch result {
        case .success: preSignature = false
        case .failure(let error):
            switch error {
            case .tooLong, .wrongPartCount, .invalidBase64URL(.header), .invalidBase64URL(.signature),
                 .invalidJSON(.header, _), .headerNotObject, .unsupportedAlgorithm, .unsupportedType, .criticalExtension:
                preSignature = true
            case .badSignature:
                // Either the signature had the wrong length (no call) or the check said no.
                preSignature = calls.isEmpty
            default: preSignature = false
            }
        }
        if preSignature {
            guard calls.isEmpty else { violated("signature consulted before \(result)", input) }
            return
        }
        guard let call = calls.first else { violated("\(result) without consulting the signature", input) }
        guard bytes.count <= JSONWebToken.tokenByteCountMax, parts.count == 3 else {
            violated("signature consulted for a token of \(bytes.count) bytes and \(parts.count) parts", input)
        }
        guard call.signingInput == Array(parts[0]) + [UInt8(ascii: ".")] + Array(parts[1]) else {
            violated("signing input is not the first two parts", input)
        }
        guard call.signature.count == JSONWebToken.signatureByteCount,
              Base64URL.encode(call.signature) == String(decoding: parts[2], as: UTF8.self) else {
            violated("signature \(Hex.encode(call.signature)) is not the canonical third part", input)
        }
    }

    static func checkClaims(_ claims: Slice, now: Double, _ input: [UInt8]) {
        guard claims.isObject, claims["iss"]?.stringValue == JSONWebToken.issuerDefault else {
            violated("accepted claims are not an object issued by tessera", input)
        }
        if let expiry = claims["exp"] {
            guard let value = expiry.numberValue, value > now else { violated("accepted exp \(expiry.type) not after \(now)", input) }
        }
        for name in ["nbf", "iat"] {
            if let time = claims[name] {
                guard let value = time.numberValue, value <= now + JSONWebToken.clockSkewSecondsMax else {
                    violated("accepted \(name) \(time.type) later than now plus the skew", input)
                }
            }
        }
    }

    static func checkCanonicalParts(_ token: String, _ input: [UInt8]) {
        for part in Array(token.utf8).split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard let decoded = Base64URL.decode(part), Base64URL.encode(decoded) == String(decoding: part, as: UTF8.self) else {
                violated("accepted token has a part that does not re-encode to itself", input)
            }
        }
    }

    static func checkRoundTrip(_ claims: Slice, now: Double, _ input: [UInt8]) {
        let json: [UInt8]
        do throws(VPackError) {
            json = try JSONDumper.dump(claims)
        } catch {
            violated("accepted claims do not dump to JSON: \(error)", input)
        }
        let signature = [UInt8](repeating: 0, count: JSONWebToken.signatureByteCount)
        let token = Base64URL.encode(Array(headerJSON.utf8)) + "." + Base64URL.encode(json) + "." + Base64URL.encode(signature)
        guard token.utf8.count <= JSONWebToken.tokenByteCountMax else { return }  // re-dumped text may be longer
        let (result, _) = verify(token, now: now, accept: true)
        switch result {
        case .success(let again):
            let jsonAgain = try? JSONDumper.dump(again)
            guard jsonAgain == json else { violated("re-signed claims read back differently", input) }
        case .failure(let error):
            violated("re-signed claims \(String(decoding: json, as: UTF8.self)) refused: \(error)", input)
        }
    }
}
