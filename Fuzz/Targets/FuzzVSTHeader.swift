// libFuzzer target: the VelocyStream message header readers, which turn the bytes of a
// received message (untrusted) into `ReceivedMessage` and then `RequestHeader`,
// `ResponseHeader` or `Authentication`.
//
// Input: the bytes of one message (VelocyPack header, then the body).
//
// Properties beyond "does not crash":
//
// - `ReceivedMessage` accepts exactly the messages whose first value passes the strict
//   Validator and is an array of at least 2 members starting with 1 and a type Tessera reads
//   (1, 2 or 1000; a model written with the VelocyPack API after Protocol/VelocyStream.md
//   §8.2); otherwise it throws the code of the first rule broken: `invalidHeader` (at the
//   Validator's offset), `malformedHeader` or `unsupportedMessageType` (at 0).
// - An accepted message: the header is the validated prefix, the body the rest; bytes after
//   the body do not change the header; `headerByteCountMax` equal to the header's size
//   accepts it, one byte less refuses it with `invalidHeader`.
// - The readers: the one that fits the type may accept; the others throw `malformedHeader`
//   (every reader only ever throws `malformedHeader`, at offset 0). What a reader accepts
//   follows its documentation (path starts with `/`, response code 100...599, meta keys in
//   lowercase).
// - In place: `BorrowedMessage` and the readers over it (what the server and the clients
//   use on bytes where the decoder holds them) give exactly the owning readers' outcome,
//   value or error.
// - Round trip: an accepted request, response or authentication header re-encodes
//   (`encoded()`) to bytes that `ReceivedMessage` accepts (with any body after them) and
//   that read back to an equal value; encoding that value again gives the same bytes.
//
// Build and run with `Fuzz/run.sh` (compiled together with Sources/VelocyPack and
// Sources/VelocyStream in one module).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    VSTHeaderFuzz.check(input)
    return 0
}

/// Stops the run with a message that names the property; libFuzzer saves the input.
func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzVSTHeader property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum VSTHeaderFuzz {
    static func receive(_ bytes: [UInt8], limits: VSTLimits = .default) -> Result<ReceivedMessage, VSTError> {
        Result { () throws(VSTError) in try ReceivedMessage(VSTMessage(id: 1, bytes: bytes), limits: limits) }
    }

    /// What reading one message gives: its type and body offset, and each reader's outcome.
    struct Reading: Equatable {
        var type: MessageType
        var bodyOffset: Int
        var request: Result<RequestHeader, VSTError>
        var response: Result<ResponseHeader, VSTError>
        var authentication: Result<Authentication, VSTError>
    }

    /// Reads `input` in place, as ``check(_:)`` reads it owned, and requires the same outcome
    /// (compared as values: two equal dictionaries may describe themselves in different orders).
    static func checkInPlace(_ input: [UInt8], expected: Result<Reading, VSTError>) {
        let inPlace: Result<Reading, VSTError> = input.withUnsafeBytes { raw in
            do throws(VSTError) {
                let message = try BorrowedMessage(raw)
                return .success(Reading(
                    type: message.type, bodyOffset: message.bodyOffset,
                    request: Result { () throws(VSTError) in try RequestHeader(message) },
                    response: Result { () throws(VSTError) in try ResponseHeader(message) },
                    authentication: Result { () throws(VSTError) in try Authentication(message) }))
            } catch {
                return .failure(error)
            }
        }
        guard inPlace == expected else { violated("read in place: \(inPlace); owned: \(expected)", input) }
    }

    static func check(_ input: [UInt8]) {
        let outcome = receive(input)
        checkAgainstModel(outcome, input)
        guard case .success(let received) = outcome else {
            if case .failure(let error) = outcome { checkInPlace(input, expected: .failure(error)) }
            return
        }
        checkFraming(received, input)

        let request = Result { () throws(VSTError) in try RequestHeader(received) }
        let response = Result { () throws(VSTError) in try ResponseHeader(received) }
        let authentication = Result { () throws(VSTError) in try Authentication(received) }
        checkInPlace(input, expected: .success(Reading(type: received.type, bodyOffset: received.bodyOffset, request: request,
                                                       response: response, authentication: authentication)))
        for (name, error) in [("RequestHeader", request.failure), ("ResponseHeader", response.failure),
                              ("Authentication", authentication.failure)] {
            if let error, error.code != .malformedHeader || error.offset != 0 {
                violated("\(name) threw \(error)", input)
            }
        }
        if received.type != .request, case .success(let value) = request { violated("\(received.type) read as request \(value)", input) }
        if received.type != .response, case .success(let value) = response { violated("\(received.type) read as response \(value)", input) }
        if received.type != .authentication, case .success(let value) = authentication {
            violated("\(received.type) read as authentication \(value)", input)
        }
        let body = Array(received.body)
        if case .success(let value) = request {
            guard value.path.hasPrefix("/"), value.meta.keys.allSatisfy({ $0 == $0.lowercased() }) else {
                violated("request header \(value) breaks its documentation", input)
            }
            roundTrip(value, body: body, encode: { $0.encoded() }, read: { (r) throws(VSTError) in try RequestHeader(r) }, input)
        }
        if case .success(let value) = response {
            guard (100...599).contains(value.responseCode), value.meta.keys.allSatisfy({ $0 == $0.lowercased() }) else {
                violated("response header \(value) breaks its documentation", input)
            }
            roundTrip(value, body: body, encode: { $0.encoded() }, read: { (r) throws(VSTError) in try ResponseHeader(r) }, input)
        }
        if case .success(let value) = authentication {
            roundTrip(value, body: body, encode: { $0.encoded() }, read: { (r) throws(VSTError) in try Authentication(r) }, input)
        }
    }

    /// Acceptance and the error code against a model written with the VelocyPack API.
    static func checkAgainstModel(_ outcome: Result<ReceivedMessage, VSTError>, _ input: [UInt8]) {
        let prefix = Result { () throws(VPackError) in try Validator(options: .strict).validatePrefix(input) }
        let expected: VSTError.Code?
        switch prefix {
        case .failure:
            expected = .invalidHeader
        case .success(let size):
            let header = Slice(trustedBytes: Array(input[0..<size]))
            if !header.isArray || header.count < 2 {
                expected = .malformedHeader
            } else if header[0]?.intValue != 1 || header[1]?.intValue.flatMap(MessageType.init(rawValue:)) == nil
                        || header[1]?.intValue == MessageType.responseMore.rawValue {
                expected = .unsupportedMessageType
            } else {
                expected = nil
            }
        }
        switch outcome {
        case .success(let received):
            guard expected == nil else { violated("ReceivedMessage accepted a message the model refuses with \(expected!)", input) }
            guard case .success(let size) = prefix, received.bodyOffset == size,
                  received.header.bytes.elementsEqual(input[0..<size]),
                  received.message.bytes == input, received.body.elementsEqual(input[size...]),
                  received.type.rawValue == received.header[1]?.intValue
            else { violated("accepted message: header, body or type do not match the validated prefix", input) }
        case .failure(let error):
            guard error.code == expected else {
                violated("ReceivedMessage threw \(error); the model expects \(expected.map(\.rawValue) ?? "acceptance")", input)
            }
            if error.code == .invalidHeader, case .failure(let vpackError) = prefix, error.offset != vpackError.offset {
                violated("invalidHeader at \(error.offset), the validator's error at \(vpackError.offset)", input)
            }
            if error.code != .invalidHeader && error.offset != 0 {
                violated("\(error) not at offset 0", input)
            }
        }
    }

    /// Bytes after the message do not change its header; the header limit is exact.
    static func checkFraming(_ received: ReceivedMessage, _ input: [UInt8]) {
        let size = received.bodyOffset
        switch receive(input + [0x18, 0x01, 0xff]) {
        case .success(let longer):
            guard longer.bodyOffset == size, longer.type == received.type,
                  longer.header.bytes.elementsEqual(received.header.bytes) else {
                violated("three more body bytes changed the header", input)
            }
        case .failure(let error):
            violated("three more body bytes made the message fail: \(error)", input)
        }
        var limits = VSTLimits.default
        limits.headerByteCountMax = size
        guard case .success(let exact) = receive(input, limits: limits), exact.bodyOffset == size else {
            violated("a header of \(size) bytes refused with headerByteCountMax \(size)", input)
        }
        limits.headerByteCountMax = size - 1
        switch receive(input, limits: limits) {
        case .success:
            violated("a header of \(size) bytes accepted with headerByteCountMax \(size - 1)", input)
        case .failure(let error):
            guard error.code == .invalidHeader else {
                violated("a header of \(size) bytes with headerByteCountMax \(size - 1) threw \(error)", input)
            }
        }
    }

    /// `value` encodes to a header that reads back to `value`, with the body after it, and
    /// encodes again to the same bytes.
    static func roundTrip<Header: Equatable>(
        _ value: Header, body: [UInt8], encode: (Header) -> [UInt8],
        read: (ReceivedMessage) throws(VSTError) -> Header, _ input: [UInt8]
    ) {
        let bytes = encode(value)
        for message in [bytes, bytes + body] {
            let received: ReceivedMessage
            do throws(VSTError) {
                received = try ReceivedMessage(VSTMessage(id: 1, bytes: message))
            } catch {
                violated("encoded \(value) is refused: \(error); bytes \(Hex.encode(bytes))", input)
            }
            guard received.bodyOffset == bytes.count else {
                violated("encoded \(value) has a header of \(received.bodyOffset) bytes, not \(bytes.count)", input)
            }
            let again: Header
            do throws(VSTError) {
                again = try read(received)
            } catch {
                violated("encoded \(value) does not read back: \(error); bytes \(Hex.encode(bytes))", input)
            }
            guard again == value else { violated("\(value) reads back as \(again); bytes \(Hex.encode(bytes))", input) }
            let bytesAgain = encode(again)
            guard bytesAgain == bytes else {
                violated("\(value) encodes to \(Hex.encode(bytes)), read back and encoded again to \(Hex.encode(bytesAgain))", input)
            }
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
