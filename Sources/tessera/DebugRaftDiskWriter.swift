import AgentStorage
import ArgumentParser
import Foundation
import Raft

/// `tessera debug raft-disk-writer`: the victim of the Raft disk crash test.
///
/// Opens (or creates) a Raft directory, loads it, raises the term by one (as a restarted node
/// that wins an election would) and appends batches of 1–8 entries with `sync`, compacting
/// behind itself with a snapshot every `--snapshot-every` entries, so a `kill -9` can land in
/// an append, a segment roll-over, a snapshot or a compaction. After every persist returns it
/// prints one line (one `write`), the acknowledgement:
///
/// ```
/// A <last index of the batch> <term>
/// ```
///
/// Entry `i` of term `t` carries ``payload(index:term:)``; the snapshot at `i` carries
/// `"snapshot <i>"`. Small segments (`--segment-bytes`) make roll-overs frequent.
struct RaftDiskWriter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft-disk-writer", abstract: "Append synced Raft entries until killed (crash tests).")

    @Option(help: "Raft directory.") var directory: String
    @Option(help: "Entries to append before exiting on its own.") var entries: Int = 100_000
    @Option(help: "Segment size target in bytes.") var segmentBytes: Int = 16 << 10
    @Option(help: "Take a snapshot (and compact) every so many entries; 0: never.") var snapshotEvery: Int = 300

    /// The payload of entry `index` in `term`: its size varies with the index so records
    /// straddle pages and segment ends differently.
    static func payload(index: LogIndex, term: Term) -> [UInt8] {
        Array(String(repeating: "\(index)/\(term);", count: 1 + Int(index % 37)).utf8)
    }

    func run() throws {
        guard (1...10_000_000).contains(entries), segmentBytes >= 1024 else {
            throw ValidationError("--entries must be 1...10000000 and --segment-bytes at least 1024")
        }
        let disk = try RaftDisk(directory: directory, options: RaftDiskOptions(segmentByteCountTarget: segmentBytes))
        let durable = try disk.load()
        let term = durable.hardState.term + 1
        var hardState = HardState(term: term, votedFor: NodeID(1), commitIndex: durable.hardState.commitIndex)
        try disk.persist(snapshot: nil, logWrite: nil, hardState: hardState, sync: true)
        var last = durable.entries.last?.index ?? durable.snapshot?.index ?? 0
        var lastSnapshot = durable.snapshot?.index ?? 0
        var written = 0
        while written < entries {
            let count = 1 + Int(last % 8)
            let batch = (1...count).map { offset in
                let index = last + LogIndex(offset)
                return LogEntry(term: term, index: index, payload: Self.payload(index: index, term: term))
            }
            last += LogIndex(count)
            written += count
            hardState.commitIndex = last
            var snapshot: RaftSnapshot?
            // The snapshot covers entries of an earlier batch, already durable: compaction
            // behind the tail, as an agent does after applying.
            if snapshotEvery > 0, last - lastSnapshot >= LogIndex(snapshotEvery) + 16 {
                let index = last - 16
                snapshot = RaftSnapshot(index: index, term: try termOfDurable(index, durable: durable, currentTerm: term),
                                        data: Array("snapshot \(index)".utf8))
                lastSnapshot = index
            }
            try disk.persist(snapshot: snapshot, logWrite: RaftReady.LogWrite(truncateFrom: batch[0].index, entries: batch),
                             hardState: hardState, sync: true)
            writeLineToStandardOutput("A \(last) \(term)")
        }
    }

    /// The term of a durable entry: one loaded from disk, or one of this run's.
    private func termOfDurable(_ index: LogIndex, durable: RaftDurableState, currentTerm: Term) throws -> Term {
        if let entry = durable.entries.first(where: { $0.index == index }) { return entry.term }
        if let snapshot = durable.snapshot, snapshot.index == index { return snapshot.term }
        return currentTerm
    }
}
