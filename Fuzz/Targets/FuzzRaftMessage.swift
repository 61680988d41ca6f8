// libFuzzer target: the Raft message decoder (`RaftCodec.decodeMessage`), which reads the
// bytes another agent sent (untrusted) into a `RaftMessage`.
//
// Input: a mode byte, then the bytes. Mode bit 0 clear: the bytes are a message to decode.
// Mode bit 0 set: the bytes are a program that builds a message (kind, ids, numbers,
// entries, payloads), which is encoded and must decode back.
//
// Properties beyond "does not crash":
//
// - An accepted message obeys what the decoder promises: non-zero and distinct ids, a
//   non-zero term, entries that follow the previous index one by one in non-decreasing terms
//   no newer than the message's, at most `entryCountMax` of them, no payload on a no-op.
// - Round trip: an accepted message encodes to bytes that decode to an equal message, and
//   encoding that again gives the same bytes (the encoding is canonical).
// - Limits: a `messageByteCountMax` one below the input's size refuses it; an
//   `entryCountMax` one below its entry count refuses it with `limitExceeded`.
// - Refusals carry a detail; every proper prefix of an encoded message is refused.
//
// Build and run with `Fuzz/run.sh` (compiled together with Sources/VelocyPack and
// Sources/Raft in one module).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    RaftMessageFuzz.check(input)
    return 0
}

/// Stops the run with a message that names the property; libFuzzer saves the input.
func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzRaftMessage property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum RaftMessageFuzz {
    static let limits = RaftCodecLimits(messageByteCountMax: 1 << 16, entryCountMax: 64)

    static func check(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        let bytes = Array(input.dropFirst())
        if mode & 1 == 1 {
            checkBuilt(build(bytes), input: input)
        } else {
            checkDecoded(bytes, input: input)
        }
    }

    static func checkDecoded(_ bytes: [UInt8], input: [UInt8]) {
        let message: RaftMessage
        do {
            message = try RaftCodec.decodeMessage(bytes, limits: limits)
        } catch {
            if error.detail.isEmpty { violated("refusal without detail", input) }
            return
        }
        checkInvariants(message, input: input)
        let encoded = RaftCodec.encode(message)
        guard let again = try? RaftCodec.decodeMessage(encoded, limits: limits), again == message else {
            violated("re-encoding does not decode to the same message", input)
        }
        if RaftCodec.encode(again) != encoded { violated("encoding is not canonical", input) }
        var smaller = limits
        smaller.messageByteCountMax = bytes.count - 1
        if (try? RaftCodec.decodeMessage(bytes, limits: smaller)) != nil { violated("accepted above messageByteCountMax", input) }
        if case .appendEntries(_, _, let entries, _) = message.body, !entries.isEmpty {
            var fewer = limits
            fewer.entryCountMax = entries.count - 1
            do {
                _ = try RaftCodec.decodeMessage(bytes, limits: fewer)
                violated("accepted above entryCountMax", input)
            } catch {
                if error.code != .limitExceeded { violated("entry limit refused with \(error.code)", input) }
            }
        }
    }

    static func checkInvariants(_ message: RaftMessage, input: [UInt8]) {
        if message.from == message.to || message.term == 0 { violated("ids or term not checked", input) }
        if case .appendEntries(let previousIndex, _, let entries, _) = message.body {
            if entries.count > limits.entryCountMax { violated("more entries than the limit", input) }
            var lastTerm: Term = 0
            for (offset, entry) in entries.enumerated() {
                if entry.index != previousIndex &+ 1 &+ LogIndex(offset) { violated("entries not contiguous", input) }
                if entry.term < lastTerm || entry.term > message.term { violated("entry terms out of order", input) }
                if entry.kind == .noop && !entry.payload.isEmpty { violated("no-op with payload", input) }
                lastTerm = entry.term
            }
        }
        if case .installSnapshot(let snapshot) = message.body, snapshot.term > message.term || snapshot.index == 0 {
            violated("snapshot metadata not checked", input)
        }
    }

    static func checkBuilt(_ message: RaftMessage, input: [UInt8]) {
        let encoded = RaftCodec.encode(message)
        let decoded: RaftMessage
        do {
            decoded = try RaftCodec.decodeMessage(encoded, limits: limits)
        } catch {
            violated("a valid message is refused: \(error)", input)
        }
        if decoded != message { violated("round trip changed the message", input) }
        guard encoded.count <= 512 else { return }
        for count in 0..<encoded.count where (try? RaftCodec.decodeMessage(Array(encoded.prefix(count)), limits: limits)) != nil {
            violated("a prefix of \(count) bytes is accepted", input)
        }
    }

    /// Builds a valid message from a program: each field takes the next bytes.
    static func build(_ program: [UInt8]) -> RaftMessage {
        var reader = ProgramReader(bytes: program)
        let from = NodeID(UInt64(reader.byte() % 7) + 1)
        let to = NodeID(from.rawValue % 7 + 1)
        let term = reader.number() | 1
        let body: RaftMessage.Body
        switch reader.byte() % 10 {
        case 0: body = .preVote(lastLogIndex: reader.number(), lastLogTerm: reader.number())
        case 1: body = .preVoteResponse(granted: reader.byte() & 1 == 1)
        case 2: body = .requestVote(lastLogIndex: reader.number(), lastLogTerm: reader.number())
        case 3: body = .requestVoteResponse(granted: reader.byte() & 1 == 1)
        case 4:
            let previousIndex = reader.number() >> 1
            let count = Int(reader.byte() % 8)
            var entries: [LogEntry] = []
            var entryTerm: Term = 1
            for offset in 0..<count {
                entryTerm = min(term, entryTerm + Term(reader.byte() % 3))
                let noop = reader.byte() % 4 == 0
                let payload = noop ? [] : reader.bytes(Int(reader.byte() % 40))
                entries.append(LogEntry(term: entryTerm, index: previousIndex + 1 + LogIndex(offset),
                                        kind: noop ? .noop : .command, payload: payload))
            }
            body = .appendEntries(previousLogIndex: previousIndex, previousLogTerm: reader.number(),
                                  entries: entries, leaderCommit: reader.number())
        case 5:
            body = .appendEntriesResponse(success: reader.byte() & 1 == 1, matchIndex: reader.number(),
                                          rejectedIndex: reader.number(), hintIndex: reader.number())
        case 6: body = .heartbeat(commitIndex: reader.number(), readContext: reader.number())
        case 7: body = .heartbeatResponse(readContext: reader.number())
        case 8:
            body = .installSnapshot(RaftSnapshot(index: reader.number() | 1, term: max(1, term >> (reader.byte() % 64)),
                                                 data: reader.bytes(Int(reader.byte()))))
        default: body = .installSnapshotResponse(matchIndex: reader.number())
        }
        return RaftMessage(from: from, to: to, term: term, body: body)
    }
}

/// Hands out the bytes of a program; zeros once it runs out.
struct ProgramReader {
    let bytes: [UInt8]
    var position = 0

    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        position += 1
        return bytes[position - 1]
    }

    /// A number of 0 to 8 bytes (the first byte says how many), to reach every width.
    mutating func number() -> UInt64 {
        let width = Int(byte() % 9)
        var value: UInt64 = 0
        for _ in 0..<width { value = value << 8 | UInt64(byte()) }
        return value
    }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }
}
