import TesseraPlatform
/// One segment file of a shard's log, open for reading (and, for the active one, appending).
///
/// A segment is named by its position in the log (`order`) and its `generation`, which
/// compaction raises when it rewrites the file: `segment-<order, 16 hex>.<generation, 8 hex>.log`.
/// The log is the segments in order, each one's records in file order; sequence numbers rise
/// along it.
///
/// A sealed segment never changes again (compaction writes a new file), so it is mapped
/// read-only and reads take their bytes from the mapping: no system call, no copy. The active
/// segment is read with `pread`.
///
/// The descriptor and the mapping go away with the last reference, so a reader that took a
/// segment before compaction replaced it still reads the old (unlinked) file safely.
///
/// `@unchecked Sendable`: every stored property is immutable; the mapping is read-only.
final class Segment: @unchecked Sendable {
    let order: UInt64
    let generation: UInt32
    let path: String
    let descriptor: Int32
    /// The whole file, for a sealed segment (nil for the active one or an empty file).
    let mapping: UnsafeRawBufferPointer?

    init(directory: String, order: UInt64, generation: UInt32, create: Bool, sealed: Bool = false) throws(StorageError) {
        self.order = order
        self.generation = generation
        self.path = directory + "/" + Self.fileName(order: order, generation: generation)
        self.descriptor = try io(FileIO.open(path, create: create))
        if sealed {
            do {
                mapping = try io(FileIO.mapReadOnly(descriptor, path: path))
            } catch {
                FileIO.close(descriptor)
                throw error
            }
        } else {
            mapping = nil
        }
    }

    deinit {
        if let mapping { FileIO.unmap(mapping) }
        FileIO.close(descriptor)
    }

    /// Runs `body` with `count` bytes at `offset`: from the mapping when sealed, else read.
    func withBytes<R>(count: Int, at offset: Int,
                      _ body: (UnsafeRawBufferPointer) throws(StorageError) -> R) throws(StorageError) -> R {
        if let mapping, offset >= 0, offset + count <= mapping.count {
            return try body(UnsafeRawBufferPointer(rebasing: mapping[offset..<(offset + count)]))
        }
        let bytes = try read(count: count, at: offset)
        let result: Result<R, StorageError> = bytes.withUnsafeBytes { raw in
            Result { () throws(StorageError) in try body(raw) }
        }
        return try result.get()
    }

    var fileName: String { Self.fileName(order: order, generation: generation) }

    static func fileName(order: UInt64, generation: UInt32) -> String {
        "segment-" + hex(order, digits: 16) + "." + hex(UInt64(generation), digits: 8) + ".log"
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// The order and generation in a segment file name, or nil for any other name.
    static func parse(fileName: String) -> (order: UInt64, generation: UInt32)? {
        let utf8 = Array(fileName.utf8)
        guard utf8.count == 8 + 16 + 1 + 8 + 4, fileName.hasPrefix("segment-"), fileName.hasSuffix(".log"),
              utf8[24] == UInt8(ascii: ".") else { return nil }
        let orderText = String(decoding: utf8[8..<24], as: UTF8.self)
        let generationText = String(decoding: utf8[25..<33], as: UTF8.self)
        guard let order = UInt64(orderText, radix: 16), let generation = UInt32(generationText, radix: 16) else {
            return nil
        }
        return (order, generation)
    }

    func read(count: Int, at offset: Int) throws(StorageError) -> [UInt8] {
        try io(FileIO.read(descriptor, count: count, at: offset, path: path))
    }
}

/// Walks the records of a segment file in blocks, checking each one.
struct SegmentScanner {
    /// How a scan stopped.
    enum End: Equatable {
        /// At `offset`, the end of the bytes asked for, after whole records only.
        case clean(offset: Int)
        /// The bytes at `offset` are not a record.
        case fault(offset: Int, reason: String)
        /// The file ends inside the record at `offset`.
        case incomplete(offset: Int)
    }

    static let blockByteCount = 1 << 20

    /// Calls `body` with each record from `start` up to `end` (the file size when nil); `body`
    /// returns false to stop early (the scan then ends clean at the next record).
    static func scan(_ segment: Segment, from start: Int = 0, to end: Int? = nil,
                     _ body: (_ offset: Int, _ record: LogRecord, _ byteCount: Int) throws(StorageError) -> Bool)
        throws(StorageError) -> End {
        let fileEnd: Int
        if let end { fileEnd = end } else { fileEnd = try io(FileIO.size(segment.descriptor, path: segment.path)) }
        var blockStart = start
        var block: [UInt8] = []
        var position = start  // file offset of the next record
        while position < fileEnd {
            let inBlock = position - blockStart
            let decoding: Result<LogRecordDecoding, LogRecordFault> = block.withUnsafeBytes { raw in
                let available = UnsafeRawBufferPointer(rebasing: raw[min(inBlock, raw.count)...])
                return Result { () throws(LogRecordFault) in try LogRecord.decode(available) }
            }
            switch decoding {
            case .failure(let fault):
                return .fault(offset: position, reason: fault.description)
            case .success(.record(let record, let byteCount)):
                guard position + byteCount <= fileEnd else { return .incomplete(offset: position) }
                let keepGoing = try body(position, record, byteCount)
                if !keepGoing { return .clean(offset: position + byteCount) }
                position += byteCount
            case .success(.needMoreBytes(let needed)):
                if position + needed > fileEnd { return .incomplete(offset: position) }
                // Read a block that holds at least the whole record.
                blockStart = position
                block = try segment.read(count: min(fileEnd - position, max(needed, blockByteCount)), at: position)
                if block.count < needed { return .incomplete(offset: position) }
            }
        }
        return .clean(offset: position)
    }

    /// Whether any valid record starts after `offset` in the segment: tells a torn tail (none)
    /// from damage in the middle (some). Reads the rest of the file once.
    static func validRecordExists(in segment: Segment, after offset: Int) throws(StorageError) -> Bool {
        let size = try io(FileIO.size(segment.descriptor, path: segment.path))
        guard size > offset + 1 else { return false }
        let rest = try segment.read(count: size - offset - 1, at: offset + 1)
        return rest.withUnsafeBytes { raw in
            var candidate = 0
            while candidate + LogRecord.byteCountMin <= raw.count {
                if case .record? = try? LogRecord.decode(UnsafeRawBufferPointer(rebasing: raw[candidate...])) {
                    return true
                }
                candidate += 1
            }
            return false
        }
    }
}
