import Testing
@testable import VelocyPack

@Suite("Validator sweeps")
struct ValidatorSweepTests {
    /// Reads everything a validated slice offers; a trap here is a validator bug.
    static func walk(_ slice: Slice) {
        _ = slice.byteSize
        _ = slice.normalizedHash()
        switch slice.type {
        case .array:
            for (i, member) in slice.arrayElements.enumerated() {
                precondition(slice[i]?.offset == member.offset, "index access and iteration disagree")
                walk(member)
            }
        case .object:
            for (key, value) in slice.objectMembers {
                precondition(key.keyName != nil, "validated key without a name")
                // Look up by the raw key bytes: a key need not be valid UTF-8.
                let found = key.stringBytes.map { raw in Array(raw).withUnsafeBufferPointer { slice.lookup($0) } }
                    ?? slice[key.keyName!]
                precondition(found != nil, "validated key not found by lookup")
                walk(value)
            }
        case .tagged:
            walk(slice.untagged)
        default:
            _ = slice.intValue
            _ = slice.stringValue
        }
        _ = try? JSONDumper.dump(slice, options: .init(unsupportedTypeBehavior: .null, nonFiniteDoubleBehavior: .null))
    }

    @Test func everyStrictPrefixOfAValidVectorIsRefused() {
        var checked = 0
        for vector in GoldenVectors.valid where vector.bytes.count < 4096 {
            for length in 0..<vector.bytes.count {
                let prefix = Array(vector.bytes[0..<length])
                #expect(throws: VPackError.self, "\(vector.name): prefix of \(length) bytes accepted") {
                    try Validator().validate(prefix)
                }
                checked += 1
            }
        }
        #expect(checked > 1000)
    }

    /// Every single-byte change of every small valid vector either is refused with an error
    /// or gives bytes that can be read in full without a trap.
    @Test func everySingleByteChangeIsRefusedOrReadable() {
        var accepted = 0
        var refused = 0
        for vector in GoldenVectors.valid where vector.bytes.count <= 12 {
            for position in 0..<vector.bytes.count {
                for value in 0...255 where UInt8(value) != vector.bytes[position] {
                    var changed = vector.bytes
                    changed[position] = UInt8(value)
                    if let slice = try? Slice(validating: changed) {
                        Self.walk(slice)
                        accepted += 1
                    } else {
                        refused += 1
                    }
                }
            }
        }
        #expect(accepted > 0 && refused > 0)
    }

    @Test func trailingBytesAreNamedAtTheirOffset() {
        #expect(throws: VPackError(.trailingBytes, at: 1)) { try Validator().validate([0x18, 0x18]) }
        #expect(throws: VPackError(.emptyInput, at: 0)) { try Validator().validate([]) }
        #expect((try? Validator().validatePrefix([0x18, 0x99, 0x99])) == 1)
    }

    @Test func nestingLimitIsExact() throws {
        let depth = 10
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let built = try JSONParser.parse(text).bytes
        #expect(try Validator(options: .init(nestingLimit: depth)).validatePrefix(built) == built.count)
        // Each level is a 2-byte header `02 xx`; the innermost (empty) array is the one too deep.
        #expect(throws: VPackError(.nestingTooDeep, at: 2 * (depth - 1))) {
            try Validator(options: .init(nestingLimit: depth - 1)).validate(built)
        }
    }

    @Test func longTagChainsDoNotExhaustTheStack() {
        var bytes = [UInt8]()
        for _ in 0..<200_000 { bytes += [0xee, 0x01] }
        bytes.append(0x18)
        // Each tag counts as a nesting level, so the chain is refused at the limit.
        #expect(throws: VPackError(.nestingTooDeep, at: 2 * Validator.nestingLimitDefault)) { try Validator().validate(bytes) }
        #expect(throws: VPackError(.tagsNotAllowed, at: 0)) { try Validator(options: .strict).validate(bytes) }
        // Readers walk tag chains in a loop: a trusted deep chain is read without recursion.
        let trusted = Slice(trustedBytes: bytes)
        #expect(trusted.byteSize == bytes.count)
        #expect(trusted.untagged.isNull)
        #expect(trusted.normalizedHash() == Slice(trustedBytes: [0x18]).normalizedHash())
        #expect((try? JSONDumper.dumpString(trusted)) == "null")
    }

    @Test func deeplyNestedHostileInputIsRefusedNotCrashed() {
        // A million nested compact-array heads: refused at the nesting limit, not by the stack.
        let bytes = [UInt8](repeating: 0x13, count: 1_000_000)
        #expect(throws: VPackError.self) { try Validator(options: .init(nestingLimit: 100_000)).validate(bytes) }
        let json = [UInt8](repeating: UInt8(ascii: "["), count: 1_000_000)
        #expect(throws: VPackError(.nestingTooDeep, at: JSONParser.nestingLimitDefault)) { try JSONParser.parse(json) }
    }

    @Test func strictOptionsRefuseWhatRequestsMustNotCarry() throws {
        #expect(throws: VPackError(.invalidUTF8, at: 1)) { try Validator(options: .strict).validate([0x41, 0xff]) }
        #expect(throws: VPackError(.duplicateKey, at: 6)) {
            try Validator(options: .strict).validate(bytes("0b0b02 416131 416132 0306"))
        }
        #expect(throws: VPackError(.customNotAllowed, at: 0)) { try Validator(options: .strict).validate([0xf0, 0x01]) }
        #expect(throws: VPackError(.externalNotAllowed, at: 0)) { try Validator().validate([UInt8](repeating: 0x1d, count: 9)) }
        #expect(throws: Never.self) {
            try Validator(options: .init(allowExternals: true)).validate([0x1d] + [UInt8](repeating: 0, count: 8))
        }
    }
}
