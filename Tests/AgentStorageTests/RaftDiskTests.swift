import Foundation
import Testing
@testable import AgentStorage
import Raft

/// A fresh directory under the system's temporary folder, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "tessera-raftdisk-\(safe)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.removeItem(atPath: path)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    var segmentFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasPrefix("log-") }.sorted()
    }
}

func fileBytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

func writeFile(_ path: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

/// Entries `range` of `term` with payloads that name them.
func entries(_ range: ClosedRange<LogIndex>, term: Term) -> [LogEntry] {
    range.map { LogEntry(term: term, index: $0, payload: Array("entry \($0) of term \(term)".utf8)) }
}

/// Opens the directory afresh (a restart) and loads it.
func reopen(_ directory: TemporaryDirectory, options: RaftDiskOptions = RaftDiskOptions()) throws -> (RaftDisk, RaftDurableState) {
    // The lock is an flock on a close-on-exec descriptor; a server process another test spawns
    // at the same moment shares it between its fork and its exec, so a reopen right after a
    // close may find it held for that moment (seen once in the full suite under load).
    for _ in 0..<100 {
        do {
            let disk = try RaftDisk(directory: directory.path, options: options)
            return (disk, try disk.load())
        } catch RaftDiskError.locked {
            usleep(20_000)
        }
    }
    let disk = try RaftDisk(directory: directory.path, options: options)
    return (disk, try disk.load())
}

/// Appends `entries` in one synced persist.
func append(_ disk: RaftDisk, _ entries: [LogEntry], hardState: HardState? = nil) throws {
    try disk.persist(snapshot: nil, logWrite: RaftReady.LogWrite(truncateFrom: entries[0].index, entries: entries),
                     hardState: hardState, sync: true)
}

@Suite("Raft disk")
struct RaftDiskTests {
    @Test func freshDirectoryLoadsTheStateOfANodeThatNeverRan() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (_, durable) = try reopen(directory)
        #expect(durable == RaftDurableState())
    }

    @Test func entriesHardStateAndSnapshotSurviveReopen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let hardState = HardState(term: 3, votedFor: NodeID(2), commitIndex: 7)
        let snapshot = RaftSnapshot(index: 4, term: 2, data: Array("state up to 4".utf8))
        do {
            let (disk, _) = try reopen(directory)
            try append(disk, entries(1...5, term: 2) + entries(6...9, term: 3), hardState: hardState)
            try disk.persist(snapshot: snapshot, logWrite: nil, hardState: nil, sync: true)
        }
        let (disk, durable) = try reopen(directory)
        #expect(durable.hardState == hardState)
        #expect(durable.snapshot == snapshot)
        #expect(durable.entries == entries(5...5, term: 2) + entries(6...9, term: 3))
        #expect(disk.recoveryReport.tornTail == nil)
        // The state restores a node (its preconditions on the log hold).
        let node = RaftNode(configuration: RaftConfiguration(id: NodeID(1), members: [NodeID(1), NodeID(2), NodeID(3)]),
                            restoring: durable)
        #expect(node.log.lastIndex == 9)
    }

    @Test func secondOpenOfALockedDirectoryIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let first = try RaftDisk(directory: directory.path)
        #expect(throws: RaftDiskError.locked(directory: directory.path)) { _ = try RaftDisk(directory: directory.path) }
        _ = first
    }

    @Test func truncateAndAppendReplacesTheSuffixAcrossReopen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // Small segments so the truncation removes whole segments and cuts into one.
        let options = RaftDiskOptions(segmentByteCountTarget: 256)
        do {
            let (disk, _) = try reopen(directory, options: options)
            try append(disk, entries(1...20, term: 1))
            #expect(disk.statistics.segmentCount > 3)
            try append(disk, entries(8...10, term: 2))
            #expect(disk.statistics.lastIndex == 10)
            try append(disk, entries(11...12, term: 2))
        }
        do {
            let (disk, durable) = try reopen(directory, options: options)
            #expect(durable.entries == entries(1...7, term: 1) + entries(8...12, term: 2))
            // Truncation back into the first segment, and to an empty suffix.
            try disk.persist(snapshot: nil, logWrite: RaftReady.LogWrite(truncateFrom: 2, entries: []), hardState: nil, sync: true)
            try append(disk, entries(2...3, term: 4))
        }
        let (_, again) = try reopen(directory, options: options)
        #expect(again.entries == entries(1...1, term: 1) + entries(2...3, term: 4))
        #expect(directory.segmentFiles == [RaftDisk.segmentFileName(firstIndex: 1)])
    }

    @Test func compactionAfterSnapshotsKeepsTheLogBounded() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let options = RaftDiskOptions(segmentByteCountTarget: 1024)
        var byteCountMax = 0
        do {
            let (disk, _) = try reopen(directory, options: options)
            for batch in 0..<100 {
                let first = LogIndex(batch * 10 + 1)
                try append(disk, entries(first...(first + 9), term: 1))
                if batch >= 2 {
                    // Compact behind the tail, as an agent does after applying.
                    let index = first - 5
                    try disk.persist(snapshot: RaftSnapshot(index: index, term: 1, data: Array("s\(index)".utf8)),
                                     logWrite: nil, hardState: nil, sync: true)
                }
                byteCountMax = max(byteCountMax, disk.statistics.logByteCount)
            }
            #expect(disk.statistics.snapshotIndex == 986)
        }
        // 1000 entries of ~40 bytes would be ~40 KB; the log never held more than a few segments.
        #expect(byteCountMax < 4 * 1024)
        #expect(directory.segmentFiles.count <= 3)
        let (_, durable) = try reopen(directory, options: options)
        #expect(durable.snapshot?.index == 986)
        #expect(durable.snapshot?.data == Array("s986".utf8))
        #expect(durable.entries == entries(987...1000, term: 1))
    }

    @Test func snapshotThatDoesNotMatchTheLogReplacesIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (disk, _) = try reopen(directory)
            try append(disk, entries(1...10, term: 1))
            // A leader's snapshot at 8 of term 2: the local entries after it are not its log.
            try disk.persist(snapshot: RaftSnapshot(index: 8, term: 2, data: [1]), logWrite: nil, hardState: nil, sync: true)
            #expect(disk.statistics.segmentCount == 0)
            try append(disk, entries(9...9, term: 2))
        }
        let (_, durable) = try reopen(directory)
        #expect(durable.snapshot?.index == 8)
        #expect(durable.entries == entries(9...9, term: 2))
    }

    @Test func staleLogLeftBesideAMismatchedSnapshotIsDiscardedOnLoad() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let saved: [UInt8]
        do {
            let (disk, _) = try reopen(directory)
            try append(disk, entries(1...10, term: 1))
            saved = try fileBytes(directory.path + "/" + directory.segmentFiles[0])
            try disk.persist(snapshot: RaftSnapshot(index: 8, term: 2, data: [1]), logWrite: nil, hardState: nil, sync: true)
        }
        // A crash after the snapshot's rename but before the old segment's removal was durable.
        try writeFile(directory.path + "/" + RaftDisk.segmentFileName(firstIndex: 1), saved)
        let (disk, durable) = try reopen(directory)
        #expect(durable.entries.isEmpty)
        #expect(disk.recoveryReport.discardedEntryCount == 2)
        #expect(directory.segmentFiles.isEmpty)
    }

    @Test func commitOnlyHardStateWithoutSyncWaitsForTheNextSync() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (disk, _) = try reopen(directory)
            try append(disk, entries(1...3, term: 1), hardState: HardState(term: 1, votedFor: NodeID(1), commitIndex: 0))
            let syncs = disk.statistics.syncCount
            try disk.persist(snapshot: nil, logWrite: nil, hardState: HardState(term: 1, votedFor: NodeID(1), commitIndex: 3), sync: false)
            #expect(disk.statistics.syncCount == syncs)
            // A new vote is a promise: synced although the caller said no.
            try disk.persist(snapshot: nil, logWrite: nil, hardState: HardState(term: 2, votedFor: NodeID(3), commitIndex: 3), sync: false)
            #expect(disk.statistics.syncCount == syncs + 1)
        }
        let (_, durable) = try reopen(directory)
        #expect(durable.hardState == HardState(term: 2, votedFor: NodeID(3), commitIndex: 3))
    }

    @Test func oneSyncPerTouchedFileNotPerEntry() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (disk, _) = try reopen(directory)
        try append(disk, entries(1...1, term: 1))
        let before = disk.statistics.syncCount
        try append(disk, entries(2...200, term: 1), hardState: HardState(term: 1, votedFor: nil, commitIndex: 1))
        // The segment and the hard-state file: two syncs for 199 entries.
        #expect(disk.statistics.syncCount == before + 2)
    }

    @Test func tornTailAtEveryByteOfTheLastRecordLoadsThePrefix() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (disk, _) = try reopen(directory)
            try append(disk, entries(1...4, term: 1))
        }
        let segment = directory.path + "/" + directory.segmentFiles[0]
        let whole = try fileBytes(segment)
        let lastRecordStart = whole.count - (RaftDiskFormat.recordHeaderByteCount + RaftCodec.encode(entries(4...4, term: 1)[0]).count)
        for cut in (lastRecordStart + 1)..<whole.count {
            try writeFile(segment, Array(whole[..<cut]))
            let (disk, durable) = try reopen(directory)
            #expect(durable.entries == entries(1...3, term: 1), "cut at \(cut)")
            #expect(disk.recoveryReport.tornTail?.contains("offset \(lastRecordStart)") == true, "cut at \(cut)")
            #expect(try fileBytes(segment).count == lastRecordStart, "the tear is cut off the file")
        }
    }

    @Test func flippedByteInAMiddleRecordIsRefusedWithFileAndOffset() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (disk, _) = try reopen(directory)
            try append(disk, entries(1...5, term: 1))
        }
        let segment = directory.path + "/" + directory.segmentFiles[0]
        var bytes = try fileBytes(segment)
        let recordByteCount = RaftDiskFormat.recordHeaderByteCount + RaftCodec.encode(entries(1...1, term: 1)[0]).count
        let second = RaftDiskFormat.segmentHeaderByteCount + recordByteCount
        bytes[second + RaftDiskFormat.recordHeaderByteCount + 3] ^= 0x40
        try writeFile(segment, bytes)
        #expect(throws: RaftDiskError.corruptRecord(file: segment, offset: second, reason: "record checksum mismatch")) {
            _ = try reopen(directory)
        }
        #expect(try fileBytes(segment) == bytes, "nothing is cut from a log that is refused")
    }

    @Test func damageInAnEarlierSegmentIsRefusedEvenAtItsEnd() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (disk, _) = try reopen(directory, options: RaftDiskOptions(segmentByteCountTarget: 128))
            try append(disk, entries(1...10, term: 1))
        }
        let first = directory.path + "/" + directory.segmentFiles[0]
        var bytes = try fileBytes(first)
        bytes.removeLast()
        try writeFile(first, bytes)
        #expect {
            _ = try reopen(directory, options: RaftDiskOptions(segmentByteCountTarget: 128))
        } throws: { error in
            guard case RaftDiskError.corruptRecord(let file, _, _) = error else { return false }
            return file == first
        }
    }

    @Test func newEntriesFollowedByOldOnesAreRefusedAsInconsistent() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // What an unsynced truncation could leave: new records of term 2 written over old
        // ones of term 1, and the old tail still there behind them.
        var bytes = RaftDiskFormat.segmentHeader(firstIndex: 1)
        for entry in entries(1...2, term: 1) + entries(3...3, term: 2) + entries(4...4, term: 1) {
            RaftDiskFormat.appendRecord(of: entry, to: &bytes)
        }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        try writeFile(directory.path + "/" + RaftDisk.segmentFileName(firstIndex: 1), bytes)
        #expect {
            _ = try reopen(directory)
        } throws: { error in
            guard case RaftDiskError.inconsistentLog = error else { return false }
            return true
        }
    }

    @Test func tornHardStateWriteKeepsThePreviousState() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (disk, _) = try reopen(directory)
            try disk.persist(snapshot: nil, logWrite: nil, hardState: HardState(term: 5, votedFor: NodeID(2)), sync: true)
            try disk.persist(snapshot: nil, logWrite: nil, hardState: HardState(term: 6, votedFor: nil), sync: true)
        }
        // The write of term 6 (sequence 2, slot 0) torn: its second half never reached the disk.
        let file = directory.path + "/hardstate"
        var bytes = try fileBytes(file)
        for offset in 20..<RaftDiskFormat.hardStateSlotByteCount { bytes[offset] = 0 }
        try writeFile(file, bytes)
        let (disk, durable) = try reopen(directory)
        #expect(durable.hardState == HardState(term: 5, votedFor: NodeID(2)))
        #expect(disk.recoveryReport.damagedHardStateSlot == 0)
        // The next write goes to the damaged slot, never over the intact one.
        try disk.persist(snapshot: nil, logWrite: nil, hardState: HardState(term: 7, votedFor: nil), sync: true)
        let after = try fileBytes(file)
        #expect(after[512..<1024] == bytes[512..<1024])
    }

    @Test func damagedSnapshotIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (disk, _) = try reopen(directory)
            try append(disk, entries(1...3, term: 1))
            try disk.persist(snapshot: RaftSnapshot(index: 2, term: 1, data: [1, 2, 3]), logWrite: nil, hardState: nil, sync: true)
        }
        let file = directory.path + "/snapshot"
        var bytes = try fileBytes(file)
        bytes[RaftDiskFormat.snapshotHeaderByteCount] ^= 1
        try writeFile(file, bytes)
        #expect(throws: RaftDiskError.corruptFile(file: file, reason: "snapshot checksum mismatch")) { _ = try reopen(directory) }
    }

    @Test func oversizedSegmentIsRefusedBeforeItIsRead() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (disk, _) = try reopen(directory)
            try append(disk, entries(1...50, term: 1))
        }
        let options = RaftDiskOptions(segmentByteCountTarget: 512, recordPayloadByteCountMax: 256, segmentByteCountMax: 1024)
        #expect {
            _ = try reopen(directory, options: options)
        } throws: { error in
            guard case RaftDiskError.limitExceeded = error else { return false }
            return true
        }
    }

    @Test func segmentCreationTornBeforeItsHeaderIsRemoved() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (disk, _) = try reopen(directory)
            try append(disk, entries(1...3, term: 1))
        }
        let partial = directory.path + "/" + RaftDisk.segmentFileName(firstIndex: 4)
        try writeFile(partial, Array(RaftDiskFormat.segmentHeader(firstIndex: 4).prefix(10)))
        let (disk, durable) = try reopen(directory)
        #expect(durable.entries == entries(1...3, term: 1))
        #expect(disk.recoveryReport.removedFiles == [RaftDisk.segmentFileName(firstIndex: 4)])
        try append(disk, entries(4...4, term: 1))
    }

    @Test func errorCodesAreStable() {
        let cases: [(RaftDiskError, Int)] = [
            (.systemCall(operation: "", path: "", errno: 0), 1), (.locked(directory: ""), 2),
            (.corruptRecord(file: "", offset: 0, reason: ""), 3), (.corruptFile(file: "", reason: ""), 4),
            (.inconsistentLog(file: "", offset: 0, reason: ""), 5), (.limitExceeded(file: "", reason: ""), 6),
            (.failed(reason: ""), 7),
        ]
        for (error, code) in cases { #expect(error.code == code) }
    }
}
