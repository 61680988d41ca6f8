// libFuzzer target: the HTTP/1.1 decoder (`HTTPMessageDecoder`, Debian's http_parser behind
// the platform seam), which turns an HTTP client's untrusted bytes into requests.
//
// Input: byte 0 chooses the limits (bit 0: small ones — 64-byte targets, 4 fields, 128 bytes
// of fields, 256-byte bodies — or the defaults) and the kind (bit 1: parse responses, as the
// client does); the rest is the byte stream.
//
// Properties beyond "does not crash":
//
// - Splitting: the stream fed whole, in pieces whose sizes come from a PRNG seeded with the
//   input, and byte by byte (streams up to 2 KiB) gives the same messages in the same order
//   and, when one way fails, the others fail too, with the same kind, or without an error the
//   same "inside a message" state. The one allowed difference: a message that is both
//   malformed and over a size limit may be refused for either, since http_parser reports a
//   target or field piece when a piece of input ends but a bad byte as soon as it sees it
//   (seed `regression-split-malformed-or-too-long`).
// - A fault is sticky: after an error, `nextMessage` throws the same error again, also after
//   more bytes.
// - Every message obeys the limits: target, field count, field bytes and body within them;
//   an announced Content-Length equals the body's length; a refusal's status is the one its
//   kind names (400, 413, 414, 431).
// - Re-encoding: a request whose fields are plain (token names, values without control
//   characters), sent again as `METHOD target HTTP/x.y`, its fields (framing fields dropped)
//   and a Content-Length body, decodes to the same method, target, version, fields and body
//   (fields whose names start with a framing field's name are left out: see checkReencoding).
//
// Build and run with `Fuzz/run.sh` (compiled with -I Sources/CHTTPParser, linked with
// libhttp_parser).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    HTTPDecoderFuzz.check(input)
    return 0
}

/// Stops the run with a message that names the property; libFuzzer saves the input.
func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzHTTPDecoder property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum HTTPDecoderFuzz {
    static let smallLimits = HTTPLimits(targetByteCountMax: 64, headerCountMax: 4, headerByteCountMax: 128, bodyByteCountMax: 256)

    struct Outcome {
        var messages: [HTTPMessage] = []
        var error: HTTPDecodeError.Kind?
        var insideMessage = false

        func agrees(with other: Outcome) -> Bool {
            guard messages == other.messages, (error == nil) == (other.error == nil) else { return false }
            guard let error, let otherError = other.error else { return insideMessage == other.insideMessage }
            return error == otherError || error == .malformed || otherError == .malformed
        }
    }

    static func check(_ input: [UInt8]) {
        guard let control = input.first else { return }
        let limits = control & 1 == 0 ? smallLimits : HTTPLimits.default
        let kind: HTTPMessageDecoder.Kind = control & 2 == 0 ? .request : .response
        let stream = Array(input.dropFirst())

        let whole = decode(stream, pieces: [stream.count], kind: kind, limits: limits, input)
        var random = SplitMix(seed: input)
        var pieces: [Int] = []
        var left = stream.count
        while left > 0 {
            let piece = min(left, Int(random.next() % 64) + 1)
            pieces.append(piece)
            left -= piece
        }
        let split = decode(stream, pieces: pieces, kind: kind, limits: limits, input)
        if !split.agrees(with: whole) { violated("pieces \(pieces) decode differently from the whole stream", input) }
        if stream.count <= 2048 {
            let bytewise = decode(stream, pieces: Array(repeating: 1, count: stream.count), kind: kind, limits: limits, input)
            if !bytewise.agrees(with: whole) { violated("byte-by-byte decoding differs from the whole stream", input) }
        }
        for message in whole.messages { checkLimits(message, limits, input) }
        if kind == .request {
            for message in whole.messages { checkReencoding(message, limits, input) }
        }
    }

    /// Feeds `stream` in `pieces`, taking every complete message after each piece.
    static func decode(_ stream: [UInt8], pieces: [Int], kind: HTTPMessageDecoder.Kind, limits: HTTPLimits,
                       _ input: [UInt8]) -> Outcome {
        let decoder = HTTPMessageDecoder(kind: kind, limits: limits)
        var outcome = Outcome()
        var offset = 0
        for piece in pieces {
            decoder.append(stream[offset..<(offset + piece)])
            offset += piece
            do throws(HTTPDecodeError) {
                while let message = try decoder.nextMessage() { outcome.messages.append(message) }
            } catch {
                outcome.error = error.kind
                checkRefusal(error, input)
                // Sticky, also after more bytes.
                decoder.append([0x47, 0x45, 0x54, 0x20])
                do throws(HTTPDecodeError) {
                    _ = try decoder.nextMessage()
                    violated("a decoder that failed with \(error) accepted more bytes", input)
                } catch let again {
                    if again != error { violated("a second call threw \(again), not \(error)", input) }
                }
                return outcome
            }
        }
        outcome.insideMessage = decoder.isInsideMessage
        return outcome
    }

    static func checkRefusal(_ error: HTTPDecodeError, _ input: [UInt8]) {
        let expected: Int = switch error.kind {
        case .malformed: 400
        case .targetTooLong: 414
        case .tooManyHeaders, .headersTooLarge: 431
        case .bodyTooLarge: 413
        }
        if error.status != expected { violated("\(error.kind) answered \(error.status)", input) }
    }

    static func checkLimits(_ message: HTTPMessage, _ limits: HTTPLimits, _ input: [UInt8]) {
        let head = message.head
        if head.target.utf8.count > limits.targetByteCountMax * 3 {
            // Decoding replaces each invalid byte by U+FFFD (3 bytes): a bound on the bytes.
            violated("target of \(head.target.utf8.count) bytes passed a limit of \(limits.targetByteCountMax)", input)
        }
        if head.fields.count > limits.headerCountMax { violated("\(head.fields.count) fields passed the limit", input) }
        if message.body.count > limits.bodyByteCountMax { violated("a body of \(message.body.count) bytes passed the limit", input) }
        if let length = head.contentLength, !head.isChunked, length != UInt64(message.body.count),
           !(head.status >= 100 && head.status < 200), head.status != 204, head.status != 304 {
            violated("Content-Length \(length) but a body of \(message.body.count) bytes", input)
        }
    }

    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    static func isPlainValue(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7f } && text.first != " " && text.last != " "
    }

    static func checkReencoding(_ message: HTTPMessage, _ limits: HTTPLimits, _ input: [UInt8]) {
        let head = message.head
        let framing: Set<String> = ["content-length", "transfer-encoding", "upgrade", "connection", "expect"]
        guard head.method != "CONNECT", isPlainValue(head.target), !head.target.contains(" "),
              head.fields.allSatisfy({ isToken($0.name) && isPlainValue($0.value) }) else { return }
        let kept = head.fields.filter { !framing.contains($0.name) }
        // http_parser 2.9 takes a field whose name merely starts with `transfer-encoding` (or
        // another framing name) for that field (seed `regression-framing-name-prefix`): such
        // requests are not re-encoded.
        guard !kept.contains(where: { field in framing.contains { field.name.hasPrefix($0) } }) else { return }
        var text = "\(head.method) \(head.target) HTTP/\(head.versionMajor).\(head.versionMinor)\r\n"
        for field in kept { text += "\(field.name): \(field.value)\r\n" }
        text += "Content-Length: \(message.body.count)\r\n\r\n"
        let wire = Array(text.utf8) + message.body
        let decoder = HTTPMessageDecoder(kind: .request, limits: HTTPLimits(
            targetByteCountMax: limits.targetByteCountMax, headerCountMax: limits.headerCountMax + 1,
            headerByteCountMax: limits.headerByteCountMax + 64, bodyByteCountMax: limits.bodyByteCountMax))
        decoder.append(wire)
        let again: HTTPMessage?
        do throws(HTTPDecodeError) {
            again = try decoder.nextMessage()
        } catch {
            violated("the re-encoded request \(text.debugDescription) is refused: \(error)", input)
        }
        guard let again else { violated("the re-encoded request \(text.debugDescription) is incomplete", input) }
        let sameHead = again.head.method == head.method && again.head.target == head.target
            && again.head.versionMajor == head.versionMajor && again.head.versionMinor == head.versionMinor
        if !sameHead || again.body != message.body || again.head.fields.filter({ !framing.contains($0.name) }) != kept {
            violated("the re-encoded request \(text.debugDescription) decodes to \(again)", input)
        }
    }
}
