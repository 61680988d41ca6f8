internal import CHTTPParser

/// The limits an HTTP/1.1 decoder enforces on every message, each named so that an operator
/// can find it. A message that breaks one is refused with the status ``HTTPDecodeError/status``
/// names (414, 431 or 413), never buffered further.
public struct HTTPLimits: Sendable, Equatable {
    /// The longest request target (the URL of the request line), in bytes: 414 beyond it.
    public var targetByteCountMax: Int
    /// The most header fields in one message: 431 beyond it.
    public var headerCountMax: Int
    /// All header names and values of one message together, in bytes: 431 beyond it.
    public var headerByteCountMax: Int
    /// The largest body, announced by `Content-Length` or received in chunks: 413 beyond it.
    public var bodyByteCountMax: Int

    /// 16 KiB targets, 100 fields, 64 KiB of fields, 128 MiB bodies (VelocyStream's message
    /// limit, so both protocols accept the same documents).
    public static let `default` = HTTPLimits(targetByteCountMax: 16 << 10, headerCountMax: 100,
                                             headerByteCountMax: 64 << 10, bodyByteCountMax: 128 << 20)

    public init(targetByteCountMax: Int, headerCountMax: Int, headerByteCountMax: Int, bodyByteCountMax: Int) {
        self.targetByteCountMax = targetByteCountMax
        self.headerCountMax = headerCountMax
        self.headerByteCountMax = headerByteCountMax
        self.bodyByteCountMax = bodyByteCountMax
    }
}

/// Why a byte stream is not acceptable HTTP/1.1. Sticky: a decoder that threw once throws the
/// same error for every later call (the stream has no reliable message boundary left).
public struct HTTPDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        /// Not HTTP/1.x: a bad request line, header line, chunk size or framing.
        case malformed
        /// The request target is longer than ``HTTPLimits/targetByteCountMax``.
        case targetTooLong
        /// More than ``HTTPLimits/headerCountMax`` header fields.
        case tooManyHeaders
        /// More than ``HTTPLimits/headerByteCountMax`` bytes of header fields (or beyond the
        /// parser's own bound on a message head).
        case headersTooLarge
        /// A body beyond ``HTTPLimits/bodyByteCountMax``.
        case bodyTooLarge
    }

    public let kind: Kind
    /// For people: what exactly was wrong.
    public let detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The response status that refuses such a message.
    public var status: Int {
        switch kind {
        case .malformed: 400
        case .targetTooLong: 414
        case .tooManyHeaders, .headersTooLarge: 431
        case .bodyTooLarge: 413
        }
    }

    public var description: String { "\(kind.rawValue): \(detail)" }
}

/// One header field as received: the name in lowercase, the value as sent (leading and
/// trailing blanks removed by the parser).
public struct HTTPField: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The head of an HTTP/1.x message: request line or status line, and the header fields.
public struct HTTPHead: Sendable, Equatable {
    /// The request method as sent (`GET`); empty for a response.
    public var method: String = ""
    /// The request target as sent (`/_api/version?details=true`); empty for a response.
    public var target: String = ""
    /// The response status; 0 for a request.
    public var status: Int = 0
    public var versionMajor: Int = 1
    public var versionMinor: Int = 1
    public var fields: [HTTPField] = []
    /// Whether the connection may carry another message after this one (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    public var keepAlive: Bool = true
    /// The body arrives in chunks (`Transfer-Encoding: chunked`).
    public var isChunked: Bool = false
    /// The announced `Content-Length`, if any.
    public var contentLength: UInt64?

    public init() {}

    /// The value of the first field named `name` (lowercase), if any.
    public func value(_ name: String) -> String? {
        fields.first { $0.name == name }?.value
    }

    /// The values of every field named `name`, joined with `, ` as RFC 9110 §5.3 allows.
    public func joinedValue(_ name: String) -> String? {
        let values = fields.filter { $0.name == name }.map(\.value)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    /// The client waits for `100 Continue` before sending the body.
    public var expectsContinue: Bool {
        value("expect")?.lowercased() == "100-continue"
    }
}

/// A complete message: its head and its whole body (chunks joined).
public struct HTTPMessage: Sendable, Equatable {
    public var head: HTTPHead
    public var body: [UInt8]

    public init(head: HTTPHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }
}

/// Turns a byte stream into HTTP/1.x messages with Debian's `http_parser` (the C parser node.js
/// used before llhttp), within ``HTTPLimits``. Works like the VelocyStream decoder: bytes go in
/// with ``append(_:)``; ``nextMessage()`` returns complete messages one at a time and leaves
/// the bytes after a message unparsed until it is asked again, so a pipelining client cannot
/// make the decoder hold more than one message at once.
///
/// ```
/// request:  METHOD SP target SP HTTP/1.1 CRLF  *( name ":" value CRLF )  CRLF  body
/// body:     Content-Length bytes | chunks: hex-size CRLF data CRLF ... 0 CRLF trailers CRLF
/// ```
///
/// Not `Sendable`: one decoder belongs to one connection on one thread.
public final class HTTPMessageDecoder {
    public enum Kind: Sendable { case request, response }

    public let kind: Kind
    public let limits: HTTPLimits
    let parser: UnsafeMutablePointer<http_parser>
    let settings: UnsafeMutablePointer<http_parser_settings>
    /// Received bytes; those before `start` have been parsed.
    var buffer: [UInt8] = []
    var start = 0
    var failure: HTTPDecodeError?
    /// Set by a callback that refuses (a limit); the parser then stops with a callback error.
    var refusal: HTTPDecodeError?
    /// The message being parsed.
    var target: [UInt8] = []
    /// Every field name and value of the message, one after the other, and where each field's
    /// name and value stand in it (one buffer instead of two arrays per field).
    var fieldBytes: [UInt8] = []
    var fields: [FieldRanges] = []

    struct FieldRanges {
        var name: Range<Int>
        var value: Range<Int>
    }
    var fieldByteCount = 0
    var lastWasValue = false
    var head: HTTPHead?
    var body: [UInt8] = []
    var inMessage = false
    var completed: HTTPMessage?
    /// Responses: the next response has no body whatever its headers say (it answers HEAD).
    public var nextResponseHasNoBody = false

    public init(kind: Kind, limits: HTTPLimits = .default) {
        self.kind = kind
        self.limits = limits
        parser = .allocate(capacity: 1)
        settings = .allocate(capacity: 1)
        http_parser_init(parser, kind == .request ? HTTP_REQUEST : HTTP_RESPONSE)
        http_parser_settings_init(settings)
        settings.pointee.on_message_begin = { HTTPMessageDecoder.decoder($0).messageBegan() }
        settings.pointee.on_url = { HTTPMessageDecoder.decoder($0).url($1, $2) }
        settings.pointee.on_header_field = { HTTPMessageDecoder.decoder($0).headerField($1, $2) }
        settings.pointee.on_header_value = { HTTPMessageDecoder.decoder($0).headerValue($1, $2) }
        settings.pointee.on_headers_complete = { HTTPMessageDecoder.decoder($0).headersComplete() }
        settings.pointee.on_body = { HTTPMessageDecoder.decoder($0).bodyBytes($1, $2) }
        settings.pointee.on_message_complete = { HTTPMessageDecoder.decoder($0).messageComplete() }
    }

    deinit {
        parser.deallocate()
        settings.deallocate()
    }

    static func decoder(_ parser: UnsafeMutablePointer<http_parser>?) -> HTTPMessageDecoder {
        Unmanaged<HTTPMessageDecoder>.fromOpaque(parser!.pointee.data).takeUnretainedValue()
    }

    /// Adds received bytes; nothing is parsed until ``nextMessage()``.
    public func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
    }

    /// Adds received bytes.
    public func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// Received bytes not parsed yet (behind a complete message, or not asked for).
    public var unparsedByteCount: Int { buffer.count - start }

    /// Whether part of a message has been received: the peer owes the rest.
    public var isInsideMessage: Bool { inMessage || unparsedByteCount > 0 }

    /// The head of the message whose body is still arriving, once its head is complete (a
    /// server answers `Expect: 100-continue` when it sees it).
    public var headWaitingForBody: HTTPHead? { inMessage ? head : nil }

    /// Parses buffered bytes up to the end of the next complete message.
    /// - Returns: the message, or `nil` when more bytes are needed.
    /// - Throws: ``HTTPDecodeError`` when the bytes are not acceptable; then on every call.
    public func nextMessage() throws(HTTPDecodeError) -> HTTPMessage? {
        if let failure { throw failure }
        while start < buffer.count {
            parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
            let parsed = buffer.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    http_parser_execute(parser, settings, chars.baseAddress! + start, chars.count - start)
                }
            }
            start += parsed
            let errno = tessera_http_errno(parser)
            if let message = completed {
                completed = nil
                if errno == HPE_PAUSED.rawValue { http_parser_pause(parser, 0) }
                // A request asking to switch protocols is served as a plain request; the
                // parser, which stops at an upgrade, starts over for the next one.
                if tessera_http_upgrade(parser) != 0 { http_parser_init(parser, kind == .request ? HTTP_REQUEST : HTTP_RESPONSE) }
                compact()
                return message
            }
            if errno != HPE_OK.rawValue {
                let error = refusal ?? Self.error(errno)
                failure = error
                buffer = []
                start = 0
                throw error
            }
            guard parsed > 0 else { break }
        }
        compact()
        return nil
    }

    /// The end of the stream: a response whose length is "until the connection closes" is
    /// complete now.
    /// - Returns: that response, if there was one.
    public func endOfStream() throws(HTTPDecodeError) -> HTTPMessage? {
        if let failure { throw failure }
        guard inMessage else { return nil }
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        _ = http_parser_execute(parser, settings, nil, 0)
        if let message = completed {
            completed = nil
            return message
        }
        let error = HTTPDecodeError(.malformed, "the stream ended inside a message")
        failure = error
        throw error
    }

    func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        } else if start > 4096 && start > buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }

    static func error(_ errno: UInt32) -> HTTPDecodeError {
        let name = String(cString: http_errno_name(http_errno(errno)))
        let description = String(cString: http_errno_description(http_errno(errno)))
        if errno == HPE_HEADER_OVERFLOW.rawValue {
            return HTTPDecodeError(.headersTooLarge, "the message head is longer than the parser allows (\(name))")
        }
        return HTTPDecodeError(.malformed, "\(description) (\(name))")
    }

    // MARK: Callbacks (0 goes on; -1 stops the parser with a callback error)

    func refuse(_ error: HTTPDecodeError) -> Int32 {
        refusal = error
        // Not 1: from `on_headers_complete`, 1 means "skip the body", not "stop".
        return -1
    }

    func messageBegan() -> Int32 {
        inMessage = true
        target.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        fieldBytes.removeAll(keepingCapacity: true)
        fieldByteCount = 0
        lastWasValue = false
        head = nil
        body = []
        return 0
    }

    func url(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
        guard target.count + length <= limits.targetByteCountMax else {
            return refuse(HTTPDecodeError(.targetTooLong, "the request target is longer than \(limits.targetByteCountMax) bytes"))
        }
        target.append(contentsOf: UnsafeRawBufferPointer(start: at, count: length))
        return 0
    }

    func headerField(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
        if fields.isEmpty || lastWasValue {
            guard fields.count < limits.headerCountMax else {
                return refuse(HTTPDecodeError(.tooManyHeaders, "more than \(limits.headerCountMax) header fields"))
            }
            fields.append(FieldRanges(name: fieldBytes.count..<fieldBytes.count, value: fieldBytes.count..<fieldBytes.count))
            lastWasValue = false
        }
        return fieldPiece(at, length, value: false)
    }

    func headerValue(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
        lastWasValue = true
        return fieldPiece(at, length, value: true)
    }

    func fieldPiece(_ at: UnsafePointer<CChar>?, _ length: Int, value: Bool) -> Int32 {
        fieldByteCount += length
        guard fieldByteCount <= limits.headerByteCountMax else {
            return refuse(HTTPDecodeError(.headersTooLarge, "header fields longer than \(limits.headerByteCountMax) bytes in all"))
        }
        guard !fields.isEmpty else { return 0 }  // a value before any name cannot happen: the parser checks
        // A field's name pieces all come before its value pieces, and pieces arrive in order:
        // each range only ever grows at the end of the buffer.
        let bytes = UnsafeRawBufferPointer(start: at, count: length)
        let last = fields.count - 1
        if value {
            if fields[last].value.isEmpty { fields[last].value = fieldBytes.count..<fieldBytes.count }
            fieldBytes.append(contentsOf: bytes)
            fields[last].value = fields[last].value.lowerBound..<fieldBytes.count
        } else {
            fieldBytes.append(contentsOf: bytes)
            fields[last].name = fields[last].name.lowerBound..<fieldBytes.count
            fields[last].value = fieldBytes.count..<fieldBytes.count
        }
        return 0
    }

    func headersComplete() -> Int32 {
        var head = HTTPHead()
        if kind == .request {
            head.method = String(cString: http_method_str(http_method(tessera_http_method(parser))))
            head.target = String(decoding: target, as: UTF8.self)
        } else {
            head.status = Int(tessera_http_status(parser))
        }
        head.versionMajor = Int(parser.pointee.http_major)
        head.versionMinor = Int(parser.pointee.http_minor)
        head.fields = fieldBytes.withUnsafeMutableBufferPointer { bytes in
            fields.map { field in
                // Field names are ASCII tokens (the parser checks): lowercased in place.
                for index in field.name where (0x41...0x5a).contains(bytes[index]) { bytes[index] |= 0x20 }
                return HTTPField(name: String(decoding: UnsafeBufferPointer(rebasing: bytes[field.name]), as: UTF8.self),
                                 value: String(decoding: UnsafeBufferPointer(rebasing: bytes[field.value]), as: UTF8.self))
            }
        }
        head.keepAlive = http_should_keep_alive(parser) != 0
        let flags = tessera_http_flags(parser)
        head.isChunked = flags & F_CHUNKED.rawValue != 0
        if flags & F_CONTENTLENGTH.rawValue != 0 {
            head.contentLength = parser.pointee.content_length
            guard parser.pointee.content_length <= UInt64(limits.bodyByteCountMax) else {
                self.head = head
                return refuse(HTTPDecodeError(.bodyTooLarge, "Content-Length \(parser.pointee.content_length) is more than \(limits.bodyByteCountMax) bytes"))
            }
        }
        self.head = head
        if kind == .response && nextResponseHasNoBody {
            nextResponseHasNoBody = false
            return 1  // for a response, 1 here means "no body follows", not an error
        }
        return 0
    }

    func bodyBytes(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
        guard body.count + length <= limits.bodyByteCountMax else {
            return refuse(HTTPDecodeError(.bodyTooLarge, "the body is longer than \(limits.bodyByteCountMax) bytes"))
        }
        body.append(contentsOf: UnsafeRawBufferPointer(start: at, count: length))
        return 0
    }

    func messageComplete() -> Int32 {
        inMessage = false
        completed = HTTPMessage(head: head ?? HTTPHead(), body: body)
        body = []
        // Stop right behind this message: the rest waits for the next `nextMessage()`.
        http_parser_pause(parser, 1)
        return 0
    }
}
