import Crypto
import CryptoExtras
public import VelocyPack

/// A salted PBKDF2-HMAC-SHA256 password hash (RFC 8018 §5.2), as a user record stores it.
///
/// Stored form, a VelocyPack object (key order free):
///
/// ```
/// {"method": "pbkdf2-sha256", "rounds": 120000, "salt": "<32 hex digits>", "hash": "<64 hex digits>"}
/// ```
///
/// The record holds only the salt and the derived key, never the password; ``verify(_:)``
/// derives again and compares in constant time.
public struct PasswordHash: Sendable, Equatable {
    /// The `method` value of the stored form.
    public static let method = "pbkdf2-sha256"
    /// Bytes of random salt per hash: 128 bits, as NIST SP 800-132 §5.1 asks at the least.
    public static let saltByteCount = 16
    /// Bytes of derived key: one SHA-256 block, so PBKDF2 runs its rounds once (a longer
    /// output would cost the defender more without costing an attacker more).
    public static let hashByteCount = 32
    /// The fewest rounds a stored hash may have. Below this a leaked hash falls to a guessing
    /// attack far too quickly; a record with fewer rounds is corrupt or forged.
    public static let roundsMin = 10_000
    /// The most rounds a stored hash may have: bounds the time one login may burn (about
    /// 1–2 s here), so a forged record cannot stall a connection thread for long.
    public static let roundsMax = 10_000_000
    /// The rounds of new hashes: one verification costs 13–28 ms on the 2-core build machine
    /// (release build, fastest of 10 runs; the spread is load from other processes; a debug
    /// build is about 3× slower). `PasswordHashTests.passwordVerificationCost` prints the figure.
    ///
    /// Trade-off: OWASP's 2023 guidance is 600 000 rounds for PBKDF2-HMAC-SHA256 (70–140 ms
    /// here), and swift-crypto refuses fewer than 210 000 unless called with
    /// `unsafeUncheckedRounds`. Here a client may log in on every connection, and each login
    /// runs the KDF on one of two shared cores, so 600 000 rounds would make a flood of logins
    /// a cheap denial of service. We take 5× fewer rounds (a guess at a leaked hash is 5×
    /// cheaper than OWASP assumes) and keep repeated logins cheap with ``VerifiedPasswordCache``.
    /// Stored hashes name their rounds, so raising this later only affects new passwords.
    public static let roundsDefault = 120_000

    /// The PBKDF2 iteration count.
    public let rounds: Int
    /// The random salt, ``saltByteCount`` bytes.
    public let salt: [UInt8]
    /// The derived key, ``hashByteCount`` bytes.
    public let hash: [UInt8]

    /// A hash from its parts, checked as a stored hash is.
    /// - Throws: ``PasswordHashError`` when a part is out of range.
    public init(rounds: Int, salt: [UInt8], hash: [UInt8]) throws(PasswordHashError) {
        guard (Self.roundsMin...Self.roundsMax).contains(rounds) else { throw .roundsOutOfRange(rounds) }
        guard salt.count == Self.saltByteCount else { throw .wrongByteCount(field: "salt", salt.count) }
        guard hash.count == Self.hashByteCount else { throw .wrongByteCount(field: "hash", hash.count) }
        self.rounds = rounds
        self.salt = salt
        self.hash = hash
    }

    /// Hashes a new password with a fresh random salt from the system's generator.
    /// - Parameters:
    ///   - password: The password as the client sends it (its UTF-8 bytes are hashed).
    ///   - rounds: The PBKDF2 iteration count, in ``roundsMin``...``roundsMax``.
    public static func make(password: String, rounds: Int = roundsDefault) -> PasswordHash {
        var generator = SystemRandomNumberGenerator()
        return make(password: password, rounds: rounds, using: &generator)
    }

    /// Hashes a new password with a salt drawn from `generator` (tests pass a seeded one).
    public static func make(
        password: String, rounds: Int = roundsDefault, using generator: inout some RandomNumberGenerator
    ) -> PasswordHash {
        let salt = (0..<saltByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let hash = derive(password: password, salt: salt, rounds: rounds)
        do throws(PasswordHashError) {
            return try PasswordHash(rounds: rounds, salt: salt, hash: hash.withUnsafeBytes { Array($0) })
        } catch {
            preconditionFailure("rounds \(rounds) for a new password hash: \(error)")
        }
    }

    /// Whether `password` is the password this hash was made from; takes the full KDF time
    /// whatever the answer, and compares in constant time.
    public func verify(_ password: String) -> Bool {
        // SymmetricKey's `==` is swift-crypto's constant-time comparison.
        Self.derive(password: password, salt: salt, rounds: rounds) == SymmetricKey(data: hash)
    }

    static func derive(password: String, salt: [UInt8], rounds: Int) -> SymmetricKey {
        do {
            // `unsafeUncheckedRounds`: the checked call refuses fewer than 210 000 rounds, and our
            // default is lower on purpose (see `roundsDefault`); `init` keeps rounds in range.
            return try KDF.Insecure.PBKDF2.deriveKey(
                from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: hashByteCount,
                unsafeUncheckedRounds: rounds)
        } catch {
            // BoringSSL fails only on allocation failure or absurd parameters, both excluded here.
            preconditionFailure("PBKDF2 failed for \(rounds) rounds: \(error)")
        }
    }

    /// Appends the stored form (an object) to `builder`.
    public func encode(into builder: inout Builder) {
        builder.openObject()
        builder.add(key: "method", Self.method)
        builder.add(key: "rounds", rounds)
        builder.add(key: "salt", Hex.encode(salt))
        builder.add(key: "hash", Hex.encode(hash))
        closeKnownGood(&builder)
    }

    /// Reads and checks a stored form.
    /// - Throws: ``PasswordHashError`` for a value that is not an object, a missing, unknown
    ///   or mistyped member, an unknown method, rounds out of range, or a wrong salt or hash length.
    public init(slice: Slice) throws(PasswordHashError) {
        guard slice.isObject else { throw .notAnObject }
        for (key, _) in slice.objectMembers {
            // Unknown members are refused: a newer format may add one that changes how to verify.
            guard let name = key.keyName, Self.memberNames.contains(name) else {
                throw .unknownMember(key.keyName ?? "(not a string)")
            }
        }
        guard let method = slice["method"] else { throw .missingMember("method") }
        guard method.stringValue == Self.method else { throw .unknownMethod(method.stringValue ?? "(not a string)") }
        guard let roundsValue = slice["rounds"] else { throw .missingMember("rounds") }
        guard let rounds = roundsValue.intValue else { throw .wrongType(field: "rounds") }
        // A rounds value beyond Int's range cannot be in range anyway; clamp to report it.
        try self.init(
            rounds: Int(clamping: rounds), salt: Self.hexMember(slice, "salt"), hash: Self.hexMember(slice, "hash"))
    }

    static let memberNames: Set<String> = ["method", "rounds", "salt", "hash"]

    static func hexMember(_ slice: Slice, _ name: String) throws(PasswordHashError) -> [UInt8] {
        guard let value = slice[name] else { throw .missingMember(name) }
        guard let text = value.stringValue else { throw .wrongType(field: name) }
        do throws(Hex.DecodingError) {
            return try Hex.decode(text)
        } catch {
            throw .invalidHex(field: name)
        }
    }
}

/// Why a stored password hash was refused.
public enum PasswordHashError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAnObject
    case missingMember(String)
    case unknownMember(String)
    case unknownMethod(String)
    case wrongType(field: String)
    case invalidHex(field: String)
    case wrongByteCount(field: String, Int)
    case roundsOutOfRange(Int)

    public var description: String {
        switch self {
        case .notAnObject: "stored password hash is not an object"
        case let .missingMember(name): "stored password hash has no \"\(name)\""
        case let .unknownMember(name): "stored password hash has an unknown member \"\(name)\""
        case let .unknownMethod(method):
            "stored password hash method \"\(method)\" is not \"\(PasswordHash.method)\""
        case let .wrongType(field): "stored password hash \"\(field)\" has the wrong type"
        case let .invalidHex(field): "stored password hash \"\(field)\" is not hex"
        case let .wrongByteCount(field, count):
            "stored password hash \"\(field)\" has \(count) bytes, not "
                + "\(field == "salt" ? PasswordHash.saltByteCount : PasswordHash.hashByteCount)"
        case let .roundsOutOfRange(rounds):
            "stored password hash rounds \(rounds) outside \(PasswordHash.roundsMin)...\(PasswordHash.roundsMax)"
        }
    }
}
