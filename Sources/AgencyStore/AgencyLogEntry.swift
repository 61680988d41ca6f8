public import VelocyPack

/// The payload of one agency log entry: what the leader proposes to Raft and every replica
/// applies with ``AgencyStore/apply(index:payload:)``.
///
/// One entry carries one whole request envelope (all transactions of a `write`, or all
/// elements of a `transact`, reads included so their answers are taken at the right point in
/// the sequence), stamped with the leader's clock when it proposed it. Every replica computes
/// TTL expiries from that stamp, never from its own clock, so all replicas agree. The other
/// kind of entry expires keys whose TTL has passed (see ``AgencyStore/expiredKeys(now:)``).
///
/// ```
/// {"time": <ms since the epoch, Int>, "query": [ <element>, … ]}    a request envelope
/// {"time": <ms since the epoch, Int>, "expire": [ "/path", … ]}     a TTL expiry
/// ```
public enum AgencyLogEntry: Sendable {
    /// A request envelope: read queries and write transactions, in order.
    case envelope(timeMilliseconds: Int64, elements: [Slice])
    /// Keys to delete if their TTL has passed by `timeMilliseconds`.
    case expire(timeMilliseconds: Int64, paths: [AgencyPath])

    /// The time the leader stamped on the entry.
    public var timeMilliseconds: Int64 {
        switch self {
        case .envelope(let time, _), .expire(let time, _): time
        }
    }

    /// The payload for a validated request envelope (see ``AgencyEnvelope/init(validating:as:)``).
    ///
    /// - Parameters:
    ///   - timeMilliseconds: the leader's clock, in milliseconds since the epoch.
    ///   - envelope: the request body, an array of elements.
    public static func payload(timeMilliseconds: Int64, envelope: Slice) -> [UInt8] {
        precondition(envelope.isArray, "AgencyLogEntry.payload needs the envelope array")
        return AgencyValue.bytes { builder in
            builder.openObject()
            builder.add(key: "time", timeMilliseconds)
            builder.add(key: "query", envelope)
            builder.closeBuilt()
        }
    }

    /// The payload that expires `paths` (the answer of ``AgencyStore/expiredKeys(now:)``).
    ///
    /// A key is deleted only if its recorded expiry is at or before `timeMilliseconds` when
    /// the entry applies, so a key set again after the leader asked is left alone.
    public static func expiryPayload(timeMilliseconds: Int64, paths: [AgencyPath]) -> [UInt8] {
        AgencyValue.bytes { builder in
            builder.openObject()
            builder.add(key: "time", timeMilliseconds)
            builder.add(key: "expire")
            builder.openArray()
            for path in paths { builder.add(path.description) }
            builder.closeBuilt()
            builder.closeBuilt()
        }
    }

    /// Decodes a payload from the log (foreign bytes: a peer's or the disk's).
    ///
    /// - Throws: ``AgencyError`` with ``AgencyError/Code/invalidVelocyPack`` or
    ///   ``AgencyError/Code/malformedLogEntry``; element contents are checked when applied.
    public static func decode(_ payload: [UInt8]) throws(AgencyError) -> AgencyLogEntry {
        let slice: Slice
        do {
            // The entry wraps a request in one object: one level and a few bytes more.
            slice = try Slice(validating: payload, options: .agency(
                byteCountMax: AgencyLimits.logEntryByteCountMax, nestingLimit: AgencyLimits.nestingMax + 1))
        } catch {
            throw AgencyError(error, in: "log entry")
        }
        guard slice.isObject, slice.count == 2, let timeSlice = slice["time"], timeSlice.isInteger,
              let time = timeSlice.intValue else {
            throw AgencyError(.malformedLogEntry, "a log entry is {time: Int, query: [...]} or {time: Int, expire: [paths]}")
        }
        if let query = slice["query"], query.isArray {
            guard query.count <= AgencyLimits.envelopeElementCountMax else {
                throw AgencyError(.limitExceeded, "\(query.count) elements in a log entry exceed \(AgencyLimits.envelopeElementCountMax)")
            }
            return .envelope(timeMilliseconds: time, elements: Array(query.arrayElements))
        }
        if let expire = slice["expire"], expire.isArray {
            let paths = try AgencyEnvelopeElement.parseReadQuery(expire)
            return .expire(timeMilliseconds: time, paths: paths)
        }
        throw AgencyError(.malformedLogEntry, "a log entry needs a 'query' or an 'expire' array")
    }
}
