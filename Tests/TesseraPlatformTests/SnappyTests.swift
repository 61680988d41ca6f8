import Testing
import TesseraPlatform

@Suite("Snappy")
struct SnappyTests {
    @Test func roundTripRestoresTheBytes() throws {
        let text = Array(String(repeating: "tessera shard document ", count: 200).utf8)
        let compressed = Snappy.compress(text)
        #expect(compressed.count < text.count / 4)
        #expect(try Snappy.uncompress(compressed, byteCountLimit: 1 << 20) == text)
    }

    @Test func emptyInputRoundTrips() throws {
        #expect(try Snappy.uncompress(Snappy.compress([]), byteCountLimit: 16) == [])
    }

    @Test func corruptBlockIsAnError() {
        #expect(throws: Snappy.Failure.invalidInput) {
            try Snappy.uncompress([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], byteCountLimit: 1 << 20)
        }
    }

    @Test func blockAboveTheLimitIsRefused() {
        let compressed = Snappy.compress([UInt8](repeating: 7, count: 4096))
        #expect(throws: Snappy.Failure.tooLarge(uncompressedByteCount: 4096, limit: 100)) {
            try Snappy.uncompress(compressed, byteCountLimit: 100)
        }
    }
}

@Suite("LibUV")
struct LibUVTests {
    @Test func versionStringLooksLikeAVersion() {
        let parts = LibUV.versionString.split(separator: ".")
        #expect(parts.count == 3)
        #expect(parts.allSatisfy { Int($0) != nil })
    }
}
