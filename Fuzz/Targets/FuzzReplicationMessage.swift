// libFuzzer target: the decoders of the replication messages between DBServers
// (`Sources/Replication/ReplicationMessages.swift`): `ApplyBatch`, `ApplyAnswer`,
// `ResyncBegin`, `ResyncSnapshot`, `RangeFetch`, `RangeDocuments`, `StreamStart`, and with
// mode bit 4 `RevisionList` (even) or `DocumentFetch` (odd). A follower
// decodes what a leader sent and the other way round; either may be a stale or broken peer.
//
// Input: a mode byte, then VelocyPack bytes, validated strictly first as the server does
// with a request body. Without bit 4, mode bits 0–2 choose the decoder in the order above (7
// is `StreamStart` too); bit 3
// decodes under small `ReplicationLimits` (so the limits are reached), else the defaults.
//
// Properties beyond "does not crash":
//
// - Decoding is deterministic: the same bytes give the same message or the same refusal.
// - Refusals are `.malformed` with a reason, never another case (those are the cores').
// - Round trip: an accepted message encodes (`vpack`) to valid VelocyPack that decodes to an
//   equal message, and encoding that again gives the same bytes.
// - Accepted batches: identity fields non-empty and at most 256 bytes, epoch positive;
//   operations strictly increasing in sequence after `previous`; at most `operationCountMax`
//   of them; keys, payloads and sizes within the limits; each kind's shape (a document has a
//   key, payload and size; a removal a key only; a truncation nothing).
// - Accepted fetches: 1 to `rangeCountMax` ranges, each low ≤ high, sorted and disjoint;
//   `byteLimit` in 1...64 MiB. Accepted range answers: documents only, in increasing
//   revision order.
// - Limits: one operation (range) fewer in `operationCountMax` (`rangeCountMax`) than the
//   message carries refuses it — down to a limit of 0.
//
// Build and run with `Fuzz/run.sh` (compiled with Sources/VelocyPack and Sources/Replication
// in one module). Seeded from `Protocol/vectors/replication/`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    ReplicationMessageFuzz.check(input)
    return 0
}

/// Stops the run with a message that names the property; libFuzzer saves the input.
func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzReplicationMessage property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum ReplicationMessageFuzz {
    static let smallLimits: ReplicationLimits = {
        var limits = ReplicationLimits()
        limits.operationCountMax = 4
        limits.documentByteCountMax = 64
        limits.keyByteCountMax = 8
        limits.rangeCountMax = 3
        limits.revisionCountMax = 3
        return limits
    }()

    static func check(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        guard let slice = try? Slice(validating: Array(input.dropFirst()), options: .strict) else { return }
        let limits = mode & 8 != 0 ? smallLimits : .default
        switch Int(mode & 7) + (mode & 0x10 != 0 ? 8 : 0) {
        case 0:
            guard let batch = decoded(input, { () throws(ReplicationError) in try ApplyBatch(decoding: slice, limits: limits) }) else { return }
            checkBatch(batch, limits, input)
            roundTrip(batch, \.vpack, input) { (slice) throws(ReplicationError) in try ApplyBatch(decoding: slice, limits: limits) }
        case 1:
            guard let answer = decoded(input, { () throws(ReplicationError) in try ApplyAnswer(decoding: slice) }) else { return }
            roundTrip(answer, \.vpack, input) { (slice) throws(ReplicationError) in try ApplyAnswer(decoding: slice) }
        case 2:
            guard let begin = decoded(input, { () throws(ReplicationError) in try ResyncBegin(decoding: slice) }) else { return }
            for name in [begin.database, begin.shard, begin.follower] { checkName(name, input) }
            roundTrip(begin, \.vpack, input) { (slice) throws(ReplicationError) in try ResyncBegin(decoding: slice) }
        case 3:
            guard let snapshot = decoded(input, { () throws(ReplicationError) in try ResyncSnapshot(decoding: slice) }) else { return }
            checkStream(snapshot.stream, input)
            roundTrip(snapshot, \.vpack, input) { (slice) throws(ReplicationError) in try ResyncSnapshot(decoding: slice) }
        case 4:
            guard let fetch = decoded(input, { () throws(ReplicationError) in try RangeFetch(decoding: slice, limits: limits) }) else { return }
            checkFetch(fetch, limits, input)
            roundTrip(fetch, \.vpack, input) { (slice) throws(ReplicationError) in try RangeFetch(decoding: slice, limits: limits) }
        case 5:
            guard let page = decoded(input, { () throws(ReplicationError) in try RangeDocuments(decoding: slice, limits: limits) }) else { return }
            checkDocuments(page, limits, input)
            roundTrip(page, \.vpack, input) { (slice) throws(ReplicationError) in try RangeDocuments(decoding: slice, limits: limits) }
        case 8, 10, 12, 14:
            guard let list = decoded(input, { () throws(ReplicationError) in try RevisionList(decoding: slice, limits: limits) }) else { return }
            if list.revisions.count > limits.revisionCountMax { violated("a revision list over the limit was accepted", input) }
            if zip(list.revisions, list.revisions.dropFirst()).contains(where: { $0 >= $1 }) { violated("revisions not increasing", input) }
            roundTrip(list, \.vpack, input) { (slice) throws(ReplicationError) in try RevisionList(decoding: slice, limits: limits) }
        case 9, 11, 13, 15:
            guard let fetch = decoded(input, { () throws(ReplicationError) in try DocumentFetch(decoding: slice, limits: limits) }) else { return }
            checkStream(fetch.stream, input)
            if fetch.revisions.isEmpty || fetch.revisions.count > limits.revisionCountMax { violated("document fetch count out of bounds", input) }
            if zip(fetch.revisions, fetch.revisions.dropFirst()).contains(where: { $0 >= $1 }) { violated("revisions not increasing", input) }
            if !(1...(64 << 20)).contains(fetch.byteLimit) { violated("byteLimit out of bounds", input) }
            roundTrip(fetch, \.vpack, input) { (slice) throws(ReplicationError) in try DocumentFetch(decoding: slice, limits: limits) }
        default:
            guard let start = decoded(input, { () throws(ReplicationError) in try StreamStart(decoding: slice) }) else { return }
            checkStream(start.stream, input)
            checkName(start.follower, input)
            roundTrip(start, \.vpack, input) { (slice) throws(ReplicationError) in try StreamStart(decoding: slice) }
        }
    }

    /// Decodes twice; the results must agree, and a refusal must be `.malformed` with a reason.
    static func decoded<Message: Equatable>(_ input: [UInt8], _ decode: () throws(ReplicationError) -> Message) -> Message? {
        let first = Result(catching: decode)
        guard Result(catching: decode) == first else { violated("decoding is not deterministic", input) }
        switch first {
        case .success(let message):
            return message
        case .failure(.malformed(let reason)):
            if reason.isEmpty { violated("refusal without a reason", input) }
            return nil
        case .failure(let error):
            violated("refused with \(error), not .malformed", input)
        }
    }

    /// The message's encoding is valid VelocyPack, decodes to it, and is canonical.
    static func roundTrip<Message: Equatable>(_ message: Message, _ encode: (Message) -> [UInt8], _ input: [UInt8],
                                              _ decode: (Slice) throws(ReplicationError) -> Message) {
        let bytes = encode(message)
        let again: Message
        do {
            again = try decode(Slice(validating: bytes, options: .strict))
        } catch {
            violated("the re-encoded message is refused: \(error)", input)
        }
        if again != message { violated("the re-encoded message decodes differently", input) }
        if encode(again) != bytes { violated("the encoding is not canonical", input) }
    }

    static func checkName(_ name: String, _ input: [UInt8]) {
        if name.isEmpty || name.utf8.count > 256 { violated("name of \(name.utf8.count) bytes accepted", input) }
    }

    static func checkStream(_ stream: StreamIdentity, _ input: [UInt8]) {
        for name in [stream.database, stream.shard, stream.leader] { checkName(name, input) }
        if stream.epoch == 0 { violated("epoch 0 accepted", input) }
    }

    static func checkBatch(_ batch: ApplyBatch, _ limits: ReplicationLimits, _ input: [UInt8]) {
        checkStream(batch.stream, input)
        if batch.operations.count > limits.operationCountMax { violated("\(batch.operations.count) operations accepted", input) }
        var last = batch.previous
        for operation in batch.operations {
            if operation.sequence <= last { violated("sequence \(operation.sequence) accepted after \(last)", input) }
            last = operation.sequence
            checkOperation(operation, limits, input)
        }
        if batch.last != last { violated("`last` is \(batch.last), not \(last)", input) }
        guard !batch.operations.isEmpty else { return }
        var fewer = limits
        fewer.operationCountMax = batch.operations.count - 1
        refuses(input) { () throws(ReplicationError) in _ = try ApplyBatch(decoding: Slice(trustedBytes: batch.vpack), limits: fewer) }
    }

    static func checkOperation(_ operation: ReplicatedOperation, _ limits: ReplicationLimits, _ input: [UInt8]) {
        if operation.key.count > limits.keyByteCountMax { violated("key of \(operation.key.count) bytes accepted", input) }
        if operation.payload.count > limits.documentByteCountMax || Int(operation.documentByteCount) > limits.documentByteCountMax {
            violated("document of \(operation.payload.count) (\(operation.documentByteCount)) bytes accepted", input)
        }
        if operation.flags > 1 { violated("flags \(operation.flags) accepted", input) }
        let shaped = switch operation.kind {
        case .document: !operation.key.isEmpty && !operation.payload.isEmpty && operation.documentByteCount > 0
        case .removal: !operation.key.isEmpty && operation.payload.isEmpty && operation.documentByteCount == 0
        case .truncation: operation.key.isEmpty && operation.payload.isEmpty && operation.documentByteCount == 0
        }
        if !shaped { violated("\(operation.kind) of the wrong shape accepted", input) }
    }

    static func checkFetch(_ fetch: RangeFetch, _ limits: ReplicationLimits, _ input: [UInt8]) {
        checkStream(fetch.stream, input)
        if !(1...(64 << 20)).contains(fetch.byteLimit) { violated("byteLimit \(fetch.byteLimit) accepted", input) }
        if fetch.ranges.isEmpty || fetch.ranges.count > limits.rangeCountMax { violated("\(fetch.ranges.count) ranges accepted", input) }
        for (before, after) in zip(fetch.ranges, fetch.ranges.dropFirst()) where before.upperBound >= after.lowerBound {
            violated("ranges \(before) and \(after) accepted out of order", input)
        }
        var fewer = limits
        fewer.rangeCountMax = fetch.ranges.count - 1
        refuses(input) { () throws(ReplicationError) in _ = try RangeFetch(decoding: Slice(trustedBytes: fetch.vpack), limits: fewer) }
    }

    static func checkDocuments(_ page: RangeDocuments, _ limits: ReplicationLimits, _ input: [UInt8]) {
        if page.documents.count > limits.operationCountMax { violated("\(page.documents.count) documents accepted", input) }
        var last: UInt64? = nil
        for document in page.documents {
            if document.kind != .document { violated("\(document.kind) accepted in a range answer", input) }
            if let last, document.revision <= last { violated("revision \(document.revision) accepted after \(last)", input) }
            last = document.revision
            checkOperation(document, limits, input)
        }
        guard !page.documents.isEmpty else { return }
        var fewer = limits
        fewer.operationCountMax = page.documents.count - 1
        refuses(input) { () throws(ReplicationError) in _ = try RangeDocuments(decoding: Slice(trustedBytes: page.vpack), limits: fewer) }
    }

    /// The decode must be refused as `.malformed` (a limit one below what the message needs).
    static func refuses(_ input: [UInt8], _ decode: () throws(ReplicationError) -> Void) {
        do {
            try decode()
            violated("accepted above a limit lowered to one less than the message needs", input)
        } catch {
            guard case .malformed = error else { violated("a lowered limit refused with \(error)", input) }
        }
    }
}
