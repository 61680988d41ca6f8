import Testing
import VelocyPack
@testable import Auth

/// A predictable generator: salt quality does not matter to these tests, only that the same
/// generator state gives the same salt.
struct CountingGenerator: RandomNumberGenerator {
    var value: UInt64
    mutating func next() -> UInt64 { value &+= 0x0101_0101_0101_0101; return value }
}

/// The fewest rounds allowed keeps the suite fast; the cost of the default is measured apart.
let testRounds = PasswordHash.roundsMin

func storedForm(_ hash: PasswordHash) -> Slice {
    var builder = Builder()
    hash.encode(into: &builder)
    return builder.slice
}

/// A value to put into a stored form in place of the encoded one.
enum MemberValue: Sendable {
    case string(String), int(Int), double(Double), absent
}

/// A stored form with one member replaced (or removed), keys otherwise as encoded.
func storedForm(_ hash: PasswordHash, replacing name: String, with value: MemberValue) -> Slice {
    var builder = Builder()
    builder.openObject()
    for (key, member) in storedForm(hash).objectMembers where key.keyName != name { builder.add(key: key.keyName!, member) }
    switch value {
    case let .string(text): builder.add(key: name, text)
    case let .int(number): builder.add(key: name, number)
    case let .double(number): builder.add(key: name, number)
    case .absent: break
    }
    try! builder.close()
    return builder.slice
}

@Suite("Password hashes")
struct PasswordHashTests {
    @Test func derivesTheRFC8018KnownAnswer() throws {
        // Golden value from Python's hashlib.pbkdf2_hmac("sha256", b"password", bytes(range(16)), 10000).
        let hash = PasswordHash.derive(password: "password", salt: Array(0..<16), rounds: 10_000)
        #expect(hash.withUnsafeBytes { Hex.encode($0) } == "eb6c81535592203c092b158f8d3909672362a6f5dbd00d9828044cbaa8b252e9")
    }

    @Test func rightPasswordVerifiesWrongOneDoesNot() {
        let hash = PasswordHash.make(password: "correct horse", rounds: testRounds)
        #expect(hash.verify("correct horse"))
        #expect(!hash.verify("correct horsE"))
        #expect(!hash.verify(""))
        #expect(!hash.verify("correct horse "))
    }

    @Test func saltsDifferBetweenHashesOfOnePassword() {
        let first = PasswordHash.make(password: "same", rounds: testRounds)
        let second = PasswordHash.make(password: "same", rounds: testRounds)
        #expect(first.salt != second.salt)
        #expect(first.hash != second.hash)
    }

    @Test func storedFormRoundTrips() throws {
        var generator = CountingGenerator(value: 7)
        let hash = PasswordHash.make(password: "pässwörd", rounds: testRounds, using: &generator)
        var sameGenerator = CountingGenerator(value: 7)
        #expect(PasswordHash.make(password: "pässwörd", rounds: testRounds, using: &sameGenerator) == hash)
        let slice = storedForm(hash)
        #expect(slice["method"]?.stringValue == "pbkdf2-sha256")
        #expect(slice["rounds"]?.intValue == Int64(testRounds))
        #expect(slice["salt"]?.stringValue?.utf8.count == 32)
        #expect(slice["hash"]?.stringValue?.utf8.count == 64)
        let read = try PasswordHash(slice: slice)
        #expect(read == hash)
        #expect(read.verify("pässwörd"))
    }

    @Test(arguments: [
        ("method", MemberValue.string("pbkdf2-sha512"), PasswordHashError.unknownMethod("pbkdf2-sha512")),
        ("method", .int(1), .unknownMethod("(not a string)")),
        ("method", .absent, .missingMember("method")),
        ("rounds", .int(9_999), .roundsOutOfRange(9_999)),
        ("rounds", .int(10_000_001), .roundsOutOfRange(10_000_001)),
        ("rounds", .int(-1), .roundsOutOfRange(-1)),
        ("rounds", .double(1e5), .wrongType(field: "rounds")),
        ("rounds", .string("100000"), .wrongType(field: "rounds")),
        ("salt", .string("00112233445566778899aabbccddee"), .wrongByteCount(field: "salt", 15)),
        ("salt", .string("zz112233445566778899aabbccddeeff"), .invalidHex(field: "salt")),
        ("salt", .absent, .missingMember("salt")),
        ("hash", .string(String(repeating: "ab", count: 33)), .wrongByteCount(field: "hash", 33)),
        ("hash", .int(5), .wrongType(field: "hash")),
        ("pepper", .string("x"), .unknownMember("pepper")),
    ])
    func tamperedStoredFormIsRefused(field: String, value: MemberValue, expected: PasswordHashError) {
        let hash = PasswordHash.make(password: "p", rounds: testRounds)
        #expect(throws: expected) { try PasswordHash(slice: storedForm(hash, replacing: field, with: value)) }
    }

    @Test func nonObjectStoredFormIsRefused() {
        #expect(throws: PasswordHashError.notAnObject) { try PasswordHash(slice: try JSONParser.parse("[1]").slice) }
    }

    @Test func changedHashOrSaltNoLongerVerifies() throws {
        let hash = PasswordHash.make(password: "p", rounds: testRounds)
        var flippedHash = hash.hash
        flippedHash[31] ^= 1
        var flippedSalt = hash.salt
        flippedSalt[0] ^= 0x80
        #expect(!(try PasswordHash(rounds: hash.rounds, salt: hash.salt, hash: flippedHash)).verify("p"))
        #expect(!(try PasswordHash(rounds: hash.rounds, salt: flippedSalt, hash: hash.hash)).verify("p"))
        #expect(!(try PasswordHash(rounds: hash.rounds + 1, salt: hash.salt, hash: hash.hash)).verify("p"))
    }

    @Test func errorsDescribeThemselves() {
        #expect(PasswordHashError.roundsOutOfRange(5).description == "stored password hash rounds 5 outside 10000...10000000")
        #expect(PasswordHashError.wrongByteCount(field: "salt", 3).description == "stored password hash \"salt\" has 3 bytes, not 16")
    }

    /// Measures one verification at the default rounds and prints it (the figure behind
    /// `PasswordHash.roundsDefault`). Bounds are loose: only a gross regression fails, such as
    /// rounds mistakenly multiplied by ten.
    @Test func passwordVerificationCost() {
        let hash = PasswordHash.make(password: "measure me")
        let clock = ContinuousClock()
        var fastest = Duration.seconds(1000)
        for _ in 0..<5 {
            let elapsed = clock.measure { #expect(hash.verify("measure me")) }
            fastest = min(fastest, elapsed)
        }
        print("PasswordHash: one verification at \(PasswordHash.roundsDefault) rounds takes \(fastest)")
        #expect(fastest < .milliseconds(500))
    }
}

@Suite("Verified password cache")
struct VerifiedPasswordCacheTests {
    @Test func secondLoginIsAHit() {
        let cache = VerifiedPasswordCache()
        let hash = PasswordHash.make(password: "secret", rounds: testRounds)
        #expect(cache.verify(user: "root", password: "secret", against: hash))
        #expect(cache.statistics == .init(hits: 0, misses: 1))
        #expect(cache.verify(user: "root", password: "secret", against: hash))
        #expect(cache.statistics == .init(hits: 1, misses: 1))
    }

    @Test func wrongPasswordIsAMissAndIsNotRemembered() {
        let cache = VerifiedPasswordCache()
        let hash = PasswordHash.make(password: "secret", rounds: testRounds)
        #expect(!cache.verify(user: "root", password: "guess", against: hash))
        #expect(!cache.verify(user: "root", password: "guess", against: hash))
        #expect(cache.count == 0)
        #expect(cache.statistics == .init(hits: 0, misses: 2))
        // A wrong password after a right one is still refused, and the right entry stays.
        #expect(cache.verify(user: "root", password: "secret", against: hash))
        #expect(!cache.verify(user: "root", password: "guess", against: hash))
        #expect(cache.verify(user: "root", password: "secret", against: hash))
        #expect(cache.statistics == .init(hits: 1, misses: 4))
    }

    @Test func changedStoredHashInvalidatesTheEntry() {
        let cache = VerifiedPasswordCache()
        let old = PasswordHash.make(password: "old", rounds: testRounds)
        #expect(cache.verify(user: "root", password: "old", against: old))
        // The password changes: the old password must not pass against the new record.
        let new = PasswordHash.make(password: "new", rounds: testRounds)
        #expect(!cache.verify(user: "root", password: "old", against: new))
        #expect(cache.verify(user: "root", password: "new", against: new))
        #expect(cache.verify(user: "root", password: "new", against: new))
        #expect(cache.statistics == .init(hits: 1, misses: 3))
        // Re-hashing the same password (new salt) also forces one slow verification.
        let rehashed = PasswordHash.make(password: "new", rounds: testRounds)
        #expect(cache.verify(user: "root", password: "new", against: rehashed))
        #expect(cache.statistics == .init(hits: 1, misses: 4))
    }

    @Test func entriesAreKeptPerUser() {
        let cache = VerifiedPasswordCache()
        let hash = PasswordHash.make(password: "shared", rounds: testRounds)
        #expect(cache.verify(user: "alice", password: "shared", against: hash))
        #expect(cache.verify(user: "bob", password: "shared", against: hash))
        #expect(cache.statistics == .init(hits: 0, misses: 2))
        cache.remove(user: "alice")
        #expect(cache.verify(user: "bob", password: "shared", against: hash))
        #expect(cache.verify(user: "alice", password: "shared", against: hash))
        #expect(cache.statistics == .init(hits: 1, misses: 3))
    }

    @Test func leastRecentlyUsedUserMakesRoom() {
        let cache = VerifiedPasswordCache(capacity: 2)
        let hash = PasswordHash.make(password: "p", rounds: testRounds)
        #expect(cache.verify(user: "a", password: "p", against: hash))
        #expect(cache.verify(user: "b", password: "p", against: hash))
        #expect(cache.verify(user: "a", password: "p", against: hash))  // a is now the most recent
        #expect(cache.verify(user: "c", password: "p", against: hash))  // evicts b
        #expect(cache.count == 2)
        #expect(cache.statistics == .init(hits: 1, misses: 3))
        #expect(cache.verify(user: "a", password: "p", against: hash))
        #expect(cache.verify(user: "c", password: "p", against: hash))
        #expect(cache.statistics == .init(hits: 3, misses: 3))
        #expect(cache.verify(user: "b", password: "p", against: hash))
        #expect(cache.statistics == .init(hits: 3, misses: 4))
    }

    @Test func concurrentLoginsAgree() async {
        let cache = VerifiedPasswordCache(capacity: 4)
        let hash = PasswordHash.make(password: "p", rounds: testRounds)
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<32 {
                group.addTask { cache.verify(user: "user\(index % 6)", password: index % 5 == 0 ? "x" : "p", against: hash) }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { !$0 }.count == 7)  // indices 0, 5, …, 30
        #expect(cache.count <= 4)
        let statistics = cache.statistics
        #expect(statistics.hits + statistics.misses == 32)
    }
}
