public import VelocyPack

/// One write of a shard as its leader's log stores it, shipped to a follower unchanged: the
/// follower stores the same payload bytes (Snappy-compressed when `flags` says so) under the
/// same key and revision, so every copy is byte for byte the leader's.
///
/// Mirrors the storage engine's log record; `Protocol/Replication.md` has the wire form.
public struct ReplicatedOperation: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case document = 1
        case removal = 2
        case truncation = 3
    }

    public var kind: Kind
    /// The leader's sequence number of the write (its position in the leader's log).
    public var sequence: UInt64
    public var revision: UInt64
    /// The document key as UTF-8 (empty for a truncation).
    public var key: [UInt8]
    /// Bit 0: the payload is one Snappy block.
    public var flags: UInt8
    /// The uncompressed document's size (0 unless a document).
    public var documentByteCount: UInt32
    /// The stored document bytes (empty unless a document).
    public var payload: [UInt8]

    public init(kind: Kind, sequence: UInt64, revision: UInt64, key: [UInt8], flags: UInt8 = 0,
                documentByteCount: UInt32 = 0, payload: [UInt8] = []) {
        self.kind = kind
        self.sequence = sequence
        self.revision = revision
        self.key = key
        self.flags = flags
        self.documentByteCount = documentByteCount
        self.payload = payload
    }

    /// The bytes the operation moves (key and payload), for progress and statistics.
    public var byteCount: Int { key.count + payload.count }

    /// `[kind, sequence, revision, key, flags, documentByteCount, payload]`: an array, so a
    /// batch of many small writes spends no bytes on attribute names.
    func encode(into builder: inout Builder) {
        builder.openArray()
        builder.add(UInt64(kind.rawValue))
        builder.add(sequence)
        builder.add(revision)
        key.withUnsafeBufferPointer { builder.addString(utf8: $0) }
        builder.add(UInt64(flags))
        builder.add(UInt64(documentByteCount))
        builder.addBinary(payload)
        builder.closeTrusted()
    }

    init(decoding slice: Slice, limits: ReplicationLimits) throws(ReplicationError) {
        guard slice.isArray, slice.count == 7 else {
            throw .malformed("an operation must be an array of 7 values")
        }
        let values = Array(slice.arrayElements)
        guard let kindNumber = values[0].uintValue, kindNumber <= UInt64(UInt8.max),
              let kind = Kind(rawValue: UInt8(kindNumber)) else {
            throw .malformed("operation kind must be 1 (document), 2 (removal) or 3 (truncation)")
        }
        guard let sequence = values[1].uintValue, sequence > 0 else { throw .malformed("operation sequence must be a positive integer") }
        guard let revision = values[2].uintValue else { throw .malformed("operation revision must be an unsigned integer") }
        guard let key = values[3].stringBytes else { throw .malformed("operation key must be a string") }
        guard key.count <= limits.keyByteCountMax else {
            throw .malformed("operation key of \(key.count) bytes exceeds \(limits.keyByteCountMax)")
        }
        guard let flags = values[4].uintValue, flags <= 1 else { throw .malformed("operation flags must be 0 or 1") }
        // Bounded by the limit and by UInt32 (a limit configured above 4 GiB must not trap below).
        guard let documentByteCount = values[5].uintValue, documentByteCount <= UInt64(limits.documentByteCountMax),
              documentByteCount <= UInt64(UInt32.max) else {
            throw .malformed("operation documentByteCount must be at most \(limits.documentByteCountMax)")
        }
        guard let payload = values[6].binaryValue else { throw .malformed("operation payload must be binary") }
        guard payload.count <= limits.documentByteCountMax else {
            throw .malformed("operation payload of \(payload.count) bytes exceeds \(limits.documentByteCountMax)")
        }
        switch kind {
        case .document:
            guard !key.isEmpty, !payload.isEmpty, documentByteCount > 0 else {
                throw .malformed("a document operation needs a key, a payload and its size")
            }
        case .removal:
            guard !key.isEmpty, payload.isEmpty, documentByteCount == 0 else {
                throw .malformed("a removal carries a key and nothing else")
            }
        case .truncation:
            guard key.isEmpty, payload.isEmpty, documentByteCount == 0 else {
                throw .malformed("a truncation carries no key and no payload")
            }
        }
        self.init(kind: kind, sequence: sequence, revision: revision, key: Array(key), flags: UInt8(flags),
                  documentByteCount: UInt32(documentByteCount), payload: Array(payload))
    }
}

/// The bounds a receiver puts on replication messages from the network.
public struct ReplicationLimits: Sendable, Equatable {
    /// The most operations in one batch.
    public var operationCountMax = 10_000
    /// The largest document (as the shard engine allows).
    public var documentByteCountMax = 16 << 20
    /// The longest key (ArangoDB's 254 bytes, with room).
    public var keyByteCountMax = 1024
    /// The most revision ranges one request names.
    public var rangeCountMax = 4096
    /// The most revisions one revision list or document fetch names.
    public var revisionCountMax = 1 << 20

    public init() {}
    public static let `default` = ReplicationLimits()
}

/// Identifies a shard's replication stream: which shard, which leader, which epoch.
///
/// The epoch fences stale leaders: a leader draws a fresh epoch from the agency each time
/// it takes up leadership of a shard, larger than every epoch drawn before, and a follower
/// accepts a stream only under the epoch of the session it began with the leader Plan
/// names. A paused, partitioned or restarted leader carries an older epoch (or its stream
/// is unknown to the follower) and is refused.
public struct StreamIdentity: Sendable, Equatable, Hashable {
    public var database: String
    public var shard: String
    public var leader: String
    public var epoch: UInt64

    public init(database: String, shard: String, leader: String, epoch: UInt64) {
        self.database = database
        self.shard = shard
        self.leader = leader
        self.epoch = epoch
    }

    func encode(into builder: inout Builder) {
        builder.add(key: "database", database)
        builder.add(key: "epoch", epoch)
        builder.add(key: "leader", leader)
        builder.add(key: "shard", shard)
    }

    init(decoding object: Slice) throws(ReplicationError) {
        database = try ReplicationMessage.string(object, "database")
        shard = try ReplicationMessage.string(object, "shard")
        leader = try ReplicationMessage.string(object, "leader")
        epoch = try ReplicationMessage.unsigned(object, "epoch")
        guard epoch > 0 else { throw .malformed("'epoch' must be positive") }
    }
}

/// Leader → follower: the next operations of the stream.
///
/// `previous` is the leader sequence of the last operation the stream carried before this
/// batch (the follower's position); the operations follow it in increasing sequence order.
/// A follower applies a batch only if `previous` is exactly its position, so a lost or
/// reordered batch is a gap that stops the stream (the leader then drops the follower, which
/// resyncs), and a batch already applied (`last` ≤ position) is answered again without
/// applying twice.
public struct ApplyBatch: Sendable, Equatable {
    public var stream: StreamIdentity
    public var previous: UInt64
    /// The follower makes the batch durable (`fdatasync`) before answering.
    public var waitForSync: Bool
    public var operations: [ReplicatedOperation]

    public init(stream: StreamIdentity, previous: UInt64, waitForSync: Bool, operations: [ReplicatedOperation]) {
        self.stream = stream
        self.previous = previous
        self.waitForSync = waitForSync
        self.operations = operations
    }

    /// The leader sequence the batch brings the follower to.
    public var last: UInt64 { operations.last?.sequence ?? previous }

    public var vpack: [UInt8] {
        var builder = Builder(capacity: 128 + operations.reduce(0) { $0 + $1.byteCount + 32 })
        builder.openObject()
        stream.encode(into: &builder)
        builder.add(key: "operations")
        builder.openArray()
        for operation in operations { operation.encode(into: &builder) }
        builder.closeTrusted()
        builder.add(key: "previous", previous)
        builder.add(key: "waitForSync", waitForSync)
        builder.closeTrusted()
        return builder.bytes
    }

    /// Decodes a batch from untrusted bytes (already a validated VelocyPack value).
    ///
    /// - Throws: ``ReplicationError/malformed(_:)`` naming the field, for a wrong type, a
    ///   missing field, too many operations or an operation out of order.
    public init(decoding slice: Slice, limits: ReplicationLimits = .default) throws(ReplicationError) {
        guard slice.isObject else { throw .malformed("a batch must be an object") }
        stream = try StreamIdentity(decoding: slice)
        previous = try ReplicationMessage.unsigned(slice, "previous")
        waitForSync = try slice["waitForSync"].map { (value) throws(ReplicationError) in
            guard let flag = value.boolValue else { throw .malformed("'waitForSync' must be a boolean") }
            return flag
        } ?? false
        guard let list = slice["operations"], list.isArray else { throw .malformed("'operations' must be an array") }
        let count = list.count
        guard count <= limits.operationCountMax else {
            throw .malformed("a batch of \(count) operations exceeds \(limits.operationCountMax)")
        }
        var operations: [ReplicatedOperation] = []
        operations.reserveCapacity(count)
        var last = previous
        for element in list.arrayElements {
            let operation = try ReplicatedOperation(decoding: element, limits: limits)
            guard operation.sequence > last else {
                throw .malformed("operation sequence \(operation.sequence) does not follow \(last)")
            }
            last = operation.sequence
            operations.append(operation)
        }
        self.operations = operations
    }
}

/// Follower → leader, the answer to a batch: the stream position after it (every operation
/// up to `applied` is applied, and durable when the batch asked for it).
public struct ApplyAnswer: Sendable, Equatable {
    public var applied: UInt64

    public init(applied: UInt64) { self.applied = applied }

    public var vpack: [UInt8] { vpackObject { $0.add(key: "applied", applied) } }

    public init(decoding slice: Slice) throws(ReplicationError) {
        guard slice.isObject else { throw .malformed("an answer must be an object") }
        applied = try ReplicationMessage.unsigned(slice, "applied")
    }
}

/// Follower → leader: begin a resync session. The leader answers with its Merkle tree and
/// the sequence it describes (every write after that sequence will reach the follower by
/// the stream), under the epoch of its current leadership.
public struct ResyncBegin: Sendable, Equatable {
    public var database: String
    public var shard: String
    public var follower: String

    public init(database: String, shard: String, follower: String) {
        self.database = database
        self.shard = shard
        self.follower = follower
    }

    public var vpack: [UInt8] {
        vpackObject { builder in
            builder.add(key: "database", database)
            builder.add(key: "follower", follower)
            builder.add(key: "shard", shard)
        }
    }

    public init(decoding slice: Slice) throws(ReplicationError) {
        guard slice.isObject else { throw .malformed("a resync begin must be an object") }
        database = try ReplicationMessage.string(slice, "database")
        shard = try ReplicationMessage.string(slice, "shard")
        follower = try ReplicationMessage.string(slice, "follower")
    }
}

/// The leader's answer to ``ResyncBegin``.
public struct ResyncSnapshot: Sendable, Equatable {
    public var stream: StreamIdentity
    /// The leader sequence the tree describes.
    public var sequence: UInt64
    /// The leader's document count at `sequence`.
    public var documentCount: UInt64
    /// `MerkleTree.serialized()` of the leader's tree at `sequence`.
    public var tree: [UInt8]

    public init(stream: StreamIdentity, sequence: UInt64, documentCount: UInt64, tree: [UInt8]) {
        self.stream = stream
        self.sequence = sequence
        self.documentCount = documentCount
        self.tree = tree
    }

    public var vpack: [UInt8] {
        vpackObject { builder in
            stream.encode(into: &builder)
            builder.add(key: "documentCount", documentCount)
            builder.add(key: "sequence", sequence)
            builder.add(key: "tree")
            builder.addBinary(tree)
        }
    }

    public init(decoding slice: Slice) throws(ReplicationError) {
        guard slice.isObject else { throw .malformed("a snapshot must be an object") }
        stream = try StreamIdentity(decoding: slice)
        sequence = try ReplicationMessage.unsigned(slice, "sequence")
        documentCount = try ReplicationMessage.unsigned(slice, "documentCount")
        guard let tree = slice["tree"]?.binaryValue else { throw .malformed("'tree' must be binary") }
        self.tree = Array(tree)
    }
}

/// Follower → leader: the current documents whose revisions lie in `ranges`, as stored,
/// starting after revision `after` (to page through a range that does not fit one answer).
public struct RangeFetch: Sendable, Equatable {
    public var stream: StreamIdentity
    public var ranges: [ClosedRange<UInt64>]
    /// Resume point: only revisions above it (nil: from each range's start).
    public var after: UInt64?
    public var byteLimit: Int
    /// Answer with the revisions only (a ``RevisionList``), not the documents: the first
    /// step of a resync, which then fetches only the revisions it lacks (``DocumentFetch``).
    public var revisionsOnly: Bool

    public init(stream: StreamIdentity, ranges: [ClosedRange<UInt64>], after: UInt64? = nil, byteLimit: Int = 4 << 20,
                revisionsOnly: Bool = false) {
        self.stream = stream
        self.ranges = ranges
        self.after = after
        self.byteLimit = byteLimit
        self.revisionsOnly = revisionsOnly
    }

    public var vpack: [UInt8] {
        vpackObject { builder in
            if let after { builder.add(key: "after", after) }
            builder.add(key: "byteLimit", byteLimit)
            stream.encode(into: &builder)
            builder.add(key: "ranges")
            builder.openArray()
            for range in ranges {
                builder.openArray()
                builder.add(range.lowerBound)
                builder.add(range.upperBound)
                builder.closeTrusted()
            }
            builder.closeTrusted()
            if revisionsOnly { builder.add(key: "revisionsOnly", true) }
        }
    }

    public init(decoding slice: Slice, limits: ReplicationLimits = .default) throws(ReplicationError) {
        guard slice.isObject else { throw .malformed("a range fetch must be an object") }
        if let flag = slice["revisionsOnly"] {
            guard let value = flag.boolValue else { throw .malformed("'revisionsOnly' must be a boolean") }
            revisionsOnly = value
        } else {
            revisionsOnly = false
        }
        stream = try StreamIdentity(decoding: slice)
        after = try slice["after"].map { (value) throws(ReplicationError) in
            guard let number = value.uintValue else { throw .malformed("'after' must be an unsigned integer") }
            return number
        }
        let limit = try ReplicationMessage.unsigned(slice, "byteLimit")
        guard (1...(64 << 20)).contains(limit) else { throw .malformed("'byteLimit' must be in 1...\(64 << 20)") }
        byteLimit = Int(limit)
        guard let list = slice["ranges"], list.isArray else { throw .malformed("'ranges' must be an array") }
        // Not `(1...rangeCountMax).contains`: a limit of 0 would form an invalid range and trap.
        guard list.count >= 1, list.count <= limits.rangeCountMax else {
            throw .malformed("'ranges' must name 1...\(limits.rangeCountMax) ranges")
        }
        var ranges: [ClosedRange<UInt64>] = []
        var end: UInt64? = nil
        for element in list.arrayElements {
            guard element.isArray, element.count == 2,
                  let low = element[0]?.uintValue, let high = element[1]?.uintValue, low <= high else {
                throw .malformed("a range must be [low, high] with low ≤ high")
            }
            if let end, low <= end { throw .malformed("ranges must be sorted and disjoint") }
            end = high
            ranges.append(low...high)
        }
        self.ranges = ranges
    }
}

/// The leader's answer to ``RangeFetch``: documents in revision order, and whether more
/// remain after the last one (`resumeAfter`, the next request's `after`).
public struct RangeDocuments: Sendable, Equatable {
    public var documents: [ReplicatedOperation]
    public var resumeAfter: UInt64?

    public init(documents: [ReplicatedOperation], resumeAfter: UInt64?) {
        self.documents = documents
        self.resumeAfter = resumeAfter
    }

    public var vpack: [UInt8] {
        var builder = Builder(capacity: 64 + documents.reduce(0) { $0 + $1.byteCount + 32 })
        builder.openObject()
        builder.add(key: "documents")
        builder.openArray()
        for document in documents { document.encode(into: &builder) }
        builder.closeTrusted()
        if let resumeAfter { builder.add(key: "resumeAfter", resumeAfter) }
        builder.closeTrusted()
        return builder.bytes
    }

    public init(decoding slice: Slice, limits: ReplicationLimits = .default) throws(ReplicationError) {
        guard slice.isObject, let list = slice["documents"], list.isArray else {
            throw .malformed("'documents' must be an array")
        }
        guard list.count <= limits.operationCountMax else {
            throw .malformed("\(list.count) documents exceed \(limits.operationCountMax)")
        }
        var documents: [ReplicatedOperation] = []
        var last: UInt64? = nil
        for element in list.arrayElements {
            let document = try ReplicatedOperation(decoding: element, limits: limits)
            guard document.kind == .document else { throw .malformed("a range answer carries documents only") }
            if let last, document.revision <= last { throw .malformed("range documents must be in revision order") }
            last = document.revision
            documents.append(document)
        }
        self.documents = documents
        resumeAfter = try slice["resumeAfter"].map { (value) throws(ReplicationError) in
            guard let number = value.uintValue else { throw .malformed("'resumeAfter' must be an unsigned integer") }
            return number
        }
    }
}

/// Revisions as one binary value: 8 bytes each, little-endian, strictly increasing — a
/// resync's revision lists are long, and this is the smallest exact form.
enum PackedRevisions {
    static func encode(_ revisions: [UInt64], key: String, into builder: inout Builder) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(revisions.count * 8)
        for revision in revisions { withUnsafeBytes(of: revision.littleEndian) { bytes.append(contentsOf: $0) } }
        builder.add(key: key)
        builder.addBinary(bytes)
    }

    static func decode(_ object: Slice, key: String, limit: Int) throws(ReplicationError) -> [UInt64] {
        guard let bytes = object[key]?.binaryValue else { throw .malformed("'\(key)' must be binary") }
        guard bytes.count % 8 == 0 else { throw .malformed("'\(key)' must be a multiple of 8 bytes") }
        guard bytes.count / 8 <= limit else { throw .malformed("'\(key)' names \(bytes.count / 8) revisions, more than \(limit)") }
        var revisions: [UInt64] = []
        revisions.reserveCapacity(bytes.count / 8)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            var value: UInt64 = 0
            for shift in 0..<8 { value |= UInt64(bytes[index + shift]) << UInt64(8 * shift) }
            if let last = revisions.last, value <= last { throw .malformed("'\(key)' must be strictly increasing") }
            revisions.append(value)
            index += 8
        }
        return revisions
    }
}

/// The leader's answer to a ``RangeFetch`` with `revisionsOnly`: the revisions of its current
/// documents in the ranges, in order, and where the next page starts if more remain.
public struct RevisionList: Sendable, Equatable {
    public var revisions: [UInt64]
    public var resumeAfter: UInt64?

    public init(revisions: [UInt64], resumeAfter: UInt64?) {
        self.revisions = revisions
        self.resumeAfter = resumeAfter
    }

    public var vpack: [UInt8] {
        vpackObject { builder in
            if let resumeAfter { builder.add(key: "resumeAfter", resumeAfter) }
            PackedRevisions.encode(revisions, key: "revisions", into: &builder)
        }
    }

    public init(decoding slice: Slice, limits: ReplicationLimits = .default) throws(ReplicationError) {
        guard slice.isObject else { throw .malformed("a revision list must be an object") }
        revisions = try PackedRevisions.decode(slice, key: "revisions", limit: limits.revisionCountMax)
        resumeAfter = try slice["resumeAfter"].map { (value) throws(ReplicationError) in
            guard let number = value.uintValue else { throw .malformed("'resumeAfter' must be an unsigned integer") }
            return number
        }
    }
}

/// Follower → leader: the current documents with these revisions, as stored (answered with
/// ``RangeDocuments``; a revision the leader no longer has is left out — the stream brings
/// what replaced it).
public struct DocumentFetch: Sendable, Equatable {
    public var stream: StreamIdentity
    public var revisions: [UInt64]
    public var byteLimit: Int

    public init(stream: StreamIdentity, revisions: [UInt64], byteLimit: Int = 4 << 20) {
        self.stream = stream
        self.revisions = revisions
        self.byteLimit = byteLimit
    }

    public var vpack: [UInt8] {
        vpackObject { builder in
            builder.add(key: "byteLimit", byteLimit)
            stream.encode(into: &builder)
            PackedRevisions.encode(revisions, key: "revisions", into: &builder)
        }
    }

    public init(decoding slice: Slice, limits: ReplicationLimits = .default) throws(ReplicationError) {
        guard slice.isObject else { throw .malformed("a document fetch must be an object") }
        stream = try StreamIdentity(decoding: slice)
        let limit = try ReplicationMessage.unsigned(slice, "byteLimit")
        guard limit >= 1, limit <= 64 << 20 else { throw .malformed("'byteLimit' must be in 1...\(64 << 20)") }
        byteLimit = Int(limit)
        revisions = try PackedRevisions.decode(slice, key: "revisions", limit: limits.revisionCountMax)
        guard !revisions.isEmpty else { throw .malformed("'revisions' must name at least one revision") }
    }
}

/// Follower → leader: the follower holds the snapshot's documents; stream every write after
/// `after` to it (it is then a catching-up follower, not yet counted for acknowledgements).
public struct StreamStart: Sendable, Equatable {
    public var stream: StreamIdentity
    public var follower: String
    public var after: UInt64

    public init(stream: StreamIdentity, follower: String, after: UInt64) {
        self.stream = stream
        self.follower = follower
        self.after = after
    }

    public var vpack: [UInt8] {
        vpackObject { builder in
            builder.add(key: "after", after)
            stream.encode(into: &builder)
            builder.add(key: "follower", follower)
        }
    }

    public init(decoding slice: Slice) throws(ReplicationError) {
        guard slice.isObject else { throw .malformed("a stream start must be an object") }
        stream = try StreamIdentity(decoding: slice)
        follower = try ReplicationMessage.string(slice, "follower")
        after = try ReplicationMessage.unsigned(slice, "after")
    }
}

/// Field readers shared by the decoders.
enum ReplicationMessage {
    static func string(_ object: Slice, _ field: String) throws(ReplicationError) -> String {
        guard let value = object[field] else { throw .malformed("'\(field)' is missing") }
        guard let string = value.stringValue, !string.isEmpty, string.utf8.count <= 256 else {
            throw .malformed("'\(field)' must be a non-empty string of at most 256 bytes")
        }
        return string
    }

    static func unsigned(_ object: Slice, _ field: String) throws(ReplicationError) -> UInt64 {
        guard let value = object[field] else { throw .malformed("'\(field)' is missing") }
        guard let number = value.uintValue else { throw .malformed("'\(field)' must be an unsigned integer") }
        return number
    }
}

func vpackObject(_ body: (inout Builder) -> Void) -> [UInt8] {
    var builder = Builder()
    builder.openObject()
    body(&builder)
    builder.closeTrusted()
    return builder.bytes
}
