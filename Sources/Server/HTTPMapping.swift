import TesseraPlatform
import VelocyPack
import ArangoAPI
import VelocyStream

/// How an HTTP/1.1 request becomes the ``RequestHeader`` a VelocyStream request carries, and
/// how an answer becomes an HTTP response (`Protocol/HTTP.md` §3–§5).
enum HTTPMapping {
    /// A request target split the way ArangoDB reads it:
    /// `/_db/<database>/<path>?<name>=<value>&…`.
    struct Target: Equatable {
        var database: String
        var path: String
        var parameters: [String: [String]]
    }

    /// Splits `target`: the database of a `/_db/<name>` prefix (percent-decoded; `_system`
    /// without one), the path after it (kept as sent: handlers decode their segments), and the
    /// query parameters (`%XX` and `+` decoded). An absolute-form target
    /// (`http://host:port/path`) is read from its path.
    /// - Throws: 400 when the target is not a path.
    static func target(_ raw: String) throws(ArangoError) -> Target {
        var raw = raw
        let split = raw.withUTF8 { bytes in splitTarget(bytes) }
        guard let split else {
            throw ArangoError(status: 400, .httpBadParameter, "the request target must be a path starting with /")
        }
        var parameters: [String: [String]] = [:]
        for pair in split.query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decodeComponent(parts[0], plusIsSpace: true)
            parameters[name, default: []].append(parts.count > 1 ? decodeComponent(parts[1], plusIsSpace: true) : "")
        }
        return Target(database: split.database.map { decodeComponent($0[...], plusIsSpace: false) } ?? "_system",
                      path: split.path, parameters: parameters)
    }

    /// The target's parts as strings, found on its bytes: the database name of a `/_db/`
    /// prefix (still escaped), the path, the query (without `?`). `nil` when it is no path.
    static func splitTarget(_ bytes: UnsafeBufferPointer<UInt8>) -> (database: String?, path: String, query: Substring)? {
        let slash = UInt8(ascii: "/")
        var start = 0
        if bytes.first != slash {
            // Absolute form: `scheme://authority/path`; the path starts at the first `/` after `//`.
            guard let schemeEnd = indexOf(UInt8(ascii: ":"), in: bytes, from: 0), schemeEnd + 2 < bytes.count,
                  bytes[schemeEnd + 1] == slash, bytes[schemeEnd + 2] == slash else { return nil }
            let scheme = String(decoding: UnsafeBufferPointer(rebasing: bytes[..<schemeEnd]), as: UTF8.self).lowercased()
            guard scheme == "http" || scheme == "https" else { return nil }
            guard let pathStart = indexOf(slash, in: bytes, from: schemeEnd + 3) else { return (nil, "/", "") }
            start = pathStart
        }
        let end = indexOf(UInt8(ascii: "?"), in: bytes, from: start) ?? bytes.count
        let query = end < bytes.count
            ? Substring(String(decoding: UnsafeBufferPointer(rebasing: bytes[(end + 1)...]), as: UTF8.self)) : ""
        var database: String?
        let prefix: [UInt8] = [slash, UInt8(ascii: "_"), UInt8(ascii: "d"), UInt8(ascii: "b"), slash]
        if end - start >= prefix.count, prefix.indices.allSatisfy({ bytes[start + $0] == prefix[$0] }) {
            let nameStart = start + prefix.count
            let nameEnd = indexOf(slash, in: bytes, from: nameStart).map { min($0, end) } ?? end
            database = String(decoding: UnsafeBufferPointer(rebasing: bytes[nameStart..<nameEnd]), as: UTF8.self)
            start = nameEnd
        }
        let path = start < end ? String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) : "/"
        return (database, path, query)
    }

    static func indexOf(_ byte: UInt8, in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start
        while index < bytes.count {
            if bytes[index] == byte { return index }
            index += 1
        }
        return nil
    }

    /// `%XX` escapes decoded (a `%` not followed by two hex digits stays as it is), `+` as a
    /// space in query components; bytes that are not UTF-8 become U+FFFD.
    static func decodeComponent(_ text: Substring, plusIsSpace: Bool) -> String {
        let utf8 = Array(text.utf8)
        guard utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%"), index + 2 < utf8.count,
               let high = PercentDecoding.hex(utf8[index + 1]), let low = PercentDecoding.hex(utf8[index + 2]) {
                bytes.append(high << 4 | low)
                index += 3
                continue
            }
            bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? 0x20 : byte)
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Fields that frame the HTTP message or the connection, or carry credentials: not passed
    /// to handlers as meta.
    static let fieldsNotForHandlers: Set<String> = [
        "authorization", "connection", "content-length", "expect", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// The header fields as meta: lowercase names, repeated fields joined with `, `.
    static func meta(_ head: HTTPHead) -> [String: String] {
        var meta: [String: String] = [:]
        for field in head.fields where !fieldsNotForHandlers.contains(field.name) {
            if let existing = meta[field.name] {
                meta[field.name] = existing + ", " + field.value
            } else {
                meta[field.name] = field.value
            }
        }
        return meta
    }

    /// The credentials of an `Authorization` field: `Basic base64(user:password)` or
    /// `bearer <jwt>` (the scheme in any case). `nil` when it is neither.
    static func credentials(_ authorization: String) -> Authentication? {
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { return nil }
        let value = parts[1].trimmingCharacters(of: " ")
        switch parts[0].lowercased() {
        case "basic":
            guard let decoded = base64Decoded(value), let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return nil }
            return .plain(user: String(decoding: decoded[..<colon], as: UTF8.self),
                          password: String(decoding: decoded[(colon + 1)...], as: UTF8.self))
        case "bearer":
            return value.isEmpty ? nil : .jwt(token: String(value))
        default:
            return nil
        }
    }

    /// Standard base64 (RFC 4648 §4, padding optional); `nil` for any other character.
    static func base64Decoded(_ text: Substring) -> [UInt8]? {
        var bits: UInt32 = 0
        var bitCount = 0
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            bits = bits << 6 | UInt32(value)
            bitCount += 6
            if bitCount >= 8 {
                bitCount -= 8
                // Truncation intended: the byte is the top 8 of the bits collected.
                bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(bitCount)))
            }
        }
        return bytes
    }

    /// Whether the client asked for VelocyPack answers (`Accept: application/x-velocypack`).
    static func wantsVelocyPack(_ meta: [String: String]) -> Bool {
        meta["accept"]?.contains("application/x-velocypack") ?? false
    }

    /// Whether the body is JSON: anything but `Content-Type: application/x-velocypack` (HTTP
    /// clients send JSON without saying so, and curl's `-d` says form data).
    static func bodyIsJSON(_ meta: [String: String]) -> Bool {
        !(meta["content-type"]?.hasPrefix("application/x-velocypack") ?? false)
    }

    /// The whole response: status line, fields, blank line, body (none for `HEAD`, 1xx, 204
    /// and 304).
    static func encode(_ response: ServerResponse, head: Bool, velocyPack: Bool, keepAlive: Bool, into output: inout [UInt8]) {
        var body = response.body
        var contentType: String?
        if response.hasRawBody {
            contentType = response.meta["content-type"]
        } else if !body.isEmpty {
            if velocyPack {
                contentType = "application/x-velocypack"
            } else if let text = try? JSONDumper.dump(Slice(trustedBytes: body), options: .init(unsupportedTypeBehavior: .null)) {
                body = text
                contentType = "application/json; charset=utf-8"
            } else {
                contentType = "application/x-velocypack"  // cannot happen for bodies the server built
            }
        }
        let status = response.status
        let bodyAllowed = !(100..<200).contains(status) && status != 204 && status != 304
        // Byte by byte rather than through string interpolation: this runs for every answer.
        output.append(contentsOf: statusLines[status] ?? Array("HTTP/1.1 \(status) \(reason(status))\r\n".utf8))
        output.append(contentsOf: keepAlive ? keepAliveFields : closeFields)
        if let contentType {
            output.append(contentsOf: contentTypeName)
            output.append(contentsOf: contentType.utf8)
            output.append(contentsOf: lineEnd)
        }
        if bodyAllowed {
            output.append(contentsOf: contentLengthName)
            appendDecimal(body.count, to: &output)
            output.append(contentsOf: lineEnd)
        }
        if !response.meta.isEmpty {
            for (name, value) in response.meta.sorted(by: { $0.key < $1.key }) where name != "content-type" {
                output.append(contentsOf: name.utf8)
                output.append(contentsOf: fieldSeparator)
                output.append(contentsOf: value.utf8)
                output.append(contentsOf: lineEnd)
            }
        }
        output.append(contentsOf: lineEnd)
        if bodyAllowed && !head { output.append(contentsOf: body) }
    }

    static let lineEnd = Array("\r\n".utf8)
    static let fieldSeparator = Array(": ".utf8)
    static let contentTypeName = Array("Content-Type: ".utf8)
    static let contentLengthName = Array("Content-Length: ".utf8)
    static let keepAliveFields = Array("Server: tessera\r\nConnection: Keep-Alive\r\nX-Content-Type-Options: nosniff\r\n".utf8)
    static let closeFields = Array("Server: tessera\r\nConnection: Close\r\nX-Content-Type-Options: nosniff\r\n".utf8)
    /// The status lines of the statuses answers use, made once.
    static let statusLines: [Int: [UInt8]] = Dictionary(uniqueKeysWithValues:
        [100, 200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 408, 409, 410, 412, 413, 414, 431, 500, 501, 503].map {
            ($0, Array("HTTP/1.1 \($0) \(reason($0))\r\n".utf8))
        })

    /// `value` in decimal ASCII digits.
    static func appendDecimal(_ value: Int, to output: inout [UInt8]) {
        precondition(value >= 0, "a length is never negative")
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                // Truncation cannot happen: `rest % 10` is below 10.
                buffer[19 - count] = UInt8(truncatingIfNeeded: rest % 10) + UInt8(ascii: "0")
                count += 1
                rest /= 10
            } while rest > 0
            output.append(contentsOf: buffer[(20 - count)...])
        }
    }

    /// The reason phrase of a status (RFC 9110 §15); clients ignore it.
    static func reason(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}

extension Substring {
    func trimmingCharacters(of character: Character) -> Substring {
        var text = self
        while text.first == character { text = text.dropFirst() }
        while text.last == character { text = text.dropLast() }
        return text
    }
}
