import Testing
@testable import VelocyPack

@Suite("Slice reading")
struct SliceTests {
    /// Every layout of [1, 2, 3]: what a reader must accept, padded and unpadded.
    @Test("index access and iteration agree in every array layout", arguments: [
        "02 05 313233", "02 0c 00000000000000 313233", "03 0600 313233", "04 08000000 313233",
        "05 0c00000000000000 313233", "06 09 03 313233 030405",
        "07 1200 0300 00000000 313233 0900 0a00 0b00", "07 0e00 0300 313233 0500 0600 0700",
        "08 18000000 03000000 313233 09000000 0a000000 0b000000",
        "09 2c00000000000000 313233 0900000000000000 0a00000000000000 0b00000000000000 0300000000000000",
        "13 06 313233 03",
    ])
    func arrayLayoutsReadAlike(_ hexText: String) throws {
        let slice = try Slice(validating: bytes(hexText))
        #expect(slice.count == 3)
        #expect(slice.arrayElements.map { $0.intValue } == [1, 2, 3])
        #expect((0..<3).map { slice[$0]?.intValue } == [1, 2, 3])
        #expect(slice[3] == nil)
        #expect(slice[-1] == nil)
        #expect(try json(slice) == "[1,2,3]")
    }

    @Test func objectLookupMatchesALinearScanForEverySize() throws {
        // Sizes around the linear/binary-search switch and the index widths.
        for size in [1, 2, 3, 4, 5, 6, 17, 100, 1000] {
            var text = "{"
            for i in 0..<size { text += (i > 0 ? "," : "") + "\"key\(i * 7919 % 1009)\":\(i)" }
            text += "}"
            let slice = try vpack(text)
            for (key, value) in slice.objectMembers {
                #expect(slice[key.stringValue!]?.intValue == value.intValue)
            }
            #expect(slice["absent"] == nil)
            #expect(slice["key"] == nil)
            #expect(slice[""] == nil)
        }
    }

    @Test func compactObjectLookupFindsEveryKey() throws {
        let options = JSONParser.Options(builder: .init(buildUnindexedObjects: true))
        let slice = try vpack(#"{"b":1,"a":2,"c":{"d":3}}"#, options)
        #expect(slice.head == 0x14)
        #expect(slice["a"]?.intValue == 2)
        #expect(slice["b"]?.intValue == 1)
        #expect(slice.value(atPath: "c", "d")?.intValue == 3)
        #expect(slice["d"] == nil)
        // Compact objects keep input order.
        #expect(slice.objectMembers.map { $0.key.stringValue } == ["b", "a", "c"])
    }

    @Test func pathsWalkObjectsAndArrays() throws {
        let slice = try vpack(#"{"a":[{"b":"x"},{"b":"y","c":[10,20]}]}"#)
        #expect(slice.value(atPath: ["a", 1, "b"])?.stringValue == "y")
        #expect(slice.value(atPath: ["a", 1, "c", 1])?.uintValue == 20)
        #expect(slice.value(atPath: ["a", 2]) == nil)
        #expect(slice.value(atPath: ["a", "b"]) == nil)
        #expect(slice.value(atPath: []).map(hex) == hex(slice))
    }

    @Test func scalarAccessorsReadEveryWidth() throws {
        for value: Int64 in [-6, -1, 0, 9, 10, -7, 127, -128, 128, 255, -129, 32767, -32768, 65535,
                             1 << 40, -(1 << 40), Int64.max, Int64.min] {
            var builder = Builder()
            builder.add(value)
            #expect(builder.slice.intValue == value)
            #expect(builder.slice.byteSize == builder.bytes.count)
        }
        for value: UInt64 in [0, 9, 10, 255, 256, 65535, 65536, 1 << 32, UInt64.max] {
            var builder = Builder()
            builder.add(value)
            #expect(builder.slice.uintValue == value)
            #expect(builder.slice.numberValue == Double(value))
        }
        #expect(try vpack("18446744073709551615").intValue == nil)
        #expect(try vpack("-1").uintValue == nil)
        #expect(try vpack("1.5").doubleValue == 1.5)
        #expect(try vpack("300").numberValue == 300)
        #expect(try vpack("true").boolValue == true)
        #expect(try vpack("null").isNull)
        #expect(try vpack(#""hé""#).stringValue == "hé")
        #expect(try vpack(#""hé""#).stringBytes.map(Array.init) == [0x68, 0xc3, 0xa9])
    }

    @Test func nonJSONScalarsReadBack() throws {
        var builder = Builder()
        builder.openArray()
        builder.addUTCDate(milliseconds: 1_700_000_000_000)
        builder.addBinary([1, 2, 3])
        builder.add(tag: 300, try vpack("5"))
        builder.addCustom(head: 0xf4, payload: [9, 9])
        builder.addMinKey()
        builder.addMaxKey()
        builder.addIllegal()
        try builder.close()
        let slice = try Slice(validating: builder.bytes)
        #expect(slice[0]?.utcDateValue == 1_700_000_000_000)
        #expect(slice[0].map(hex) == "1c0068e5cf8b010000")
        #expect(slice[1]?.binaryValue.map(Array.init) == [1, 2, 3])
        #expect(slice[2]?.tag == 300)
        #expect(slice[2]?.untagged.intValue == 5)
        #expect(slice[3]?.customPayload.map(Array.init) == [9, 9])
        #expect(slice[4]?.type == .minKey)
        #expect(slice[5]?.type == .maxKey)
        #expect(slice[6]?.type == .illegal)
    }

    @Test func typeOfEveryHeadIsDefined() {
        var reserved: [UInt8] = []
        for head in 0...255 where ValueType(head: UInt8(head)) == .reserved { reserved.append(UInt8(head)) }
        #expect(reserved == [0x0f, 0x10, 0x11, 0x12, 0x15, 0x16] + Array(0xd8...0xed))
    }
}

@Suite("Attribute translation")
struct AttributeTranslationTests {
    @Test func systemKeysBecomeIntegersWhenAsked() throws {
        let options = JSONParser.Options(builder: .init(translateSystemKeys: true))
        let slice = try vpack(#"{"_key":"k","_rev":"r","_id":"c/k","_from":"a/1","_to":"b/2","x":1}"#, options)
        let keyHeads = slice.objectMembers.map { $0.key.head }
        #expect(keyHeads.sorted() == [0x31, 0x32, 0x33, 0x34, 0x35, 0x41])
        #expect(slice["_key"]?.stringValue == "k")
        #expect(slice["_to"]?.stringValue == "b/2")
        // The index is sorted by the names, not by the integers.
        #expect(slice.objectMembers.map { $0.key.keyName } == ["_from", "_id", "_key", "_rev", "_to", "x"])
        #expect(try json(slice) == #"{"_from":"a/1","_id":"c/k","_key":"k","_rev":"r","_to":"b/2","x":1}"#)
    }

    @Test func untranslatedRewritesIntegerKeysAtEveryDepth() throws {
        let options = JSONParser.Options(builder: .init(translateSystemKeys: true))
        let slice = try vpack(#"[{"_key":"a","n":{"_id":"x/1"}},2]"#, options)
        #expect(slice.containsIntegerKeys)
        let plain = try AttributeTranslation.untranslated(slice)
        #expect(!plain.containsIntegerKeys)
        #expect(hex(plain) == hex(try vpack(#"[{"_key":"a","n":{"_id":"x/1"}},2]"#)))
    }

    @Test func untranslatedLeavesPlainValuesAlone() throws {
        let slice = try vpack(#"{"a":[1,2]}"#)
        #expect(hex(try AttributeTranslation.untranslated(slice)) == hex(slice))
    }

    @Test func unknownIntegerKeyIsAnError() throws {
        // Built by hand: key 6 has no name. The validator refuses it; a trusted slice cannot
        // be untranslated or dumped.
        let raw = bytes("14 05 36 31 01")
        #expect(throws: VPackError(.unknownAttributeId, at: 2)) { try Validator().validate(raw) }
        let trusted = Slice(trustedBytes: raw)
        #expect(throws: VPackError.self) { try AttributeTranslation.untranslated(trusted) }
        #expect(throws: VPackError(.unknownAttributeId, at: 2)) { try json(trusted) }
    }

    @Test func namesAndIdsMapBothWays() {
        for id: UInt64 in 1...5 {
            let name = AttributeTranslation.name(forId: id)!
            var text = name
            #expect(text.withUTF8 { AttributeTranslation.id(forName: $0) } == id)
        }
        #expect(AttributeTranslation.name(forId: 0) == nil)
        #expect(AttributeTranslation.name(forId: 6) == nil)
    }
}

@Suite("Normalized hash")
struct NormalizedHashTests {
    @Test func xxHash64MatchesPublishedValues() {
        #expect(xxHash64([UInt8]()) == 0xef46_db37_51d8_e999)
        #expect(xxHash64(Array("a".utf8)) == 0xd24e_c4f1_a98c_6e5b)
        #expect(xxHash64(Array("abc".utf8)) == 0x44bc_2cf5_ad77_0999)
        #expect(xxHash64(Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)) == 0x64f2_3ecf_1609_b766)
        #expect(xxHash64(Array("abc".utf8), seed: 0xdead_beef) == 0x54aa_4e4c_93ae_30e3)
        #expect(xxHash64((0..<100).map { UInt8($0) }, seed: 7) == 0x8065_3e7e_9b88_7cdd)
    }

    @Test func numericallyEqualValuesHashAlike() throws {
        let one = [bytes("31"), bytes("2801"), bytes("2001"), bytes("290100"), bytes("1b000000000000f03f")]
        let hashes = Set(one.map { Slice(trustedBytes: $0).normalizedHash() })
        #expect(hashes.count == 1)
        #expect(Slice(trustedBytes: bytes("1b0000000000000080")).normalizedHash()
                == Slice(trustedBytes: bytes("30")).normalizedHash())  // -0.0 and 0
        #expect(try vpack("1").normalizedHash() != vpack("2").normalizedHash())
        #expect(try vpack("1").normalizedHash() != vpack(#""1""#).normalizedHash())
    }

    @Test func objectHashIgnoresOrderAndLayout() throws {
        let sorted = try vpack(#"{"a":1,"b":[2,3],"c":"x"}"#)
        let reversed = try vpack(#"{"c":"x","b":[2,3],"a":1}"#)
        let compact = try vpack(#"{"b":[2,3],"a":1,"c":"x"}"#, .init(builder: .init(buildUnindexedArrays: true, buildUnindexedObjects: true)))
        #expect(sorted.normalizedHash() == reversed.normalizedHash())
        #expect(sorted.normalizedHash() == compact.normalizedHash())
        #expect(try vpack(#"{"a":1,"b":2}"#).normalizedHash() != vpack(#"{"a":2,"b":1}"#).normalizedHash())
        #expect(try vpack("[1,2]").normalizedHash() != vpack("[2,1]").normalizedHash())
        #expect(try vpack("[]").normalizedHash() != vpack("{}").normalizedHash())
    }

    @Test func translatedKeysHashAsTheirNames() throws {
        let plain = try vpack(#"{"_key":"k"}"#)
        let translated = try vpack(#"{"_key":"k"}"#, .init(builder: .init(translateSystemKeys: true)))
        #expect(hex(plain) != hex(translated))
        #expect(plain.normalizedHash() == translated.normalizedHash())
    }

    @Test func tagsAreIgnored() throws {
        var builder = Builder()
        builder.add(tag: 7, try vpack(#""x""#))
        #expect(builder.slice.normalizedHash() == (try vpack(#""x""#)).normalizedHash())
    }

    /// Shard placement depends on these values: a change here is a protocol change.
    @Test func hashValuesArePinned() throws {
        #expect(try vpack("1").normalizedHash() == vpack("1").normalizedHash(seed: Slice.normalizedHashSeedDefault))
        let pinned: [(String, UInt64)] = try [
            ("null", vpack("null").normalizedHash()),
            ("\"k1\"", vpack("\"k1\"").normalizedHash()),
            ("[1,\"a\"]", vpack("[1,\"a\"]").normalizedHash()),
            ("{\"a\":1}", vpack("{\"a\":1}").normalizedHash()),
        ]
        let expected: [String: UInt64] = PinnedHashes.values
        for (text, value) in pinned {
            #expect(expected[text] == value, "normalizedHash(\(text)) = 0x\(String(value, radix: 16))")
        }
    }
}
