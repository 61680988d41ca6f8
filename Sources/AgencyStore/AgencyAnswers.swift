import VelocyPack

/// What became of one element of an applied envelope.
public enum AgencyElementResult: Sendable, Equatable {
    /// The write transaction applied at this log index.
    case applied(index: UInt64)
    /// A precondition failed and nothing changed. `current` is an object built from the root
    /// (as a read answers) holding the current values at the paths whose preconditions failed.
    case preconditionFailed(current: [UInt8])
    /// A read query's answer: an object built from the root.
    case read([UInt8])
    /// The element is not a valid read or write; nothing changed. The leader's validation
    /// keeps such elements out of the log, so this means a buggy or hostile proposer.
    case invalid(AgencyError)
}

/// The answers to one applied log entry.
public struct AgencyApplyOutcome: Sendable {
    /// The entry's log index.
    public let index: UInt64
    /// One result per element of the entry's envelope, in order (none for an expiry entry).
    public var results: [AgencyElementResult] = []
    /// Who to tell about which changes; the driver sends them (when it leads).
    public var notifications: [AgencyNotification] = []
    /// Why the payload could not be decoded; the entry then changed nothing.
    public var error: AgencyError?

    init(index: UInt64) { self.index = index }

    /// Whether every write applied (HTTP 200 rather than 412).
    public var allWritesApplied: Bool {
        results.allSatisfy { if case .preconditionFailed = $0 { false } else { true } }
    }

    /// The answer to `/_api/agency/write`: `{"results": [index or 0, …]}`, 0 for a
    /// transaction that did not apply.
    public func writeAnswer() -> [UInt8] {
        AgencyValue.bytes { builder in
            builder.openObject()
            builder.addIndexes(key: "results", results.map { if case .applied(let index) = $0 { index } else { 0 } })
            builder.closeBuilt()
        }
    }

    /// The answer to `/_api/agency/transact`: one member per element: the log index of an
    /// applied write, the current values of a failed one, a read's answer, or for an invalid
    /// element `{"error": true, "errorMessage": …}`.
    public func transactAnswer() -> [UInt8] {
        AgencyValue.bytes { builder in
            builder.openArray()
            for result in results {
                switch result {
                case .applied(let index): builder.add(index)
                case .preconditionFailed(let current), .read(let current): builder.add(Slice(trustedBytes: current))
                case .invalid(let error):
                    builder.openObject()
                    builder.add(key: "error", true)
                    builder.add(key: "errorMessage", error.description)
                    builder.closeBuilt()
                }
            }
            builder.closeBuilt()
        }
    }
}

/// What the store remembers of a client id.
public enum AgencyInquiry: Sendable, Equatable {
    /// Never seen, or forgotten (older than the retention bound).
    case unknown
    /// The transaction applied in this log entry.
    case applied(index: UInt64)
    /// The transaction was sequenced in this log entry but a precondition failed.
    case preconditionFailed(index: UInt64)

    /// The answer to `/_api/agency/inquire` for `inquiries`:
    /// `{"results": [index or 0, …], "inquired": true, "preconditionFailed": [index or 0, …]}`.
    /// `results` is ArangoDB's: the index of an applied transaction, else 0. Tessera logs
    /// transactions whose preconditions fail too, and `preconditionFailed` names their index.
    public static func answer(_ inquiries: [AgencyInquiry]) -> [UInt8] {
        AgencyValue.bytes { builder in
            builder.openObject()
            builder.addIndexes(key: "results", inquiries.map { if case .applied(let index) = $0 { index } else { 0 } })
            builder.add(key: "inquired", true)
            builder.addIndexes(key: "preconditionFailed", inquiries.map { if case .preconditionFailed(let index) = $0 { index } else { 0 } })
            builder.closeBuilt()
        }
    }

    /// Parses an inquire body: an array of client id strings.
    public static func parseRequest(_ bytes: [UInt8]) throws(AgencyError) -> [String] {
        let slice: Slice
        do {
            slice = try Slice(validating: bytes, options: .agency(byteCountMax: AgencyLimits.requestByteCountMax))
        } catch {
            throw AgencyError(error, in: "inquire body")
        }
        guard slice.isArray, slice.count <= AgencyLimits.envelopeElementCountMax else {
            throw AgencyError(.malformedRequest, "an inquire body is an array of at most \(AgencyLimits.envelopeElementCountMax) client ids")
        }
        var ids: [String] = []
        for member in slice.arrayElements {
            guard let id = member.stringValue else { throw AgencyError(.malformedRequest, "client ids must be strings") }
            ids.append(id)
        }
        return ids
    }
}

/// One change to the tree: the path an operation addressed and its `op` name.
public struct AgencyChange: Sendable, Equatable {
    public let path: AgencyPath
    public let op: String
}

/// A notification for one observer URL about one applied entry.
public struct AgencyNotification: Sendable, Equatable {
    /// The changes seen from one observed path.
    public struct Observed: Sendable, Equatable {
        /// The path the observer registered.
        public let path: AgencyPath
        /// The changes at, below or above it, in path order; one per path (the entry's last).
        public let changes: [AgencyChange]
    }

    /// Where to POST the body.
    public let url: String
    /// The log index of the entry.
    public let index: UInt64
    /// The observed paths with changes, in path order.
    public let observed: [Observed]

    /// The POST body, as ArangoDB sends it:
    /// `{"term": T, "index": I, "<observed>": {"<modified>": {"op": "<op>"}, …}, …}`.
    ///
    /// - Parameter term: the leader's Raft term (the store does not know terms).
    public func body(term: UInt64) -> [UInt8] {
        AgencyValue.bytes { builder in
            builder.openObject()
            builder.add(key: "term", term)
            builder.add(key: "index", index)
            for entry in observed {
                builder.add(key: entry.path.description)
                builder.openObject()
                for change in entry.changes {
                    builder.add(key: change.path.description)
                    builder.openObject()
                    builder.add(key: "op", change.op)
                    builder.closeBuilt()
                }
                builder.closeBuilt()
            }
            builder.closeBuilt()
        }
    }
}

/// The tree changes of one applied log entry, as kept for ``AgencyStore/poll(from:)``.
public struct AgencyHistoryEntry: Sendable, Equatable {
    /// The entry's log index.
    public let index: UInt64
    /// The leader's time stamped on the entry (TTLs in replayed sets count from it).
    public let timeMilliseconds: Int64
    /// Each applied transaction's tree-changing operations, as an object
    /// `{normalized path: operation}`; failed transactions, reads, observe and unobserve are
    /// left out. Applying them unconditionally, in order, repeats the entry's changes.
    public let transactions: [[UInt8]]

    /// The entry's size for the history bound.
    var byteCount: Int { transactions.reduce(0) { $0 + $1.count } }
}

extension Builder {
    /// Adds `key` with an array of log indexes (0 standing for "none", as ArangoDB answers).
    mutating func addIndexes(key: String, _ indexes: [UInt64]) {
        add(key: key)
        openArray()
        for index in indexes { add(index) }
        closeBuilt()
    }
}
