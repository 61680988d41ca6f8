// libFuzzer target: the storage log record decoder (`LogRecord.decode`), which reads segment
// files after a crash or disk damage (untrusted bytes).
//
// Input: a mode byte, then the bytes. Mode bit 0 set: before decoding, the last 4 bytes are
// replaced by the CRC32C of the bytes before them, so the fuzzer gets past the checksum and
// explores the header rules; otherwise the bytes are decoded as they are.
//
// Properties beyond "does not crash":
//
// - An accepted record (n bytes) re-encodes to exactly its n input bytes; its fields obey
//   the limits (key 1...254 bytes for documents and removals, none for truncations, document
//   size within `LogRecordLimits`, payload only for documents, known kind and flags).
// - Framing: every shorter prefix of an accepted record is "need more bytes" (a torn tail
//   is never taken for a record), and bytes after it do not change the result.
// - Any single-bit flip inside an accepted record is refused (CRC32C catches every 1-bit
//   error).
// - "Need more bytes" asks for more than the input holds; a fault has a description.
// - `decodeHeader` (the copy-free reader of the read path) agrees with `decode`: the same
//   fault or need, and for a record the same fields with key and payload at its ranges.
//
// Build and run with `Fuzz/run.sh` (compiled with the pure Storage record files).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    StorageRecordFuzz.check(input)
    return 0
}

func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzStorageRecord property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum StorageRecordFuzz {
    static func decode(_ bytes: ArraySlice<UInt8>) -> Result<LogRecordDecoding, LogRecordFault> {
        Result { () throws(LogRecordFault) in try LogRecord.decode(bytes) }
    }

    static func check(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        var bytes = Array(input.dropFirst())
        if mode & 1 == 1 && bytes.count >= 8 {
            let crc = CRC32C.checksum(bytes[0..<(bytes.count - 4)])
            withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
        }
        let outcome = decode(bytes[...])
        let header = bytes.withUnsafeBytes { raw in
            Result { () throws(LogRecordFault) in try LogRecord.decodeHeader(raw) }
        }
        switch (outcome, header) {
        case (.failure(let fault), .failure(let other)) where fault == other: break
        case (.success(.needMoreBytes(let need)), .success(.needMoreBytes(let other))) where need == other: break
        case (.success(.record(let record, let count)), .success(.header(let fields))):
            if fields.byteCount != count || fields.kind != record.kind || fields.flags != record.flags
                || fields.revision != record.revision || fields.sequence != record.sequence
                || fields.documentByteCount != record.documentByteCount
                || Array(bytes[fields.keyRange]) != record.key || Array(bytes[fields.payloadRange]) != record.payload {
                violated("decodeHeader disagrees with decode on an accepted record", input)
            }
        default: violated("decodeHeader \(header) disagrees with decode \(outcome)", input)
        }
        switch outcome {
        case .failure(let fault):
            if fault.description.isEmpty { violated("fault without description", input) }
        case .success(.needMoreBytes(let needed)):
            if needed <= bytes.count { violated("needs \(needed) bytes but has \(bytes.count)", input) }
        case .success(.record(let record, let byteCount)):
            checkAccepted(record, byteCount: byteCount, bytes: bytes, input: input)
        }
    }

    static func checkAccepted(_ record: LogRecord, byteCount: Int, bytes: [UInt8], input: [UInt8]) {
        let own = Array(bytes[0..<byteCount])
        if record.encoded != own { violated("re-encoding differs", input) }
        switch record.kind {
        case .document:
            if record.key.isEmpty || record.key.count > 254 || record.payload.isEmpty
                || record.documentByteCount == 0
                || Int(record.documentByteCount) > LogRecordLimits.documentByteCountMax {
                violated("document record outside the limits", input)
            }
        case .removal:
            if record.key.isEmpty || record.key.count > 254 || !record.payload.isEmpty { violated("removal fields", input) }
        case .truncation:
            if !record.key.isEmpty || !record.payload.isEmpty { violated("truncation fields", input) }
        }
        if record.flags & ~LogRecord.flagSnappy != 0 { violated("unknown flag accepted", input) }
        // Framing: every shorter prefix needs more bytes; trailing bytes change nothing.
        for length in stride(from: 0, to: byteCount, by: max(1, byteCount / 64)) {
            guard case .success(.needMoreBytes) = decode(own[0..<length]) else {
                violated("prefix of \(length) bytes not 'need more bytes'", input)
            }
        }
        guard case .success(.record(let again, byteCount)) = decode((own + [0xff, 0x00, 0x13])[...]), again == record else {
            violated("trailing bytes changed the result", input)
        }
        // Bit flips: a few positions chosen from the content.
        let seed = Int(CRC32C.checksum(own))
        for step in 0..<8 {
            let position = (seed &+ step &* 7919) % byteCount
            var damaged = own
            damaged[position] ^= UInt8(1 << (step % 8))
            if case .success(.record) = decode(damaged[...]) {
                violated("flip of bit \(step % 8) at \(position) accepted", input)
            }
        }
    }
}
