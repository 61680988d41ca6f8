/// The node's in-memory view of its log: the metadata (and data) of the latest snapshot and
/// every entry after it. The driver restores it from disk on restart
/// (``RaftNode/init(configuration:restoring:)``); the node never reads a disk itself.
///
/// ```
///   compacted           | snapshot |  entries[0]        entries[n-1]
///   1 ... snapshotIndex            |  snapshotIndex+1 … lastIndex
/// ```
public struct RaftLog: Sendable, Equatable {
    /// The latest snapshot, or an empty one at index 0 when the log was never compacted.
    public private(set) var snapshot: RaftSnapshot
    /// The entries after the snapshot, contiguous.
    public private(set) var entries: [LogEntry]

    /// An empty log.
    public init() {
        snapshot = RaftSnapshot(index: 0, term: 0, data: [])
        entries = []
    }

    /// A log from durable state. Entries at or below the snapshot are dropped; the rest must be
    /// contiguous and start right after the snapshot (a broken durable log is the driver's
    /// bug and traps).
    init(snapshot: RaftSnapshot?, entries durable: [LogEntry]) {
        let base = snapshot ?? RaftSnapshot(index: 0, term: 0, data: [])
        let kept = durable.filter { $0.index > base.index }
        for (offset, entry) in kept.enumerated() {
            precondition(entry.index == base.index + 1 + LogIndex(offset),
                         "durable log not contiguous after snapshot \(base.index): entry \(offset) has index \(entry.index)")
        }
        self.snapshot = base
        entries = kept
    }

    /// The index of the snapshot (0 when none).
    public var snapshotIndex: LogIndex { snapshot.index }
    /// The first index still held as an entry.
    public var firstIndex: LogIndex { snapshot.index + 1 }
    /// The index of the last entry (the snapshot's when there are no entries).
    public var lastIndex: LogIndex { snapshot.index + LogIndex(entries.count) }
    /// The term of the last entry.
    public var lastTerm: Term { entries.last?.term ?? snapshot.term }

    /// The term of the entry at `index`: known for the snapshot's index and for held entries;
    /// `nil` when compacted away or beyond the end.
    public func term(at index: LogIndex) -> Term? {
        if index == snapshot.index { return snapshot.term }
        guard index > snapshot.index, index <= lastIndex else { return nil }
        return entries[position(of: index)].term
    }

    /// The entry at `index`, or `nil` when compacted away or beyond the end.
    public func entry(at index: LogIndex) -> LogEntry? {
        guard index > snapshot.index, index <= lastIndex else { return nil }
        return entries[position(of: index)]
    }

    /// True when the log holds an entry (or the snapshot point) at `index` with `term`.
    public func matches(index: LogIndex, term: Term) -> Bool { self.term(at: index) == term }

    /// Entries from `index` on, at most `countMax` of them and at most `byteCountMax` payload
    /// bytes (but always at least one when there is one).
    public func entries(from index: LogIndex, countMax: Int, byteCountMax: Int) -> [LogEntry] {
        precondition(index > snapshot.index, "entries from \(index) asked for, compacted up to \(snapshot.index)")
        guard index <= lastIndex else { return [] }
        var result: [LogEntry] = []
        var byteCount = 0
        for entry in entries[position(of: index)...] {
            if result.count == countMax { break }
            if !result.isEmpty && byteCount + entry.payload.count > byteCountMax { break }
            byteCount += entry.payload.count
            result.append(entry)
        }
        return result
    }

    /// Entries in `range`, all of which must be held.
    func entries(in range: ClosedRange<LogIndex>) -> [LogEntry] {
        Array(entries[position(of: range.lowerBound)...position(of: range.upperBound)])
    }

    /// Removes every entry from `index` on.
    mutating func truncate(from index: LogIndex) {
        precondition(index > snapshot.index, "truncating at \(index) would cut into snapshot \(snapshot.index)")
        guard index <= lastIndex else { return }
        entries.removeSubrange(position(of: index)...)
    }

    /// Appends one entry right after the last.
    mutating func append(_ entry: LogEntry) {
        precondition(entry.index == lastIndex + 1, "appending index \(entry.index) after \(lastIndex)")
        entries.append(entry)
    }

    /// Replaces everything up to `snapshot.index` with the snapshot. When the log holds the
    /// snapshot's last entry, the entries after it stay (Raft §7: "retain log entries
    /// following it"); otherwise the whole log is discarded.
    mutating func install(_ snapshot: RaftSnapshot) {
        precondition(snapshot.index > self.snapshot.index,
                     "snapshot \(snapshot.index) does not advance on \(self.snapshot.index)")
        if matches(index: snapshot.index, term: snapshot.term) {
            entries.removeSubrange(..<(position(of: snapshot.index) + 1))
        } else {
            entries = []
        }
        self.snapshot = snapshot
    }

    private func position(of index: LogIndex) -> Int {
        // index > snapshot.index and ≤ lastIndex, so the difference fits the entry count.
        Int(index - snapshot.index - 1)
    }
}
