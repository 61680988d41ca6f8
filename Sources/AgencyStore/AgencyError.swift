import VelocyPack

/// A request, log entry or snapshot the agency store refuses: hostile or malformed bytes, or a
/// well-formed request that breaks a rule of the agency's write format.
///
/// Every error names a stable ``Code``; ``detail`` says what exactly was wrong, for the error
/// body sent back to the client.
public struct AgencyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Stable error codes. New codes are only ever appended.
    public enum Code: String, Sendable, CaseIterable {
        /// The bytes are not valid VelocyPack (the ``AgencyError/detail`` names the fault).
        case invalidVelocyPack
        /// The request body does not have the shape of a read, write, transact or inquire body.
        case malformedRequest
        /// A write transaction is not `[operations, preconditions?, clientId?]`.
        case malformedTransaction
        /// A path is not a string, or is longer or deeper than the limits allow.
        case invalidPath
        /// An operation object names an unknown `op`, or lacks or mistypes a field it needs.
        case invalidOperation
        /// An operation that is only allowed below the root was addressed to `/`.
        case operationOnRoot
        /// A request, log entry or snapshot exceeds one of ``AgencyLimits``.
        case limitExceeded
        /// A log entry payload does not have the shape of an ``AgencyLogEntry``.
        case malformedLogEntry
        /// Snapshot bytes do not have the shape ``AgencyStore/snapshot()`` writes.
        case malformedSnapshot
    }

    /// What went wrong, in general.
    public let code: Code
    /// What went wrong, in particular.
    public let detail: String

    /// An error with `code` and a human-readable `detail`.
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// Wraps a VelocyPack validation fault.
    init(_ error: VPackError, in what: String) {
        self.init(.invalidVelocyPack, "\(what): \(error)")
    }

    public var description: String { "\(code.rawValue): \(detail)" }
}

/// The named limits of the agency store. Every decoder of foreign bytes enforces them.
public enum AgencyLimits {
    /// Most components in one path (`/a/b/c` has 3).
    public static let pathComponentCountMax = 64
    /// Most UTF-8 bytes in one path string.
    public static let pathByteCountMax = 4096
    /// Most elements (reads or writes) in one request envelope, and so in one log entry.
    public static let envelopeElementCountMax = 4096
    /// Most paths named by one read query, or operations or preconditions in one transaction.
    public static let pathsPerElementMax = 4096
    /// Most UTF-8 bytes in one client id.
    public static let clientIdByteCountMax = 256
    /// Most UTF-8 bytes in one observer URL.
    public static let urlByteCountMax = 1024
    /// Most VelocyPack nesting levels in a request, log entry or snapshot.
    public static let nestingMax = 128
    /// Most bytes in one request body.
    public static let requestByteCountMax = 16 << 20
    /// Most bytes in one log entry payload: a request body and the entry's small wrapper.
    public static let logEntryByteCountMax = requestByteCountMax + 64
    /// Most bytes in one snapshot.
    public static let snapshotByteCountMax = 1 << 30
    /// Longest `ttl`, in seconds (ten years): keeps expiry arithmetic far from overflow.
    public static let ttlSecondsMax: Double = 10 * 366 * 24 * 3600
    /// How many client ids ``AgencyStore/inquire(_:)`` remembers; the oldest is forgotten first.
    public static let clientIdRetentionCount = 10_000
    /// How many applied log entries ``AgencyStore/poll(from:)`` can replay.
    public static let historyEntryCountMax = 1000
    /// How many bytes of operations the poll history holds at most; the oldest entries go first.
    public static let historyByteCountMax = 16 << 20
}

extension Validator.Options {
    /// How the agency validates foreign bytes: the strict client options (UTF-8 checked, keys
    /// unique, no tags, custom values or externals), a nesting limit and a byte limit. Without
    /// tags and custom values every accepted value is plain JSON data, which is what the value
    /// comparison of preconditions and array operations understands.
    static func agency(byteCountMax: Int, nestingLimit: Int = AgencyLimits.nestingMax) -> Validator.Options {
        var options = Validator.Options.strict
        options.nestingLimit = nestingLimit
        options.byteCountMax = byteCountMax
        return options
    }
}
