import VelocyPack

/// The agency's configuration tree as a deterministic Raft state machine.
///
/// Committed log entries go in through ``apply(index:payload:)``, in index order; the answers
/// for the clients and the observer notifications come out as an ``AgencyApplyOutcome``.
/// Nothing here reads a clock or does I/O: an entry carries the leader's time, and the caller
/// sends the notifications. The same entries give the same store on every replica, byte for
/// byte in ``snapshot()``.
///
/// The driver's part:
/// - validate a request with ``AgencyEnvelope/init(validating:as:)`` and refuse it when that
///   throws, so the log never holds garbage; otherwise propose
///   ``AgencyLogEntry/payload(timeMilliseconds:envelope:)``;
/// - every so often, propose ``AgencyLogEntry/expiryPayload(timeMilliseconds:paths:)`` for
///   ``expiredKeys(now:)`` when that is not empty;
/// - serve `read`, `inquire` and `poll` from the store as of the commit index.
public struct AgencyStore: Sendable {
    /// The tree; the root is always an object node.
    var root = AgencyNode()
    /// The index of the last entry applied (0 before any).
    public internal(set) var index: UInt64 = 0
    /// The leader's time stamped on the last entry applied.
    public internal(set) var timeMilliseconds: Int64 = 0
    /// Expiry time (ms) of each key set with a `ttl`.
    var expiries: [AgencyPath: Int64] = [:]
    /// What each remembered client id's transaction came to.
    var clientRecords: [String: AgencyInquiry] = [:]
    /// The remembered client ids, oldest first, each once; bounded by
    /// ``AgencyLimits/clientIdRetentionCount``.
    var clientIdOrder: [String] = []
    /// The observer URLs registered at each path.
    var observers: [AgencyPath: Set<String>] = [:]
    /// The changes of the most recent entries, oldest first (see ``poll(from:)``).
    var history: [AgencyHistoryEntry] = []
    /// The bytes of operations held in ``history``.
    var historyByteCount = 0
    /// ``history`` holds every change of the entries after this index.
    var historyStartIndex: UInt64 = 0

    /// An empty store: an empty root object, index 0.
    public init() {}

    /// Applies the committed log entry `index` and returns the answers for its elements.
    ///
    /// Total over any bytes: an undecodable payload changes nothing but ``index`` and is
    /// reported in ``AgencyApplyOutcome/error``; an invalid element (which a leader's
    /// validation keeps out of the log) is answered ``AgencyElementResult/invalid(_:)``.
    ///
    /// - Precondition: `index` is above ``index`` (Raft applies entries in order).
    public mutating func apply(index: UInt64, payload: [UInt8]) -> AgencyApplyOutcome {
        precondition(index > self.index, "agency entry \(index) applied after entry \(self.index)")
        self.index = index
        var outcome = AgencyApplyOutcome(index: index)
        let entry: AgencyLogEntry
        do {
            entry = try AgencyLogEntry.decode(payload)
        } catch {
            outcome.error = error
            return outcome
        }
        timeMilliseconds = entry.timeMilliseconds
        var changes = EntryChanges()
        switch entry {
        case .envelope(_, let elements):
            for element in elements {
                outcome.results.append(applyElement(element, changes: &changes))
            }
        case .expire(let time, let paths):
            expire(paths, at: time, changes: &changes)
        }
        if !changes.transactions.isEmpty {
            record(AgencyHistoryEntry(index: index, timeMilliseconds: entry.timeMilliseconds, transactions: changes.transactions))
        }
        outcome.notifications = notifications(for: changes.modified)
        return outcome
    }

    /// The changes one entry made, collected while it applies.
    struct EntryChanges {
        /// Per applied transaction, its tree-changing operations as an object
        /// `{normalized path: operation}`: what the poll history replays.
        var transactions: [[UInt8]] = []
        /// Every tree change in apply order: the path and the `op` name.
        var modified: [AgencyChange] = []
    }

    private mutating func applyElement(_ slice: Slice, changes: inout EntryChanges) -> AgencyElementResult {
        let element: AgencyEnvelopeElement
        do {
            element = try AgencyEnvelopeElement.parse(slice)
        } catch {
            return .invalid(error)
        }
        switch element {
        case .read(let paths):
            return .read(read([paths]).first!)
        case .write(let transaction):
            return applyTransaction(transaction, changes: &changes)
        }
    }

    /// Checks the preconditions, then applies every operation in order: all or nothing.
    ///
    /// A transaction whose client id already applied is not applied again: it answers with
    /// the index where it did. So a client that retries a write after losing the answer (a
    /// timeout, a leader change) can never apply it twice, whether or not it asked `inquire`
    /// first. (A retry of one whose preconditions failed is evaluated again: it never applied.)
    private mutating func applyTransaction(_ transaction: AgencyWriteTransaction, changes: inout EntryChanges) -> AgencyElementResult {
        if let clientId = transaction.clientId, case .applied(let earlier)? = clientRecords[clientId] {
            rememberClientId(clientId, as: .applied(index: earlier))  // a recent use: kept longer
            return .applied(index: earlier)
        }
        let failed = transaction.preconditions.filter { !$0.holds(for: root.node(at: $0.path.components[...])) }
        if !failed.isEmpty {
            rememberClientId(transaction.clientId, as: .preconditionFailed(index: index))
            return .preconditionFailed(current: readQuery(failed.map(\.path)))
        }
        var replayed: [AgencyOperation] = []
        for operation in transaction.operations {
            applyOperation(operation)
            if operation.changesTree {
                replayed.append(operation)
                changes.modified.append(AgencyChange(path: operation.path, op: operation.name))
            }
        }
        if !replayed.isEmpty {
            changes.transactions.append(AgencyValue.bytes { builder in
                builder.openObject()
                for operation in replayed { builder.add(key: operation.path.description, operation.source) }
                builder.closeBuilt()
            })
        }
        rememberClientId(transaction.clientId, as: .applied(index: index))
        return .applied(index: index)
    }

    /// Deletes each of `paths` whose expiry is at or before `time`.
    private mutating func expire(_ paths: [AgencyPath], at time: Int64, changes: inout EntryChanges) {
        var deleted: [AgencyPath] = []
        for path in paths.sorted() {
            guard let expiry = expiries[path], expiry <= time else { continue }
            deleteSubtree(at: path)
            deleted.append(path)
            changes.modified.append(AgencyChange(path: path, op: "delete"))
        }
        guard !deleted.isEmpty else { return }
        // Replayed by poll clients as an ordinary delete transaction.
        changes.transactions.append(AgencyValue.bytes { builder in
            builder.openObject()
            for path in deleted {
                builder.add(key: path.description)
                builder.openObject()
                builder.add(key: "op", "delete")
                builder.closeBuilt()
            }
            builder.closeBuilt()
        })
    }

    // MARK: Client ids

    /// Remembers what `clientId`'s transaction came to, forgetting the oldest id beyond the bound.
    private mutating func rememberClientId(_ clientId: String?, as inquiry: AgencyInquiry) {
        guard let clientId else { return }
        if clientRecords.updateValue(inquiry, forKey: clientId) != nil {
            // A reused id moves to the back, so the order holds every id once.
            clientIdOrder.removeAll { $0 == clientId }
        }
        clientIdOrder.append(clientId)
        if clientIdOrder.count > AgencyLimits.clientIdRetentionCount {
            let forgotten = clientIdOrder.removeFirst()
            clientRecords[forgotten] = nil
        }
    }

    /// What became of the transactions written with `clientIds`, in the same order.
    ///
    /// The store remembers the last ``AgencyLimits/clientIdRetentionCount`` ids; an older or
    /// never seen id is ``AgencyInquiry/unknown``. Transactions proposed but not yet applied
    /// ("ongoing" in ArangoDB) are known only to the driver.
    public func inquire(_ clientIds: [String]) -> [AgencyInquiry] {
        clientIds.map { clientRecords[$0] ?? .unknown }
    }

    // MARK: TTL

    /// The keys whose TTL has passed by `now` (milliseconds since the epoch), in path order;
    /// at most ``AgencyLimits/pathsPerElementMax`` of them, as many as one expiry entry takes
    /// (the rest come with the next call).
    ///
    /// The leader proposes ``AgencyLogEntry/expiryPayload(timeMilliseconds:paths:)`` for them.
    public func expiredKeys(now: Int64) -> [AgencyPath] {
        Array(expiries.filter { $0.value <= now }.keys.sorted().prefix(AgencyLimits.pathsPerElementMax))
    }

    /// The expiry time of the key at `path`, when it was set with a `ttl`.
    public func expiry(of path: AgencyPath) -> Int64? { expiries[path] }

    /// Forgets the expiries of `path` and every key below it (their values are being replaced).
    private mutating func forgetExpiries(atOrBelow path: AgencyPath) {
        guard !expiries.isEmpty else { return }
        // Linear in the number of TTL keys, which the agency keeps small.
        for key in expiries.keys where key.hasPrefix(path) { expiries[key] = nil }
    }

    // MARK: Operations

    private mutating func deleteSubtree(at path: AgencyPath) {
        forgetExpiries(atOrBelow: path)
        if path.isRoot {
            root = AgencyNode()
        } else {
            _ = root.modify(path.components[...], create: false) { $0 = nil }
        }
    }

    /// Applies one validated operation; operations cannot fail once validated.
    private mutating func applyOperation(_ operation: AgencyOperation) {
        let path = operation.path
        switch operation.kind {
        case .set(let value, let ttl):
            forgetExpiries(atOrBelow: path)
            if path.isRoot {
                root = AgencyNode(value)  // validated to be an object
            } else {
                _ = root.modify(path.components[...], create: true) { $0 = AgencyNode(value) }
            }
            if let ttl {
                // time and ttl are bounded (ttlSecondsMax), but the time is the leader's word.
                expiries[path] = timeMilliseconds.addingReportingOverflow(ttl).overflow ? Int64.max : timeMilliseconds + ttl
            }
        case .delete:
            deleteSubtree(at: path)
        case .observe(let url):
            observers[path, default: []].insert(url)
        case .unobserve(let url):
            observers[path]?.remove(url)
            if observers[path]?.isEmpty == true { observers[path] = nil }
        default:
            let expired = expiries[path].map { $0 <= timeMilliseconds } ?? false
            _ = root.modify(path.components[...], create: true) { slot in
                let current = expired ? nil : slot?.leafSlice
                slot = AgencyNode(leaf: Self.transformedValue(current, by: operation.kind))
            }
        }
    }

    /// The new value of a key after a value operation on its current leaf value (`nil` when
    /// missing, expired or an object node).
    static func transformedValue(_ current: Slice?, by kind: AgencyOperation.Kind) -> [UInt8] {
        let members: [Slice] = current.map { $0.isArray ? Array($0.arrayElements) : [] } ?? []
        switch kind {
        case .increment(let step):
            return AgencyValue.bytes { builder in
                if let current, current.isNumber, !current.isInteger, let number = current.numberValue {
                    builder.add(number + Double(step))
                } else {
                    // Missing and non-numeric values count as 0; integers saturate at the
                    // Int64 bounds rather than wrap (a UInt above Int64.max counts as Int64.max).
                    let base = current.flatMap { $0.isInteger ? ($0.intValue ?? Int64.max) : nil } ?? 0
                    let (sum, overflow) = base.addingReportingOverflow(step)
                    builder.add(overflow ? (step > 0 ? Int64.max : Int64.min) : sum)
                }
            }
        case .push(let value): return AgencyValue.arrayBytes(members + [value])
        case .prepend(let value): return AgencyValue.arrayBytes([value] + members)
        case .pop: return AgencyValue.arrayBytes(members.dropLast())
        case .shift: return AgencyValue.arrayBytes(members.dropFirst())
        case .eraseValue(let value): return AgencyValue.arrayBytes(members.filter { !AgencyValue.equal($0, value) })
        case .erasePosition(let position):
            return AgencyValue.arrayBytes(members.enumerated().filter { $0.offset != position }.map(\.element))
        case .replace(let value, let new):
            return AgencyValue.arrayBytes(members.map { AgencyValue.equal($0, value) ? new : $0 })
        case .set, .delete, .observe, .unobserve:
            preconditionFailure("transformedValue is only for value operations, not \(kind)")
        }
    }

    // MARK: Observers

    /// The notifications for `modified`: for every observer URL, the changes at, below or
    /// above each path it observes, grouped by observed path; in URL order.
    func notifications(for modified: [AgencyChange]) -> [AgencyNotification] {
        guard !observers.isEmpty, !modified.isEmpty else { return [] }
        var byURL: [String: [AgencyPath: [AgencyPath: String]]] = [:]
        for (observed, urls) in observers {
            var changes: [AgencyPath: String] = [:]
            // A later change of the same path in the entry names its op (last one wins).
            for change in modified where change.path.hasPrefix(observed) || observed.hasPrefix(change.path) {
                changes[change.path] = change.op
            }
            guard !changes.isEmpty else { continue }
            for url in urls { byURL[url, default: [:]][observed] = changes }
        }
        return byURL.keys.sorted().map { url in
            let observedPaths = byURL[url]!
            return AgencyNotification(url: url, index: index, observed: observedPaths.keys.sorted().map { observed in
                let changes = observedPaths[observed]!
                return AgencyNotification.Observed(path: observed, changes: changes.keys.sorted().map { AgencyChange(path: $0, op: changes[$0]!) })
            })
        }
    }

    /// The callback URLs registered at each observed path, in path order.
    public var observerTable: [(path: AgencyPath, urls: [String])] {
        observers.keys.sorted().map { ($0, observers[$0]!.sorted()) }
    }
}

extension AgencyNode {
    /// A leaf holding `bytes` (a non-object value).
    init(leaf bytes: [UInt8]) {
        self.init()
        leaf = bytes
    }
}
