import CTextScan
import Testing

/// The parser's plain-run scan against a byte-at-a-time reading of its contract, for every
/// stopping byte at every position of runs around the sixteen-byte step.
@Suite("JSON string scan")
struct TextScanTests {
    static func expected(_ bytes: [UInt8], stopAtHigh: Bool) -> Int {
        bytes.firstIndex { $0 == 0x22 || $0 == 0x5c || $0 < 0x20 || (stopAtHigh && $0 >= 0x80) } ?? bytes.count
    }

    static func scanned(_ bytes: [UInt8], stopAtHigh: Bool) -> Int {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return 0 }
            return tessera_scan_plain(base, base + buffer.count, stopAtHigh ? 1 : 0) - base
        }
    }

    @Test("stops at the first quote, backslash, control byte or (when asked) high byte, and only there")
    func everyStopAtEveryPosition() {
        let stops: [UInt8] = [0x22, 0x5c, 0x00, 0x01, 0x1f, 0x80, 0xc3, 0xff]
        let passes: [UInt8] = [0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7e, 0x7f]
        var checked = 0
        for length in 0...49 {
            for fill in passes {
                let plain = [UInt8](repeating: fill, count: length)
                for stopAtHigh in [false, true] {
                    #expect(Self.scanned(plain, stopAtHigh: stopAtHigh) == length)
                    for position in 0..<length {
                        for stop in stops {
                            var bytes = plain
                            bytes[position] = stop
                            // A second stop later never changes the answer.
                            if position + 3 < length { bytes[position + 3] = 0x22 }
                            let want = Self.expected(bytes, stopAtHigh: stopAtHigh)
                            #expect(Self.scanned(bytes, stopAtHigh: stopAtHigh) == want,
                                    "length \(length), \(stop) at \(position), stopAtHigh \(stopAtHigh)")
                            checked += 1
                        }
                    }
                }
            }
        }
        #expect(checked > 100_000)
    }
}
