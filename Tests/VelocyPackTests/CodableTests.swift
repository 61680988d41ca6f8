import Testing
import VelocyPack

// MARK: - Types under test

private struct One: Codable, Equatable {
    var a: Int
}

private struct Two: Codable, Equatable {
    var a: Int
    var b: Int
}

private struct Address: Codable, Equatable {
    var street: String
    var zip: UInt32
}

private enum Color: String, Codable, Equatable {
    case red, green
}

private enum Shape: Codable, Equatable {
    case circle(radius: Double)
    case square(side: Int)
    case point(Int, Int)
    case empty
}

private struct Profile: Codable, Equatable {
    var name: String
    var age: UInt8
    var balance: Int64
    var ratio: Double
    var weight: Float
    var active: Bool
    var nickname: String?
    var favorite: Color
    var shapes: [Shape]
    var scores: [String: Int]
    var matrix: [[Int]]
    var address: Address?
    var bytes: [UInt8]
    var big: UInt64
    var small: Int8

    static let sample = Profile(
        name: "Ada", age: 36, balance: -1_234_567_890_123, ratio: 0.125, weight: 61.5, active: true,
        nickname: nil, favorite: .green,
        shapes: [.circle(radius: 1.5), .square(side: 3), .point(-1, 2), .empty],
        scores: ["math": 99, "art": -3, "music": 1000, "latin": 0, "chess": 1 << 40],
        matrix: [[1, 2], [], [3]], address: Address(street: String(repeating: "long street ", count: 20), zip: 10_115),
        bytes: [0, 1, 255], big: .max, small: .min)
}

/// A document with system attributes, which `translateSystemKeys` writes as integer keys.
private struct Document: Codable, Equatable {
    var key: String
    var rev: String
    var name: String

    enum CodingKeys: String, CodingKey {
        case key = "_key"
        case rev = "_rev"
        case name
    }
}

/// A class hierarchy that encodes its superclass through `superEncoder()`.
private class Animal: Codable {
    var name: String
    init(name: String) { self.name = name }
}

private final class Dog: Animal {
    var breed: String

    init(name: String, breed: String) {
        self.breed = breed
        super.init(name: name)
    }

    enum CodingKeys: String, CodingKey { case breed }

    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(breed, forKey: .breed)
        try super.encode(to: container.superEncoder())
    }

    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        breed = try container.decode(String.self, forKey: .breed)
        try super.init(from: container.superDecoder())
    }
}

/// Encodes nothing at all.
private struct Silent: Encodable {
    func encode(to encoder: any Encoder) throws {}
}

private struct Holder<Value: Codable & Equatable>: Codable, Equatable {
    var value: Value
}

private struct OptionalHolder: Codable, Equatable {
    var value: Int?
}

private struct Outer: Codable, Equatable {
    var inner: One
}

private struct SomeFailure: Error, CustomStringConvertible {
    var description: String { "refused on purpose" }
}

private struct Refusing: Encodable {
    func encode(to encoder: any Encoder) throws { throw SomeFailure() }
}

private struct TwiceSingle: Encodable {
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(1)
        try container.encode(2)
    }
}

private struct KeyedAfterUnkeyed: Encodable {
    enum CodingKeys: CodingKey { case a }
    func encode(to encoder: any Encoder) throws {
        var array = encoder.unkeyedContainer()
        try array.encode(1)
        var object = encoder.container(keyedBy: CodingKeys.self)
        try object.encode(2, forKey: .a)
    }
}

/// Encodes key `a` twice and fills two nested containers alternately.
private struct Interleaved: Encodable {
    enum CodingKeys: CodingKey { case a, first, second }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(1, forKey: .a)
        var first = container.nestedUnkeyedContainer(forKey: .first)
        var second = container.nestedUnkeyedContainer(forKey: .second)
        try first.encode(1)
        try second.encode(2)
        try first.encode(3)
        try container.encode(9, forKey: .a)
    }
}

// MARK: - Helpers

private func hex(_ bytes: some Sequence<UInt8>) -> String { Hex.encode(bytes) }

private func built(options: Builder.Options = .default, _ body: (inout Builder) throws -> Void) rethrows -> [UInt8] {
    var builder = Builder(options: options)
    try body(&builder)
    return builder.bytes
}

private func decodingError(_ body: () throws -> Void) -> DecodingError? {
    do {
        try body()
    } catch let error as DecodingError {
        return error
    } catch {
        Issue.record("expected a DecodingError, got \(error)")
        return nil
    }
    Issue.record("expected a DecodingError, got success")
    return nil
}

private func pathNames(_ path: [any CodingKey]) -> [String] {
    path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
}

// MARK: - Encoding

@Suite("Codable encoding")
struct CodableEncodingTests {
    @Test func singleFieldStructIsTheBuildersCompactObject() throws {
        let bytes = try VPackEncoder().encode(One(a: 1))
        #expect(hex(bytes) == "140641613101")
        #expect(bytes == built { $0.openObject(); $0.add(key: "a", 1); try? $0.close() })
    }

    @Test func twoFieldStructIsTheBuildersIndexedObject() throws {
        #expect(hex(try VPackEncoder().encode(Two(a: 1, b: 2))) == "0b0b024161314162320306")
    }

    @Test(arguments: [
        (Int64(300) as any Encodable & Sendable, "212c01"),
        (UInt16(300), "292c01"),
        (Int8(-1), "3f"),
        (Int(-6), "3a"),
        (Int(-7), "20f9"),
        (Int(10), "200a"),
        (UInt(10), "280a"),
        (UInt8(9), "39"),
        (Int64.min, "270000000000000080"),
        (UInt64.max, "2fffffffffffffffff"),
        (Int128(-2), "3e"),
        (UInt128(1) << 63, "2f0000000000000080"),
        (true, "1a"),
        (false, "19"),
        (1.5, "1b000000000000f83f"),
        (Float(0.5), "1b000000000000e03f"),
        ("", "40"),
        ("ab", "426162"),
        (Int?.none, "18"),
        ([UInt8]([1, 2, 3]), "0205313233"),
        ([Int](), "01"),
        ([String: Int](), "0a"),
    ])
    func topLevelValuesGetTheBuildersEncoding(value: any Encodable & Sendable, expected: String) throws {
        #expect(hex(try VPackEncoder().encode(value)) == expected)
    }

    @Test func structBytesEqualTheBuildersForTheSameCalls() throws {
        struct Mixed: Encodable {
            enum CodingKeys: CodingKey { case name, signed, unsigned, list, nested, nothing, absent }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode("x", forKey: .name)
                try container.encode(Int16(300), forKey: .signed)
                try container.encode(UInt16(300), forKey: .unsigned)
                try container.encode([Int8(-1), 0, 100], forKey: .list)
                try container.encode(One(a: 1), forKey: .nested)
                try container.encodeNil(forKey: .nothing)
                try container.encodeIfPresent(Int?.none, forKey: .absent)
            }
        }
        let expected = try built { builder in
            builder.openObject()
            builder.add(key: "name", "x")
            builder.add(key: "signed", Int64(300))
            builder.add(key: "unsigned", UInt64(300))
            builder.add(key: "list")
            builder.openArray()
            builder.add(Int64(-1))
            builder.add(Int64(0))
            builder.add(Int64(100))
            try builder.close()
            builder.add(key: "nested")
            builder.openObject()
            builder.add(key: "a", Int64(1))
            try builder.close()
            builder.add(key: "nothing")
            builder.addNull()
            try builder.close()
        }
        #expect(try VPackEncoder().encode(Mixed()) == expected)
    }

    @Test func builderOptionsChooseTheLayout() throws {
        let options = Builder.Options(buildUnindexedArrays: true, buildUnindexedObjects: true)
        let encoder = VPackEncoder(builderOptions: options)
        let value = Holder(value: [1, 2, 300])
        let expected = try built(options: options) { builder in
            builder.openObject()
            builder.add(key: "value")
            builder.openArray()
            builder.add(Int64(1))
            builder.add(Int64(2))
            builder.add(Int64(300))
            try builder.close()
            try builder.close()
        }
        let bytes = try encoder.encode(value)
        #expect(bytes == expected)
        #expect(bytes.first == 0x14)
        #expect(try VPackDecoder().decode(Holder<[Int]>.self, from: bytes) == value)
    }

    @Test func dictionaryBytesDoNotDependOnInsertionOrder() throws {
        let keys = (0..<40).map { "key\($0 * 7 % 40)" }
        var forward: [String: Int] = [:]
        for (position, key) in keys.enumerated() { forward[key] = position }
        var backward = [String: Int](minimumCapacity: 500)
        for (position, key) in keys.enumerated().reversed() { backward[key] = position }
        let expected = try built { builder in
            builder.openObject()
            for key in forward.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                builder.add(key: key, Int64(forward[key]!))
            }
            try builder.close()
        }
        #expect(try VPackEncoder().encode(forward) == expected)
        #expect(try VPackEncoder().encode(backward) == expected)
    }

    @Test func repeatedKeyKeepsItsPlaceAndTheLastValue() throws {
        let expected = try built { builder in
            builder.openObject()
            builder.add(key: "a", Int64(9))
            builder.add(key: "first")
            builder.openArray()
            builder.add(Int64(1))
            builder.add(Int64(3))
            try builder.close()
            builder.add(key: "second")
            builder.openArray()
            builder.add(Int64(2))
            try builder.close()
            try builder.close()
        }
        #expect(try VPackEncoder().encode(Interleaved()) == expected)
    }

    @Test func systemKeysAreTranslatedWhenTheBuilderIsAskedTo() throws {
        let document = Document(key: "k1", rev: "r1", name: "n")
        let options = Builder.Options(translateSystemKeys: true)
        let slice = try VPackEncoder(builderOptions: options).encodeSlice(document)
        #expect(slice.containsIntegerKeys)
        #expect(slice["_key"]?.stringValue == "k1")
        #expect(try VPackDecoder().decode(Document.self, from: slice) == document)
        #expect(!(try VPackEncoder().encodeSlice(document).containsIntegerKeys))
    }

    @Test func memberThatEncodesNothingIsAnEmptyObject() throws {
        struct Wrapper: Encodable { var silent = Silent() }
        #expect(hex(try VPackEncoder().encode(Wrapper())) == hex(built { builder in
            builder.openObject()
            builder.add(key: "silent")
            builder.openObject()
            try? builder.close()
            try? builder.close()
        }))
    }

    @Test func encodeIntoAppendsToAnOpenObject() throws {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "doc")
        try VPackEncoder().encode(Two(a: 1, b: 2), into: &builder)
        try builder.close()
        #expect(builder.slice.value(atPath: "doc", "b")?.intValue == 2)
    }
}

// MARK: - Round trips

@Suite("Codable round trips")
struct CodableRoundTripTests {
    @Test(arguments: [
        Builder.Options.default,
        Builder.Options(buildUnindexedArrays: true),
        Builder.Options(buildUnindexedObjects: true),
        Builder.Options(buildUnindexedArrays: true, buildUnindexedObjects: true, translateSystemKeys: true),
    ])
    func nestedStructRoundTripsInEveryLayout(options: Builder.Options) throws {
        let bytes = try VPackEncoder(builderOptions: options).encode(Profile.sample)
        #expect(try VPackDecoder().decode(Profile.self, from: bytes) == Profile.sample)
    }

    @Test func bytesOfARoundTripAreStable() throws {
        let bytes = try VPackEncoder().encode(Profile.sample)
        let again = try VPackEncoder().encode(try VPackDecoder().decode(Profile.self, from: bytes))
        #expect(again == bytes)
    }

    @Test func optionalsRoundTripAsAbsentOrPresent() throws {
        for value in [OptionalHolder(value: nil), OptionalHolder(value: 0), OptionalHolder(value: -100)] {
            let bytes = try VPackEncoder().encode(value)
            #expect(try VPackDecoder().decode(OptionalHolder.self, from: bytes) == value)
        }
        // Synthesized conformances leave nil members out.
        #expect(try VPackEncoder().encode(OptionalHolder(value: nil)) == [0x0a])
    }

    @Test func enumsRoundTrip() throws {
        let shapes: [Shape] = [.circle(radius: -0.5), .square(side: 0), .point(Int.min, Int.max), .empty]
        let bytes = try VPackEncoder().encode(shapes)
        #expect(try VPackDecoder().decode([Shape].self, from: bytes) == shapes)
        #expect(try VPackDecoder().decode(Color.self, from: try VPackEncoder().encode(Color.red)) == .red)
    }

    @Test func dictionariesRoundTrip() throws {
        let scores: [String: Int] = ["a": 1, "b": -2, "": 0, "long": Int.max]
        #expect(try VPackDecoder().decode([String: Int].self, from: try VPackEncoder().encode(scores)) == scores)
        let byNumber: [Int: String] = [1: "one", -5: "minus five"]
        #expect(try VPackDecoder().decode([Int: String].self, from: try VPackEncoder().encode(byNumber)) == byNumber)
        let nested: [String: [String: [Int]]] = ["x": ["y": [1, 2]], "z": [:]]
        #expect(try VPackDecoder().decode(type(of: nested), from: try VPackEncoder().encode(nested)) == nested)
    }

    @Test func superclassRoundTripsThroughSuperEncoder() throws {
        let slice = try VPackEncoder().encodeSlice(Dog(name: "Rex", breed: "collie"))
        #expect(slice.value(atPath: "super", "name")?.stringValue == "Rex")
        let dog = try VPackDecoder().decode(Dog.self, from: slice)
        #expect(dog.name == "Rex")
        #expect(dog.breed == "collie")
    }

    @Test func floatsAndDoublesRoundTripExactly() throws {
        let values: [Double] = [0, -0.0, 1e-300, .greatestFiniteMagnitude, .infinity, 0.1]
        #expect(try VPackDecoder().decode([Double].self, from: try VPackEncoder().encode(values)) == values)
        let floats: [Float] = [0.1, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.infinity]
        #expect(try VPackDecoder().decode([Float].self, from: try VPackEncoder().encode(floats)) == floats)
    }
}

// MARK: - Decoding

@Suite("Codable decoding")
struct CodableDecodingTests {
    @Test func translatedKeysAreFoundByName() throws {
        let bytes = try built(options: Builder.Options(translateSystemKeys: true)) { builder in
            builder.openObject()
            builder.add(key: "_key", "abc")
            builder.add(key: "_rev", "1")
            builder.add(key: "name", "x")
            try builder.close()
        }
        let slice = try Slice(validating: bytes)
        #expect(slice.containsIntegerKeys)
        let document = try VPackDecoder().decode(Document.self, from: slice)
        #expect(document == Document(key: "abc", rev: "1", name: "x"))
        let dictionary = try VPackDecoder().decode([String: String].self, from: slice)
        #expect(dictionary == ["_key": "abc", "_rev": "1", "name": "x"])
    }

    /// Values around every width boundary of the integer encodings.
    static let integers: [Int128] = {
        var values: Set<Int128> = [0, 1, -1, 9, 10, -6, -7]
        for bits in stride(from: 7, through: 64, by: 1) {
            let power = Int128(1) << bits
            values.formUnion([power - 1, power, -power, -power - 1])
        }
        return values.filter { $0 >= Int128(Int64.min) && $0 <= Int128(UInt64.max) }.sorted()
    }()

    /// Every encoding the builder has for `value`: signed when it fits Int64, unsigned when
    /// it fits UInt64.
    static func encodings(of value: Int128) -> [[UInt8]] {
        var result: [[UInt8]] = []
        if let signed = Int64(exactly: value) { result.append(built { $0.add(signed) }) }
        if let unsigned = UInt64(exactly: value) { result.append(built { $0.add(unsigned) }) }
        return result
    }

    static func expectDecoding<T: FixedWidthInteger & Decodable>(_ type: T.Type, _ value: Int128, from bytes: [UInt8]) {
        let decoded = Result { try VPackDecoder().decode(T.self, from: bytes) }
        switch (T(exactly: value), decoded) {
        case (let expected?, .success(let actual)):
            #expect(actual == expected, "\(value) as \(T.self) from \(hex(bytes))")
        case (nil, .failure(let error)):
            guard case DecodingError.typeMismatch = error else {
                Issue.record("\(value) as \(T.self): expected typeMismatch, got \(error)")
                return
            }
        case (let expected, let result):
            Issue.record("\(value) as \(T.self) from \(hex(bytes)): expected \(String(describing: expected)), got \(result)")
        }
    }

    @Test func anyIntegerEncodingDecodesIntoEveryTypeItFits() {
        for value in Self.integers {
            for bytes in Self.encodings(of: value) {
                Self.expectDecoding(Int8.self, value, from: bytes)
                Self.expectDecoding(Int16.self, value, from: bytes)
                Self.expectDecoding(Int32.self, value, from: bytes)
                Self.expectDecoding(Int64.self, value, from: bytes)
                Self.expectDecoding(Int.self, value, from: bytes)
                Self.expectDecoding(Int128.self, value, from: bytes)
                Self.expectDecoding(UInt8.self, value, from: bytes)
                Self.expectDecoding(UInt16.self, value, from: bytes)
                Self.expectDecoding(UInt32.self, value, from: bytes)
                Self.expectDecoding(UInt64.self, value, from: bytes)
                Self.expectDecoding(UInt.self, value, from: bytes)
                Self.expectDecoding(UInt128.self, value, from: bytes)
            }
        }
    }

    @Test func integersDecodeIntoDoubleAndFloat() throws {
        let bytes = built { $0.add(Int64(-300)) }
        #expect(try VPackDecoder().decode(Double.self, from: bytes) == -300)
        #expect(try VPackDecoder().decode(Float.self, from: bytes) == -300)
        #expect(try VPackDecoder().decode(Double.self, from: built { $0.add(UInt64.max) }) == 0x1p64)
        // A uint (28-2f) that fits Int64 too: Slice.numberValue misreads these.
        #expect(try VPackDecoder().decode(Double.self, from: built { $0.add(UInt64(300)) }) == 300)
        #expect(try VPackDecoder().decode(Float.self, from: built { $0.add(UInt64(300)) }) == 300)
    }

    @Test func wholeDoubleDecodesIntoAnInteger() throws {
        #expect(try VPackDecoder().decode(Int.self, from: built { $0.add(2.0) }) == 2)
        let error = decodingError { _ = try VPackDecoder().decode(Int.self, from: built { $0.add(2.5) }) }
        guard case .typeMismatch? = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test func explicitNullDecodesAsNil() throws {
        let bytes = try built { builder in
            builder.openObject()
            builder.add(key: "value")
            builder.addNull()
            try builder.close()
        }
        #expect(try VPackDecoder().decode(OptionalHolder.self, from: bytes) == OptionalHolder(value: nil))
        #expect(try VPackDecoder().decode([Int?].self, from: try VPackEncoder().encode([1, nil, 3])) == [1, nil, 3])
    }

    @Test func taggedValueDecodesAsTheValueInside() throws {
        let inner = built { $0.add(Int64(42)) }
        let bytes = built { $0.add(tag: 7, Slice(trustedBytes: inner)) }
        #expect(bytes.first == 0xee)
        #expect(try VPackDecoder().decode(Int.self, from: bytes) == 42)
    }

    @Test func unkeyedContainerRetriesAMemberThatFailedToDecode() throws {
        struct Flexible: Decodable, Equatable {
            var values: [String]
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                values = []
                while !container.isAtEnd {
                    if let number = try? container.decode(Int.self) {
                        values.append("\(number)")
                    } else {
                        values.append(try container.decode(String.self))
                    }
                }
            }
        }
        let bytes = try built { builder in
            builder.openArray()
            builder.add(Int64(1))
            builder.add("two")
            try builder.close()
        }
        #expect(try VPackDecoder().decode(Flexible.self, from: bytes).values == ["1", "two"])
    }
}

// MARK: - Errors

@Suite("Codable errors")
struct CodableErrorTests {
    @Test func typeMismatchNamesTheCodingPath() throws {
        let bytes = try built { builder in
            builder.openObject()
            builder.add(key: "inner")
            builder.openObject()
            builder.add(key: "a", "not a number")
            try builder.close()
            try builder.close()
        }
        let error = decodingError { _ = try VPackDecoder().decode(Outer.self, from: bytes) }
        guard case .typeMismatch(_, let context)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(pathNames(context.codingPath) == ["inner", "a"])
    }

    @Test func missingKeyIsKeyNotFound() throws {
        let bytes = try VPackEncoder().encode(One(a: 1))
        let error = decodingError { _ = try VPackDecoder().decode(Two.self, from: bytes) }
        guard case .keyNotFound(let key, let context)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(key.stringValue == "b")
        #expect(context.codingPath.isEmpty)
    }

    @Test func integerOverflowIsATypeMismatchAtItsPath() throws {
        let object = try VPackEncoder().encode(Holder(value: 300))
        let error = decodingError { _ = try VPackDecoder().decode(Holder<UInt8>.self, from: object) }
        guard case .typeMismatch(_, let context)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(pathNames(context.codingPath) == ["value"])

        let array = try VPackEncoder().encode([1, 300])
        let arrayError = decodingError { _ = try VPackDecoder().decode([UInt8].self, from: array) }
        guard case .typeMismatch(_, let arrayContext)? = arrayError else {
            Issue.record("got \(String(describing: arrayError))")
            return
        }
        #expect(pathNames(arrayContext.codingPath) == ["[1]"])

        let negative = try VPackEncoder().encode(-1)
        guard case .typeMismatch? = decodingError({ _ = try VPackDecoder().decode(UInt.self, from: negative) }) else {
            Issue.record("-1 decoded into UInt")
            return
        }
    }

    @Test func wrongTypeForAnOptionalIsStillAnError() throws {
        let bytes = try VPackEncoder().encode(Holder(value: "x"))
        guard case .typeMismatch? = decodingError({ _ = try VPackDecoder().decode(OptionalHolder.self, from: bytes) }) else {
            Issue.record("a string decoded into Int?")
            return
        }
    }

    @Test func nullForARequiredValueIsValueNotFound() throws {
        let bytes = try VPackEncoder().encode([Int?.none])
        guard case .valueNotFound? = decodingError({ _ = try VPackDecoder().decode([Int].self, from: bytes) }) else {
            Issue.record("null decoded into Int")
            return
        }
    }

    @Test func arrayWhereAnObjectIsExpectedIsATypeMismatch() throws {
        let bytes = try VPackEncoder().encode([1, 2])
        guard case .typeMismatch? = decodingError({ _ = try VPackDecoder().decode(Two.self, from: bytes) }) else {
            Issue.record("an array decoded into a struct")
            return
        }
    }

    @Test func readingPastTheEndOfAnArrayIsValueNotFound() throws {
        struct Pair: Decodable {
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                _ = try container.decode(Int.self)
                _ = try container.decode(Int.self)
            }
        }
        let bytes = try VPackEncoder().encode([1])
        guard case .valueNotFound(_, let context)? = decodingError({ _ = try VPackDecoder().decode(Pair.self, from: bytes) }) else {
            Issue.record("read past the end")
            return
        }
        #expect(pathNames(context.codingPath) == ["[1]"])
    }

    @Test(arguments: [
        ([UInt8](), VPackError.Code.emptyInput),
        ([0x41], .truncated),
        ([0x31, 0x31], .trailingBytes),
        ([0x0b, 0x03, 0x01], .invalidByteLength),
        ([0x15], .reservedHead),
    ])
    func invalidBytesAreRefusedByTheValidator(bytes: [UInt8], code: VPackError.Code) {
        let error = #expect(throws: VPackError.self) { _ = try VPackDecoder().decode(Int.self, from: bytes) }
        #expect(error?.code == code)
    }

    @Test func singleValueEncodedTwiceIsBuilderMisuse() {
        let error = #expect(throws: VPackError.self) { _ = try VPackEncoder().encode(TwiceSingle()) }
        #expect(error?.code == .builderMisuse)
    }

    @Test func keyedContainerAfterUnkeyedIsBuilderMisuse() {
        let error = #expect(throws: VPackError.self) { _ = try VPackEncoder().encode(KeyedAfterUnkeyed()) }
        #expect(error?.code == .builderMisuse)
    }

    @Test func topLevelValueThatEncodesNothingIsBuilderMisuse() {
        let error = #expect(throws: VPackError.self) { _ = try VPackEncoder().encode(Silent()) }
        #expect(error?.code == .builderMisuse)
    }

    @Test func integerBeyondSixtyFourBitsIsUnsupported() {
        let error = #expect(throws: VPackError.self) { _ = try VPackEncoder().encode(Holder(value: Int128(1) << 64)) }
        #expect(error?.code == .unsupportedType)
        #expect(error?.detail.contains(".value") == true)
    }

    @Test func errorThrownByTheValueIsReportedAsUnsupportedType() {
        let error = #expect(throws: VPackError.self) { _ = try VPackEncoder().encode([Refusing()]) }
        #expect(error?.code == .unsupportedType)
        #expect(error?.detail.contains("refused on purpose") == true)
    }

    @Test func encodingIntoABuilderThatWaitsForAKeyIsBuilderMisuse() {
        var builder = Builder()
        builder.openObject()
        let error = #expect(throws: VPackError.self) { try VPackEncoder().encode(1, into: &builder) }
        #expect(error?.code == .builderMisuse)
        #expect(builder.bytes.count == 9)
    }
}
