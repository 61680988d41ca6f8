public import VelocyPack

/// One operation of a write transaction: what to do at which path.
public struct AgencyOperation: Sendable {
    /// What an operation does. Values are views into the request (or log entry) bytes.
    public enum Kind: Sendable {
        /// Replace the subtree with `value`; with `ttlMilliseconds`, the key expires that long
        /// after the entry's time.
        case set(value: Slice, ttlMilliseconds: Int64?)
        /// Remove the subtree; nothing happens when it is absent.
        case delete
        /// Add `step` (negative for `decrement`) to an integer; missing, expired and
        /// non-numeric values count as 0.
        case increment(step: Int64)
        /// Append `value` to the array; a missing or non-array value becomes `[value]`.
        case push(Slice)
        /// Insert `value` at the front of the array; a missing or non-array value becomes `[value]`.
        case prepend(Slice)
        /// Remove the last member; a missing or non-array value becomes `[]`.
        case pop
        /// Remove the first member; a missing or non-array value becomes `[]`.
        case shift
        /// Remove every member equal to `value`; a missing or non-array value becomes `[]`.
        case eraseValue(Slice)
        /// Remove the member at `position` (none when out of range); a missing or non-array value becomes `[]`.
        case erasePosition(Int)
        /// Replace every member equal to `value` with `new`; a missing or non-array value becomes `[]`.
        case replace(value: Slice, new: Slice)
        /// Register `url` as an observer of changes at or below the path.
        case observe(url: String)
        /// Unregister `url` as an observer of the path.
        case unobserve(url: String)
    }

    /// Where the operation applies.
    public let path: AgencyPath
    /// What it does.
    public let kind: Kind
    /// The operation as the client wrote it (a bare value or an `{"op": …}` object): what the
    /// poll history replays.
    public let source: Slice

    /// The `op` name as ArangoDB spells it (for observer notifications).
    public var name: String {
        switch kind {
        case .set: "set"
        case .delete: "delete"
        case .increment(let step): step < 0 ? "decrement" : "increment"
        case .push: "push"
        case .prepend: "prepend"
        case .pop: "pop"
        case .shift: "shift"
        case .eraseValue, .erasePosition: "erase"
        case .replace: "replace"
        case .observe: "observe"
        case .unobserve: "unobserve"
        }
    }

    /// Whether the operation changes the tree (observe and unobserve only change the observer table).
    public var changesTree: Bool {
        switch kind {
        case .observe, .unobserve: false
        default: true
        }
    }

    /// Parses the operation `value` for the path string `key`.
    ///
    /// A value that is not an object, or an object without an `op` member, is a `set` of that
    /// value (ArangoDB's shorthand).
    static func parse(key: String, value: Slice) throws(AgencyError) -> AgencyOperation {
        let path = try AgencyPath(key)
        guard value.isObject, let opSlice = value["op"] else {
            return try AgencyOperation(path: path, kind: .set(value: value, ttlMilliseconds: nil), source: value)
        }
        guard let op = opSlice.stringValue else {
            throw AgencyError(.invalidOperation, "'op' at \(path) must be a string")
        }
        func field(_ name: String) throws(AgencyError) -> Slice {
            guard let slice = value[name] else {
                throw AgencyError(.invalidOperation, "operation '\(op)' at \(path) needs '\(name)'")
            }
            return slice
        }
        let kind: Kind
        switch op {
        case "set":
            kind = .set(value: try field("new"), ttlMilliseconds: try ttl(value, at: path))
        case "delete": kind = .delete
        case "increment": kind = .increment(step: try step(value, at: path))
        case "decrement":
            let step = try step(value, at: path)
            // Steps are bounded below Int64.max in magnitude, so negating cannot overflow.
            kind = .increment(step: -step)
        case "push": kind = .push(try field("new"))
        case "prepend": kind = .prepend(try field("new"))
        case "pop": kind = .pop
        case "shift": kind = .shift
        case "erase":
            switch (value["val"], value["pos"]) {
            case (let erased?, nil): kind = .eraseValue(erased)
            case (nil, let position?):
                guard let index = position.intValue, index >= 0, index <= Int64(Int32.max) else {
                    throw AgencyError(.invalidOperation, "'pos' of erase at \(path) must be a non-negative integer")
                }
                kind = .erasePosition(Int(index))
            default:
                throw AgencyError(.invalidOperation, "erase at \(path) needs exactly one of 'val' and 'pos'")
            }
        case "replace": kind = .replace(value: try field("val"), new: try field("new"))
        case "observe", "unobserve":
            guard let url = try field("url").stringValue, !url.isEmpty,
                  url.utf8.count <= AgencyLimits.urlByteCountMax else {
                throw AgencyError(.invalidOperation, "'url' of \(op) at \(path) must be a non-empty string of at most \(AgencyLimits.urlByteCountMax) bytes")
            }
            kind = op == "observe" ? .observe(url: url) : .unobserve(url: url)
        default:
            throw AgencyError(.invalidOperation, "unknown operation '\(op)' at \(path)")
        }
        return try AgencyOperation(path: path, kind: kind, source: value)
    }

    private init(path: AgencyPath, kind: Kind, source: Slice) throws(AgencyError) {
        // The root is always an object node: only replacing it by an object, or clearing it,
        // keeps it one. Observing the root is allowed (it sees every change).
        if path.isRoot {
            switch kind {
            case .set(let value, let ttl) where value.isObject && ttl == nil: break
            case .delete, .observe, .unobserve: break
            default:
                throw AgencyError(.operationOnRoot, "only set of an object (without ttl), delete, observe and unobserve may address '/'")
            }
        }
        self.path = path
        self.kind = kind
        self.source = source
    }

    /// `step` of increment/decrement: an integer of magnitude below 2^62 (default 1).
    private static func step(_ value: Slice, at path: AgencyPath) throws(AgencyError) -> Int64 {
        guard let slice = value["step"] else { return 1 }
        let limit: Int64 = 1 << 62
        guard slice.isInteger, let step = slice.intValue, step > -limit, step < limit else {
            throw AgencyError(.invalidOperation, "'step' at \(path) must be an integer of magnitude below 2^62")
        }
        return step
    }

    /// `ttl` of set, in seconds (fractions allowed), converted to whole milliseconds.
    private static func ttl(_ value: Slice, at path: AgencyPath) throws(AgencyError) -> Int64? {
        guard let slice = value["ttl"] else { return nil }
        guard let seconds = slice.numberValue, seconds.isFinite, seconds > 0, seconds <= AgencyLimits.ttlSecondsMax else {
            throw AgencyError(.invalidOperation, "'ttl' at \(path) must be a number of seconds in (0, \(Int(AgencyLimits.ttlSecondsMax))]")
        }
        // Bounded by ttlSecondsMax, so the product fits easily; at least 1 ms.
        return max(1, Int64((seconds * 1000).rounded()))
    }
}

/// One precondition of a write transaction: a path and the checks its value must pass.
public struct AgencyPrecondition: Sendable {
    /// One check on the value at the path.
    public enum Check: Sendable {
        /// The value exists and equals the operand.
        case old(Slice)
        /// The value is absent or differs from the operand.
        case oldNot(Slice)
        /// `true`: the key is absent; `false`: it is present (a present `null` counts).
        case oldEmpty(Bool)
        /// `true`: the value is an array; `false`: it is absent or not an array.
        case isArray(Bool)
        /// The value is an array containing the operand.
        case `in`(Slice)
        /// The value is absent, not an array, or an array that does not contain the operand.
        case notIn(Slice)
        /// The value is absent, not an array, or an array sharing no member with the operand array.
        case intersectionEmpty(Slice)
        /// A check this store does not know (ArangoDB's lock checks among them): always fails.
        case unknown(String)
    }

    /// The path whose value is checked.
    public let path: AgencyPath
    /// The checks; all must pass.
    public let checks: [Check]

    static let checkNames: Set<String> = ["old", "oldNot", "oldEmpty", "isArray", "in", "notin", "intersectionEmpty"]

    /// Parses the precondition `value` for the path string `key`.
    ///
    /// A value that is not an object, or an object none of whose keys names a check, is an
    /// `old` check of that value (ArangoDB's shorthand). In an object that names at least one
    /// check, every other key is an unknown check, which fails.
    static func parse(key: String, value: Slice) throws(AgencyError) -> AgencyPrecondition {
        let path = try AgencyPath(key)
        let names = value.isObject ? value.objectMembers.compactMap { $0.key.keyName } : []
        guard names.contains(where: checkNames.contains) else {
            return AgencyPrecondition(path: path, checks: [.old(value)])
        }
        var checks: [Check] = []
        for (keySlice, operand) in value.objectMembers {
            let name = keySlice.keyName ?? ""
            func flag() throws(AgencyError) -> Bool {
                guard let flag = operand.boolValue else {
                    throw AgencyError(.malformedTransaction, "precondition '\(name)' at \(path) needs true or false")
                }
                return flag
            }
            switch name {
            case "old": checks.append(.old(operand))
            case "oldNot": checks.append(.oldNot(operand))
            case "oldEmpty": checks.append(.oldEmpty(try flag()))
            case "isArray": checks.append(.isArray(try flag()))
            case "in": checks.append(.in(operand))
            case "notin": checks.append(.notIn(operand))
            case "intersectionEmpty":
                guard operand.isArray else {
                    throw AgencyError(.malformedTransaction, "precondition 'intersectionEmpty' at \(path) needs an array")
                }
                checks.append(.intersectionEmpty(operand))
            default: checks.append(.unknown(name))
            }
        }
        return AgencyPrecondition(path: path, checks: checks)
    }

    /// Whether `value` (the node at the path, `nil` when absent) passes every check.
    func holds(for node: AgencyNode?) -> Bool {
        let value = node?.slice
        return checks.allSatisfy { check in
            switch check {
            case .old(let operand): value.map { AgencyValue.equal($0, operand) } ?? false
            case .oldNot(let operand): !(value.map { AgencyValue.equal($0, operand) } ?? false)
            case .oldEmpty(let empty): (value == nil) == empty
            case .isArray(let isArray): (value?.isArray ?? false) == isArray
            case .in(let operand): value.map { $0.isArray && AgencyValue.arrayContains($0, operand) } ?? false
            case .notIn(let operand): !(value.map { $0.isArray && AgencyValue.arrayContains($0, operand) } ?? false)
            case .intersectionEmpty(let operand):
                !(value.map { stored in stored.isArray && operand.arrayElements.contains { AgencyValue.arrayContains(stored, $0) } } ?? false)
            case .unknown: false
            }
        }
    }
}

/// A write transaction: `[operations, preconditions?, clientId?]`.
public struct AgencyWriteTransaction: Sendable {
    /// The operations in the order they apply: sorted by path (``AgencyPath/<``); no two
    /// share a path.
    public let operations: [AgencyOperation]
    /// The preconditions; all must hold for any operation to apply.
    public let preconditions: [AgencyPrecondition]
    /// The client's id for ``AgencyStore/inquire(_:)``, when given and non-empty.
    public let clientId: String?

    /// Parses one transaction array.
    static func parse(_ slice: Slice) throws(AgencyError) -> AgencyWriteTransaction {
        guard slice.isArray, (1...3).contains(slice.count), let operationsSlice = slice[0], operationsSlice.isObject else {
            throw AgencyError(.malformedTransaction, "a write transaction is [operations, preconditions?, clientId?] with an operations object")
        }
        guard operationsSlice.count <= AgencyLimits.pathsPerElementMax else {
            throw AgencyError(.limitExceeded, "\(operationsSlice.count) operations in one transaction exceed \(AgencyLimits.pathsPerElementMax)")
        }
        var operations: [AgencyOperation] = []
        for (key, value) in operationsSlice.objectMembers {
            operations.append(try AgencyOperation.parse(key: try pathString(key), value: value))
        }
        operations.sort { $0.path < $1.path }
        // Two spellings of one path (`/a` and `a/`) would leave their order to the encoding of
        // the request object; ArangoDB applies both in some order, Tessera refuses the ambiguity.
        for (earlier, later) in zip(operations, operations.dropFirst()) where earlier.path == later.path {
            throw AgencyError(.malformedTransaction, "two operations on \(later.path) in one transaction")
        }

        var preconditions: [AgencyPrecondition] = []
        if let preconditionsSlice = slice[1] {
            guard preconditionsSlice.isObject else {
                throw AgencyError(.malformedTransaction, "preconditions must be an object")
            }
            guard preconditionsSlice.count <= AgencyLimits.pathsPerElementMax else {
                throw AgencyError(.limitExceeded, "\(preconditionsSlice.count) preconditions in one transaction exceed \(AgencyLimits.pathsPerElementMax)")
            }
            for (key, value) in preconditionsSlice.objectMembers {
                preconditions.append(try AgencyPrecondition.parse(key: try pathString(key), value: value))
            }
        }

        var clientId: String?
        if let clientIdSlice = slice[2] {
            guard let id = clientIdSlice.stringValue, id.utf8.count <= AgencyLimits.clientIdByteCountMax else {
                throw AgencyError(.malformedTransaction, "clientId must be a string of at most \(AgencyLimits.clientIdByteCountMax) bytes")
            }
            clientId = id.isEmpty ? nil : id
        }
        return AgencyWriteTransaction(operations: operations, preconditions: preconditions, clientId: clientId)
    }

    private static func pathString(_ key: Slice) throws(AgencyError) -> String {
        guard let name = key.keyName else { throw AgencyError(.invalidPath, "a path key must be a string") }
        return name
    }
}

/// One element of a request envelope (and of a log entry): a read query or a write transaction.
public enum AgencyEnvelopeElement: Sendable {
    /// A read query: the paths to read together.
    case read([AgencyPath])
    /// A write transaction.
    case write(AgencyWriteTransaction)

    /// Parses one element. An array whose first member is an object is a write; an array of
    /// strings (at least one) is a read.
    static func parse(_ slice: Slice) throws(AgencyError) -> AgencyEnvelopeElement {
        guard slice.isArray, let first = slice[0] else {
            throw AgencyError(.malformedRequest, "each element must be a non-empty array: a read [paths…] or a write [operations, preconditions?, clientId?]")
        }
        if first.isObject { return .write(try AgencyWriteTransaction.parse(slice)) }
        return .read(try parseReadQuery(slice))
    }

    static func parseReadQuery(_ slice: Slice) throws(AgencyError) -> [AgencyPath] {
        guard slice.isArray else { throw AgencyError(.malformedRequest, "a read query must be an array of paths") }
        guard slice.count <= AgencyLimits.pathsPerElementMax else {
            throw AgencyError(.limitExceeded, "\(slice.count) paths in one read query exceed \(AgencyLimits.pathsPerElementMax)")
        }
        var paths: [AgencyPath] = []
        for member in slice.arrayElements {
            guard let string = member.stringValue else {
                throw AgencyError(.malformedRequest, "a read query must be an array of path strings")
            }
            paths.append(try AgencyPath(string))
        }
        return paths
    }
}

/// The parsed body of a `read`, `write` or `transact` request: its elements in order.
public struct AgencyEnvelope: Sendable {
    /// What a request body may contain.
    public enum Kind: Sendable {
        /// Only read queries (`/_api/agency/read`).
        case read
        /// Only write transactions (`/_api/agency/write`).
        case write
        /// Any mix (`/_api/agency/transact`).
        case transact
    }

    /// The elements in request order.
    public let elements: [AgencyEnvelopeElement]

    /// Parses an already validated envelope slice, checking that its elements fit `kind`.
    public init(parsing slice: Slice, as kind: Kind) throws(AgencyError) {
        guard slice.isArray else { throw AgencyError(.malformedRequest, "the body must be an array") }
        guard slice.count <= AgencyLimits.envelopeElementCountMax else {
            throw AgencyError(.limitExceeded, "\(slice.count) elements exceed \(AgencyLimits.envelopeElementCountMax)")
        }
        var elements: [AgencyEnvelopeElement] = []
        for member in slice.arrayElements {
            let element: AgencyEnvelopeElement
            switch kind {
            case .read:
                element = .read(try AgencyEnvelopeElement.parseReadQuery(member))
            case .write:
                element = .write(try AgencyWriteTransaction.parse(member))
            case .transact:
                element = try AgencyEnvelopeElement.parse(member)
            }
            elements.append(element)
        }
        self.elements = elements
    }

    /// Validates foreign bytes and parses them as a request body of `kind`.
    ///
    /// - Throws: ``AgencyError`` with ``AgencyError/Code/invalidVelocyPack`` for bad bytes,
    ///   or the code of the first rule the body breaks.
    public init(validating bytes: [UInt8], as kind: Kind) throws(AgencyError) {
        let slice: Slice
        do {
            slice = try Slice(validating: bytes, options: .agency(byteCountMax: AgencyLimits.requestByteCountMax))
        } catch {
            throw AgencyError(error, in: "request body")
        }
        try self.init(parsing: slice, as: kind)
    }
}
