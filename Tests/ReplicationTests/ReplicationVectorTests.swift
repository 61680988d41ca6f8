import Testing
import VectorFileSupport
import VelocyPack
import Replication

// Protocol/vectors/replication/ (Protocol/Replication.md §9):
//
// messages.jsonl  {"name", "message", "json", "hex"}
//   `hex` validates strictly, decodes with the decoder `message` names, and re-encodes (`vpack`)
//   to exactly `hex`; the JSON dump of `hex` (binary as lowercase hex) is `json`.
// refusals.jsonl  {"name", "message", "hex", "reason", "limits"?}
//   `hex` validates strictly, and the decoder refuses it with `.malformed` whose message
//   contains `reason` (under `limits`, when given; the others keep their defaults).

@Suite("replication golden vectors")
struct ReplicationVectorTests {
    static let directory = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        + "/Protocol/vectors/replication"

    /// The decoders the vectors name, by their `message` field.
    enum Message: String, CaseIterable {
        case applyBatch = "ApplyBatch", applyAnswer = "ApplyAnswer", resyncBegin = "ResyncBegin"
        case resyncSnapshot = "ResyncSnapshot", rangeFetch = "RangeFetch", rangeDocuments = "RangeDocuments"
        case streamStart = "StreamStart", revisionList = "RevisionList", documentFetch = "DocumentFetch"

        /// Decodes `slice` and encodes the message again.
        func reencode(_ slice: Slice, limits: ReplicationLimits = .default) throws(ReplicationError) -> [UInt8] {
            switch self {
            case .applyBatch: try ApplyBatch(decoding: slice, limits: limits).vpack
            case .applyAnswer: try ApplyAnswer(decoding: slice).vpack
            case .resyncBegin: try ResyncBegin(decoding: slice).vpack
            case .resyncSnapshot: try ResyncSnapshot(decoding: slice).vpack
            case .rangeFetch: try RangeFetch(decoding: slice, limits: limits).vpack
            case .rangeDocuments: try RangeDocuments(decoding: slice, limits: limits).vpack
            case .streamStart: try StreamStart(decoding: slice).vpack
            case .revisionList: try RevisionList(decoding: slice, limits: limits).vpack
            case .documentFetch: try DocumentFetch(decoding: slice, limits: limits).vpack
            }
        }
    }

    /// One line of either file, its fields checked against the file's list.
    struct Vector {
        let location: String
        let fields: Slice
        let name: String
        let message: Message
        let bytes: [UInt8]

        init(_ line: VectorFiles.Line, allowed: Set<String>) throws {
            location = line.location
            fields = try JSONParser.parse(line.bytes).slice
            for member in fields.objectMembers {
                let key = try #require(member.key.stringValue)
                try #require(allowed.contains(key), "\(location): unknown field '\(key)'")
            }
            name = try #require(fields["name"]?.stringValue, "\(location): no name")
            let type = try #require(fields["message"]?.stringValue, "\(location): no message")
            message = try #require(Message(rawValue: type), "\(location): unknown message \(type)")
            let hex = try #require(fields["hex"]?.stringValue, "\(location): no hex")
            bytes = try Hex.decode(Array(hex.utf8))
            try #require(hex == Hex.encode(bytes), "\(location): hex is not lowercase without separators")
        }

        /// The bytes as a receiver sees them: validated strictly, as foreign bytes are.
        func validated() throws -> Slice {
            try Slice(validating: bytes, options: .strict)
        }
    }

    static func vectors(_ file: String, allowed: Set<String>) throws -> [Vector] {
        let lines = try #require(VectorFiles.lines(of: file, in: directory), "cannot read \(directory)/\(file)")
        return try lines.map { try Vector($0, allowed: allowed) }
    }

    static func messages() throws -> [Vector] { try vectors("messages.jsonl", allowed: ["name", "message", "json", "hex"]) }
    static func refusals() throws -> [Vector] { try vectors("refusals.jsonl", allowed: ["name", "message", "hex", "reason", "limits"]) }

    /// The limits a refusal names, the others at their defaults.
    static func limits(of vector: Vector) throws -> ReplicationLimits {
        var limits = ReplicationLimits()
        guard let object = vector.fields["limits"] else { return limits }
        for member in object.objectMembers {
            let value = try #require(member.value.intValue.map(Int.init), "\(vector.location): limit is not an integer")
            switch member.key.stringValue {
            case "operationCountMax": limits.operationCountMax = value
            case "documentByteCountMax": limits.documentByteCountMax = value
            case "keyByteCountMax": limits.keyByteCountMax = value
            case "rangeCountMax": limits.rangeCountMax = value
            case "revisionCountMax": limits.revisionCountMax = value
            default: Issue.record("\(vector.location): unknown limit \(member.key.stringValue ?? "?")")
            }
        }
        return limits
    }

    @Test func everyMessageDecodesAndReencodesToItsBytes() throws {
        let vectors = try Self.messages()
        #expect(vectors.count >= 15)
        for vector in vectors {
            let encoded = try vector.message.reencode(vector.validated())
            #expect(encoded == vector.bytes, "\(vector.location) \(vector.name): re-encodes to \(Hex.encode(encoded))")
        }
    }

    @Test func everyMessageDumpsToItsJSON() throws {
        for vector in try Self.messages() {
            let json = try #require(vector.fields["json"], "\(vector.location): no json")
            let dumped = try JSONDumper.dumpString(vector.validated(), options: .init(binaryAsHex: true))
            #expect(dumped == (try JSONDumper.dumpString(json)), "\(vector.location) \(vector.name): dumps as \(dumped)")
        }
    }

    @Test func snapshotTreesAreSerializedMerkleTrees() throws {
        let snapshots = try Self.messages().filter { $0.message == .resyncSnapshot }
        #expect(!snapshots.isEmpty)
        for vector in snapshots {
            let snapshot = try ResyncSnapshot(decoding: vector.validated())
            let tree = try MerkleTree(serialized: snapshot.tree)
            #expect(tree.serialized() == snapshot.tree, "\(vector.location): tree re-serializes differently")
            #expect(tree.count == snapshot.documentCount, "\(vector.location): tree counts \(tree.count) revisions")
        }
    }

    @Test func everyRefusalIsMalformedForItsReason() throws {
        let vectors = try Self.refusals()
        #expect(vectors.count >= 30)
        for vector in vectors {
            let reason = try #require(vector.fields["reason"]?.stringValue, "\(vector.location): no reason")
            let limits = try Self.limits(of: vector)
            do {
                _ = try vector.message.reencode(vector.validated(), limits: limits)
                Issue.record("\(vector.location) \(vector.name): accepted")
            } catch let error as ReplicationError {
                guard case .malformed(let message) = error, message.contains(reason) else {
                    Issue.record("\(vector.location) \(vector.name): refused with \(error), not '\(reason)'")
                    continue
                }
            }
        }
    }

    @Test func vectorsCoverEveryMessageAndNamesAreUnique() throws {
        let messages = try Self.messages()
        let refusals = try Self.refusals()
        for message in Message.allCases {
            #expect(messages.contains { $0.message == message }, "no vector of \(message.rawValue)")
            #expect(refusals.contains { $0.message == message }, "no refusal of \(message.rawValue)")
        }
        let names = (messages + refusals).map(\.name)
        #expect(Set(names).count == names.count, "names repeat")
    }
}
