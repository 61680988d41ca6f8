import Testing
import VelocyPack
@testable import VelocyStream

func hexBytes(_ text: String) -> [UInt8] {
    do { return try Hex.decode(text) } catch { preconditionFailure("bad hex in a test: \(text)") }
}

/// Decodes `stream` fed in pieces of `pieceSize` bytes; returns every message in order.
func decodeAll(_ stream: [UInt8], version: VSTVersion = .v1_1, pieceSize: Int = .max,
               limits: VSTLimits = .default) throws(VSTError) -> [VSTMessage] {
    var decoder = VSTDecoder(version: version, limits: limits)
    var messages: [VSTMessage] = []
    var start = 0
    repeat {
        let end = min(stream.count, start + max(1, pieceSize))
        decoder.append(stream[start..<end])
        start = end
        while let message = try decoder.nextMessage() { messages.append(message) }
    } while start < stream.count
    return messages
}

@Suite("VelocyStream framing")
struct FramingTests {
    /// GET /_api/version as the reference builder writes it (fact sheet, request header).
    static let versionRequest = hexBytes("0625073131 475f73797374656d 31 4d2f5f6170692f76657273696f6e 0a0a 0304050d0e1c1d")

    @Test func preambleChoosesTheVersion() throws {
        #expect(try VSTVersion.detect(preamble: Array("VST/1.1\r\n\r\n".utf8)) == .v1_1)
        #expect(try VSTVersion.detect(preamble: Array("VST/1.0\r\n\r\n".utf8)) == .v1_0)
        #expect(throws: VSTError(.invalidPreamble, at: 0)) { try VSTVersion.detect(preamble: Array("GET / HTTP".utf8)) }
        // Short input that may still become a preamble means "need more bytes".
        #expect(try VSTVersion.detect(preamble: Array("VST/1.".utf8)) == nil)
        #expect(try VSTVersion.detect(preamble: []) == nil)
        #expect(throws: VSTError(.invalidPreamble, at: 0)) { try VSTVersion.detect(preamble: Array("VSX".utf8)) }
        #expect(VSTVersion.v1_1.preamble == [0x56, 0x53, 0x54, 0x2f, 0x31, 0x2e, 0x31, 0x0d, 0x0a, 0x0d, 0x0a])
    }

    @Test func singleChunkMessageHasTheDocumentedHeader() {
        let message = [UInt8](repeating: 0x18, count: 37)
        let v11 = VSTEncoder.encode(messageID: 1, message: message)
        #expect(Array(v11.prefix(24)) == hexBytes("3d000000 03000000 0100000000000000 2500000000000000"))
        let v10 = VSTEncoder.encode(messageID: 1, message: message, version: .v1_0)
        #expect(Array(v10.prefix(16)) == hexBytes("35000000 03000000 0100000000000000"))
        #expect(v10.count == 16 + 37)
    }

    @Test func seventyThousandBytesMakeThreeChunks() throws {
        let message = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let stream = VSTEncoder.encode(messageID: 5, message: message)
        #expect(Array(stream.prefix(24)) == hexBytes("00780000 07000000 0500000000000000 7011010000000000"))
        let second = 30_720
        #expect(Array(stream[second..<(second + 8)]) == hexBytes("00780000 02000000"))
        #expect(Array(stream[(2 * second)..<(2 * second + 8)]) == hexBytes("b8210000 04000000"))
        #expect(try decodeAll(stream) == [VSTMessage(id: 5, bytes: message)])
        let v10 = VSTEncoder.encode(messageID: 5, message: message, version: .v1_0)
        #expect(try decodeAll(v10, version: .v1_0) == [VSTMessage(id: 5, bytes: message)])
    }

    /// The decoded messages do not depend on where the stream is split.
    @Test(arguments: [VSTVersion.v1_1, .v1_0])
    func everySplitPointGivesTheSameMessages(version: VSTVersion) throws {
        var stream: [UInt8] = []
        let messages = [
            VSTMessage(id: 1, bytes: Self.versionRequest),
            VSTMessage(id: 2, bytes: (0..<200).map { UInt8($0) }),
            VSTMessage(id: 3, bytes: [0x18]),
        ]
        for message in messages {
            VSTEncoder.encode(messageID: message.id, message: message.bytes, version: version, chunkByteCount: 64, into: &stream)
        }
        for split in 0...stream.count {
            var decoder = VSTDecoder(version: version)
            var received: [VSTMessage] = []
            decoder.append(stream[0..<split])
            while let message = try decoder.nextMessage() { received.append(message) }
            decoder.append(stream[split...])
            while let message = try decoder.nextMessage() { received.append(message) }
            #expect(received == messages, "split at \(split)")
        }
        for piece in [1, 2, 3, 7, 23, 24, 25] {
            #expect(try decodeAll(stream, version: version, pieceSize: piece) == messages)
        }
    }

    @Test func interleavedAndReorderedChunksAreReassembled() throws {
        let first = (0..<100).map { UInt8($0) }
        let second = (0..<90).map { UInt8(255 - $0) }
        let chunksA = chunks(VSTEncoder.encode(messageID: 7, message: first, chunkByteCount: 54))
        let chunksB = chunks(VSTEncoder.encode(messageID: 9, message: second, chunkByteCount: 54))
        #expect(chunksA.count == 4 && chunksB.count == 3)
        // B's last chunk before its first; A's chunks reversed; the two interleaved.
        let order = [chunksB[2], chunksA[3], chunksB[0], chunksA[2], chunksA[1], chunksB[1], chunksA[0]]
        let received = try decodeAll(order.flatMap { $0 }, pieceSize: 5)
        #expect(received == [VSTMessage(id: 9, bytes: second), VSTMessage(id: 7, bytes: first)])
    }

    /// A view reads the same bytes `nextMessage()` copies out, for one-chunk and reassembled
    /// messages, and stays valid while the decoder takes more bytes (the buffer is copied
    /// under it, not changed).
    @Test func messageViewsMatchCopiedMessages() throws {
        let small = RequestHeader(method: .get, path: "/_api/version").encoded()
        let large = (0..<5_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var stream = VSTEncoder.encode(messageID: 3, message: small)
        stream += VSTEncoder.encode(messageID: 4, message: large, chunkByteCount: 1_000)
        var decoder = VSTDecoder(version: .v1_1)
        decoder.append(stream)
        let first = try #require(try decoder.nextMessageView())
        #expect(first.id == 3 && first.count == small.count)
        // More bytes (and a compaction) while the first view is alive.
        decoder.append(VSTEncoder.encode(messageID: 5, message: small))
        #expect(first.withUnsafeBytes { Array($0) } == small)
        #expect(first.message == VSTMessage(id: 3, bytes: small))
        let second = try #require(try decoder.nextMessageView())
        #expect(second.id == 4 && second.withUnsafeBytes { Array($0) } == large)
        let third = try #require(try decoder.nextMessageView())
        #expect(third.message == VSTMessage(id: 5, bytes: small))
        #expect(try decoder.nextMessageView() == nil)
    }

    /// Headers read in place give what the owning reads give, and the same errors.
    @Test func borrowedMessagesReadLikeReceivedOnes() throws {
        let request = RequestHeader(database: "shop", method: .put, path: "/_api/document/c/k",
                                    parameters: ["x": ["1", "2"]], meta: ["accept": "application/json"])
        let body = try JSONParser.parse(#"{"a":[1,2]}"#).bytes
        let bytes = request.encoded() + body
        let (type, header, bodyRead, asResponse) = try bytes.withUnsafeBytes { raw in
            let message = try BorrowedMessage(raw)
            let asResponse = errorCode { () throws(VSTError) in _ = try ResponseHeader(message) }
            return (message.type, try RequestHeader(message), Array(message.body), asResponse)
        }
        #expect(type == .request && header == request && bodyRead == body)
        #expect(asResponse == .malformedHeader)
        let response = ResponseHeader(responseCode: 201, meta: ["content-type": "application/json"])
        #expect(try response.encoded().withUnsafeBytes { raw in try ResponseHeader(BorrowedMessage(raw)) } == response)
        let jwt = Authentication.jwt(token: "t")
        #expect(try jwt.encoded().withUnsafeBytes { raw in try Authentication(BorrowedMessage(raw)) } == jwt)
        let limits = VSTLimits(chunkByteCountMax: 1 << 20, messageByteCountMax: 1 << 20, partialMessageCountMax: 4,
                               headerByteCountMax: 16)
        bytes.withUnsafeBytes { raw in
            #expect(errorCode { () throws(VSTError) in _ = try BorrowedMessage(raw, limits: limits) } == .invalidHeader)
        }
        for bad in [[UInt8](), [0x15], [0x06, 0x25]] {
            bad.withUnsafeBytes { raw in
                #expect(errorCode { () throws(VSTError) in _ = try BorrowedMessage(raw) } == .invalidHeader)
            }
        }
    }

    /// Splits an encoded 1.1 stream into its chunks.
    func chunks(_ stream: [UInt8]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var position = 0
        while position < stream.count {
            let length = Int(stream[position]) | Int(stream[position + 1]) << 8
            result.append(Array(stream[position..<(position + length)]))
            position += length
        }
        return result
    }

    /// A hand-made 1.1 chunk.
    func chunk(length: UInt32? = nil, chunkX: UInt32, id: UInt64, messageLength: UInt64, data: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        ChunkHeader(length: length ?? UInt32(24 + data.count), isFirst: chunkX & 1 == 1, countOrIndex: chunkX >> 1,
                    messageID: id, messageLength: messageLength).write(into: &bytes)
        return bytes + data
    }

    @Test func hostileChunksGetTypedErrors() {
        let small = VSTLimits(chunkByteCountMax: 100, messageByteCountMax: 150, partialMessageCountMax: 2, headerByteCountMax: 50)
        let cases: [(String, [UInt8], VSTError.Code, Int)] = [
            ("length below header", chunk(length: 20, chunkX: 3, id: 1, messageLength: 1, data: [1]), .chunkTooShort, 0),
            ("length above limit", chunk(length: 101, chunkX: 3, id: 1, messageLength: 77, data: [1]), .chunkTooLarge, 0),
            ("no data", chunk(chunkX: 3, id: 1, messageLength: 0, data: []), .emptyChunk, 0),
            ("id zero", chunk(chunkX: 3, id: 0, messageLength: 1, data: [1]), .reservedMessageID, 0),
            ("zero chunks", chunk(chunkX: 1, id: 1, messageLength: 1, data: [1]), .invalidChunkCount, 0),
            ("later chunk index 0", chunk(chunkX: 0, id: 1, messageLength: 1, data: [1]), .invalidChunkIndex, 0),
            ("message above limit", chunk(chunkX: 5, id: 1, messageLength: 151, data: [1]), .messageTooLarge, 0),
            ("single chunk length lie", chunk(chunkX: 3, id: 1, messageLength: 2, data: [1]), .messageLengthMismatch, 0),
            ("more chunks than bytes", chunk(chunkX: 7, id: 1, messageLength: 2, data: [1]), .invalidChunkCount, 0),
            ("index beyond count", chunk(chunkX: 5, id: 1, messageLength: 2, data: [1]) + chunk(chunkX: 4, id: 1, messageLength: 2, data: [2]),
             .invalidChunkIndex, 25),
            ("chunk twice", chunk(chunkX: 2, id: 1, messageLength: 2, data: [1]) + chunk(chunkX: 2, id: 1, messageLength: 2, data: [1]),
             .invalidChunkIndex, 25),
            ("two first chunks", chunk(chunkX: 5, id: 1, messageLength: 2, data: [1]) + chunk(chunkX: 5, id: 1, messageLength: 2, data: [1]),
             .duplicateFirstChunk, 25),
            ("lengths disagree", chunk(chunkX: 5, id: 1, messageLength: 2, data: [1]) + chunk(chunkX: 2, id: 1, messageLength: 3, data: [2]),
             .messageLengthMismatch, 25),
            ("more data than announced", chunk(chunkX: 5, id: 1, messageLength: 2, data: [1]) + chunk(chunkX: 2, id: 1, messageLength: 2, data: [2, 3]),
             .messageLengthMismatch, 25),
            ("less data than announced", chunk(chunkX: 5, id: 1, messageLength: 3, data: [1]) + chunk(chunkX: 2, id: 1, messageLength: 3, data: [2]),
             .messageLengthMismatch, 25),
            ("too many partial", chunk(chunkX: 5, id: 1, messageLength: 2, data: [1]) + chunk(chunkX: 5, id: 2, messageLength: 2, data: [1])
             + chunk(chunkX: 5, id: 3, messageLength: 2, data: [1]), .tooManyPartialMessages, 50),
        ]
        for (name, stream, code, offset) in cases {
            #expect(throws: VSTError(code, at: offset), "\(name)") { try decodeAll(stream, limits: small) }
            // Split into single bytes the answer is the same.
            #expect(throws: VSTError(code, at: offset), "\(name), byte by byte") { try decodeAll(stream, pieceSize: 1, limits: small) }
        }
    }

    @Test func aFailedDecoderStaysFailed() throws {
        var decoder = VSTDecoder(version: .v1_1)
        decoder.append(chunk(length: 3, chunkX: 3, id: 1, messageLength: 1, data: [1]))
        #expect(throws: VSTError(.chunkTooShort, at: 0)) { try decoder.nextMessage() }
        decoder.append(VSTEncoder.encode(messageID: 2, message: [0x18]))
        #expect(throws: VSTError(.chunkTooShort, at: 0)) { try decoder.nextMessage() }
    }

    @Test func aPeerThatStopsMidChunkLeavesAPartialNotAMessage() throws {
        let stream = VSTEncoder.encode(messageID: 4, message: [UInt8](repeating: 1, count: 100), chunkByteCount: 64)
        var decoder = VSTDecoder(version: .v1_1)
        decoder.append(stream.dropLast(10))
        #expect(try decoder.nextMessage() == nil)
        #expect(decoder.partialMessageCount == 1)
        #expect(decoder.bufferedByteCount > 0)
    }

    /// 50 000 one-byte chunks of one message, arriving in reverse order. Reassembly is linear
    /// in the chunk count (a quadratic version took minutes here; found by FuzzVSTDecoder).
    @Test func manyTinyChunksReassembleInLinearTime() throws {
        let message = (0..<50_000).map { UInt8(truncatingIfNeeded: $0) }
        let stream = VSTEncoder.encode(messageID: 3, message: message, chunkByteCount: 25)
        var chunks: [ArraySlice<UInt8>] = []
        var position = 0
        while position < stream.count {
            chunks.append(stream[position..<(position + 25)])
            position += 25
        }
        let limits = VSTLimits(chunkByteCountMax: 64, messageByteCountMax: 1 << 20, partialMessageCountMax: 4, headerByteCountMax: 64)
        #expect(try decodeAll(Array(chunks.reversed().joined()), limits: limits) == [VSTMessage(id: 3, bytes: message)])
    }

    @Test func consumedBytesAreReleased() throws {
        var decoder = VSTDecoder(version: .v1_1)
        for id in 1...1000 {
            decoder.append(VSTEncoder.encode(messageID: UInt64(id), message: [UInt8](repeating: 9, count: 1000)))
            #expect(try decoder.nextMessage()?.id == UInt64(id))
        }
        #expect(decoder.buffer.count < 4096)
    }
}

/// The code of the VSTError `body` throws, or nil when it throws none.
func errorCode(_ body: () throws(VSTError) -> Void) -> VSTError.Code? {
    do {
        try body()
        return nil
    } catch {
        return error.code
    }
}

@Suite("VelocyStream message headers")
struct MessageHeaderTests {
    @Test func requestHeaderMatchesTheReferenceBytes() throws {
        let header = RequestHeader(method: .get, path: "/_api/version")
        #expect(Hex.encode(header.encoded()) == "0625073131475f73797374656d314d2f5f6170692f76657273696f6e0a0a0304050d0e1c1d")
        let received = try ReceivedMessage(VSTMessage(id: 1, bytes: header.encoded()))
        #expect(received.type == .request)
        #expect(try RequestHeader(received) == header)
        #expect(received.body.isEmpty)
    }

    @Test func authenticationMessagesMatchTheReferenceLayout() throws {
        // The reference writes 1000 as a signed int too (21 e8 03).
        let plain = Authentication.plain(user: "root", password: "secret")
        #expect(plain.encoded() == hexBytes("061e05 31 21e803 45706c61696e 44726f6f74 46736563726574 0304070d12"))
        let jwt = Authentication.jwt(token: "abc.def.ghi")
        #expect(jwt.encoded() == hexBytes("061b04 31 21e803 436a7774 4b6162632e6465662e676869 0304070b"))
        for message in [plain, jwt] {
            #expect(try Authentication(ReceivedMessage(VSTMessage(id: 1, bytes: message.encoded()))) == message)
        }
    }

    @Test func responseHeaderAcceptsTheCompactForm() throws {
        // [1,2,200,{}] as the server builds it: compact array with a signed 200.
        let received = try ReceivedMessage(VSTMessage(id: 3, bytes: hexBytes("1309313221c8000a04") + [0x18]))
        #expect(try ResponseHeader(received) == ResponseHeader(responseCode: 200))
        #expect(Array(received.body) == [0x18])
        let ours = ResponseHeader(responseCode: 404, meta: ["Content-Type": "x"])
        let decoded = try ResponseHeader(ReceivedMessage(VSTMessage(id: 3, bytes: ours.encoded())))
        #expect(decoded == ResponseHeader(responseCode: 404, meta: ["content-type": "x"]))
    }

    @Test func parametersAndMetaRoundTrip() throws {
        let header = RequestHeader(database: "shop", method: .patch, path: "/_api/document/c/k",
                                   parameters: ["returnNew": ["true"], "c": ["1", "3"]], meta: ["accept": "application/x-velocypack"])
        let body = try JSONParser.parse(#"{"a":1}"#).bytes
        let received = try ReceivedMessage(VSTMessage(id: 9, bytes: header.encoded() + body))
        #expect(try RequestHeader(received) == header)
        #expect(Array(received.body) == body)
    }

    @Test func badHeadersGetTypedErrors() {
        let cases: [(String, [UInt8], VSTError.Code)] = [
            ("not VelocyPack", [0x15], .invalidHeader),
            ("truncated", [0x06, 0x25], .invalidHeader),
            ("not an array", hexBytes("1406416131 01"), .malformedHeader),
            ("version 2", try! JSONParser.parse("[2,1]").bytes, .unsupportedMessageType),
            ("unknown type", try! JSONParser.parse("[1,7]").bytes, .unsupportedMessageType),
            ("type as string", try! JSONParser.parse(#"[1,"1"]"#).bytes, .unsupportedMessageType),
            ("invalid UTF-8 in header", [0x02, 0x05, 0x31, 0x42, 0xc3, 0x28].prefix(6).map { $0 } , .invalidHeader),
        ]
        for (name, bytes, code) in cases {
            #expect(errorCode { () throws(VSTError) in _ = try ReceivedMessage(VSTMessage(id: 1, bytes: bytes)) } == code, "\(name)")
        }
        let shapes: [(String, String)] = [
            ("six members", #"[1,1,"_system",1,"/x",{}]"#),
            ("database not a string", #"[1,1,null,1,"/x",{},{}]"#),
            ("method out of range", #"[1,1,"_system",9,"/x",{},{}]"#),
            ("path without slash", #"[1,1,"_system",1,"x",{},{}]"#),
            ("parameter not a string", #"[1,1,"_system",1,"/x",{"a":1},{}]"#),
            ("meta not an object", #"[1,1,"_system",1,"/x",{},[]]"#),
        ]
        for (name, json) in shapes {
            let bytes = (try? JSONParser.parse(json).bytes) ?? []
            #expect(errorCode { () throws(VSTError) in _ = try RequestHeader(ReceivedMessage(VSTMessage(id: 1, bytes: bytes))) } == .malformedHeader, "\(name)")
        }
        let oversized = RequestHeader(method: .get, path: "/" + String(repeating: "p", count: 100_000)).encoded()
        #expect(throws: VSTError.self) { try ReceivedMessage(VSTMessage(id: 1, bytes: oversized)) }
    }
}
