import VelocyPack

/// One step of an attribute path: `.name` / `["name"]`, or `[index]`.
public enum PathStep: Sendable, Equatable {
    case attribute(String)
    case index(Int)
}

public enum ComparisonOperator: String, Sendable, CaseIterable {
    case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="

    /// Whether `a OP b` is true when comparing `a` with `b` gave `order` (negative, zero or
    /// positive, as ``AQLOrder/compare(_:_:)`` returns).
    public func holds(forOrder order: Int) -> Bool {
        switch self {
        case .equal: order == 0
        case .notEqual: order != 0
        case .less: order < 0
        case .lessOrEqual: order <= 0
        case .greater: order > 0
        case .greaterOrEqual: order >= 0
        }
    }

    /// The operator with its sides swapped (`5 < d.a` is `d.a > 5`).
    var mirrored: ComparisonOperator {
        switch self {
        case .equal, .notEqual: self
        case .less: .greater
        case .lessOrEqual: .greaterOrEqual
        case .greater: .less
        case .greaterOrEqual: .lessOrEqual
        }
    }
}

/// An expression of the supported subset.
public indirect enum Expression: Sendable, Equatable {
    /// A constant: the bytes of one VelocyPack value.
    case literal([UInt8])
    /// `@name`, replaced by its value when the query is bound.
    case bindParameter(String)
    /// `variable.a.b[0]`.
    case path(variable: String, steps: [PathStep])
    case comparison(ComparisonOperator, Expression, Expression)
    /// `value IN list` (or `NOT IN` when `negated`).
    case membership(Expression, Expression, negated: Bool)
    case and(Expression, Expression)
    case or(Expression, Expression)
    case not(Expression)
    case array([Expression])
    case object([ObjectMember])

    public struct ObjectMember: Sendable, Equatable {
        public let key: String
        public let value: Expression
    }
}

/// `FOR variable IN collection [FILTER …]* [SORT …] [LIMIT …] RETURN …`.
public struct Query: Sendable, Equatable {
    public enum Collection: Sendable, Equatable {
        case name(String)
        /// `@@name`, resolved when bound.
        case bindParameter(String)
    }

    public struct SortKey: Sendable, Equatable {
        public let expression: Expression
        public let ascending: Bool
    }

    public var variable: String
    public var collection: Collection
    /// All FILTERs; a document passes when every one is true.
    public var filters: [Expression]
    public var sort: [SortKey]
    public var offset: Int
    /// `nil` when there is no LIMIT.
    public var limit: Int?
    public var projection: Expression
    /// `RETURN DISTINCT` — not in the subset; kept so the refusal can say so.
    public var distinct = false
}
