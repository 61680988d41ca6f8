import VelocyPack

/// A fault in the bytes of a Raft message (or persisted Raft record), with a stable code.
/// Every such fault is the sender's (or the disk's); the receiver drops the message.
public struct RaftCodecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Stable error codes (only appended to).
    public enum Code: String, Sendable, CaseIterable {
        /// Not one valid VelocyPack value (strict validation: UTF-8, unique keys, no tags or
        /// custom types), or larger than ``RaftCodecLimits/messageByteCountMax``.
        case invalidVelocyPack
        /// Valid VelocyPack of the wrong shape: not an object, an unknown or missing field,
        /// or a field of the wrong type.
        case malformed
        /// The `type` field names no message kind.
        case unknownType
        /// A count or size above a ``RaftCodecLimits`` limit.
        case limitExceeded
        /// Fields that are well-formed alone but contradict each other (entries that do not
        /// follow the previous index, a node id of 0, a term of 0 …).
        case inconsistent

        /// A stable number for the code (declaration order from 1).
        public var number: Int { Self.allCases.firstIndex(of: self)! + 1 }
    }

    /// What went wrong.
    public let code: Code
    /// A short human explanation; not part of the stable contract.
    public let detail: String

    /// Creates an error.
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code.rawValue): \(detail)" }

    /// Equality compares the code only; the detail text is free to improve.
    public static func == (lhs: RaftCodecError, rhs: RaftCodecError) -> Bool { lhs.code == rhs.code }
}

/// The limits a decoder enforces on bytes from a peer.
public struct RaftCodecLimits: Sendable, Equatable {
    /// The largest message accepted, in bytes (a snapshot travels whole, so this bounds it).
    public var messageByteCountMax: Int
    /// The most entries in one appendEntries.
    public var entryCountMax: Int

    /// 64 MiB and 10 000 entries: well above what the default configuration sends.
    public static let `default` = RaftCodecLimits(messageByteCountMax: 64 << 20, entryCountMax: 10_000)

    /// Creates limits.
    public init(messageByteCountMax: Int, entryCountMax: Int) {
        self.messageByteCountMax = messageByteCountMax
        self.entryCountMax = entryCountMax
    }
}

/// The VelocyPack encoding of Raft messages, entries and hard state (`Protocol/Raft.md` §2).
///
/// A message is one object: `type`, `from`, `to`, `term`, then the fields of its kind. An
/// entry is a four-member array `[index, term, kind, payload]` with the payload as Binary.
public enum RaftCodec {
    /// The bytes of `message`.
    public static func encode(_ message: RaftMessage) -> [UInt8] {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "type", message.body.kindName)
        builder.add(key: "from", message.from.rawValue)
        builder.add(key: "to", message.to.rawValue)
        builder.add(key: "term", message.term)
        switch message.body {
        case .preVote(let lastIndex, let lastTerm), .requestVote(let lastIndex, let lastTerm):
            builder.add(key: "lastLogIndex", lastIndex)
            builder.add(key: "lastLogTerm", lastTerm)
        case .preVoteResponse(let granted), .requestVoteResponse(let granted):
            builder.add(key: "granted", granted)
        case .appendEntries(let previousIndex, let previousTerm, let entries, let leaderCommit):
            builder.add(key: "prevLogIndex", previousIndex)
            builder.add(key: "prevLogTerm", previousTerm)
            builder.add(key: "leaderCommit", leaderCommit)
            builder.add(key: "entries")
            builder.openArray()
            for entry in entries { add(entry, to: &builder) }
            builder.closeOwnCompound()
        case .appendEntriesResponse(let success, let matchIndex, let rejectedIndex, let hintIndex):
            builder.add(key: "success", success)
            builder.add(key: "matchIndex", matchIndex)
            builder.add(key: "rejectedIndex", rejectedIndex)
            builder.add(key: "hintIndex", hintIndex)
        case .heartbeat(let commitIndex, let readContext):
            builder.add(key: "commitIndex", commitIndex)
            builder.add(key: "readContext", readContext)
        case .heartbeatResponse(let readContext):
            builder.add(key: "readContext", readContext)
        case .installSnapshot(let snapshot):
            builder.add(key: "snapshotIndex", snapshot.index)
            builder.add(key: "snapshotTerm", snapshot.term)
            builder.add(key: "data")
            builder.addBinary(snapshot.data)
        case .installSnapshotResponse(let matchIndex):
            builder.add(key: "matchIndex", matchIndex)
        }
        builder.closeOwnCompound()
        return builder.bytes
    }

    /// Validates and decodes one message from untrusted bytes.
    ///
    /// - Throws: ``RaftCodecError`` naming the first fault; nothing is allocated from a count
    ///   in the bytes before the validator has checked that the bytes for it are there.
    public static func decodeMessage(_ bytes: [UInt8], limits: RaftCodecLimits = .default) throws(RaftCodecError) -> RaftMessage {
        let object = try validatedObject(bytes, byteCountMax: limits.messageByteCountMax)
        var fields = try FieldReader(object)
        guard let typeName = try fields.string("type") else { throw RaftCodecError(.malformed, "missing field type") }
        let from = try nodeID(fields.uint("from"), "from")
        let to = try nodeID(fields.uint("to"), "to")
        let term = try fields.required("term")
        let body: RaftMessage.Body
        switch typeName {
        case "preVote":
            body = .preVote(lastLogIndex: try fields.required("lastLogIndex"), lastLogTerm: try fields.required("lastLogTerm"))
        case "requestVote":
            body = .requestVote(lastLogIndex: try fields.required("lastLogIndex"), lastLogTerm: try fields.required("lastLogTerm"))
        case "preVoteResponse":
            body = .preVoteResponse(granted: try fields.requiredBool("granted"))
        case "requestVoteResponse":
            body = .requestVoteResponse(granted: try fields.requiredBool("granted"))
        case "appendEntries":
            let previousIndex = try fields.required("prevLogIndex")
            let previousTerm = try fields.required("prevLogTerm")
            let leaderCommit = try fields.required("leaderCommit")
            let entries = try decodeEntries(fields.array("entries"), after: previousIndex, term: term, limits: limits)
            body = .appendEntries(previousLogIndex: previousIndex, previousLogTerm: previousTerm,
                                  entries: entries, leaderCommit: leaderCommit)
        case "appendEntriesResponse":
            body = .appendEntriesResponse(
                success: try fields.requiredBool("success"), matchIndex: try fields.required("matchIndex"),
                rejectedIndex: try fields.required("rejectedIndex"), hintIndex: try fields.required("hintIndex"))
        case "heartbeat":
            body = .heartbeat(commitIndex: try fields.required("commitIndex"), readContext: try fields.required("readContext"))
        case "heartbeatResponse":
            body = .heartbeatResponse(readContext: try fields.required("readContext"))
        case "installSnapshot":
            let index = try fields.required("snapshotIndex")
            let snapshotTerm = try fields.required("snapshotTerm")
            guard let data = try fields.binary("data") else { throw RaftCodecError(.malformed, "missing field data") }
            guard index > 0, snapshotTerm > 0, snapshotTerm <= term else {
                throw RaftCodecError(.inconsistent, "snapshot at index \(index), term \(snapshotTerm) from term \(term)")
            }
            body = .installSnapshot(RaftSnapshot(index: index, term: snapshotTerm, data: data))
        case "installSnapshotResponse":
            body = .installSnapshotResponse(matchIndex: try fields.required("matchIndex"))
        default:
            throw RaftCodecError(.unknownType, "unknown message type \"\(typeName)\"")
        }
        try fields.finish()
        guard term > 0 else { throw RaftCodecError(.inconsistent, "term 0") }
        guard from != to else { throw RaftCodecError(.inconsistent, "message from \(from) to itself") }
        return RaftMessage(from: from, to: to, term: term, body: body)
    }

    /// The bytes of one entry: `[index, term, kind, payload]`.
    public static func encode(_ entry: LogEntry) -> [UInt8] {
        var builder = Builder()
        add(entry, to: &builder)
        return builder.bytes
    }

    /// Validates and decodes one entry.
    public static func decodeEntry(_ bytes: [UInt8], byteCountMax: Int = RaftCodecLimits.default.messageByteCountMax) throws(RaftCodecError) -> LogEntry {
        try entry(validated(bytes, byteCountMax: byteCountMax))
    }

    /// The bytes of a hard state: `{term, votedFor, commitIndex}` (votedFor 0 = nobody).
    public static func encode(_ hardState: HardState) -> [UInt8] {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "term", hardState.term)
        builder.add(key: "votedFor", hardState.votedFor?.rawValue ?? 0)
        builder.add(key: "commitIndex", hardState.commitIndex)
        builder.closeOwnCompound()
        return builder.bytes
    }

    /// Validates and decodes a hard state.
    public static func decodeHardState(_ bytes: [UInt8]) throws(RaftCodecError) -> HardState {
        var fields = try FieldReader(validatedObject(bytes, byteCountMax: 1 << 10))
        let term = try fields.required("term")
        let voted = try fields.required("votedFor")
        let commitIndex = try fields.required("commitIndex")
        try fields.finish()
        return HardState(term: term, votedFor: voted == 0 ? nil : NodeID(voted), commitIndex: commitIndex)
    }

    // MARK: - Helpers

    private static func add(_ entry: LogEntry, to builder: inout Builder) {
        builder.openArray()
        builder.add(entry.index)
        builder.add(entry.term)
        builder.add(UInt64(entry.kind.rawValue))
        builder.addBinary(entry.payload)
        builder.closeOwnCompound()
    }

    /// Validates untrusted bytes strictly (UTF-8, unique keys, no tags or custom types) as
    /// one value of at most `byteCountMax` bytes.
    private static func validated(_ bytes: [UInt8], byteCountMax: Int) throws(RaftCodecError) -> Slice {
        var options = Validator.Options.strict
        options.byteCountMax = byteCountMax
        do throws(VPackError) {
            return try Slice(validating: bytes, options: options)
        } catch {
            throw RaftCodecError(.invalidVelocyPack, "\(error)")
        }
    }

    private static func validatedObject(_ bytes: [UInt8], byteCountMax: Int) throws(RaftCodecError) -> Slice {
        let slice = try validated(bytes, byteCountMax: byteCountMax)
        guard slice.isObject else { throw RaftCodecError(.malformed, "a message must be an object, not \(slice.type)") }
        return slice
    }

    private static func nodeID(_ raw: UInt64?, _ name: String) throws(RaftCodecError) -> NodeID {
        guard let raw else { throw RaftCodecError(.malformed, "missing field \(name)") }
        guard raw != 0 else { throw RaftCodecError(.inconsistent, "\(name) is node 0") }
        return NodeID(raw)
    }

    private static func decodeEntries(
        _ array: Slice?, after previousIndex: LogIndex, term: Term, limits: RaftCodecLimits
    ) throws(RaftCodecError) -> [LogEntry] {
        guard let array else { throw RaftCodecError(.malformed, "missing field entries") }
        let count = array.count
        guard count <= limits.entryCountMax else {
            throw RaftCodecError(.limitExceeded, "\(count) entries, at most \(limits.entryCountMax)")
        }
        var entries: [LogEntry] = []
        entries.reserveCapacity(count)  // bounded by the limit and by the validated bytes
        for element in array.arrayElements {
            let entry = try entry(element)
            // Entries follow the previous index one by one, never from a newer term than
            // the sender's (Raft §5.3; a follower also checks this before using them).
            guard entry.index == previousIndex &+ 1 &+ LogIndex(entries.count), entry.term > 0, entry.term <= term,
                  entry.term >= (entries.last?.term ?? 0) else {
                throw RaftCodecError(.inconsistent, "entry \(entries.count) (index \(entry.index), term \(entry.term)) does not follow index \(previousIndex) in term \(term)")
            }
            entries.append(entry)
        }
        return entries
    }

    private static func entry(_ slice: Slice) throws(RaftCodecError) -> LogEntry {
        guard slice.isArray, slice.count == 4 else { throw RaftCodecError(.malformed, "an entry must be an array of 4") }
        guard let index = slice[0]?.uintValue, let term = slice[1]?.uintValue,
              let rawKind = slice[2]?.uintValue, let payload = slice[3]?.binaryValue else {
            throw RaftCodecError(.malformed, "an entry is [index, term, kind, payload]")
        }
        guard rawKind <= UInt64(UInt8.max), let kind = LogEntry.Kind(rawValue: UInt8(rawKind)) else {
            throw RaftCodecError(.malformed, "unknown entry kind \(rawKind)")
        }
        guard kind == .command || payload.isEmpty else { throw RaftCodecError(.inconsistent, "no-op entry with a payload") }
        guard index > 0 else { throw RaftCodecError(.inconsistent, "entry at index 0") }
        return LogEntry(term: term, index: index, kind: kind, payload: Array(payload))
    }
}

/// Reads the fields of a message object, each once, and refuses fields it was never asked for.
private struct FieldReader {
    let object: Slice
    var used: Set<String> = []

    init(_ object: Slice) throws(RaftCodecError) {
        self.object = object
        for (key, _) in object.objectMembers where key.stringValue == nil {
            throw RaftCodecError(.malformed, "object key is not a string")
        }
    }

    mutating func take(_ name: String) -> Slice? {
        used.insert(name)
        return object[name]
    }

    mutating func uint(_ name: String) throws(RaftCodecError) -> UInt64? {
        guard let value = take(name) else { return nil }
        guard let number = value.uintValue else { throw RaftCodecError(.malformed, "field \(name) must be an unsigned integer") }
        return number
    }

    mutating func required(_ name: String) throws(RaftCodecError) -> UInt64 {
        guard let value = try uint(name) else { throw RaftCodecError(.malformed, "missing field \(name)") }
        return value
    }

    mutating func requiredBool(_ name: String) throws(RaftCodecError) -> Bool {
        guard let value = take(name) else { throw RaftCodecError(.malformed, "missing field \(name)") }
        guard let flag = value.boolValue else { throw RaftCodecError(.malformed, "field \(name) must be a bool") }
        return flag
    }

    mutating func string(_ name: String) throws(RaftCodecError) -> String? {
        guard let value = take(name) else { return nil }
        guard let text = value.stringValue else { throw RaftCodecError(.malformed, "field \(name) must be a string") }
        return text
    }

    mutating func binary(_ name: String) throws(RaftCodecError) -> [UInt8]? {
        guard let value = take(name) else { return nil }
        guard let bytes = value.binaryValue else { throw RaftCodecError(.malformed, "field \(name) must be binary") }
        return Array(bytes)
    }

    mutating func array(_ name: String) throws(RaftCodecError) -> Slice? {
        guard let value = take(name) else { return nil }
        guard value.isArray else { throw RaftCodecError(.malformed, "field \(name) must be an array") }
        return value
    }

    /// Throws when the object has a field no reader asked for.
    func finish() throws(RaftCodecError) {
        guard object.count == used.count || object.objectMembers.allSatisfy({ used.contains($0.key.stringValue ?? "") }) else {
            let unknown = object.objectMembers.compactMap(\.key.stringValue).filter { !used.contains($0) }.sorted()
            throw RaftCodecError(.malformed, "unknown field(s) \(unknown.joined(separator: ", "))")
        }
    }
}

extension Builder {
    /// Closes a compound the codec opened with keys it wrote itself: only a duplicate-key
    /// check could fail, and the codec's builders do not ask for one.
    fileprivate mutating func closeOwnCompound() {
        do {
            try close()
        } catch {
            preconditionFailure("closing a Raft codec compound failed: \(error)")
        }
    }
}
