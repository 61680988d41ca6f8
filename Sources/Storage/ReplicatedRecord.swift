public import VelocyPack
import ArangoAPI

/// The checks a follower makes on a log record received from its leader before applying it
/// (``ShardEngine/applyReplicated(_:options:)``): the record came over the network, so
/// every field is foreign input.
///
/// Pure (no I/O, no Snappy binding: the caller passes the decompressor), so the fuzz build
/// compiles it alone (`FuzzReplicatedRecord`).
public enum ReplicatedRecord {
    /// The Validator options for document bytes, the same for a client's write and a
    /// leader's record, so a follower accepts exactly what a leader stores.
    public static var documentValidation: Validator.Options {
        var options = Validator.Options.default
        options.validateUTF8 = true
        options.checkUniqueKeys = true
        return options
    }

    /// Decodes one whole record received as bytes (framing and CRC32C checked; the bytes must
    /// hold exactly the record).
    ///
    /// - Throws: `invalidReplicatedRecord` naming the broken rule (unknown kind or flags, bad
    ///   lengths, checksum, bytes missing or left over).
    public static func decode(_ bytes: [UInt8]) throws(StorageError) -> LogRecord {
        let decoding: LogRecordDecoding
        do {
            decoding = try LogRecord.decode(bytes)
        } catch {
            throw .invalidReplicatedRecord(error.description)
        }
        switch decoding {
        case .needMoreBytes(let count):
            throw .invalidReplicatedRecord("\(bytes.count) bytes, the record needs \(count)")
        case .record(let record, let byteCount):
            guard byteCount == bytes.count else {
                throw .invalidReplicatedRecord("\(bytes.count - byteCount) bytes after the record")
            }
            return record
        }
    }

    /// Checks `record` against every rule of the log format and returns the document it
    /// carries (nil for a removal or truncation).
    ///
    /// - A truncation has no key, payload, document size or flags; a removal a valid key
    ///   (`DocumentKey.fault`) and nothing else.
    /// - A document has a valid key, flags of at most the Snappy bit, a document size of
    ///   1...`limit` bytes, and a payload that is (or Snappy-decompresses to) exactly that
    ///   many bytes of VelocyPack (``documentValidation``): an object whose `_key` is the
    ///   record's key.
    /// - Every record has a nonzero revision and fits `LogRecordLimits.recordByteCountMax`.
    ///
    /// - Parameters:
    ///   - limit: the largest document accepted (the shard's `documentByteCountMax`).
    ///   - uncompress: decompresses one Snappy block into at most `byteCountLimit` bytes,
    ///     throwing `invalidReplicatedRecord` for a bad block.
    /// - Throws: `invalidKey`, `documentTooLarge`, `invalidVelocyPack`, `notAnObject`,
    ///   `missingKey` for the document faults that writes report the same way;
    ///   `invalidReplicatedRecord` with the reason for the rest.
    public static func validate(_ record: LogRecord, limit: Int,
                                uncompress: (_ payload: [UInt8], _ byteCountLimit: Int) throws(StorageError) -> [UInt8])
        throws(StorageError) -> Slice? {
        guard record.flags & ~LogRecord.flagSnappy == 0 else {
            throw .invalidReplicatedRecord("unknown flags 0x\(String(record.flags, radix: 16))")
        }
        guard record.revision != 0 else { throw .invalidReplicatedRecord("revision 0") }
        // The key is checked against the key rules before this sum; the payload could be any
        // array from a decoder of the caller's, hence the subtraction (no overflow).
        guard record.key.count <= LogRecordLimits.keyByteCountMax,
              record.payload.count <= LogRecordLimits.recordByteCountMax - LogRecord.byteCountMin - record.key.count else {
            throw .invalidReplicatedRecord("record of \(record.payload.count) payload bytes exceeds the record size limit")
        }
        switch record.kind {
        case .truncation:
            guard record.key.isEmpty, record.payload.isEmpty, record.documentByteCount == 0, record.flags == 0 else {
                throw .invalidReplicatedRecord("a truncation carries no key, payload, document size or flags")
            }
            return nil
        case .removal:
            if let fault = DocumentKey.fault(record.key) { throw .invalidKey(fault) }
            guard record.payload.isEmpty, record.documentByteCount == 0, record.flags == 0 else {
                throw .invalidReplicatedRecord("a removal carries no payload, document size or flags")
            }
            return nil
        case .document:
            if let fault = DocumentKey.fault(record.key) { throw .invalidKey(fault) }
            return try document(in: record, limit: limit, uncompress: uncompress)
        }
    }

    private static func document(in record: LogRecord, limit: Int,
                                 uncompress: (_ payload: [UInt8], _ byteCountLimit: Int) throws(StorageError) -> [UInt8])
        throws(StorageError) -> Slice {
        let byteCount = Int(record.documentByteCount)
        guard byteCount >= 1, !record.payload.isEmpty else {
            throw .invalidReplicatedRecord("a document record needs a document size and a payload")
        }
        guard byteCount <= limit else { throw .documentTooLarge(byteCount: byteCount, limit: limit) }
        let body = record.flags & LogRecord.flagSnappy != 0 ? try uncompress(record.payload, byteCount) : record.payload
        guard body.count == byteCount else {
            throw .invalidReplicatedRecord("document has \(body.count) bytes, the record says \(byteCount)")
        }
        let document: Slice
        do {
            document = try Slice(validating: body, options: documentValidation)
        } catch {
            throw .invalidVelocyPack(error)
        }
        guard document.isObject else { throw .notAnObject }
        guard let key = document["_key"]?.stringBytes else { throw .missingKey }
        guard key.elementsEqual(record.key) else {
            throw .invalidReplicatedRecord("document _key '\(String(decoding: key, as: UTF8.self))' is not the record's key '\(String(decoding: record.key, as: UTF8.self))'")
        }
        return document
    }
}
