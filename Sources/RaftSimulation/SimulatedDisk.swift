public import Raft

/// One node's disk as the simulator sees it: an append-only file of checksummed records, of
/// which a prefix is synced. A crash loses the unsynced suffix, or keeps a torn piece of it;
/// recovery reads records up to the first incomplete or corrupt one, as a real driver must.
///
/// ```
/// record: | kind u8 | payload byte count u32 LE | checksum u32 LE | payload … |
/// ```
///
/// This is a model for testing the core's durability contract, not the agent's on-disk format.
public struct SimulatedDisk: Sendable {
    enum Kind: UInt8 {
        case hardState = 1  // RaftCodec hard state
        case truncate = 2   // u64 LE: the first index removed
        case entry = 3      // RaftCodec entry
        case snapshot = 4   // u64 LE index, u64 LE term, data
    }

    /// Everything written, synced or not.
    public private(set) var bytes: [UInt8] = []
    /// How many leading bytes survive a crash.
    public private(set) var syncedByteCount = 0
    /// How many crashes tore a record.
    public private(set) var tornWriteCount = 0

    /// An empty disk.
    public init() {}

    /// Writes what `ready` asks to persist, in the contract's order (not yet synced).
    public mutating func write(_ ready: RaftReady) {
        write(snapshot: ready.snapshot, logWrite: ready.logWrite, hardState: ready.hardState)
    }

    /// Writes the persistence part of a Ready, in the contract's order (not yet synced).
    public mutating func write(snapshot: RaftSnapshot?, logWrite: RaftReady.LogWrite?, hardState: HardState?) {
        if let snapshot {
            var payload = littleEndian(snapshot.index) + littleEndian(snapshot.term)
            payload += snapshot.data
            append(.snapshot, payload)
        }
        if let write = logWrite {
            append(.truncate, littleEndian(write.truncateFrom))
            for entry in write.entries { append(.entry, RaftCodec.encode(entry)) }
        }
        if let hardState { append(.hardState, RaftCodec.encode(hardState)) }
    }

    /// fsync: everything written so far survives a crash.
    public mutating func sync() { syncedByteCount = bytes.count }

    /// A crash: the unsynced suffix is lost, except that with probability `tornProbability`
    /// a random prefix of it stays (a torn write, possibly cutting a record in half).
    public mutating func crash(random: inout SeededGenerator, tornProbability: Double) {
        let unsynced = bytes.count - syncedByteCount
        var kept = 0
        if unsynced > 0 && random.chance(tornProbability) {
            kept = Int(random.next(upperBound: UInt64(unsynced)))
            tornWriteCount += 1
        }
        cutUnsynced(keeping: kept)
    }

    /// Drops all but `kept` bytes of the unsynced suffix (a crash that tore the write there).
    public mutating func cutUnsynced(keeping kept: Int) {
        let unsynced = bytes.count - syncedByteCount
        precondition(kept <= unsynced, "keeping \(kept) of \(unsynced) unsynced bytes")
        bytes.removeLast(unsynced - kept)
        syncedByteCount = bytes.count
    }

    /// Reads the durable state back, stopping at the first incomplete or corrupt record (a
    /// torn tail), which is then cut off so later appends follow good records.
    public mutating func recover() -> RaftDurableState {
        var state = RaftDurableState()
        var offset = 0
        while let (kind, payload, next) = record(at: offset) {
            apply(kind, payload, to: &state)
            offset = next
        }
        bytes.removeLast(bytes.count - offset)
        syncedByteCount = bytes.count
        return state
    }

    /// Rewrites the file from its durable state (a new file, fsynced, renamed over the old):
    /// compaction keeps the simulated disk as small as the log.
    public mutating func rewrite() {
        let state = recover()
        bytes = []
        var ready = RaftReady()
        ready.snapshot = state.snapshot
        if let first = state.entries.first { ready.logWrite = .init(truncateFrom: first.index, entries: state.entries) }
        ready.hardState = state.hardState
        write(ready)
        sync()
    }

    private mutating func append(_ kind: Kind, _ payload: [UInt8]) {
        bytes.append(kind.rawValue)
        // Simulated records are far below 4 GiB.
        bytes += littleEndian(UInt32(payload.count))
        bytes += littleEndian(checksum(kind.rawValue, payload[...]))
        bytes += payload
    }

    private func record(at offset: Int) -> (Kind, ArraySlice<UInt8>, Int)? {
        guard bytes.count - offset >= 9, let kind = Kind(rawValue: bytes[offset]) else { return nil }
        let count = Int(readLittleEndian(bytes[(offset + 1)..<(offset + 5)]))
        let stored = UInt32(truncatingIfNeeded: readLittleEndian(bytes[(offset + 5)..<(offset + 9)]))
        guard bytes.count - offset - 9 >= count else { return nil }
        let payload = bytes[(offset + 9)..<(offset + 9 + count)]
        guard checksum(kind.rawValue, payload) == stored else { return nil }
        return (kind, payload, offset + 9 + count)
    }

    private func apply(_ kind: Kind, _ payload: ArraySlice<UInt8>, to state: inout RaftDurableState) {
        // The simulator wrote these records itself and the checksum held: a decode failure is
        // a bug in the simulator or the codec.
        switch kind {
        case .hardState:
            do { state.hardState = try RaftCodec.decodeHardState(Array(payload)) } catch {
                preconditionFailure("simulated disk: hard state record unreadable: \(error)")
            }
        case .truncate:
            let from = readLittleEndian(payload.prefix(8))
            state.entries.removeAll { $0.index >= from }
        case .entry:
            let entry: LogEntry
            do { entry = try RaftCodec.decodeEntry(Array(payload)) } catch {
                preconditionFailure("simulated disk: entry record unreadable: \(error)")
            }
            let expected = (state.entries.last?.index ?? state.snapshot?.index ?? 0) + 1
            precondition(entry.index == expected, "simulated disk: entry \(entry.index) written after \(expected - 1)")
            state.entries.append(entry)
        case .snapshot:
            let start = payload.startIndex
            let index = readLittleEndian(payload[start..<(start + 8)])
            let term = readLittleEndian(payload[(start + 8)..<(start + 16)])
            state.snapshot = RaftSnapshot(index: index, term: term, data: Array(payload[(start + 16)...]))
            state.entries.removeAll { $0.index <= index }
        }
    }
}

/// FNV-1a over the kind and the payload: enough to tell a torn record from a whole one.
func checksum(_ kind: UInt8, _ payload: ArraySlice<UInt8>) -> UInt32 {
    var hash: UInt32 = 0x811C_9DC5
    hash = (hash ^ UInt32(kind)) &* 0x0100_0193
    for byte in payload { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
    return hash
}

func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

func readLittleEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    var value: UInt64 = 0
    for (shift, byte) in bytes.prefix(8).enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
    return value
}
