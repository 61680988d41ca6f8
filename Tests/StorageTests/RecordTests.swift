import ArangoAPI
import Testing
import VelocyPack
@testable import Storage
import TesseraPlatform

@Suite("Storage records")
struct RecordTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // 32 zero bytes: the iSCSI test vector of RFC 3720.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xff, count: 32)) == 0x62A8_AB43)
    }

    @Test func crc32cIsTheSameForEverySplit() {
        let bytes = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let whole = CRC32C.checksum(bytes)
        for split in 0...bytes.count {
            let first = bytes[..<split].withUnsafeBytes { CRC32C.checksum($0) }
            let both = bytes[split...].withUnsafeBytes { CRC32C.update(first, $0) }
            #expect(both == whole)
        }
    }

    /// The golden vector of Protocol/Storage.md: a removal of key "k" at revision 1, sequence 2.
    @Test func removalRecordMatchesTheGoldenVector() throws {
        let record = LogRecord(kind: .removal, revision: 1, sequence: 2, key: Array("k".utf8))
        #expect(Hex.encode(record.encoded) == Self.removalGolden)
        #expect(try LogRecord.decode(record.encoded) == .record(record, byteCount: 33))
    }

    /// The golden vector of Protocol/Storage.md: document {"_key":"a"} stored raw (flags 0).
    @Test func documentRecordMatchesTheGoldenVector() throws {
        let slice = json(#"{"_key":"a"}"#)
        let record = LogRecord(kind: .document, revision: 0x0102_0304_0506_0708, sequence: 1,
                               documentByteCount: UInt32(slice.byteSize), key: Array("a".utf8),
                               payload: slice.copiedBytes)
        #expect(slice.copiedBytes == [0x14, 0x0a, 0x44, 0x5f, 0x6b, 0x65, 0x79, 0x41, 0x61, 0x01])
        #expect(Hex.encode(record.encoded) == Self.documentGolden)
        #expect(try LogRecord.decode(record.encoded) == .record(record, byteCount: 43))
    }

    // Computed with an independent bitwise CRC-32C (Python) from the layout in Storage.md.
    static let removalGolden = "21000000" + "02" + "00" + "0100" + "0100000000000000" + "0200000000000000"
        + "00000000" + "6b" + "7fc1ca97"
    static let documentGolden = "2b000000" + "01" + "00" + "0100" + "0807060504030201" + "0100000000000000"
        + "0a000000" + "61" + "140a445f6b6579416101" + "75bd5473"

    @Test func everyByteFlipOfARecordIsDetected() throws {
        let record = LogRecord(kind: .document, flags: 0, revision: 77, sequence: 5, documentByteCount: 3,
                               key: Array("key".utf8), payload: [1, 2, 3])
        let bytes = record.encoded
        for position in bytes.indices {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[position] ^= UInt8(1 << bit)
                let outcome = Result { () throws(LogRecordFault) in try LogRecord.decode(damaged) }
                if case .success(.record(let decoded, _)) = outcome {
                    Issue.record("flip of bit \(bit) at \(position) accepted as \(decoded)")
                }
            }
        }
    }

    @Test func everyPrefixNeedsMoreBytes() throws {
        let bytes = LogRecord(kind: .removal, revision: 9, sequence: 9, key: Array("abc".utf8)).encoded
        for length in 0..<bytes.count {
            let outcome = try LogRecord.decode(bytes.prefix(length))
            guard case .needMoreBytes = outcome else {
                Issue.record("prefix of \(length) bytes gave \(outcome)")
                continue
            }
        }
    }

    @Test(arguments: [
        ("length below minimum", "10000000" + String(repeating: "00", count: 40), LogRecordFault.badLength(16)),
        ("length above maximum", "ffffffff" + String(repeating: "00", count: 40), LogRecordFault.badLength(0xffff_ffff)),
        ("unknown kind", "40000000" + "09" + String(repeating: "00", count: 40), LogRecordFault.unknownKind(9)),
        ("unknown flag", "40000000" + "0102" + String(repeating: "00", count: 40), LogRecordFault.unknownFlags(2)),
        ("removal without key", "40000000" + "0200" + String(repeating: "00", count: 40), LogRecordFault.badKeyLength(0)),
    ])
    func malformedHeadersNameTheirFault(name: String, hex: String, fault: LogRecordFault) throws {
        let bytes = try Hex.decode(hex)
        #expect(throws: fault) { try LogRecord.decode(bytes) }
    }

    @Test func keyRulesFollowArangoDB() {
        for valid in ["a", "A-Z_0:9.@()+,=;$!*'%", String(repeating: "k", count: 254)] {
            #expect(DocumentKey.isValid(valid), "\(valid)")
        }
        for invalid in ["", String(repeating: "k", count: 255), "a b", "a/b", "ä", "a\u{0}", "a#", "a\"", "a?", "a[", "a&"] {
            #expect(!DocumentKey.isValid(invalid), "\(invalid)")
        }
    }

    @Test func clockNeverGoesBackAndStaysUnique() {
        var clock = HybridLogicalClock()
        let first = clock.next(physicalMilliseconds: 1000)
        #expect(first == 1000 << 20)
        let second = clock.next(physicalMilliseconds: 1000)
        #expect(second == first + 1)
        let afterStepBack = clock.next(physicalMilliseconds: 10)
        #expect(afterStepBack == second + 1)
        clock.observe(5000 << 20)
        #expect(clock.next(physicalMilliseconds: 2000) == (5000 << 20) + 1)
        #expect(HybridLogicalClock.physicalMilliseconds(of: 5000 << 20) == 5000)
    }
}
