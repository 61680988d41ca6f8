package import ArangoAPI
package import VelocyPack

extension ServerRequest {
    /// A boolean query parameter (`true`/`false`/`1`/`0`/`yes`/`no`); `nil` when absent.
    package func flag(_ name: String) throws(ArangoError) -> Bool? {
        guard let text = parameter(name) else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes", "on", "": return true
        case "false", "0", "no", "off": return false
        default: throw ArangoError.badParameter("query parameter '\(name)' must be true or false, not '\(text)'")
        }
    }

    /// A path segment with percent-escapes decoded (drivers escape keys in URLs); left as
    /// it is when it holds no valid escapes, since `%` may appear in a key.
    package func pathSegment(_ name: String) -> String {
        guard let raw = pathParameters[name] else { return "" }
        return PercentDecoding.decode(raw) ?? raw
    }

    /// The body, required to exist.
    package func requireBody() throws(ArangoError) -> Slice {
        guard let body else { throw ArangoError.badBody("request body is missing") }
        return body
    }
}

package enum PercentDecoding {
    package static func decode(_ text: String) -> String? {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return nil }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard iterator.count >= 2, let high = hex(iterator.removeFirst()), let low = hex(iterator.removeFirst()) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
