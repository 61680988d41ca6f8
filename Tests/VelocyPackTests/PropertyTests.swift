import Testing
@testable import VelocyPack

/// A plain model of a JSON-like value, to compare what was built with what is read back.
indirect enum Model: Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([Model])
    case object([(String, Model)])

    static func == (lhs: Model, rhs: Model) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.int(a), .int(b)): a == b
        case let (.uint(a), .uint(b)): a == b
        case let (.double(a), .double(b)): a.bitPattern == b.bitPattern
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.object(a), .object(b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    static let keyPool = ["a", "b", "_key", "_id", "_rev", "_from", "_to", "name", "zz", "",
                          "ä", "long-" + String(repeating: "k", count: 130), "k1", "k10", "k2"]

    /// A random value; depth and size are bounded so every test stays small.
    static func random(_ generator: inout SeededGenerator, depth: Int = 0) -> Model {
        let choice = generator.next() % (depth > 4 ? 6 : 9)
        switch choice {
        case 0: return .null
        case 1: return .bool(generator.next() % 2 == 0)
        case 2:
            let shift = generator.next() % 64
            return .int(Int64(bitPattern: generator.next()) >> Int64(shift))
        case 3: return .uint(generator.next() >> (generator.next() % 64))
        case 4:
            let bits = generator.next()
            let value = Double(bitPattern: bits)
            return .double(value.isFinite ? value : Double(Int64(bitPattern: bits) >> 11))
        case 5:
            let length = [0, 1, 5, 126, 127, 300][Int(generator.next() % 6)]
            let alphabet = Array("aé😀\"\\\n\u{1}z")
            return .string(String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }))
        case 6, 7:
            // Large arrays only at the top, so a tree stays at a few thousand values.
            let sizes = depth == 0 ? [0, 1, 2, 3, 10, 40, 300] : [0, 1, 2, 3, 5]
            let count = sizes[Int(generator.next() % UInt64(sizes.count))]
            if generator.next() % 3 == 0 {
                // Equal-size members: the unindexed layouts.
                return .array((0..<count).map { _ in .uint(generator.next() % 10) })
            }
            return .array((0..<count).map { _ in random(&generator, depth: depth + 1) })
        default:
            var pairs: [(String, Model)] = []
            var used: Set<String> = []
            for _ in 0..<Int(generator.next() % (depth == 0 ? 20 : 6)) {
                let key = generator.next() % 3 == 0 ? "key\(generator.next() % 1000)" : keyPool[Int(generator.next() % UInt64(keyPool.count))]
                if used.insert(key).inserted { pairs.append((key, random(&generator, depth: depth + 1))) }
            }
            return .object(pairs)
        }
    }

    func build(into builder: inout Builder) {
        switch self {
        case .null: builder.addNull()
        case .bool(let value): builder.add(value)
        case .int(let value): builder.add(value)
        case .uint(let value): builder.add(value)
        case .double(let value): builder.add(value)
        case .string(let value): builder.add(value)
        case .array(let members):
            builder.openArray()
            for member in members { member.build(into: &builder) }
            try! builder.close()  // no uniqueness check is asked for in arrays
        case .object(let pairs):
            builder.openObject()
            for (key, value) in pairs {
                builder.add(key: key)
                value.build(into: &builder)
            }
            do {
                try builder.close()
            } catch {
                preconditionFailure("model keys are unique: \(error)")
            }
        }
    }

    /// Checks that `slice` holds this value, through every reading path.
    func matches(_ slice: Slice) -> Bool {
        switch self {
        case .null: return slice.isNull
        case .bool(let value): return slice.boolValue == value
        case .int(let value): return slice.intValue == value && slice.type != .uint
        case .uint(let value): return slice.uintValue == value && slice.type != .int
        case .double(let value): return slice.doubleValue?.bitPattern == value.bitPattern
        case .string(let value): return slice.stringValue == value
        case .array(let members):
            guard slice.isArray, slice.count == members.count else { return false }
            let iterated = Array(slice.arrayElements)
            for (i, member) in members.enumerated() {
                guard let indexed = slice[i], member.matches(indexed), member.matches(iterated[i]) else { return false }
            }
            return true
        case .object(let pairs):
            guard slice.isObject, slice.count == pairs.count else { return false }
            for (key, value) in pairs {
                guard let found = slice[key], value.matches(found) else { return false }
            }
            return Array(slice.objectMembers).count == pairs.count
        }
    }

    /// JSON text for this value (doubles in Swift's shortest form).
    var jsonText: String {
        switch self {
        case .null: "null"
        case .bool(let value): value ? "true" : "false"
        case .int(let value): String(value)
        case .uint(let value): String(value)
        case .double(let value): value.description
        case .string(let value): Model.quote(value)
        case .array(let members): "[" + members.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let pairs): "{" + pairs.map { Model.quote($0.0) + ":" + $0.1.jsonText }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\u{1}": result += "\\u0001"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

@Suite("Round-trip properties")
struct PropertyTests {
    static let builderOptions: [Builder.Options] = [
        .default,
        .init(buildUnindexedArrays: true),
        .init(buildUnindexedObjects: true),
        .init(buildUnindexedArrays: true, buildUnindexedObjects: true, checkAttributeUniqueness: true),
        .init(translateSystemKeys: true),
    ]

    @Test("random values: build, validate, read back equal", arguments: 0..<5)
    func buildValidateReadBack(optionIndex: Int) throws {
        var generator = SeededGenerator(seed: 0x7e55e7a + UInt64(optionIndex))
        let validator = Validator(options: .init(validateUTF8: true, checkUniqueKeys: true))
        for round in 0..<150 {
            let model = Model.random(&generator)
            var builder = Builder(options: Self.builderOptions[optionIndex])
            model.build(into: &builder)
            do {
                try validator.validate(builder.bytes)
            } catch {
                Issue.record("seed round \(round): built bytes do not validate: \(error) for \(model.jsonText.prefix(200))")
                continue
            }
            #expect(model.matches(Slice(trustedBytes: builder.bytes)), "round \(round): read back differs")
            #expect(builder.slice.byteSize == builder.bytes.count)
        }
    }

    @Test("JSON → VelocyPack → JSON → VelocyPack is stable")
    func jsonRoundTripIsStable() throws {
        var generator = SeededGenerator(seed: 20_261_121)
        for round in 0..<300 {
            let model = Model.random(&generator)
            // The first dump may change the text (an integral double 1.0 is written as 1);
            // from then on text and bytes must stay fixed.
            let first = try JSONParser.parse(model.jsonText)
            let dumped = try JSONDumper.dump(first.slice)
            let second = try JSONParser.parse(dumped)
            #expect(semanticallyEqual(first.slice, second.slice), "round \(round): value changed")
            let dumpedAgain = try JSONDumper.dump(second.slice)
            #expect(dumpedAgain == dumped, "round \(round): dump is not stable")
            #expect(try JSONParser.parse(dumpedAgain).bytes == second.bytes, "round \(round): bytes not stable")
        }
    }

    @Test func builderMatchesTheParserForTheSameValue() throws {
        var generator = SeededGenerator(seed: 99)
        for _ in 0..<200 {
            let model = Model.random(&generator)
            var builder = Builder()
            model.build(into: &builder)
            let parsed = try JSONParser.parse(model.jsonText)
            // The parser types non-negative integers as unsigned; compare by meaning, and by
            // bytes when the model has no signed non-negative integers.
            #expect(semanticallyEqual(builder.slice, parsed.slice))
            #expect(builder.slice.normalizedHash() == parsed.slice.normalizedHash())
        }
    }
}
