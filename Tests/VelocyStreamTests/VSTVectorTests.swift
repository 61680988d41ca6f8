import Testing
import VectorFileSupport
import VelocyPack
import VelocyStream

// The golden vectors in `Protocol/vectors/vst/` are the compatibility contract of the
// VelocyStream layer (framing and ArangoDB message headers); `Protocol/VelocyStream.md` §11
// describes them. Changing one is a protocol change and says so in its commit.
//
// Two files, one JSON object per line, read here with our own JSONParser and Slice:
//
//   streams.jsonl  {"name", "version", "stream", "messages", "chunkByteCount"?, "limits"?}
//                  {"name", "version", "stream", "error", "offset", "messages"?, "limits"?}
//       `stream` is the byte stream after the preamble. A valid stream decodes to exactly
//       `messages`, in that order, however it is split; with `chunkByteCount` it is also
//       exactly what VSTEncoder writes for those messages in order. An invalid stream
//       delivers `messages` (default none) and then fails with `error` at stream `offset`,
//       however it is split, and the decoder stays failed.
//   headers.jsonl  {"name", "kind", "hex", "json", "canonical", "body"?, "limits"?}
//                  {"name", "kind"?, "hex", "error", "offset", "limits"?}
//       A valid header (followed by `body`) reads as a message of `kind` with the fields in
//       `json`; `canonical` says whether Tessera's encoder writes exactly `hex` for them. An
//       invalid header is refused with `error` at `offset`: by ReceivedMessage when `kind` is
//       absent, otherwise (ReceivedMessage accepting it) by the decoder for `kind`.
//
// `limits` may set chunkByteCountMax, messageByteCountMax, partialMessageCountMax,
// headerByteCountMax and partialByteCountMax; the others keep their defaults.

@Suite("VelocyStream golden vectors")
struct VSTVectorTests {
    /// Piece sizes every stream is fed in: whole, byte by byte, and pieces of 7.
    static let pieceSizes = [Int.max, 1, 7]

    @Test("streams.jsonl: valid streams decode to the listed messages however they are split",
          arguments: VSTVectors.validStreams)
    func validStreamDecodes(_ vector: StreamVector) {
        if let problem = vector.problem {
            Issue.record("\(vector.location): \(problem)")
            return
        }
        for pieceSize in Self.pieceSizes {
            let (messages, error) = Self.feed(vector, pieceSize: pieceSize)
            #expect(error == nil, "\(vector.name), pieces of \(pieceSize): unexpected \(String(describing: error))")
            let same = messages == vector.messages  // not inside #expect: it would print every byte
            #expect(same, "\(vector.name), pieces of \(pieceSize): got \(Self.summary(messages)), expected \(Self.summary(vector.messages))")
        }
        if let chunkByteCount = vector.chunkByteCount {
            var encoded: [UInt8] = []
            for message in vector.messages {
                VSTEncoder.encode(messageID: message.id, message: message.bytes, version: vector.version,
                                  chunkByteCount: chunkByteCount, into: &encoded)
            }
            let same = encoded == vector.stream
            #expect(same, "\(vector.name): VSTEncoder writes \(encoded.count) bytes that differ from the vector's \(vector.stream.count)")
        }
    }

    @Test("streams.jsonl: invalid streams fail with the listed code and offset however they are split",
          arguments: VSTVectors.invalidStreams)
    func invalidStreamFails(_ vector: StreamVector) {
        if let problem = vector.problem {
            Issue.record("\(vector.location): \(problem)")
            return
        }
        guard let expected = vector.expected else { return }
        for pieceSize in Self.pieceSizes {
            let (messages, error) = Self.feed(vector, pieceSize: pieceSize)
            #expect(error == expected, "\(vector.name), pieces of \(pieceSize): got \(String(describing: error)), expected \(expected)")
            let same = messages == vector.messages
            #expect(same, "\(vector.name), pieces of \(pieceSize): delivered \(Self.summary(messages)) before the error, expected \(Self.summary(vector.messages))")
        }
        // After a fault the decoder refuses to go on, even when good bytes follow.
        var decoder = VSTDecoder(version: vector.version, limits: vector.limits)
        decoder.append(vector.stream)
        decoder.append(VSTEncoder.encode(messageID: 1, message: [0x18], version: vector.version))
        for _ in 0..<(vector.messages.count + 3) {
            do {
                _ = try decoder.nextMessage()
            } catch {
                #expect(error == expected, "\(vector.name): failed with \(error) before the listed error")
            }
        }
        #expect(throws: expected, "\(vector.name): the decoder does not stay failed") { try decoder.nextMessage() }
    }

    @Test("headers.jsonl: valid headers decode to the listed fields and re-encode when canonical",
          arguments: VSTVectors.validHeaders)
    func validHeaderDecodes(_ vector: HeaderVector) {
        if let problem = vector.problem {
            Issue.record("\(vector.location): \(problem)")
            return
        }
        guard let fields = vector.fields else { return }
        let received: ReceivedMessage
        do {
            received = try ReceivedMessage(VSTMessage(id: 1, bytes: vector.bytes + vector.body), limits: vector.limits)
        } catch {
            Issue.record("\(vector.name): refused: \(error)")
            return
        }
        #expect(received.type == vector.kind, "\(vector.name): read as \(received.type)")
        #expect(received.bodyOffset == vector.bytes.count, "\(vector.name): body starts at \(received.bodyOffset)")
        #expect(Array(received.body) == vector.body, "\(vector.name): body differs")
        do {
            let decoded = try DecodedHeader(received, as: vector.kind)
            #expect(decoded == fields, "\(vector.name): decoded \(decoded), expected \(fields)")
            let reencoded = fields.encoded()
            if vector.canonical {
                #expect(Hex.encode(reencoded) == Hex.encode(vector.bytes), "\(vector.name): Tessera's encoder writes other bytes")
            } else {
                let differs = reencoded != vector.bytes  // not inside #expect: it would print every byte
                #expect(differs, "\(vector.name): Tessera's encoder writes these bytes; mark the vector canonical")
            }
        } catch {
            Issue.record("\(vector.name): refused: \(error)")
        }
    }

    @Test("headers.jsonl: invalid headers are refused with the listed code and offset",
          arguments: VSTVectors.invalidHeaders)
    func invalidHeaderFails(_ vector: HeaderVector) {
        if let problem = vector.problem {
            Issue.record("\(vector.location): \(problem)")
            return
        }
        guard let expected = vector.expected else { return }
        let received: ReceivedMessage
        do {
            received = try ReceivedMessage(VSTMessage(id: 1, bytes: vector.bytes), limits: vector.limits)
        } catch {
            if vector.kindGiven {
                Issue.record("\(vector.name): ReceivedMessage refuses with \(error); a vector with a kind must pass that step")
            } else {
                #expect(error == expected, "\(vector.name): got \(error), expected \(expected)")
            }
            return
        }
        guard vector.kindGiven else {
            Issue.record("\(vector.name): ReceivedMessage accepts the header; expected \(expected)")
            return
        }
        do {
            let decoded = try DecodedHeader(received, as: vector.kind)
            Issue.record("\(vector.name): accepted as \(decoded); expected \(expected)")
        } catch {
            #expect(error == expected, "\(vector.name): got \(error), expected \(expected)")
        }
    }

    @Test("headers.jsonl: read in place, every header gives exactly what the owning read gives",
          arguments: VSTVectors.validHeaders + VSTVectors.invalidHeaders)
    func headerReadInPlaceAgrees(_ vector: HeaderVector) {
        guard vector.problem == nil else { return }  // reported by the two tests above
        let bytes = vector.bytes + vector.body
        let owned: Result<HeaderReading, VSTError>
        do throws(VSTError) {
            let received = try ReceivedMessage(VSTMessage(id: 1, bytes: bytes), limits: vector.limits)
            owned = .success(HeaderReading(
                type: received.type, bodyOffset: received.bodyOffset,
                decoded: Result { () throws(VSTError) in try DecodedHeader(received, as: vector.kind) }))
        } catch {
            owned = .failure(error)
        }
        let inPlace: Result<HeaderReading, VSTError> = bytes.withUnsafeBytes { raw in
            do throws(VSTError) {
                let message = try BorrowedMessage(raw, limits: vector.limits)
                return .success(HeaderReading(
                    type: message.type, bodyOffset: message.bodyOffset,
                    decoded: Result { () throws(VSTError) in try DecodedHeader(message, as: vector.kind) }))
            } catch {
                return .failure(error)
            }
        }
        #expect(inPlace == owned, "\(vector.name): in place \(inPlace), owned \(owned)")
    }

    @Test("the vector files are complete: counts, coverage, unique kebab-case names")
    func filesAreComplete() {
        let validStreams = VSTVectors.validStreams, invalidStreams = VSTVectors.invalidStreams
        #expect(validStreams.count >= 30, "streams.jsonl has \(validStreams.count) valid streams")
        #expect(invalidStreams.count >= 20, "streams.jsonl has \(invalidStreams.count) invalid streams")
        #expect(VSTVectors.validHeaders.count >= 20, "headers.jsonl has \(VSTVectors.validHeaders.count) valid headers")
        #expect(VSTVectors.invalidHeaders.count >= 20, "headers.jsonl has \(VSTVectors.invalidHeaders.count) invalid headers")
        for version in [VSTVersion.v1_1, .v1_0] {
            #expect(validStreams.contains { $0.version == version }, "no valid \(version) stream")
            #expect(invalidStreams.contains { $0.version == version }, "no invalid \(version) stream")
        }
        // Every code the stream decoder raises has a vector, and only those codes appear.
        let headerCodes: [VSTError.Code] = [.invalidHeader, .malformedHeader, .unsupportedMessageType]
        let decoderCodes = VSTError.Code.allCases.filter { $0 != .invalidPreamble && !headerCodes.contains($0) }
        let streamCodes = Set(invalidStreams.compactMap { $0.expected?.code.rawValue })
        for code in decoderCodes {
            #expect(streamCodes.contains(code.rawValue), "no invalid stream for \(code)")
        }
        #expect(streamCodes.isSubset(of: decoderCodes.map(\.rawValue)), "stream vectors name non-decoder codes: \(streamCodes.sorted())")
        let headerVectorCodes = Set(VSTVectors.invalidHeaders.compactMap { $0.expected?.code.rawValue })
        #expect(headerVectorCodes == Set(headerCodes.map(\.rawValue)), "header vectors cover \(headerVectorCodes.sorted())")
        for kind in [MessageType.request, .response, .authentication] {
            #expect(VSTVectors.validHeaders.contains { $0.kind == kind }, "no valid \(kind) header")
        }
        let names = (validStreams + invalidStreams).map(\.name)
            + (VSTVectors.validHeaders + VSTVectors.invalidHeaders).map(\.name)
        var seen: Set<String> = []
        for name in names {
            #expect(seen.insert(name).inserted, "vector name \(name) is used twice")
            let isKebab = !name.isEmpty && name.utf8.allSatisfy {
                ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                    || $0 == UInt8(ascii: "-")
            }
            #expect(isKebab, "vector name \(name) is not kebab-case")
        }
    }

    /// The numbers in `Protocol/VelocyStream.md` §7: declaration order from 1, only appended.
    @Test func errorCodeNumbersAreStable() {
        let documented = [
            "invalidPreamble", "chunkTooShort", "chunkTooLarge", "emptyChunk", "reservedMessageID",
            "invalidChunkCount", "messageTooLarge", "messageLengthMismatch", "invalidChunkIndex",
            "duplicateFirstChunk", "tooManyPartialMessages", "invalidHeader", "malformedHeader",
            "unsupportedMessageType", "tooMuchPartialData",
        ]
        #expect(VSTError.Code.allCases.map(\.rawValue) == documented)
        for (index, name) in documented.enumerated() {
            #expect(VSTError.Code(rawValue: name)?.number == index + 1, "\(name) is not number \(index + 1)")
        }
    }

    /// The byte examples and chunk-length table of `Protocol/VelocyStream.md` (§4, §9).
    @Test func documentedExamplesHold() throws {
        let hex = hexBytes  // FramingTests.swift: spaces allowed, bad hex stops the test run
        // §9.1
        let version = RequestHeader(method: .get, path: "/_api/version").encoded()
        #expect(version == hex("06 25 07 31 31 47 5f 73 79 73 74 65 6d 31 4d 2f 5f 61 70 69 2f 76 65 72 73 69 6f 6e 0a 0a 03 04 05 0d 0e 1c 1d"))
        #expect(VSTEncoder.encode(messageID: 1, message: version)
            == hex("3d 00 00 00 03 00 00 00 01 00 00 00 00 00 00 00 25 00 00 00 00 00 00 00") + version)
        #expect(VSTEncoder.encode(messageID: 1, message: version, version: .v1_0)
            == hex("35 00 00 00 03 00 00 00 01 00 00 00 00 00 00 00") + version)
        // §9.2
        #expect(Authentication.plain(user: "root", password: "secret").encoded()
            == hex("06 1e 05 31 21 e8 03 45 70 6c 61 69 6e 44 72 6f 6f 74 46 73 65 63 72 65 74 03 04 07 0d 12"))
        #expect(Authentication.jwt(token: "abc.def.ghi").encoded()
            == hex("06 1b 04 31 21 e8 03 43 6a 77 74 4b 61 62 63 2e 64 65 66 2e 67 68 69 03 04 07 0b"))
        // §9.3
        #expect(ResponseHeader(responseCode: 200).encoded() == hex("06 0d 04 31 32 21 c8 00 0a 03 04 05 08"))
        let compact = try ReceivedMessage(VSTMessage(id: 1, bytes: hex("13 09 31 32 21 c8 00 0a 04")))
        #expect(try ResponseHeader(compact) == ResponseHeader(responseCode: 200))
        // §9.4
        let message = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let first = hex("00 78 00 00 07 00 00 00 05 00 00 00 00 00 00 00 70 11 01 00 00 00 00 00")
        let stream11 = VSTEncoder.encode(messageID: 5, message: message)
        #expect(stream11.count == 70_072)
        #expect(Array(stream11[0..<24]) == first)
        #expect(Array(stream11[30_720..<30_744]) == hex("00 78 00 00 02 00 00 00 05 00 00 00 00 00 00 00 70 11 01 00 00 00 00 00"))
        #expect(Array(stream11[61_440..<61_464]) == hex("b8 21 00 00 04 00 00 00 05 00 00 00 00 00 00 00 70 11 01 00 00 00 00 00"))
        let stream10 = VSTEncoder.encode(messageID: 5, message: message, version: .v1_0)
        #expect(stream10.count == 70_056)
        #expect(Array(stream10[0..<24]) == first)
        #expect(Array(stream10[30_720..<30_736]) == hex("f8 77 00 00 02 00 00 00 05 00 00 00 00 00 00 00"))
        #expect(Array(stream10[61_432..<61_448]) == hex("b0 21 00 00 04 00 00 00 05 00 00 00 00 00 00 00"))
        for (stream, version) in [(stream11, VSTVersion.v1_1), (stream10, .v1_0)] {
            var decoder = VSTDecoder(version: version)
            decoder.append(stream)
            #expect(try decoder.nextMessage() == VSTMessage(id: 5, bytes: message))
        }
        // §4, chunk lengths
        let table: [(Int, Int, VSTVersion, [Int])] = [
            (37, 30_720, .v1_1, [61]), (37, 30_720, .v1_0, [53]),
            (70_000, 30_720, .v1_1, [30_720, 30_720, 8_632]), (70_000, 30_720, .v1_0, [30_720, 30_712, 8_624]),
            (200, 64, .v1_1, [64, 64, 64, 64, 64]), (200, 64, .v1_0, [64, 56, 56, 56, 56]),
            (5, 25, .v1_1, [25, 25, 25, 25, 25]),
        ]
        for (count, chunkByteCount, version, lengths) in table {
            let stream = VSTEncoder.encode(messageID: 1, message: [UInt8](repeating: 1, count: count), version: version,
                                           chunkByteCount: chunkByteCount)
            var found: [Int] = []
            var position = 0
            while position + 4 <= stream.count {
                let length = Int(stream[position]) | Int(stream[position + 1]) << 8 | Int(stream[position + 2]) << 16
                found.append(length)
                position += length
            }
            #expect(found == lengths, "\(count) bytes in \(chunkByteCount)-byte chunks, \(version)")
        }
    }

    /// Feeds the vector's stream in pieces; returns the messages delivered and the error, if any.
    static func feed(_ vector: StreamVector, pieceSize: Int) -> ([VSTMessage], VSTError?) {
        var decoder = VSTDecoder(version: vector.version, limits: vector.limits)
        var messages: [VSTMessage] = []
        var start = 0
        repeat {
            let end = min(vector.stream.count, start + min(pieceSize, vector.stream.count - start))
            decoder.append(vector.stream[start..<end])
            start = end
            do {
                while let message = try decoder.nextMessage() { messages.append(message) }
            } catch {
                return (messages, error)
            }
        } while start < vector.stream.count
        return (messages, nil)
    }

    /// Ids and sizes of messages, short enough for a failure message.
    static func summary(_ messages: [VSTMessage]) -> String {
        "[" + messages.map { "\($0.id): \($0.bytes.count) bytes" }.joined(separator: ", ") + "]"
    }
}

// MARK: - Vectors

/// A byte stream after the preamble, and what the decoder makes of it.
struct StreamVector: Sendable, CustomTestStringConvertible {
    var location = ""
    var name = ""
    var version = VSTVersion.v1_1
    var stream: [UInt8] = []
    /// The messages delivered (for an invalid stream: before the error).
    var messages: [VSTMessage] = []
    /// Set when the stream is exactly VSTEncoder's output for `messages` at this chunk size.
    var chunkByteCount: Int?
    var limits = VSTLimits.default
    /// The error an invalid stream ends with.
    var expected: VSTError?
    var problem: String?
    var testDescription: String { name.isEmpty ? location : name }
}

/// What reading one message gives: its type, where its body starts, and the decoder's outcome.
struct HeaderReading: Equatable {
    var type: MessageType
    var bodyOffset: Int
    var decoded: Result<DecodedHeader, VSTError>
}

/// A message header, and what ReceivedMessage and the header decoders make of it.
struct HeaderVector: Sendable, CustomTestStringConvertible {
    var location = ""
    var name = ""
    var kind = MessageType.request
    /// Whether the line names a kind (optional on invalid lines).
    var kindGiven = false
    var bytes: [UInt8] = []
    var body: [UInt8] = []
    var fields: DecodedHeader?
    var canonical = false
    var limits = VSTLimits.default
    var expected: VSTError?
    var problem: String?
    var testDescription: String { name.isEmpty ? location : name }
}

/// A header decoded by the decoder for its kind.
enum DecodedHeader: Sendable, Equatable {
    case request(RequestHeader)
    case response(ResponseHeader)
    case authentication(Authentication)

    /// Decodes `received` with the decoder for `kind`; `responseMore` uses the response decoder.
    init(_ received: ReceivedMessage, as kind: MessageType) throws(VSTError) {
        switch kind {
        case .request: self = .request(try RequestHeader(received))
        case .response, .responseMore: self = .response(try ResponseHeader(received))
        case .authentication: self = .authentication(try Authentication(received))
        }
    }

    /// The same, for a message read in place.
    init(_ message: BorrowedMessage, as kind: MessageType) throws(VSTError) {
        switch kind {
        case .request: self = .request(try RequestHeader(message))
        case .response, .responseMore: self = .response(try ResponseHeader(message))
        case .authentication: self = .authentication(try Authentication(message))
        }
    }

    /// Tessera's encoding of these fields.
    func encoded() -> [UInt8] {
        switch self {
        case let .request(header): header.encoded()
        case let .response(header): header.encoded()
        case let .authentication(authentication): authentication.encoded()
        }
    }
}

/// Reads the vector files once per test process.
enum VSTVectors {
    /// The repository root: two directories above this file (`Tests/VelocyStreamTests/`).
    static let root: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)
        return components.joined(separator: "/")
    }()

    static let directory = root + "/Protocol/vectors/vst"

    static let streams: [StreamVector] = lines("streams.jsonl").map { line in
        var vector = StreamVector(location: line.location)
        do throws(VectorLineError) {
            let fields = try line.fields()
            let isInvalid = fields["error"] != nil
            try fields.only(isInvalid
                ? ["name", "version", "stream", "error", "offset", "messages", "limits"]
                : ["name", "version", "stream", "messages", "chunkByteCount", "limits"])
            vector.name = try fields.string("name")
            vector.version = try fields.version()
            vector.stream = try fields.hex("stream")
            if isInvalid {
                vector.expected = VSTError(try fields.code(), at: try fields.count("offset"))
                if fields["messages"] != nil { vector.messages = try fields.messages() }
            } else {
                vector.messages = try fields.messages()
                if fields["chunkByteCount"] != nil { vector.chunkByteCount = try fields.count("chunkByteCount") }
            }
            vector.limits = try fields.limits()
        } catch {
            vector.problem = error.message
        }
        return vector
    }

    /// Lines that could not be read land here and fail.
    static let validStreams = streams.filter { $0.expected == nil }
    static let invalidStreams = streams.filter { $0.expected != nil }

    static let headers: [HeaderVector] = lines("headers.jsonl").map { line in
        var vector = HeaderVector(location: line.location)
        do throws(VectorLineError) {
            let fields = try line.fields()
            let isInvalid = fields["error"] != nil
            try fields.only(isInvalid
                ? ["name", "kind", "hex", "error", "offset", "limits"]
                : ["name", "kind", "hex", "json", "canonical", "body", "limits"])
            vector.name = try fields.string("name")
            vector.bytes = try fields.hex("hex")
            vector.limits = try fields.limits()
            if fields["kind"] != nil {
                vector.kind = try fields.kind()
                vector.kindGiven = true
            }
            if isInvalid {
                vector.expected = VSTError(try fields.code(), at: try fields.count("offset"))
            } else {
                guard vector.kindGiven else { throw VectorLineError("missing field kind") }
                vector.fields = try fields.decodedHeader(kind: vector.kind)
                vector.canonical = try fields.flag("canonical")
                if fields["body"] != nil { vector.body = try fields.hex("body") }
            }
        } catch {
            vector.problem = error.message
        }
        return vector
    }

    /// Lines that could not be read land here and fail.
    static let validHeaders = headers.filter { $0.expected == nil }
    static let invalidHeaders = headers.filter { $0.expected != nil }

    /// The non-empty lines of a vector file, or one line naming the problem when the file
    /// cannot be read (the count test then fails too).
    static func lines(_ file: String) -> [VectorLine] {
        guard let lines = VectorFiles.lines(of: file, in: directory) else {
            return [VectorLine(location: file, bytes: [], readProblem: "cannot read \(directory)/\(file)")]
        }
        return lines.map { VectorLine(location: $0.location, bytes: $0.bytes, readProblem: nil) }
    }
}

// MARK: - Reading one line

struct VectorLineError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// One line of a vector file.
struct VectorLine: Sendable {
    let location: String
    let bytes: [UInt8]
    let readProblem: String?

    /// The line parsed as a JSON object.
    func fields() throws(VectorLineError) -> VectorFields {
        if let readProblem { throw VectorLineError(readProblem) }
        let object: Slice
        do throws(VPackError) {
            object = try JSONParser.parse(bytes).slice
        } catch {
            throw VectorLineError("not JSON: \(error)")
        }
        guard object.isObject else { throw VectorLineError("not a JSON object") }
        return VectorFields(object: object)
    }
}

/// Typed access to the fields of a vector line (or of one of its objects).
struct VectorFields {
    let object: Slice

    subscript(name: String) -> Slice? { object[name] }

    /// Throws when the object has a field not in `names`, so a misspelt field cannot be
    /// silently ignored.
    func only(_ names: [String]) throws(VectorLineError) {
        for (key, _) in object.objectMembers {
            let name = key.keyName ?? "?"
            guard names.contains(name) else { throw VectorLineError("unexpected field \(name)") }
        }
    }

    func field(_ name: String) throws(VectorLineError) -> Slice {
        guard let value = object[name] else { throw VectorLineError("missing field \(name)") }
        return value
    }

    func string(_ name: String) throws(VectorLineError) -> String {
        guard let value = try field(name).stringValue else { throw VectorLineError("\(name) must be a string") }
        return value
    }

    func count(_ name: String) throws(VectorLineError) -> Int {
        guard let value = try field(name).intValue, value >= 0 else { throw VectorLineError("\(name) must be a count") }
        return Int(value)
    }

    func flag(_ name: String) throws(VectorLineError) -> Bool {
        guard let value = try field(name).boolValue else { throw VectorLineError("\(name) must be true or false") }
        return value
    }

    /// Lowercase hex without separators, as `Hex.encode` writes it.
    func hex(_ name: String) throws(VectorLineError) -> [UInt8] {
        let text = try string(name)
        let bytes: [UInt8]
        do throws(Hex.DecodingError) {
            bytes = try Hex.decode(text)
        } catch {
            throw VectorLineError("\(name): \(error)")
        }
        guard Hex.encode(bytes) == text else { throw VectorLineError("\(name) is not lowercase hex without spaces") }
        return bytes
    }

    func version() throws(VectorLineError) -> VSTVersion {
        switch try string("version") {
        case "1.1": .v1_1
        case "1.0": .v1_0
        case let other: throw VectorLineError("unknown version \(other)")
        }
    }

    func kind() throws(VectorLineError) -> MessageType {
        switch try string("kind") {
        case "request": .request
        case "response": .response
        case "authentication": .authentication
        case let other: throw VectorLineError("unknown kind \(other)")
        }
    }

    func code() throws(VectorLineError) -> VSTError.Code {
        let name = try string("error")
        guard let code = VSTError.Code(rawValue: name) else { throw VectorLineError("unknown error code \(name)") }
        return code
    }

    /// `[{"id": N, "hex": "…"}, …]`
    func messages() throws(VectorLineError) -> [VSTMessage] {
        let list = try field("messages")
        guard list.isArray else { throw VectorLineError("messages must be an array") }
        var messages: [VSTMessage] = []
        for element in list.arrayElements {
            guard element.isObject else { throw VectorLineError("a message must be an object") }
            let message = VectorFields(object: element)
            try message.only(["id", "hex"])
            guard let id = try message.field("id").uintValue, id != 0 else {
                throw VectorLineError("message id must be a positive integer")
            }
            messages.append(VSTMessage(id: id, bytes: try message.hex("hex")))
        }
        return messages
    }

    /// The defaults with the line's `limits` applied.
    func limits() throws(VectorLineError) -> VSTLimits {
        var limits = VSTLimits.default
        guard let value = object["limits"] else { return limits }
        guard value.isObject else { throw VectorLineError("limits must be an object") }
        let given = VectorFields(object: value)
        try given.only(["chunkByteCountMax", "messageByteCountMax", "partialMessageCountMax", "headerByteCountMax",
                        "partialByteCountMax"])
        if given["chunkByteCountMax"] != nil { limits.chunkByteCountMax = try given.count("chunkByteCountMax") }
        if given["messageByteCountMax"] != nil { limits.messageByteCountMax = try given.count("messageByteCountMax") }
        if given["partialMessageCountMax"] != nil { limits.partialMessageCountMax = try given.count("partialMessageCountMax") }
        if given["headerByteCountMax"] != nil { limits.headerByteCountMax = try given.count("headerByteCountMax") }
        if given["partialByteCountMax"] != nil { limits.partialByteCountMax = try given.count("partialByteCountMax") }
        return limits
    }

    /// The `json` field as the header value a decoder for `kind` must produce.
    func decodedHeader(kind: MessageType) throws(VectorLineError) -> DecodedHeader {
        let value = try field("json")
        guard value.isObject else { throw VectorLineError("json must be an object") }
        let json = VectorFields(object: value)
        switch kind {
        case .request:
            try json.only(["database", "method", "path", "parameters", "meta"])
            let name = try json.string("method")
            guard let method = RequestMethod(name: name), method.description == name else {
                throw VectorLineError("unknown method \(name)")
            }
            var parameters: [String: [String]] = [:]
            for (key, values) in try json.members("parameters") {
                guard values.isArray else { throw VectorLineError("parameter \(key) must be an array of strings") }
                parameters[key] = try values.arrayElements.map { (element) throws(VectorLineError) -> String in
                    guard let text = element.stringValue else { throw VectorLineError("parameter \(key) must hold strings") }
                    return text
                }
            }
            return .request(RequestHeader(
                database: try json.string("database"), method: method, path: try json.string("path"),
                parameters: parameters, meta: try json.stringMap("meta")))
        case .response, .responseMore:
            try json.only(["responseCode", "meta"])
            return .response(ResponseHeader(responseCode: try json.count("responseCode"), meta: try json.stringMap("meta")))
        case .authentication:
            if json["plain"] != nil {
                try json.only(["plain"])
                let plain = VectorFields(object: try json.field("plain"))
                try plain.only(["user", "password"])
                return .authentication(.plain(user: try plain.string("user"), password: try plain.string("password")))
            }
            try json.only(["jwt"])
            let jwt = VectorFields(object: try json.field("jwt"))
            try jwt.only(["token"])
            return .authentication(.jwt(token: try jwt.string("token")))
        }
    }

    /// The members of an object field, by name.
    func members(_ name: String) throws(VectorLineError) -> [(String, Slice)] {
        let value = try field(name)
        guard value.isObject else { throw VectorLineError("\(name) must be an object") }
        var members: [(String, Slice)] = []
        for (key, member) in value.objectMembers {
            guard let keyName = key.keyName else { throw VectorLineError("\(name) has a key that is no string") }
            members.append((keyName, member))
        }
        return members
    }

    /// An object field whose values are all strings.
    func stringMap(_ name: String) throws(VectorLineError) -> [String: String] {
        var map: [String: String] = [:]
        for (key, value) in try members(name) {
            guard let text = value.stringValue else { throw VectorLineError("\(name).\(key) must be a string") }
            map[key] = text
        }
        return map
    }
}
