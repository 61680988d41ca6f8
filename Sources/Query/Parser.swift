import VelocyPack

/// Reads the supported subset of AQL:
///
///     FOR var IN collection
///       [FILTER condition]*
///       [SORT expr [ASC|DESC], …]
///       [LIMIT [offset,] count]
///       RETURN var | var.path | { key: expr, … } | [expr, …]
///
/// where a condition combines comparisons (`== != < <= > >=`), `IN`, `NOT IN`, `AND`/`&&`,
/// `OR`/`||`, `NOT`/`!` and parentheses over attribute paths, literals and bind parameters.
/// Valid AQL outside the subset (LET, COLLECT, functions, data modification, graphs…) is
/// refused as "not supported" (errorNum 9); text that is not AQL at all is a parse error
/// (1501). Nothing outside the subset is ever run with a different meaning.
public struct QueryParser {
    var tokens: [Token]
    var position = 0
    /// Expression nesting allowed before the parser refuses (a hostile query cannot exhaust
    /// the stack).
    static let nestingMax = 64
    var depth = 0

    public static func parse(_ text: String) throws(QueryError) -> Query {
        var parser = QueryParser(tokens: try Lexer.tokens(text))
        if case .end = parser.current.kind { throw QueryError(.empty, "query is empty") }
        return try parser.query()
    }

    var current: Token { tokens[position] }

    mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    func describe(_ token: Token) -> String {
        switch token.kind {
        case .identifier(let name): "'\(name)'"
        case .keyword(let word): "'\(word)'"
        case .string(let text): "string \"\(text)\""
        case .integer(let value): "number \(value)"
        case .double(let value): "number \(value)"
        case .bindParameter(let name, let collection): "'\(collection ? "@@" : "@")\(name)'"
        case .symbol(let symbol): "'\(symbol)'"
        case .end: "end of query"
        }
    }

    func parseError(_ message: String) -> QueryError {
        QueryError(.parse, "syntax error, \(message) near \(describe(current)) at line \(current.line), column \(current.column)")
    }

    func unsupported(_ what: String) -> QueryError {
        QueryError(.notSupported, "\(what) is not supported by Tessera's query subset (at line \(current.line), column \(current.column))")
    }

    mutating func expectKeyword(_ word: String) throws(QueryError) {
        guard case .keyword(word) = current.kind else { throw parseError("expected \(word)") }
        advance()
    }

    mutating func isKeyword(_ word: String) -> Bool {
        if case .keyword(word) = current.kind { return true }
        return false
    }

    mutating func isSymbol(_ symbol: String) -> Bool {
        if case .symbol(symbol) = current.kind { return true }
        return false
    }

    mutating func expectSymbol(_ symbol: String) throws(QueryError) {
        guard isSymbol(symbol) else { throw parseError("expected '\(symbol)'") }
        advance()
    }

    /// Keywords that start AQL operations outside the subset.
    static let unsupportedOperations: Set<String> = [
        "LET", "COLLECT", "INSERT", "UPDATE", "REPLACE", "REMOVE", "UPSERT", "WITH", "WINDOW", "SEARCH", "PRUNE", "OPTIONS",
    ]

    mutating func query() throws(QueryError) -> Query {
        if case .keyword(let word) = current.kind, Self.unsupportedOperations.contains(word) {
            throw unsupported(word)
        }
        if isKeyword("RETURN") { throw unsupported("RETURN without FOR") }
        try expectKeyword("FOR")
        guard case .identifier(let variable) = current.kind else { throw parseError("expected a variable name after FOR") }
        advance()
        if isSymbol(",") { throw unsupported("FOR with several variables (graph traversal)") }
        try expectKeyword("IN")
        let collection: Query.Collection
        switch current.kind {
        case .identifier(let name): collection = .name(name)
        case .bindParameter(let name, collection: true): collection = .bindParameter(name)
        case .keyword(let word) where ["OUTBOUND", "INBOUND", "ANY"].contains(word): throw unsupported("graph traversal")
        case .symbol("["), .symbol("("), .bindParameter, .integer, .double, .string:
            throw unsupported("FOR over an expression, a range or a graph (only a collection name or @@parameter)")
        default: throw parseError("expected a collection name after IN")
        }
        advance()
        var query = Query(variable: variable, collection: collection, filters: [], sort: [], offset: 0, limit: nil,
                          projection: .path(variable: variable, steps: []))
        var seenSort = false, seenLimit = false
        while true {
            if isKeyword("FILTER") {
                if seenSort || seenLimit { throw unsupported("FILTER after SORT or LIMIT") }
                advance()
                query.filters.append(try expression())
            } else if isKeyword("SORT") {
                if seenSort { throw unsupported("a second SORT") }
                if seenLimit { throw unsupported("SORT after LIMIT") }
                seenSort = true
                advance()
                repeat {
                    if isSymbol(",") { advance() }
                    let key = try expression()
                    var ascending = true
                    if isKeyword("ASC") { advance() } else if isKeyword("DESC") { ascending = false; advance() }
                    query.sort.append(Query.SortKey(expression: key, ascending: ascending))
                } while isSymbol(",")
            } else if isKeyword("LIMIT") {
                if seenLimit { throw unsupported("a second LIMIT") }
                seenLimit = true
                advance()
                let first = try limitNumber()
                if isSymbol(",") {
                    advance()
                    query.offset = first
                    query.limit = try limitNumber()
                } else {
                    query.limit = first
                }
            } else if isKeyword("RETURN") {
                advance()
                if isKeyword("DISTINCT") { throw unsupported("RETURN DISTINCT") }
                query.projection = try expression()
                guard case .end = current.kind else {
                    if case .keyword(let word) = current.kind, Self.unsupportedOperations.contains(word) || word == "FOR" {
                        throw unsupported("\(word) after RETURN")
                    }
                    throw parseError("unexpected text after RETURN")
                }
                try checkVariables(query)
                return query
            } else if case .keyword(let word) = current.kind, Self.unsupportedOperations.contains(word) || word == "FOR" {
                throw unsupported(word == "FOR" ? "nested FOR" : word)
            } else {
                throw parseError("expected FILTER, SORT, LIMIT or RETURN")
            }
        }
    }

    mutating func limitNumber() throws(QueryError) -> Int {
        switch current.kind {
        case .integer(let value) where value >= 0:
            advance()
            return Int(value)
        case .bindParameter:
            throw unsupported("a bind parameter in LIMIT")
        default:
            throw parseError("LIMIT takes non-negative integers")
        }
    }

    /// Every path must start at the FOR variable: no other variables exist in the subset.
    func checkVariables(_ query: Query) throws(QueryError) {
        func check(_ expression: Expression) throws(QueryError) {
            switch expression {
            case .literal, .bindParameter: return
            case .path(let variable, _):
                guard variable == query.variable else {
                    throw QueryError(.parse, "variable '\(variable)' is not declared")
                }
            case .comparison(_, let left, let right), .membership(let left, let right, _), .and(let left, let right), .or(let left, let right):
                try check(left)
                try check(right)
            case .not(let inner): try check(inner)
            case .array(let elements): for element in elements { try check(element) }
            case .object(let members): for member in members { try check(member.value) }
            }
        }
        for filter in query.filters { try check(filter) }
        for key in query.sort { try check(key.expression) }
        try check(query.projection)
    }

    // MARK: Expressions, lowest precedence first: OR, AND, NOT, comparison / IN, operand.

    mutating func expression() throws(QueryError) -> Expression {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.nestingMax else { throw parseError("expression nested deeper than \(Self.nestingMax)") }
        var left = try conjunction()
        while isKeyword("OR") || isSymbol("||") {
            advance()
            left = .or(left, try conjunction())
        }
        return left
    }

    mutating func conjunction() throws(QueryError) -> Expression {
        var left = try negation()
        while isKeyword("AND") || isSymbol("&&") {
            advance()
            left = .and(left, try negation())
        }
        return left
    }

    mutating func negation() throws(QueryError) -> Expression {
        if isKeyword("NOT") || isSymbol("!") {
            advance()
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.nestingMax else { throw parseError("expression nested deeper than \(Self.nestingMax)") }
            return .not(try negation())
        }
        return try comparison()
    }

    mutating func comparison() throws(QueryError) -> Expression {
        let left = try operand()
        if case .symbol(let symbol) = current.kind, let op = ComparisonOperator(rawValue: symbol) {
            advance()
            return .comparison(op, left, try operand())
        }
        if isKeyword("IN") {
            advance()
            return .membership(left, try operand(), negated: false)
        }
        if isKeyword("NOT") {
            advance()
            guard isKeyword("IN") else { throw parseError("expected IN after NOT") }
            advance()
            return .membership(left, try operand(), negated: true)
        }
        if isKeyword("LIKE") { throw unsupported("LIKE") }
        if case .symbol(let symbol) = current.kind, ["+", "-", "*", "/", "%", "?"].contains(symbol) {
            throw unsupported("arithmetic and the ternary operator")
        }
        if case .symbol("=") = current.kind { throw parseError("unexpected '=' (compare with ==)") }
        return left
    }

    mutating func operand() throws(QueryError) -> Expression {
        let token = current
        switch token.kind {
        case .integer(let value):
            advance()
            return .literal(Self.encode { $0.add(value) })
        case .double(let value):
            advance()
            return .literal(Self.encode { $0.add(value) })
        case .string(let text):
            advance()
            return .literal(Self.encode { $0.add(text) })
        case .keyword("TRUE"):
            advance()
            return .literal(Self.encode { $0.add(true) })
        case .keyword("FALSE"):
            advance()
            return .literal(Self.encode { $0.add(false) })
        case .keyword("NULL"):
            advance()
            return .literal(Self.encode { $0.addNull() })
        case .bindParameter(let name, collection: false):
            advance()
            return .bindParameter(name)
        case .bindParameter(_, collection: true):
            throw parseError("a collection parameter (@@) cannot be a value")
        case .symbol("-"):
            advance()
            switch current.kind {
            case .integer(let value):
                advance()
                return .literal(Self.encode { $0.add(-value) })
            case .double(let value):
                advance()
                return .literal(Self.encode { $0.add(-value) })
            default:
                throw unsupported("arithmetic")
            }
        case .symbol("("):
            advance()
            let inner = try expression()
            try expectSymbol(")")
            return inner
        case .symbol("["):
            advance()
            var elements: [Expression] = []
            while !isSymbol("]") {
                elements.append(try expression())
                if isSymbol(",") { advance() } else { break }
            }
            try expectSymbol("]")
            return .array(elements)
        case .symbol("{"):
            advance()
            var members: [Expression.ObjectMember] = []
            var keys: Set<String> = []
            while !isSymbol("}") {
                let key: String
                switch current.kind {
                case .identifier(let name): key = name
                case .string(let text): key = text
                case .keyword(let word): key = word.lowercased()
                default: throw parseError("expected an attribute name")
                }
                advance()
                let value: Expression
                if isSymbol(":") {
                    advance()
                    value = try expression()
                } else {
                    // `{ name }` is shorthand for `{ name: name }`: only the FOR variable exists.
                    value = .path(variable: key, steps: [])
                }
                guard keys.insert(key).inserted else { throw parseError("attribute '\(key)' twice in one object") }
                members.append(Expression.ObjectMember(key: key, value: value))
                if isSymbol(",") { advance() } else { break }
            }
            try expectSymbol("}")
            return .object(members)
        case .identifier(let name):
            advance()
            if isSymbol("(") { throw unsupported("function call \(name)()") }
            var steps: [PathStep] = []
            while true {
                if isSymbol(".") {
                    advance()
                    switch current.kind {
                    case .identifier(let attribute): steps.append(.attribute(attribute))
                    case .keyword(let word): steps.append(.attribute(word.lowercased()))
                    default: throw parseError("expected an attribute name after '.'")
                    }
                    advance()
                } else if isSymbol("[") {
                    advance()
                    switch current.kind {
                    case .string(let attribute): steps.append(.attribute(attribute))
                    case .integer(let index) where index >= 0 && index <= Int64(Int32.max): steps.append(.index(Int(index)))
                    case .symbol("*"): throw unsupported("array expansion [*]")
                    default: throw unsupported("a computed index (only a string or a non-negative integer)")
                    }
                    advance()
                    try expectSymbol("]")
                } else {
                    break
                }
            }
            return .path(variable: name, steps: steps)
        case .end:
            throw parseError("unexpected end of query")
        default:
            throw parseError("unexpected \(describe(token))")
        }
    }

    static func encode(_ add: (inout Builder) -> Void) -> [UInt8] {
        var builder = Builder()
        add(&builder)
        return builder.bytes
    }
}
