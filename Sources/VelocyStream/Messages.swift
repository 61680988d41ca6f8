public import VelocyPack

/// Element 1 of every message header: what the message is.
public enum MessageType: Int64, Sendable, CaseIterable {
    case request = 1
    case response = 2
    /// A response with more to follow; ArangoDB never sends it and Tessera refuses it.
    case responseMore = 3
    case authentication = 1000
}

/// The request method, as its integer in element 3 of a request header.
public enum RequestMethod: Int64, Sendable, CaseIterable, CustomStringConvertible {
    case delete = 0, get = 1, post = 2, put = 3, head = 4, patch = 5, options = 6

    /// The method's HTTP name, such as `GET`.
    public var description: String {
        switch self {
        case .delete: "DELETE"
        case .get: "GET"
        case .post: "POST"
        case .put: "PUT"
        case .head: "HEAD"
        case .patch: "PATCH"
        case .options: "OPTIONS"
        }
    }

    /// The method for an HTTP name (any case), or `nil`.
    public init?(name: String) {
        // The exact names first: HTTP requests spell them so, and this runs for each of them.
        switch name {
        case "GET": self = .get
        case "POST": self = .post
        case "PUT": self = .put
        case "DELETE": self = .delete
        case "PATCH": self = .patch
        case "HEAD": self = .head
        case "OPTIONS": self = .options
        default:
            let upper = name.uppercased()
            guard upper != name, let method = RequestMethod(name: upper) else { return nil }
            self = method
        }
    }
}

/// A message split into its VelocyPack header and the body bytes that follow it, read in
/// place: the header is validated where the bytes lie and viewed through a pointer, so
/// reading it copies nothing and counts no references. Valid only while its bytes are
/// (inside ``MessageView/withUnsafeBytes(_:)`` or `Array.withUnsafeBytes`).
public struct BorrowedMessage {
    /// The whole message: header, then body.
    public let bytes: UnsafeRawBufferPointer
    /// The validated header array.
    public let header: BorrowedSlice
    /// What the header says the message is.
    public let type: MessageType
    /// Where the body starts in `bytes`.
    public let bodyOffset: Int

    /// The body bytes (empty when the message is only a header).
    public var body: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[bodyOffset...]) }

    /// Validates the header at the start of `bytes` (strict: valid UTF-8, unique keys, no
    /// tags or custom values, at most ``VSTLimits/headerByteCountMax`` bytes) and reads its
    /// version and type.
    /// - Throws: `invalidHeader`, `malformedHeader` or `unsupportedMessageType`.
    public init(_ bytes: UnsafeRawBufferPointer, limits: VSTLimits = .default) throws(VSTError) {
        var options = Validator.Options.strict
        options.byteCountMax = limits.headerByteCountMax
        let typed = bytes.assumingMemoryBound(to: UInt8.self)
        let headerByteCount: Int
        do throws(VPackError) {
            headerByteCount = try Validator(options: options).validatePrefix(typed)
        } catch {
            throw VSTError(.invalidHeader, at: error.offset, "header: \(error)")
        }
        let header = BorrowedSlice(validated: typed.baseAddress!)
        guard header.isArray, header.count >= 2 else {
            throw VSTError(.malformedHeader, at: 0, "header must be an array of at least 2 members")
        }
        var members = header.arrayElements
        guard members.next()?.intValue == 1 else {
            throw VSTError(.unsupportedMessageType, at: 0, "header version must be 1")
        }
        guard let rawType = members.next()?.intValue, let type = MessageType(rawValue: rawType) else {
            throw VSTError(.unsupportedMessageType, at: 0, "unknown message type")
        }
        // ArangoDB never sends "response, more follow" and drivers refuse it; so does Tessera.
        guard type != .responseMore else {
            throw VSTError(.unsupportedMessageType, at: 0, "message type 3 (more responses follow) is not supported")
        }
        self.bytes = bytes
        self.header = header
        self.type = type
        self.bodyOffset = headerByteCount
    }
}

/// A message split into its VelocyPack header and the body bytes that follow it.
public struct ReceivedMessage: Sendable {
    /// The message as received.
    public let message: VSTMessage
    /// The validated header array.
    public let header: Slice
    /// What the header says the message is.
    public let type: MessageType
    /// Where the body starts in `message.bytes`.
    public let bodyOffset: Int

    /// The body bytes (empty when the message is only a header).
    public var body: ArraySlice<UInt8> { message.bytes[bodyOffset...] }

    /// Validates the header of `message` as ``BorrowedMessage`` does and reads its version
    /// and type.
    /// - Throws: `invalidHeader`, `malformedHeader` or `unsupportedMessageType`.
    public init(_ message: VSTMessage, limits: VSTLimits = .default) throws(VSTError) {
        let read: Result<(MessageType, Int), VSTError> = message.bytes.withUnsafeBytes { bytes in
            do throws(VSTError) {
                let borrowed = try BorrowedMessage(bytes, limits: limits)
                return .success((borrowed.type, borrowed.bodyOffset))
            } catch {
                return .failure(error)
            }
        }
        let (type, bodyOffset) = try read.get()
        self.message = message
        // The header is viewed in place (the message's storage, body behind it): no copy.
        self.header = Slice(trustedBytes: message.bytes)
        self.type = type
        self.bodyOffset = bodyOffset
    }
}

/// ArangoDB's request header: `[1, 1, database, method, path, parameters, meta]`.
public struct RequestHeader: Sendable, Equatable {
    public var database: String
    public var method: RequestMethod
    /// The path, starting with `/`, without `/_db/NAME` and without a query string.
    public var path: String
    /// Query parameters; a repeated key has several values.
    public var parameters: [String: [String]]
    /// HTTP-like headers, keys in lowercase.
    public var meta: [String: String]

    public init(database: String = "_system", method: RequestMethod, path: String,
                parameters: [String: [String]] = [:], meta: [String: String] = [:]) {
        self.database = database
        self.method = method
        self.path = path
        self.parameters = parameters
        self.meta = meta
    }

    /// The header's VelocyPack bytes. Parameters and meta are written in sorted key order so
    /// the same header always gives the same bytes.
    public func encoded() -> [UInt8] {
        var builder = headerBuilder(.request)
        builder.add(database)
        builder.add(method.rawValue)
        builder.add(path)
        builder.openObject()
        for key in parameters.keys.sorted() {
            let values = parameters[key]!
            builder.add(key: key)
            if values.count == 1 {
                builder.add(values[0])
            } else {
                builder.openArray()
                for value in values { builder.add(value) }
                closeKnownGood(&builder)
            }
        }
        closeKnownGood(&builder)
        addMeta(meta, to: &builder)
        closeKnownGood(&builder)
        return builder.bytes
    }

    /// Reads a request header.
    /// - Throws: `malformedHeader` naming the element that is wrong.
    public init(_ received: ReceivedMessage) throws(VSTError) {
        guard received.type == .request else {
            throw VSTError(.malformedHeader, at: 0, "a request header has 7 members")
        }
        self = try received.header.withBorrowed { (header) throws(VSTError) in try Self.read(header) }
    }

    /// Reads the request header of a message read in place.
    /// - Throws: `malformedHeader` naming the element that is wrong.
    public init(_ message: BorrowedMessage) throws(VSTError) {
        guard message.type == .request else {
            throw VSTError(.malformedHeader, at: 0, "a request header has 7 members")
        }
        self = try Self.read(message.header)
    }

    /// One walk over the seven members through a borrowed view: no slice per member, so no
    /// reference counting; strings are made only for what the request keeps.
    static func read(_ header: BorrowedSlice) throws(VSTError) -> RequestHeader {
        guard header.count == 7 else { throw VSTError(.malformedHeader, at: 0, "a request header has 7 members") }
        var members = header.arrayElements
        _ = members.next()  // version and type: read by `BorrowedMessage`
        _ = members.next()
        guard let database = members.next()?.stringValue else { throw Self.wrong("database (2) must be a string") }
        guard let rawMethod = members.next()?.intValue, let method = RequestMethod(rawValue: rawMethod) else {
            throw Self.wrong("method (3) must be an integer 0...6")
        }
        guard let pathBytes = members.next()?.stringBytes, pathBytes.first == UInt8(ascii: "/") else {
            throw Self.wrong("path (4) must be a string starting with /")
        }
        guard let parameterSlice = members.next(), parameterSlice.isObject,
              let metaSlice = members.next(), metaSlice.isObject else {
            throw Self.wrong("parameters (5) and meta (6) must be objects")
        }
        var parameters: [String: [String]] = [:]
        for (key, value) in parameterSlice.objectMembers {
            guard let name = key.keyName else { throw Self.wrong("parameter name must be a string") }
            if let single = value.stringValue {
                parameters[name] = [single]
            } else if value.isArray, case let values = value.arrayElements.compactMap(\.stringValue),
                      values.count == value.count {
                parameters[name] = values
            } else {
                throw Self.wrong("parameter \(name) must be a string or an array of strings")
            }
        }
        return RequestHeader(database: database, method: method, path: String(decoding: pathBytes, as: UTF8.self),
                             parameters: parameters, meta: readMeta(metaSlice))
    }

    static func wrong(_ detail: String) -> VSTError { VSTError(.malformedHeader, at: 0, detail) }
}

/// ArangoDB's response header: `[1, 2, responseCode, meta]`.
public struct ResponseHeader: Sendable, Equatable {
    public var responseCode: Int
    /// HTTP-like headers, keys in lowercase.
    public var meta: [String: String]

    public init(responseCode: Int, meta: [String: String] = [:]) {
        self.responseCode = responseCode
        self.meta = meta
    }

    /// The header's VelocyPack bytes (meta in sorted key order).
    public func encoded() -> [UInt8] {
        var builder = headerBuilder(.response)
        builder.add(Int64(responseCode))
        addMeta(meta, to: &builder)
        closeKnownGood(&builder)
        return builder.bytes
    }

    /// Reads a response header; meta is optional (at least 3 members), as drivers accept it.
    public init(_ received: ReceivedMessage) throws(VSTError) {
        guard received.type == .response else {
            throw VSTError(.malformedHeader, at: 0, "a response header is [1, 2, code, meta]")
        }
        // Borrowed, as for requests: no slice (and no reference counting) per member.
        self = try received.header.withBorrowed { (header) throws(VSTError) in try Self.read(header) }
    }

    /// Reads the response header of a message read in place.
    public init(_ message: BorrowedMessage) throws(VSTError) {
        guard message.type == .response else {
            throw VSTError(.malformedHeader, at: 0, "a response header is [1, 2, code, meta]")
        }
        self = try Self.read(message.header)
    }

    static func read(_ header: BorrowedSlice) throws(VSTError) -> ResponseHeader {
        guard header.count >= 3 else { throw VSTError(.malformedHeader, at: 0, "a response header is [1, 2, code, meta]") }
        var members = header.arrayElements
        _ = members.next()  // version and type: read by `BorrowedMessage`
        _ = members.next()
        guard let code = members.next()?.intValue, (100...599).contains(code) else {
            throw VSTError(.malformedHeader, at: 0, "response code (2) must be an integer 100...599")
        }
        var meta: [String: String] = [:]
        if let metaSlice = members.next() {
            guard metaSlice.isObject else { throw VSTError(.malformedHeader, at: 0, "meta (3) must be an object") }
            meta = readMeta(metaSlice)
        }
        return ResponseHeader(responseCode: Int(code), meta: meta)
    }
}

/// The authentication message: `[1, 1000, "plain", user, password]` or `[1, 1000, "jwt", token]`.
public enum Authentication: Sendable, Equatable {
    case plain(user: String, password: String)
    case jwt(token: String)

    /// The message bytes (authentication messages have no body).
    public func encoded() -> [UInt8] {
        var builder = headerBuilder(.authentication)
        switch self {
        case let .plain(user, password):
            builder.add("plain")
            builder.add(user)
            builder.add(password)
        case let .jwt(token):
            builder.add("jwt")
            builder.add(token)
        }
        closeKnownGood(&builder)
        return builder.bytes
    }

    /// Reads an authentication message.
    public init(_ received: ReceivedMessage) throws(VSTError) {
        guard received.type == .authentication else {
            throw VSTError(.malformedHeader, at: 0, "authentication is [1, 1000, kind, ...]")
        }
        self = try received.header.withBorrowed { (header) throws(VSTError) in try Self.read(header) }
    }

    /// Reads an authentication message read in place.
    public init(_ message: BorrowedMessage) throws(VSTError) {
        guard message.type == .authentication else {
            throw VSTError(.malformedHeader, at: 0, "authentication is [1, 1000, kind, ...]")
        }
        self = try Self.read(message.header)
    }

    static func read(_ header: BorrowedSlice) throws(VSTError) -> Authentication {
        let members = Array(header.arrayElements)
        guard members.count >= 3, let kind = members[2].stringValue else {
            throw VSTError(.malformedHeader, at: 0, "authentication is [1, 1000, kind, ...]")
        }
        switch (kind, members.count) {
        case ("plain", 5):
            guard let user = members[3].stringValue, let password = members[4].stringValue else {
                throw VSTError(.malformedHeader, at: 0, "plain authentication needs user and password strings")
            }
            return .plain(user: user, password: password)
        case ("jwt", 4):
            guard let token = members[3].stringValue else {
                throw VSTError(.malformedHeader, at: 0, "jwt authentication needs a token string")
            }
            return .jwt(token: token)
        default:
            throw VSTError(.malformedHeader, at: 0, "authentication kind must be plain (5 members) or jwt (4)")
        }
    }
}

/// A builder with the header array opened and its first two members, `[1, type, …`.
func headerBuilder(_ type: MessageType) -> Builder {
    var builder = Builder()
    builder.openArray()
    builder.add(Int64(1))
    builder.add(type.rawValue)
    return builder
}

/// Appends the meta object, keys in sorted order so equal headers give equal bytes.
func addMeta(_ meta: [String: String], to builder: inout Builder) {
    builder.openObject()
    for key in meta.keys.sorted() { builder.add(key: key, meta[key]!) }
    closeKnownGood(&builder)
}

/// Reads a meta object as ArangoDB does: keys lowercased, entries that are not strings ignored.
func readMeta(_ slice: BorrowedSlice) -> [String: String] {
    var meta: [String: String] = [:]
    for (key, value) in slice.objectMembers {
        if let name = key.keyName, let text = value.stringValue {
            // Drivers send lowercase names: only a name with an uppercase letter is copied.
            let hasUppercase = name.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
            meta[hasUppercase || !name.utf8.allSatisfy({ $0 < 0x80 }) ? name.lowercased() : name] = text
        }
    }
    return meta
}

/// Closes a compound this file opened with keys it wrote itself; only a duplicate-key check
/// could fail, and these builders do not ask for one.
func closeKnownGood(_ builder: inout Builder) {
    do {
        try builder.close()
    } catch {
        preconditionFailure("closing a header compound failed: \(error)")
    }
}
