/// The most recent log records in memory, for a leader's followers to tail without reading
/// the segments (``ShardEngine/records(after:limit:byteLimit:)``).
///
/// A ring bounded by bytes: every record the engine appends while the tail is enabled goes
/// in (sharing its key and payload arrays with the record just written: no copy), and the
/// oldest ones fall out once the encoded sizes add up to more than `byteCountMax`. The
/// records it holds are contiguous in sequence: it holds every record with a sequence above
/// `coveredAfter` (sequences rise by one per append).
struct ReplicationTail: Sendable {
    let byteCountMax: Int
    /// Every record with a sequence above this one is in the ring.
    private(set) var coveredAfter: UInt64
    /// Slots before `start` are dropped records, removed in one step once they are many.
    private var records: [LogRecord] = []
    private var start = 0
    /// Sum of `encodedByteCount` of the records from `start` on.
    private(set) var byteCount = 0

    /// Dropped slots at the front tolerated before the array is shifted (amortized O(1)).
    private static let droppedSlotsMax = 1024

    /// An empty tail that covers the log after `lastSequence` (the shard's last sequence now).
    init(byteCountMax: Int, lastSequence: UInt64) {
        precondition(byteCountMax >= 0, "replicationTailByteCountMax \(byteCountMax) below 0")
        self.byteCountMax = byteCountMax
        self.coveredAfter = lastSequence
    }

    var count: Int { records.count - start }

    /// Adds the record just appended to the log, then drops the oldest ones above the budget
    /// (possibly this one: a record larger than the whole budget is read from disk).
    mutating func append(_ record: LogRecord) {
        precondition(record.sequence > (records.last?.sequence ?? coveredAfter),
                     "tail record \(record.sequence) after \(records.last?.sequence ?? coveredAfter)")
        records.append(record)
        byteCount += record.encodedByteCount
        while byteCount > byteCountMax && start < records.count {
            byteCount -= records[start].encodedByteCount
            coveredAfter = records[start].sequence
            // Release the dropped record's arrays now, not when the slots are shifted out.
            records[start].key = []
            records[start].payload = []
            start += 1
        }
        if start >= Self.droppedSlotsMax && start * 2 >= records.count {
            records.removeSubrange(0..<start)
            start = 0
        }
    }

    /// Whether every record after `sequence` is here.
    func covers(after sequence: UInt64) -> Bool { sequence >= coveredAfter }

    /// The records after `sequence`, at most what `batch` admits. Requires `covers(after:)`.
    ///
    /// Complexity: O(log n + k) for n records held and k returned.
    func records(after sequence: UInt64, into batch: inout RecordBatch) {
        precondition(covers(after: sequence), "tail covers after \(coveredAfter), asked after \(sequence)")
        // The first record with a sequence above `sequence` (binary search: sequences rise).
        var low = start, high = records.count
        while low < high {
            let middle = (low + high) / 2
            if records[middle].sequence <= sequence { low = middle + 1 } else { high = middle }
        }
        var position = low
        while position < records.count && batch.add(records[position]) { position += 1 }
    }
}

/// Records collected for one answer, within a count and a payload byte budget: at most
/// `limit` records whose payloads add up to at most `byteLimit` bytes, except that the first
/// record is always taken (so a record larger than the budget still travels, alone).
struct RecordBatch {
    let limit: Int
    let byteLimit: Int
    private(set) var records: [LogRecord] = []
    /// Records taken (by `take` alone or with `add`).
    private(set) var count = 0
    private(set) var payloadByteCount = 0

    init(limit: Int, byteLimit: Int) {
        precondition(limit >= 1, "record limit \(limit) below 1")
        precondition(byteLimit >= 0, "byte limit \(byteLimit) below 0")
        self.limit = limit
        self.byteLimit = byteLimit
    }

    var isFull: Bool { count >= limit }

    /// Counts a record of `payloadByteCount` bytes in if the limits allow; returns whether
    /// it did (for a caller that fetches the records themselves later).
    mutating func take(payloadByteCount bytes: Int) -> Bool {
        guard count == 0 || (count < limit && payloadByteCount + bytes <= byteLimit) else { return false }
        count += 1
        payloadByteCount += bytes
        return true
    }

    /// Takes `record` if the limits allow and returns whether another may follow.
    @discardableResult
    mutating func add(_ record: LogRecord) -> Bool {
        guard take(payloadByteCount: record.payload.count) else { return false }
        records.append(record)
        return !isFull
    }
}
