// libFuzzer target: the decoders of the agent's Raft disk (`RaftDiskFormat`), which read the
// log segments, the hard-state file and the snapshot file after a crash or disk damage
// (untrusted bytes).
//
// Input: a mode byte, then the bytes. Mode bits 0–1: 0 a log segment, 1 a hard-state file
// (padded with zeros or cut to its fixed size), 2 or 3 a snapshot file. Mode bit 2 set: the
// checksums are fixed before decoding (segment header and every record whose length fits,
// both hard-state slots, the snapshot's trailer), so the fuzzer explores the rules behind them.
//
// Properties beyond "does not crash":
//
// - Segment: a scan either throws one of the documented cases or returns entries that are
//   contiguous from the header's first index with non-decreasing terms; re-encoding them
//   (header plus records) scans back to the same entries with no stop; scanning only the
//   valid prefix gives the same entries with no stop; every cut inside the last accepted
//   record stops as `incomplete` with that record gone (a torn tail is never a record).
// - Hard state: an accepted file's newest slot re-encodes to the same 44 bytes; a file read
//   as never written has a blank slot 0 and the default state.
// - Snapshot: an accepted file re-encodes to exactly its bytes (the format has one encoding);
//   single-bit flips of it are refused.
//
// Build and run with `Fuzz/run.sh` (compiled with Sources/AgentStorage's pure files).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    RaftDiskFuzz.check(input)
    return 0
}

func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzRaftDisk property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum RaftDiskFuzz {
    static let payloadByteCountMax = 1 << 16
    static let file = "fuzz"

    static func check(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        let bytes = Array(input.dropFirst())
        let fix = mode & 4 != 0
        switch mode & 3 {
        case 0: checkSegment(fix ? fixedSegment(bytes) : bytes, input)
        case 1: checkHardState(fix ? fixedHardState(bytes) : paddedHardState(bytes), input)
        default: checkSnapshot(fix ? fixedSnapshot(bytes) : bytes, input)
        }
    }

    // MARK: - Segment

    static func store(_ value: UInt32, into bytes: inout [UInt8], at offset: Int) {
        StorageBytes.write(value, into: &bytes, at: offset)
    }

    static func fixedSegment(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        guard bytes.count >= RaftDiskFormat.segmentHeaderByteCount else { return bytes }
        store(CRC32C.checksum(bytes[0..<24]), into: &bytes, at: 24)
        var offset = RaftDiskFormat.segmentHeaderByteCount
        while bytes.count - offset >= RaftDiskFormat.recordHeaderByteCount {
            let length = bytes.withUnsafeBytes { StorageBytes.read(UInt32.self, $0, at: offset) }
            let start = offset + RaftDiskFormat.recordHeaderByteCount
            guard length > 0, Int(length) <= bytes.count - start else { break }
            store(RaftDiskFormat.recordChecksum(length: length, payload: bytes[start..<(start + Int(length))]), into: &bytes, at: offset + 4)
            offset = start + Int(length)
        }
        return bytes
    }

    static func scan(_ bytes: [UInt8], _ input: [UInt8]) -> RaftDiskFormat.SegmentScan? {
        do {
            return try RaftDiskFormat.scanSegment(bytes, file: file, payloadByteCountMax: payloadByteCountMax)
        } catch {
            switch error {
            case .corruptFile, .corruptRecord, .inconsistentLog: return nil
            default: violated("scan threw an undocumented case \(error)", input)
            }
        }
    }

    static func checkSegment(_ bytes: [UInt8], _ input: [UInt8]) {
        guard bytes.count >= RaftDiskFormat.segmentHeaderByteCount, let scanned = scan(bytes, input) else { return }
        for (position, entry) in scanned.entries.enumerated() {
            if entry.index != scanned.firstIndex &+ LogIndex(position) { violated("entries not contiguous", input) }
            if position > 0 && entry.term < scanned.entries[position - 1].term { violated("terms decrease", input) }
        }
        if scanned.entries.count != scanned.offsets.count { violated("one offset per entry", input) }
        if (scanned.stop == nil) != (scanned.validByteCount == bytes.count) { violated("stop disagrees with the valid byte count", input) }
        var encoded = RaftDiskFormat.segmentHeader(firstIndex: scanned.firstIndex)
        for entry in scanned.entries { RaftDiskFormat.appendRecord(of: entry, to: &encoded) }
        guard let again = scan(encoded, input), again.entries == scanned.entries, again.stop == nil else {
            violated("re-encoded entries do not scan back", input)
        }
        guard let prefix = scan(Array(bytes[..<scanned.validByteCount]), input), prefix.entries == scanned.entries, prefix.stop == nil else {
            violated("the valid prefix scans differently", input)
        }
        guard let lastOffset = scanned.offsets.last else { return }
        for cut in (lastOffset + 1)..<scanned.validByteCount {
            guard let torn = scan(Array(bytes[..<cut]), input), torn.stop == .incomplete,
                  torn.entries == Array(scanned.entries.dropLast()) else {
                violated("a cut at \(cut) inside the last record is not an incomplete tail", input)
            }
        }
    }

    // MARK: - Hard state

    static func paddedHardState(_ input: [UInt8]) -> [UInt8] {
        let size = RaftDiskFormat.hardStateFileByteCount
        return Array(input.prefix(size)) + [UInt8](repeating: 0, count: max(0, size - input.count))
    }

    static func fixedHardState(_ input: [UInt8]) -> [UInt8] {
        var bytes = paddedHardState(input)
        for slot in 0..<2 {
            let start = slot * RaftDiskFormat.hardStateSlotStride
            store(CRC32C.checksum(bytes[start..<(start + 40)]), into: &bytes, at: start + 40)
        }
        return bytes
    }

    static func checkHardState(_ bytes: [UInt8], _ input: [UInt8]) {
        let read: RaftDiskFormat.HardStateRead
        do {
            read = try RaftDiskFormat.decodeHardStateFile(bytes, file: file)
        } catch {
            guard case .corruptFile = error else { violated("hard state threw \(error)", input) }
            return
        }
        if read.sequence == 0 {
            if read.state != HardState() || bytes[0..<RaftDiskFormat.hardStateSlotStride].contains(where: { $0 != 0 }) {
                violated("a never-written file with state or a written slot 0", input)
            }
            return
        }
        let start = Int(read.sequence % 2) * RaftDiskFormat.hardStateSlotStride
        let slot = Array(bytes[start..<(start + RaftDiskFormat.hardStateSlotByteCount)])
        if RaftDiskFormat.hardStateSlot(read.state, sequence: read.sequence) != slot {
            violated("the newest slot does not re-encode to its bytes", input)
        }
    }

    // MARK: - Snapshot

    static func fixedSnapshot(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        guard bytes.count >= 4 else { return bytes }
        store(CRC32C.checksum(bytes[..<(bytes.count - 4)]), into: &bytes, at: bytes.count - 4)
        return bytes
    }

    static func decodeSnapshot(_ bytes: [UInt8], _ input: [UInt8]) -> RaftSnapshot? {
        do {
            return try RaftDiskFormat.decodeSnapshotFile(bytes, file: file)
        } catch {
            guard case .corruptFile = error else { violated("snapshot threw \(error)", input) }
            return nil
        }
    }

    static func checkSnapshot(_ bytes: [UInt8], _ input: [UInt8]) {
        guard let snapshot = decodeSnapshot(bytes, input) else { return }
        if RaftDiskFormat.snapshotFile(snapshot) != bytes { violated("snapshot does not re-encode to its bytes", input) }
        // A bounded sample of flips: every bit of the first 48 bytes and of the last 4.
        let positions = Set(0..<min(48, bytes.count)).union(max(0, bytes.count - 4)..<bytes.count).sorted()
        for position in positions {
            for bit in 0..<8 {
                var flipped = bytes
                flipped[position] ^= UInt8(1 << bit)
                if decodeSnapshot(flipped, input) != nil { violated("a flip of bit \(bit) at \(position) is accepted", input) }
            }
        }
    }
}
