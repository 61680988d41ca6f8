import Testing
import VelocyPack
import Raft

@Suite("Raft message codec")
struct CodecTests {
    static let examples: [RaftMessage.Body] = [
        .preVote(lastLogIndex: 10, lastLogTerm: 3),
        .preVoteResponse(granted: true),
        .requestVote(lastLogIndex: 0, lastLogTerm: 0),
        .requestVoteResponse(granted: false),
        .appendEntries(previousLogIndex: 4, previousLogTerm: 2, entries: [
            LogEntry(term: 2, index: 5, kind: .noop),
            LogEntry(term: 7, index: 6, payload: [1, 2, 3]),
            LogEntry(term: 7, index: 7, payload: Array(repeating: 0xEE, count: 300)),
        ], leaderCommit: 5),
        .appendEntries(previousLogIndex: 0, previousLogTerm: 0, entries: [], leaderCommit: 0),
        .appendEntriesResponse(success: false, matchIndex: 0, rejectedIndex: 9, hintIndex: 4),
        .heartbeat(commitIndex: 1 << 40, readContext: UInt64.max),
        .heartbeatResponse(readContext: 3),
        .installSnapshot(RaftSnapshot(index: 100, term: 6, data: [9, 8, 7])),
        .installSnapshotResponse(matchIndex: 100),
    ]

    @Test(arguments: examples)
    func everyMessageKindRoundTrips(body: RaftMessage.Body) throws {
        let message = RaftMessage(from: NodeID(3), to: NodeID(1), term: 7, body: body)
        let bytes = RaftCodec.encode(message)
        #expect(try RaftCodec.decodeMessage(bytes) == message)
        // The type field names the kind, as Protocol/Raft.md says.
        #expect(Slice(trustedBytes: bytes)["type"]?.stringValue == body.kindName)
    }

    @Test func aHeartbeatHasTheDocumentedFields() throws {
        let bytes = RaftCodec.encode(RaftMessage(from: NodeID(1), to: NodeID(2), term: 3,
                                                 body: .heartbeat(commitIndex: 4, readContext: 0)))
        let keys = Slice(trustedBytes: bytes).objectMembers.compactMap(\.key.stringValue).sorted()
        #expect(keys == ["commitIndex", "from", "readContext", "term", "to", "type"])
    }

    /// Builds a message object from JSON for the refusal table.
    static func bytes(_ json: String) throws -> [UInt8] {
        try JSONParser.parse(json).bytes
    }

    @Test(arguments: [
        (#"[1,2]"#, RaftCodecError.Code.malformed),
        (#"{"type":"vote","from":1,"to":2,"term":1}"#, .unknownType),
        (#"{"type":"heartbeatResponse","from":1,"to":2,"term":1}"#, .malformed),
        (#"{"type":"heartbeatResponse","from":1,"to":2,"term":1,"readContext":-1}"#, .malformed),
        (#"{"type":"heartbeatResponse","from":1,"to":2,"term":1,"readContext":"x"}"#, .malformed),
        (#"{"type":"heartbeatResponse","from":1,"to":2,"term":1,"readContext":0,"extra":1}"#, .malformed),
        (#"{"type":"heartbeatResponse","from":0,"to":2,"term":1,"readContext":0}"#, .inconsistent),
        (#"{"type":"heartbeatResponse","from":2,"to":2,"term":1,"readContext":0}"#, .inconsistent),
        (#"{"type":"heartbeatResponse","from":1,"to":2,"term":0,"readContext":0}"#, .inconsistent),
        (#"{"type":"preVoteResponse","from":1,"to":2,"term":1,"granted":1}"#, .malformed),
        (#"{"type":"appendEntries","from":1,"to":2,"term":3,"prevLogIndex":4,"prevLogTerm":1,"leaderCommit":0,"entries":[[6,1,0,null]]}"#, .malformed),
        (#"{"type":"appendEntries","from":1,"to":2,"term":3,"prevLogIndex":4,"prevLogTerm":1,"leaderCommit":0,"entries":[[6,1]]}"#, .malformed),
        (#"{"type":"appendEntries","from":1,"to":2,"term":3,"prevLogIndex":4,"prevLogTerm":1,"leaderCommit":0,"entries":{}}"#, .malformed),
        (#"{"type":"installSnapshot","from":1,"to":2,"term":3,"snapshotIndex":0,"snapshotTerm":1,"data":"x"}"#, .malformed),
    ])
    func malformedMessagesAreRefusedWithTheirCode(json: String, code: RaftCodecError.Code) throws {
        let bytes = try Self.bytes(json)
        #expect(throws: RaftCodecError(code, "")) { try RaftCodec.decodeMessage(bytes) }
    }

    @Test func entriesMustFollowThePreviousIndexInOrder() {
        func append(_ entries: [LogEntry], term: Term = 5) -> [UInt8] {
            RaftCodec.encode(RaftMessage(from: NodeID(1), to: NodeID(2), term: term, body: .appendEntries(
                previousLogIndex: 4, previousLogTerm: 1, entries: entries, leaderCommit: 0)))
        }
        let gap = append([LogEntry(term: 2, index: 6)])
        let backwards = append([LogEntry(term: 3, index: 5), LogEntry(term: 2, index: 6)])
        let future = append([LogEntry(term: 6, index: 5)])
        let noopPayload = append([LogEntry(term: 2, index: 5, kind: .noop, payload: [1])])
        for bytes in [gap, backwards, future, noopPayload] {
            #expect(throws: RaftCodecError(.inconsistent, "")) { try RaftCodec.decodeMessage(bytes) }
        }
    }

    @Test func limitsAreEnforced() throws {
        let entries = (1...5).map { LogEntry(term: 1, index: LogIndex($0), payload: [UInt8($0)]) }
        let bytes = RaftCodec.encode(RaftMessage(from: NodeID(1), to: NodeID(2), term: 1, body: .appendEntries(
            previousLogIndex: 0, previousLogTerm: 0, entries: entries, leaderCommit: 0)))
        #expect(throws: RaftCodecError(.limitExceeded, "")) {
            try RaftCodec.decodeMessage(bytes, limits: RaftCodecLimits(messageByteCountMax: 1 << 20, entryCountMax: 4))
        }
        #expect(throws: RaftCodecError(.invalidVelocyPack, "")) {
            try RaftCodec.decodeMessage(bytes, limits: RaftCodecLimits(messageByteCountMax: bytes.count - 1, entryCountMax: 10))
        }
        #expect(try RaftCodec.decodeMessage(bytes, limits: RaftCodecLimits(messageByteCountMax: bytes.count, entryCountMax: 5)).to == NodeID(2))
    }

    @Test func everyTruncationOfAMessageIsRefused() {
        let bytes = RaftCodec.encode(RaftMessage(from: NodeID(1), to: NodeID(2), term: 1, body: Self.examples[4]))
        for count in 0..<bytes.count {
            #expect(throws: RaftCodecError.self) { try RaftCodec.decodeMessage(Array(bytes.prefix(count))) }
        }
    }

    @Test func hardStateAndEntriesRoundTrip() throws {
        for state in [HardState(), HardState(term: 9, votedFor: NodeID(3), commitIndex: 77)] {
            #expect(try RaftCodec.decodeHardState(RaftCodec.encode(state)) == state)
        }
        let entry = LogEntry(term: 4, index: 12, payload: [0, 1, 2])
        #expect(try RaftCodec.decodeEntry(RaftCodec.encode(entry)) == entry)
    }
}
