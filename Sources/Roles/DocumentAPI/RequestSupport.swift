#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Server
import VelocyPack
import ArangoAPI
import VelocyStream
import Documents

/// What a user may do in a database (ArangoDB's grants).
public enum AccessLevel: Int, Sendable, Comparable {
    case none = 0
    case readOnly = 1
    case readWrite = 2

    public static func < (lhs: AccessLevel, rhs: AccessLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    /// ArangoDB's names: `rw`, `ro`, `none`.
    public init?(grant: String) {
        switch grant {
        case "rw": self = .readWrite
        case "ro": self = .readOnly
        case "none": self = .none
        default: return nil
        }
    }

    public var grant: String {
        switch self {
        case .readWrite: "rw"
        case .readOnly: "ro"
        case .none: "none"
        }
    }
}

/// Decides what the authenticated user of a request may do.
public protocol AccessControl: Sendable {
    /// The user's level in `database`; `user` is nil when authentication is off.
    func level(of user: String?, in database: String) -> AccessLevel
}

/// Everyone may do everything (authentication off).
public struct OpenAccess: AccessControl {
    public init() {}
    public func level(of user: String?, in database: String) -> AccessLevel { .readWrite }
}

extension AccessControl {
    /// Throws 403 unless the request's user has at least `needed` in the request's database.
    func require(_ needed: AccessLevel, _ request: ServerRequest) throws(ArangoError) {
        guard level(of: request.user, in: request.database) >= needed else {
            throw ArangoError.forbidden(needed == .readWrite
                ? "not authorized to write in database '\(request.database)'"
                : "not authorized to read database '\(request.database)'")
        }
    }
}

extension ServerRequest {
    /// A boolean query parameter (`true`/`false`/`1`/`0`/`yes`/`no`); `nil` when absent.
    func flag(_ name: String) throws(ArangoError) -> Bool? {
        guard let text = parameter(name) else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes", "on", "": return true
        case "false", "0", "no", "off": return false
        default: throw ArangoError.badParameter("query parameter '\(name)' must be true or false, not '\(text)'")
        }
    }

    /// A path segment with percent-escapes decoded (drivers escape keys in URLs); left as
    /// it is when it holds no valid escapes, since `%` may appear in a key.
    func pathSegment(_ name: String) -> String {
        guard let raw = pathParameters[name] else { return "" }
        return PercentDecoding.decode(raw) ?? raw
    }

    /// The body, required to exist.
    func requireBody() throws(ArangoError) -> Slice {
        guard let body else { throw ArangoError.badBody("request body is missing") }
        return body
    }
}

enum PercentDecoding {
    static func decode(_ text: String) -> String? {
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

/// Builds the common answer shape `{…, "error": false, "code": N}`.
func answer(_ status: Int, meta: [String: String] = [:], _ fill: (inout Builder) -> Void) -> ServerResponse {
    var builder = Builder()
    builder.openObject()
    fill(&builder)
    builder.add(key: "error", false)
    builder.add(key: "code", status)
    builder.closeTrusted()
    return ServerResponse(status: status, meta: meta, body: builder.bytes)
}

/// A response whose body is `slice`'s value.
func answer(_ status: Int, meta: [String: String] = [:], body slice: Slice) -> ServerResponse {
    ServerResponse(status: status, meta: meta, body: Array(slice.bytes))
}

/// Runs `work` and turns a thrown error into its response (for offloaded work, which must
/// return a response).
func responding(_ work: () throws(ArangoError) -> ServerResponse) -> ServerResponse {
    do { return try work() } catch { return ServerResponse(error) }
}

/// The monotonic clock in seconds, for cursor lifetimes and query run times.
@Sendable func monotonicSeconds() -> Double {
    Double(DispatchFreeClock.nanoseconds()) / 1e9
}

enum DispatchFreeClock {
    static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
