#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging

/// The log of a `tessera` server process: every `Logger` in the process writes one line per
/// message to standard error (which `tessera start` appends to the member's log file), and
/// every line names the process's role and server id, so the logs of a whole cluster can be
/// merged and still be read.
///
///     2026-12-05T16:40:00.123Z info dbserver PRMR-1a2b [maintenance] created shard s10042 database=_system
///
/// Fields: UTC time with milliseconds, level, role, server id (`-` until known), the logger's
/// label, the message, then metadata as `key=value` in key order.
public enum ProcessLog {
    struct Identity {
        var role = "tessera"
        var server = "-"
    }

    static let identity = Locked(Identity())
    static let minimumLevel = Locked(Logger.Level.info)

    /// Sends every logger of the process to standard error at `level` and above. Call once,
    /// first thing in a server command (later calls change only the level).
    public static func bootstrap(role: String, level: Logger.Level) {
        identity.withLock { $0.role = role }
        minimumLevel.withLock { $0 = level }
        bootstrapOnce
    }

    /// Names the server (its id) in every line from now on.
    public static func identify(server: String) {
        identity.withLock { $0.server = server }
    }

    /// A logger for one part of the process (`label` becomes the bracketed part of each line).
    public static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = minimumLevel.withLock { $0 }
        return logger
    }

    /// Swift's lazy global initialization makes this run exactly once.
    private static let bootstrapOnce: Void = {
        LoggingSystem.bootstrap { label in LineLogHandler(label: label) }
    }()
}

/// A `LogHandler` that writes each message as one line to standard error with a single
/// `write`, so lines of concurrent threads never interleave.
public struct LineLogHandler: LogHandler {
    public let label: String
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level

    public init(label: String) {
        self.label = label
        logLevel = ProcessLog.minimumLevel.withLock { $0 }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let identity = ProcessLog.identity.withLock { $0 }
        var line = Self.timestamp()
        line += " \(event.level) \(identity.role) \(identity.server) [\(label)] \(event.message)"
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        for key in all.keys.sorted() { line += " \(key)=\(all[key]!)" }
        line += "\n"
        let bytes = Array(line.utf8)
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let written = write(STDERR_FILENO, buffer.baseAddress! + done, buffer.count - done)
                if written < 0 {
                    if errno == EINTR { continue }
                    return  // standard error is gone: nowhere left to say so
                }
                done += written
            }
        }
    }

    /// Now in UTC as `2026-12-05T16:40:00.123Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        let fraction = milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }
}
