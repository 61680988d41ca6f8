public import VelocyPack

/// AQL's order of values: `null < bool < number < string < array < object`; a missing
/// attribute is null. Numbers compare by value whatever their encoding; strings byte by byte
/// (UTF-8); arrays element by element, a shorter prefix first; objects by their keys in
/// sorted order, then the values under equal keys.
public enum AQLOrder {
    static func rank(_ value: Slice) -> Int {
        switch value.type {
        case .none, .null, .illegal, .minKey: 0
        case .bool: 1
        case .int, .uint, .smallInt, .double, .utcDate: 2
        case .string: 3
        case .array: 4
        case .object: 5
        default: 6
        }
    }

    /// Negative, zero or positive as `a` sorts before, with or after `b`.
    public static func compare(_ a: Slice, _ b: Slice) -> Int {
        let rankA = rank(a), rankB = rank(b)
        if rankA != rankB { return rankA < rankB ? -1 : 1 }
        switch rankA {
        case 1:
            let x = a.boolValue ?? false, y = b.boolValue ?? false
            return x == y ? 0 : (x ? 1 : -1)
        case 2:
            return compareNumbers(a, b)
        case 3:
            let x = a.stringBytes ?? [], y = b.stringBytes ?? []
            return x.lexicographicallyPrecedes(y) ? -1 : (x.elementsEqual(y) ? 0 : 1)
        case 4:
            let x = Array(a.arrayElements), y = Array(b.arrayElements)
            for index in 0..<min(x.count, y.count) {
                let order = compare(x[index], y[index])
                if order != 0 { return order }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        case 5:
            let x = sortedMembers(a), y = sortedMembers(b)
            for index in 0..<min(x.count, y.count) {
                if x[index].0 != y[index].0 { return x[index].0 < y[index].0 ? -1 : 1 }
                let order = compare(x[index].1, y[index].1)
                if order != 0 { return order }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            return 0
        }
    }

    static func sortedMembers(_ object: Slice) -> [(String, Slice)] {
        object.objectMembers.compactMap { key, value in key.keyName.map { ($0, value) } }.sorted { $0.0 < $1.0 }
    }

    static func compareNumbers(_ a: Slice, _ b: Slice) -> Int {
        // Exact for integers of either sign; doubles otherwise.
        if a.isInteger && b.isInteger {
            if let x = a.intValue, let y = b.intValue { return x == y ? 0 : (x < y ? -1 : 1) }
            if let x = a.uintValue, let y = b.uintValue { return x == y ? 0 : (x < y ? -1 : 1) }
            // One is above Int64.max, so it is the larger.
            return a.uintValue != nil && a.intValue == nil ? 1 : -1
        }
        let x = a.numberValue ?? 0, y = b.numberValue ?? 0
        return x == y ? 0 : (x < y ? -1 : 1)
    }

    /// AQL truthiness: null, false, 0 and "" are false; everything else is true.
    public static func isTrue(_ value: Slice) -> Bool {
        switch rank(value) {
        case 0: false
        case 1: value.boolValue ?? false
        case 2: (value.numberValue ?? 0) != 0
        case 3: (value.stringBytes?.count ?? 0) > 0
        default: true
        }
    }
}

/// A query with its bind parameters filled in, ready to run over documents.
public struct BoundQuery: Sendable {
    public let query: Query
    /// The collection the query reads.
    public let collection: String

    static let nullSlice = Slice(trustedBytes: [0x18])
    static let trueSlice = Slice(trustedBytes: [0x1a])
    static let falseSlice = Slice(trustedBytes: [0x19])

    /// Fills in `parameters` (an object: `name` → value, `@name` → collection name).
    public init(_ query: Query, parameters: Slice?) throws(QueryError) {
        var given: [String: Slice] = [:]
        if let parameters {
            guard parameters.isObject else { throw QueryError(.bindParameterType, "bind parameters must be an object") }
            for (key, value) in parameters.objectMembers {
                guard let name = key.keyName else { continue }
                given[name] = value
            }
        }
        var used: Set<String> = []
        func bind(_ expression: Expression) throws(QueryError) -> Expression {
            switch expression {
            case .literal, .path: return expression
            case .bindParameter(let name):
                guard let value = given[name] else { throw QueryError(.bindParameterMissing, "no value specified for bind parameter '\(name)'") }
                used.insert(name)
                return .literal(Array(value.bytes))
            case let .comparison(op, left, right): return .comparison(op, try bind(left), try bind(right))
            case let .membership(value, list, negated): return .membership(try bind(value), try bind(list), negated: negated)
            case let .and(left, right): return .and(try bind(left), try bind(right))
            case let .or(left, right): return .or(try bind(left), try bind(right))
            case .not(let inner): return .not(try bind(inner))
            case .array(let elements):
                var bound: [Expression] = []
                for element in elements { bound.append(try bind(element)) }
                return Self.folded(.array(bound))
            case .object(let members):
                var bound: [Expression.ObjectMember] = []
                for member in members { bound.append(Expression.ObjectMember(key: member.key, value: try bind(member.value))) }
                return .object(bound)
            }
        }
        var boundQuery = query
        switch query.collection {
        case .name(let name): collection = name
        case .bindParameter(let name):
            guard let value = given["@" + name] else {
                throw QueryError(.bindParameterMissing, "no value specified for bind parameter '@\(name)'")
            }
            guard let name = value.stringValue else {
                throw QueryError(.bindParameterType, "collection bind parameter '@\(name)' must be a string")
            }
            collection = name
        }
        if case .bindParameter(let name) = query.collection { used.insert("@" + name) }
        boundQuery.filters = try { () throws(QueryError) -> [Expression] in
            var filters: [Expression] = []
            for filter in query.filters { filters.append(try bind(filter)) }
            return filters
        }()
        var sort: [Query.SortKey] = []
        for key in query.sort { sort.append(Query.SortKey(expression: try bind(key.expression), ascending: key.ascending)) }
        boundQuery.sort = sort
        boundQuery.projection = try bind(query.projection)
        if let unused = given.keys.sorted().first(where: { !used.contains($0) }) {
            throw QueryError(.bindParameterUndeclared, "bind parameter '\(unused)' was not declared in the query")
        }
        self.query = boundQuery
    }

    /// An array of constants becomes one constant (so `IN [1, 2, 3]` is built once).
    static func folded(_ expression: Expression) -> Expression {
        guard case .array(let elements) = expression else { return expression }
        var builder = Builder()
        builder.openArray()
        for element in elements {
            guard case .literal(let bytes) = element else { return expression }
            builder.add(Slice(trustedBytes: bytes))
        }
        try! builder.close()  // arrays have no keys to clash
        return .literal(builder.bytes)
    }

    /// Whether `document` passes every FILTER.
    public func matches(_ document: Slice) -> Bool {
        query.filters.allSatisfy { AQLOrder.isTrue(evaluate($0, document)) }
    }

    /// Whether `a` sorts before `b` under the SORT clause.
    public func sortsBefore(_ a: Slice, _ b: Slice) -> Bool {
        for key in query.sort {
            let order = AQLOrder.compare(evaluate(key.expression, a), evaluate(key.expression, b))
            if order != 0 { return key.ascending ? order < 0 : order > 0 }
        }
        return false
    }

    /// Appends the RETURN value for `document`.
    public func project(_ document: Slice, into builder: inout Builder) {
        builder.add(evaluate(query.projection, document))
    }

    /// The value of `expression` for `document`.
    public func evaluate(_ expression: Expression, _ document: Slice) -> Slice {
        switch expression {
        case .literal(let bytes):
            return Slice(trustedBytes: bytes)
        case .bindParameter:
            preconditionFailure("bound queries have no parameters left")
        case .path(_, let steps):
            var value = document
            for step in steps {
                switch step {
                case .attribute(let name):
                    guard value.isObject, let member = value[name] else { return Self.nullSlice }
                    value = member
                case .index(let index):
                    guard value.isArray, index < value.count, let element = value[index] else { return Self.nullSlice }
                    value = element
                }
            }
            return value
        case let .comparison(op, left, right):
            let order = AQLOrder.compare(evaluate(left, document), evaluate(right, document))
            return op.holds(forOrder: order) ? Self.trueSlice : Self.falseSlice
        case let .membership(value, list, negated):
            let list = evaluate(list, document)
            let needle = evaluate(value, document)
            // `x IN non-array` is false in AQL.
            let found = list.isArray && list.arrayElements.contains { AQLOrder.compare($0, needle) == 0 }
            return found != negated ? Self.trueSlice : Self.falseSlice
        case let .and(left, right):
            return AQLOrder.isTrue(evaluate(left, document)) && AQLOrder.isTrue(evaluate(right, document)) ? Self.trueSlice : Self.falseSlice
        case let .or(left, right):
            return AQLOrder.isTrue(evaluate(left, document)) || AQLOrder.isTrue(evaluate(right, document)) ? Self.trueSlice : Self.falseSlice
        case .not(let inner):
            return AQLOrder.isTrue(evaluate(inner, document)) ? Self.falseSlice : Self.trueSlice
        case .array(let elements):
            var builder = Builder()
            builder.openArray()
            for element in elements { builder.add(evaluate(element, document)) }
            try! builder.close()  // arrays have no keys to clash
            return builder.slice
        case .object(let members):
            var builder = Builder()
            builder.openObject()
            for member in members { builder.add(key: member.key, evaluate(member.value, document)) }
            try! builder.close()  // the parser refuses repeated keys
            return builder.slice
        }
    }

    /// A condition an index can answer: every FILTER conjunct of the form
    /// `variable.path OP constant` (either side), with the constant.
    public struct IndexCondition: Sendable, Equatable {
        public let path: [String]
        public let op: ComparisonOperator
        /// The constant's VelocyPack bytes (empty for `IN`).
        public let value: [UInt8]
        /// For `path IN [constants]`: each constant (`op` is then `.equal`).
        public let values: [[UInt8]]
    }

    /// The conditions of the FILTERs that an index on their path could serve. Only
    /// top-level conjuncts count: a condition under OR or NOT cannot narrow a scan.
    public var indexConditions: [IndexCondition] {
        var conjuncts: [Expression] = []
        func split(_ expression: Expression) {
            if case let .and(left, right) = expression {
                split(left)
                split(right)
            } else {
                conjuncts.append(expression)
            }
        }
        for filter in query.filters { split(filter) }
        var conditions: [IndexCondition] = []
        func attributePath(_ expression: Expression) -> [String]? {
            guard case let .path(_, steps) = expression, !steps.isEmpty else { return nil }
            var names: [String] = []
            for step in steps {
                guard case .attribute(let name) = step else { return nil }
                names.append(name)
            }
            return names
        }
        for conjunct in conjuncts {
            switch conjunct {
            case let .comparison(op, left, right) where op != .notEqual:
                if let path = attributePath(left), case .literal(let value) = right {
                    conditions.append(IndexCondition(path: path, op: op, value: value, values: []))
                } else if let path = attributePath(right), case .literal(let value) = left {
                    conditions.append(IndexCondition(path: path, op: op.mirrored, value: value, values: []))
                }
            case let .membership(value, .literal(list), negated: false):
                let listSlice = Slice(trustedBytes: list)
                if let path = attributePath(value), listSlice.isArray {
                    conditions.append(IndexCondition(path: path, op: .equal, value: [],
                                                     values: listSlice.arrayElements.map { Array($0.bytes) }))
                }
            default:
                continue
            }
        }
        return conditions
    }
}
