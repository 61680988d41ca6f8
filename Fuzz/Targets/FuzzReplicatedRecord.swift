// libFuzzer target: the follower's checks on a log record received from its leader
// (`ReplicatedRecord.decode` and `ReplicatedRecord.validate`, which
// `ShardEngine.applyReplicated` runs before it changes anything).
//
// Input: a mode byte, then the bytes.
// - Mode bit 1 clear: the bytes are a record as sent (`ReplicatedRecord.decode`); with bit 0
//   set the last 4 bytes are first replaced by the CRC32C of the bytes before them, so the
//   fuzzer gets past the checksum.
// - Mode bit 1 set: a document record is built from the bytes: one byte key length k, k key
//   bytes, then the document; with bit 0 set the document is wrapped in a literal-only
//   Snappy block (flag set), exercising the path through the decompressor.
// - Mode bits 2-3 pick the document size limit (64, 1024, 64 KiB, 16 MiB).
//
// The fuzz build has no libsnappy: the decompressor passed in is the small model decoder
// below (literals and copies of the Snappy block format), as strict as libsnappy about
// lengths.
//
// Properties beyond "does not crash":
//
// - Validation is deterministic (twice the same outcome) and refuses with a documented
//   error: invalidKey, missingKey, documentTooLarge, invalidVelocyPack, notAnObject or
//   invalidReplicatedRecord, each with a description.
// - An accepted document record: known flags; a valid key; the document has exactly
//   `documentByteCount` ≤ limit bytes, equal to the payload when stored raw, is an object
//   that re-validates, and its `_key` is the record's key. Removals and truncations give no
//   document; documents always one.
// - An accepted decoded record re-encodes to the input bytes.
// - Built records (bit 1) agree with an oracle: accepted exactly when the key passes
//   `DocumentKey.fault`, the document is 1...limit bytes that the Validator (with
//   `documentValidation`) accepts as an object whose `_key` string is the key.
//
// Build and run with `Fuzz/run.sh` (compiled with the pure Storage files).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    ReplicatedRecordFuzz.check(input)
    return 0
}

func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzReplicatedRecord property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum ReplicatedRecordFuzz {
    static let limits = [64, 1024, 64 << 10, 16 << 20]

    static func check(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        let bytes = Array(input.dropFirst())
        let limit = limits[Int(mode >> 2) & 3]
        if mode & 2 == 0 {
            checkDecoded(bytes, fixChecksum: mode & 1 == 1, limit: limit, input: input)
        } else {
            checkBuilt(bytes, snappy: mode & 1 == 1, limit: limit, input: input)
        }
    }

    static func validate(_ record: LogRecord, limit: Int) -> Result<Slice?, StorageError> {
        Result { () throws(StorageError) in
            try ReplicatedRecord.validate(record, limit: limit) { (payload, byteCountLimit) throws(StorageError) -> [UInt8] in
                guard let body = ModelSnappy.uncompress(payload, byteCountLimit: byteCountLimit) else {
                    throw .invalidReplicatedRecord("Snappy: invalid block")
                }
                return body
            }
        }
    }

    /// Validates twice, checks the outcome's general properties, returns it.
    static func checkedOutcome(_ record: LogRecord, limit: Int, input: [UInt8]) -> Result<Slice?, StorageError> {
        let outcome = validate(record, limit: limit)
        switch (outcome, validate(record, limit: limit)) {
        case (.failure(let first), .failure(let second)) where first == second: break
        case (.success(let first), .success(let second)) where first?.copiedBytes == second?.copiedBytes: break
        default: violated("validation is not deterministic", input)
        }
        switch outcome {
        case .failure(let error):
            if ![1221, 1216, 600, 1227, 1107].contains(error.errorNumber) { violated("undocumented error \(error)", input) }
            if error.description.isEmpty { violated("error without description", input) }
        case .success(let document):
            checkAccepted(record, document, limit: limit, input: input)
        }
        return outcome
    }

    static func checkAccepted(_ record: LogRecord, _ document: Slice?, limit: Int, input: [UInt8]) {
        if record.flags & ~LogRecord.flagSnappy != 0 || record.revision == 0 { violated("flags or revision accepted", input) }
        switch record.kind {
        case .truncation:
            if document != nil || !record.key.isEmpty || !record.payload.isEmpty { violated("truncation fields", input) }
        case .removal:
            if document != nil || DocumentKey.fault(record.key) != nil || !record.payload.isEmpty { violated("removal fields", input) }
        case .document:
            guard let document else { violated("document record without document", input) }
            let body = document.copiedBytes
            if DocumentKey.fault(record.key) != nil { violated("invalid key accepted", input) }
            if body.count != Int(record.documentByteCount) || body.count > limit { violated("document size", input) }
            if record.flags == 0 && body != record.payload { violated("raw document differs from its payload", input) }
            guard (try? Slice(validating: body, options: ReplicatedRecord.documentValidation)) != nil, document.isObject else {
                violated("accepted document does not re-validate as an object", input)
            }
            guard let key = document["_key"]?.stringBytes, key.elementsEqual(record.key) else {
                violated("accepted document's _key differs from the record's key", input)
            }
        }
    }

    static func checkDecoded(_ raw: [UInt8], fixChecksum: Bool, limit: Int, input: [UInt8]) {
        var bytes = raw
        if fixChecksum && bytes.count >= 8 {
            let crc = CRC32C.checksum(bytes[0..<(bytes.count - 4)])
            withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
        }
        let decoded = Result { () throws(StorageError) in try ReplicatedRecord.decode(bytes) }
        guard case .success(let record) = decoded else {
            if case .failure(let error) = decoded, error.errorNumber != 1107 { violated("decode failed with \(error)", input) }
            return
        }
        if record.encoded != bytes { violated("decoded record does not re-encode to its bytes", input) }
        _ = checkedOutcome(record, limit: limit, input: input)
    }

    static func checkBuilt(_ bytes: [UInt8], snappy: Bool, limit: Int, input: [UInt8]) {
        guard let keyCount = bytes.first.map(Int.init), bytes.count >= 1 + keyCount else { return }
        let key = Array(bytes[1..<(1 + keyCount)])
        let body = Array(bytes[(1 + keyCount)...])
        guard body.count <= UInt32.max else { return }
        let record = LogRecord(kind: .document, flags: snappy ? LogRecord.flagSnappy : 0, revision: 1, sequence: 1,
                               documentByteCount: UInt32(body.count), key: key,
                               payload: snappy ? ModelSnappy.literalBlock(body) : body)
        let outcome = checkedOutcome(record, limit: limit, input: input)
        // The oracle, rule by rule.
        var expected = DocumentKey.fault(key) == nil && !body.isEmpty && body.count <= limit
        if expected, let document = try? Slice(validating: body, options: ReplicatedRecord.documentValidation) {
            expected = document.isObject && document["_key"]?.stringBytes.map { $0.elementsEqual(key) } == true
        } else {
            expected = false
        }
        switch (outcome, expected) {
        case (.success, true), (.failure, false): break
        case (.success, false): violated("accepted a document the oracle refuses", input)
        case (.failure(let error), true): violated("refused a document the oracle accepts: \(error)", input)
        }
    }
}

/// A model of Snappy's block format (for the fuzz build, which has no libsnappy): a varint
/// length, then literals and back-references; anything malformed or above the limit is nil.
enum ModelSnappy {
    static func uncompress(_ input: [UInt8], byteCountLimit: Int) -> [UInt8]? {
        var position = 0
        var length = 0
        var shift = 0
        while true {
            guard position < input.count, shift <= 28 else { return nil }
            let byte = input[position]
            position += 1
            length |= Int(byte & 0x7f) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        guard length <= byteCountLimit, length <= Int(UInt32.max) else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(length)
        func little(_ count: Int) -> Int? {
            guard position + count <= input.count else { return nil }
            var value = 0
            for index in 0..<count { value |= Int(input[position + index]) << (8 * index) }
            position += count
            return value
        }
        while position < input.count {
            let tag = input[position]
            position += 1
            let count: Int
            let distance: Int
            switch tag & 3 {
            case 0:
                var literal = Int(tag >> 2)
                if literal >= 60 {
                    guard let extra = little(literal - 59) else { return nil }
                    literal = extra
                }
                literal += 1
                guard position + literal <= input.count, output.count + literal <= length else { return nil }
                output.append(contentsOf: input[position..<(position + literal)])
                position += literal
                continue
            case 1:
                count = 4 + Int((tag >> 2) & 7)
                guard let low = little(1) else { return nil }
                distance = Int(tag >> 5) << 8 | low
            case 2:
                count = 1 + Int(tag >> 2)
                guard let value = little(2) else { return nil }
                distance = value
            default:
                count = 1 + Int(tag >> 2)
                guard let value = little(4) else { return nil }
                distance = value
            }
            guard distance > 0, distance <= output.count, output.count + count <= length else { return nil }
            for _ in 0..<count { output.append(output[output.count - distance]) }
        }
        return output.count == length ? output : nil
    }

    /// `bytes` as one Snappy block of literals (60 bytes each: one tag byte apiece).
    static func literalBlock(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var length = bytes.count
        repeat {
            output.append(UInt8(length & 0x7f) | (length >= 0x80 ? 0x80 : 0))
            length >>= 7
        } while length > 0
        var start = 0
        while start < bytes.count {
            let count = min(60, bytes.count - start)
            output.append(UInt8(count - 1) << 2)
            output.append(contentsOf: bytes[start..<(start + count)])
            start += count
        }
        return output
    }
}
