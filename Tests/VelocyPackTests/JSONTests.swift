import Testing
@testable import VelocyPack

@Suite("JSON parser")
struct JSONParserTests {
    /// The reference parser's number typing, byte for byte.
    @Test(arguments: [
        ("0", "30"), ("9", "39"), ("10", "280a"), ("255", "28ff"), ("256", "290001"),
        ("-1", "3f"), ("-6", "3a"), ("-7", "20f9"), ("-128", "2080"), ("-129", "217fff"),
        ("-32769", "22ff7fff"), ("4294967295", "2bffffffff"),
        ("18446744073709551615", "2fffffffffffffffff"), ("-9223372036854775808", "270000000000000080"),
        ("-9223372036854775809", "1b000000000000e0c3"), ("18446744073709551616", "1b000000000000f043"),
        ("-0", "30"), ("0.0", "1b0000000000000000"), ("1.5", "1b000000000000f83f"),
        ("1e2", "1b0000000000005940"), ("-0.0", "1b0000000000000080"), ("0.1", "1b9a9999999999b93f"),
        ("123456789012345678901234567890", "a double"),
    ])
    func numbersAreTypedAsTheReferenceTypesThem(_ text: String, _ expected: String) throws {
        if text.count > 25 {
            // Beyond 64 bits: a correctly rounded double.
            #expect(try vpack(text).doubleValue == 123456789012345678901234567890.0)
        } else {
            #expect(hex(try vpack(text)) == expected)
        }
    }

    @Test func doublesAreCorrectlyRounded() throws {
        for text in ["0.30000000000000004", "0.1234567", "2.2250738585072014e-308", "4.9e-324", "1.7976931348623157e308",
                     "9007199254740993", "0.05967496717175833", "123456.789e-3", "1e-400"] {
            let expected = Double(text)!
            #expect(try vpack(text).numberValue == expected, "\(text)")
        }
    }

    @Test func escapesAndSurrogatesBecomeUTF8() throws {
        #expect(hex(try vpack(#""\u00e4""#)) == "42c3a4")
        #expect(hex(try vpack(#""\ud83d\ude00""#)) == "44f09f9880")
        #expect(try vpack(#""a\"b\\c\/d\b\f\n\r\t""#).stringValue == "a\"b\\c/d\u{8}\u{c}\n\r\t")
        // A lone surrogate keeps its 3-byte form unless UTF-8 is validated.
        #expect(hex(try vpack(#""\udc00""#)) == "43edb080")
        #expect(throws: VPackError(.invalidSurrogate, at: 1)) {
            try JSONParser.parse(#""\udc00""#, options: .init(validateUTF8: true))
        }
    }

    @Test func stringsChangeToTheLongFormAfter126Bytes() throws {
        for length in [125, 126, 127, 128, 1000] {
            let text = String(repeating: "é", count: length / 2) + String(repeating: "x", count: length % 2)
            let slice = try vpack("[\"" + text + "\", 1]")
            #expect(slice[0]?.stringValue == text)
            #expect(slice[0]?.head == (length <= 126 ? 0x40 + UInt8(length) : 0xbf))
            #expect(slice[1]?.uintValue == 1)
        }
    }

    /// Strings with escapes take the slow path, which learns the length only at the closing
    /// quote: the long form must appear exactly from 127 decoded bytes, whatever the raw length.
    @Test(arguments: [120, 126, 127, 128, 300])
    func escapedStringsChangeToTheLongFormAfter126DecodedBytes(_ length: Int) throws {
        // "\n" is 2 raw bytes for 1 decoded; "\u00e4" is 6 raw bytes for 2 decoded.
        let plain = "\\n" + String(repeating: "x", count: length - 3) + "\\u00e4"
        let expected = "\n" + String(repeating: "x", count: length - 3) + "ä"
        let slice = try vpack("[\"" + plain + "\", 1]")
        #expect(slice[0]?.stringValue == expected)
        #expect(slice[0]?.head == (length <= 126 ? 0x40 + UInt8(length) : 0xbf))
        #expect(slice[1]?.uintValue == 1)
    }

    @Test func byteOrderMarkAndWhitespaceAreSkipped() throws {
        #expect(hex(try JSONParser.parse([0xef, 0xbb, 0xbf] + Array(" \t\r\n[ 1 , 2 ]\n ".utf8)).slice) == "02043132")
    }

    @Test func multipleValuesNeedTheOption() throws {
        #expect(throws: VPackError(.trailingContent, at: 2)) { try JSONParser.parse("1 2") }
        let builder = try JSONParser.parse("1 [2] {}", options: .init(allowMultipleValues: true))
        #expect(Hex.encode(builder.bytes) == "310203320a")
    }

    @Test func nestingLimitIsExact() throws {
        let ok = String(repeating: "[", count: 5) + String(repeating: "]", count: 5)
        #expect(throws: Never.self) { try JSONParser.parse(ok, options: .init(nestingLimit: 5)) }
        #expect(throws: VPackError(.nestingTooDeep, at: 4)) { try JSONParser.parse(ok, options: .init(nestingLimit: 4)) }
    }

    @Test func duplicateKeysAreKeptUnlessRefused() throws {
        #expect(hex(try vpack(#"{"a":1,"a":2}"#)) == "0b0b024161314161320306")
        #expect(throws: VPackError(.duplicateKey, at: 12)) {
            try JSONParser.parse(#"{"a":1,"a":2}"#, options: .init(rejectDuplicateKeys: true))
        }
    }

    @Test func invalidUTF8IsRefusedOnlyWhenAsked() throws {
        let text: [UInt8] = [0x22, 0x61, 0xc3, 0x28, 0x22]
        #expect(try JSONParser.parse(text).slice.stringBytes.map(Array.init) == [0x61, 0xc3, 0x28])
        #expect(throws: VPackError(.invalidUTF8, at: 2)) { try JSONParser.parse(text, options: .init(validateUTF8: true)) }
    }

    @Test func aFailedParseLeavesTheBuilderAsItWas() throws {
        var builder = Builder()
        builder.openArray()
        builder.add(Int64(1))
        #expect(throws: VPackError.self) { try JSONParser.parse(Array("[2, {".utf8), into: &builder) }
        try JSONParser.parse(Array("[3]".utf8), into: &builder)
        try builder.close()
        #expect(try json(builder.slice) == "[1,[3]]")
    }
}

@Suite("JSON dumper")
struct JSONDumperTests {
    /// Dumping in pieces gives the same text as one dump, however small the pieces.
    @Test(arguments: [1, 7, 64, 1 << 20])
    func dumpingInPiecesGivesTheSameText(_ chunkByteCount: Int) throws {
        let text = #"{"a":[1,2.5,"x\ny",{"b":null,"c":[true,false,[]]}],"d":"\#(String(repeating: "é", count: 200))","e":{}}"#
        let slice = try vpack(text)
        for pretty in [false, true] {
            let options = JSONDumper.Options(indent: pretty ? 2 : nil)
            var pieces: [[UInt8]] = []
            try JSONDumper.dump(slice, options: options, chunkByteCount: chunkByteCount) { pieces.append(Array($0)) }
            #expect(pieces.joined().elementsEqual(try JSONDumper.dump(slice, options: options)))
            // Between members a piece is handed over once the chunk size is reached.
            #expect(pieces.count > (chunkByteCount == 1 ? 10 : 0))
            #expect(pieces.dropLast().allSatisfy { $0.count >= chunkByteCount })
        }
    }

    @Test func objectsComeOutSortedOrInStoredOrder() throws {
        let slice = try vpack(#"{"b":1,"a":2,"c":3}"#)
        #expect(try json(slice) == #"{"a":2,"b":1,"c":3}"#)
        #expect(try json(slice, .init(objectOrder: .stored)) == #"{"b":1,"a":2,"c":3}"#)
    }

    @Test func doublesUseTheShortestRoundTripText() throws {
        let cases: [(Double, String)] = [
            (1.0, "1"), (-2.0, "-2"), (0.1, "0.1"), (1.5, "1.5"), (1e21, "1e+21"), (1e-7, "1e-07"),
            (-0.0, "-0"), (5e-324, "5e-324"), (9007199254740992, "9007199254740992.0"),
            (1.0 / 3.0, "0.3333333333333333"), (123.456, "123.456"),
        ]
        for (value, expected) in cases {
            var builder = Builder()
            builder.add(value)
            let text = try json(builder.slice)
            #expect(text == expected)
            #expect(try vpack(text).numberValue == value)
        }
    }

    @Test func nonFiniteDoublesFollowTheOption() throws {
        var builder = Builder()
        builder.openArray()
        builder.add(Double.nan)
        builder.add(Double.infinity)
        builder.add(-Double.infinity)
        try builder.close()
        #expect(throws: VPackError(.unsupportedDouble, at: 2)) { try json(builder.slice) }
        #expect(try json(builder.slice, .init(nonFiniteDoubleBehavior: .null)) == "[null,null,null]")
        #expect(try json(builder.slice, .init(nonFiniteDoubleBehavior: .string)) == #"["NaN","Infinity","-Infinity"]"#)
    }

    @Test func unsupportedTypesFollowTheOption() throws {
        var builder = Builder()
        builder.openArray()
        builder.addMinKey()
        builder.addUTCDate(milliseconds: 5)
        builder.addBinary([0xab, 0x01])
        try builder.close()
        #expect(throws: VPackError(.unsupportedType, at: 3)) { try json(builder.slice) }
        #expect(try json(builder.slice, .init(unsupportedTypeBehavior: .null)) == "[null,null,null]")
        #expect(try json(builder.slice, .init(unsupportedTypeBehavior: .string))
                == #"["(non-representable type min-key)","(non-representable type utc-date)","(non-representable type binary)"]"#)
        #expect(try json(builder.slice, .init(unsupportedTypeBehavior: .null, datesAsIntegers: true, binaryAsHex: true))
                == #"[null,5,"ab01"]"#)
    }

    @Test func escapingOptions() throws {
        let slice = try vpack(#""a/é\u0001\"😀""#)
        #expect(try json(slice) == "\"a/é\\u0001\\\"😀\"")
        #expect(try json(slice, .init(escapeForwardSlashes: true)) == "\"a\\/é\\u0001\\\"😀\"")
        #expect(try json(slice, .init(escapeUnicode: true)) == #""a/\u00e9\u0001\"\ud83d\ude00""#)
    }

    @Test func indentWritesOneMemberALine() throws {
        #expect(try json(try vpack(#"{"a":[1,{}],"b":null}"#), .init(indent: 2))
                == "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": null\n}")
    }

    @Test func tagsAreDropped() throws {
        var builder = Builder()
        builder.add(tag: 42, try vpack("[1]"))
        #expect(try json(builder.slice) == "[1]")
    }
}

@Suite("Builder")
struct BuilderTests {
    @Test func signedAndUnsignedIntegersTakeTheNarrowestForm() {
        let signed: [(Int64, String)] = [(0, "30"), (-6, "3a"), (9, "39"), (-7, "20f9"), (200, "21c800"),
                                         (1000, "21e803"), (Int64.min, "270000000000000080")]
        for (value, expected) in signed {
            var builder = Builder()
            builder.add(value)
            #expect(Hex.encode(builder.bytes) == expected)
        }
        let unsigned: [(UInt64, String)] = [(9, "39"), (10, "280a"), (1000, "29e803"), (UInt64.max, "2fffffffffffffffff")]
        for (value, expected) in unsigned {
            var builder = Builder()
            builder.add(value)
            #expect(Hex.encode(builder.bytes) == expected)
        }
    }

    @Test func uniquenessIsCheckedWhenAskedAndLeavesTheBuilderOpen() throws {
        var builder = Builder(options: .init(checkAttributeUniqueness: true))
        builder.openObject()
        builder.add(key: "a", 1)
        builder.add(key: "b", 2)
        builder.add(key: "a", 3)
        #expect(throws: VPackError.self) { try builder.close() }
        #expect(!builder.isClosed)
    }

    @Test func noneAmongTheFirstMembersKeepsThePadding() throws {
        var builder = Builder()
        builder.openArray()
        builder.addNone()
        builder.addNull()
        try builder.close()
        // 1-byte width, but the header keeps its 9 bytes so 00 is not read as padding.
        #expect(Hex.encode(builder.bytes) == "020b000000000000000018")
        let slice = try Slice(validating: builder.bytes)
        #expect(slice[0]?.isNone == true)
        #expect(slice[1]?.isNull == true)
    }

    @Test func binaryAndCustomValuesUseTheirLengthFields() {
        var builder = Builder()
        builder.addBinary([UInt8](repeating: 7, count: 300))
        #expect(Array(builder.bytes.prefix(3)) == [0xc1, 0x2c, 0x01])
        var empty = Builder()
        empty.addBinary([UInt8]())
        #expect(empty.bytes == [0xc0, 0x00])
        var custom = Builder()
        custom.addCustom(head: 0xf1, payload: [1, 2])
        #expect(custom.bytes == [0xf1, 1, 2])
    }

    @Test func copiedSlicesKeepTheirBytes() throws {
        let inner = try vpack(#"{"x":[1,2,3]}"#)
        var builder = Builder()
        builder.openObject()
        builder.add(key: "inner", inner)
        builder.add(key: "n", 5)
        try builder.close()
        #expect(builder.slice["inner"].map(hex) == hex(inner))
        #expect(try json(builder.slice) == #"{"inner":{"x":[1,2,3]},"n":5}"#)
    }
}
