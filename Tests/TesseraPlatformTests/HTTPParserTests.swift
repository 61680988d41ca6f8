import Testing
import TesseraPlatform

@Suite("HTTP decoder")
struct HTTPParserTests {
    static let pipelined = Array((
        "POST /_db/shop/_api/document/items?returnNew=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + "X-Twice: a\r\nX-Twice: b\r\nContent-Length: 9\r\n\r\n{\"a\":123}"
        + "PUT /chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\nTrailer: x\r\n\r\n"
        + "GET /_api/version HTTP/1.0\r\n\r\n").utf8)

    static func decodeAll(_ bytes: [UInt8], splitAt cuts: [Int], limits: HTTPLimits = .default) throws -> [HTTPMessage] {
        let decoder = HTTPMessageDecoder(kind: .request, limits: limits)
        var messages: [HTTPMessage] = []
        var start = 0
        for cut in cuts + [bytes.count] {
            decoder.append(bytes[start..<cut])
            start = cut
            while let message = try decoder.nextMessage() { messages.append(message) }
        }
        return messages
    }

    @Test func pipelinedRequestsComeOneAtATimeWithTheirBodies() throws {
        let messages = try Self.decodeAll(Self.pipelined, splitAt: [])
        #expect(messages.map(\.head.method) == ["POST", "PUT", "GET"])
        #expect(messages[0].head.target == "/_db/shop/_api/document/items?returnNew=true")
        #expect(messages[0].head.value("content-type") == "application/json")
        #expect(messages[0].head.joinedValue("x-twice") == "a, b")
        #expect(messages[0].head.contentLength == 9)
        #expect(messages[0].body == Array("{\"a\":123}".utf8))
        #expect(messages[1].head.isChunked)
        #expect(messages[1].body == Array("abcdefg".utf8))
        #expect(messages[2].head.versionMinor == 0 && !messages[2].head.keepAlive)
        #expect(messages[0].head.keepAlive)
    }

    /// Framing does not depend on how the bytes were split: every single cut point.
    @Test func everySplitPointGivesTheSameRequests() throws {
        let whole = try Self.decodeAll(Self.pipelined, splitAt: [])
        for cut in 1..<Self.pipelined.count {
            #expect(try Self.decodeAll(Self.pipelined, splitAt: [cut]) == whole, "split at \(cut)")
        }
    }

    @Test func theDecoderHoldsBackWhatFollowsACompleteRequest() throws {
        let decoder = HTTPMessageDecoder(kind: .request)
        decoder.append(Self.pipelined)
        #expect(try decoder.nextMessage()?.head.method == "POST")
        #expect(decoder.unparsedByteCount > 0)
        #expect(!decoder.isInsideMessage || decoder.unparsedByteCount > 0)
    }

    @Test func theHeadOfARequestWaitingForItsBodyIsVisible() throws {
        let decoder = HTTPMessageDecoder(kind: .request)
        decoder.append(Array("POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n".utf8))
        #expect(try decoder.nextMessage() == nil)
        #expect(decoder.headWaitingForBody?.expectsContinue == true)
        decoder.append(Array("body".utf8))
        #expect(try decoder.nextMessage()?.body == Array("body".utf8))
        #expect(decoder.headWaitingForBody == nil)
    }

    static let small = HTTPLimits(targetByteCountMax: 16, headerCountMax: 2, headerByteCountMax: 32, bodyByteCountMax: 8)

    @Test("each limit is refused with its own kind and status", arguments: [
        ("GET /\(String(repeating: "a", count: 16)) HTTP/1.1\r\n\r\n", HTTPDecodeError.Kind.targetTooLong, 414),
        ("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", .tooManyHeaders, 431),
        ("GET / HTTP/1.1\r\nA: \(String(repeating: "v", count: 40))\r\n\r\n", .headersTooLarge, 431),
        ("POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n", .bodyTooLarge, 413),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n", .bodyTooLarge, 413),
        ("GET / HTTP/1.1 junk\r\n\r\n", .malformed, 400),
        ("G@T / HTTP/1.1\r\n\r\n", .malformed, 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .malformed, 400),
    ])
    func limitsAndMalformedInput(text: String, kind: HTTPDecodeError.Kind, status: Int) throws {
        let decoder = HTTPMessageDecoder(kind: .request, limits: Self.small)
        decoder.append(Array(text.utf8))
        let error = #expect(throws: HTTPDecodeError.self) { _ = try decoder.nextMessage() }
        #expect(error?.kind == kind, "\(error.map { "\($0)" } ?? "")")
        #expect(error?.status == status)
        // Sticky: the same error again, even after a valid request.
        decoder.append(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(throws: error!) { _ = try decoder.nextMessage() }
    }

    @Test func responsesToHEADHaveNoBodyWhateverTheirLength() throws {
        let decoder = HTTPMessageDecoder(kind: .response)
        decoder.append(Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}".utf8))
        decoder.nextResponseHasNoBody = true
        let head = try #require(try decoder.nextMessage())
        #expect(head.head.status == 200 && head.body.isEmpty)
        let next = try #require(try decoder.nextMessage())
        #expect(next.head.status == 201 && next.body == Array("{}".utf8))
    }
}
