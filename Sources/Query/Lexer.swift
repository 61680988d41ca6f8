/// A token of the query language, with where it starts (for error messages).
struct Token: Equatable, Sendable {
    enum Kind: Equatable, Sendable {
        case identifier(String)
        /// A keyword, uppercased (AQL keywords are case-insensitive).
        case keyword(String)
        case string(String)
        case integer(Int64)
        case double(Double)
        /// `@name` (a value) or `@@name` (a collection name).
        case bindParameter(String, collection: Bool)
        /// Punctuation and operators: `== != < <= > >= ( ) [ ] { } , . : && || !`.
        case symbol(String)
        case end
    }

    let kind: Kind
    let line: Int
    let column: Int
}

/// Splits query text into tokens. Refuses what it cannot read with a parse error naming the
/// line and column.
struct Lexer {
    static let keywords: Set<String> = [
        "FOR", "IN", "FILTER", "SORT", "LIMIT", "RETURN", "ASC", "DESC", "AND", "OR", "NOT",
        "TRUE", "FALSE", "NULL", "LET", "COLLECT", "INSERT", "UPDATE", "REPLACE", "REMOVE",
        "UPSERT", "WITH", "INTO", "DISTINCT", "LIKE", "AGGREGATE", "GRAPH", "SHORTEST_PATH",
        "OUTBOUND", "INBOUND", "ANY", "ALL", "NONE", "WINDOW", "PRUNE", "SEARCH", "OPTIONS",
    ]

    /// The longest query text accepted; longer texts are refused before any work.
    static let textByteCountMax = 1 << 20

    static func tokens(_ text: String) throws(QueryError) -> [Token] {
        let bytes = Array(text.utf8)
        guard bytes.count <= textByteCountMax else {
            throw QueryError(.parse, "query text longer than \(textByteCountMax) bytes")
        }
        var tokens: [Token] = []
        var index = 0
        var line = 1
        var lineStart = 0
        func fail(_ message: String) -> QueryError {
            QueryError(.parse, "\(message) at line \(line), column \(index - lineStart + 1)")
        }
        while true {
            // Whitespace and comments (`// …` and `/* … */`).
            while index < bytes.count {
                let byte = bytes[index]
                if byte == 0x0a {
                    line += 1
                    index += 1
                    lineStart = index
                } else if byte == 0x20 || byte == 0x09 || byte == 0x0d {
                    index += 1
                } else if byte == UInt8(ascii: "/") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "/") {
                    while index < bytes.count && bytes[index] != 0x0a { index += 1 }
                } else if byte == UInt8(ascii: "/") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*") {
                    index += 2
                    while index + 1 < bytes.count && !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/")) {
                        if bytes[index] == 0x0a { line += 1; lineStart = index + 1 }
                        index += 1
                    }
                    guard index + 1 < bytes.count else { throw fail("unterminated comment") }
                    index += 2
                } else {
                    break
                }
            }
            let column = index - lineStart + 1
            func token(_ kind: Token.Kind) -> Token { Token(kind: kind, line: line, column: column) }
            guard index < bytes.count else {
                tokens.append(token(.end))
                return tokens
            }
            let byte = bytes[index]
            if isIdentifierStart(byte) {
                let start = index
                while index < bytes.count && isIdentifierPart(bytes[index]) { index += 1 }
                let word = String(decoding: bytes[start..<index], as: UTF8.self)
                let upper = word.uppercased()
                tokens.append(token(keywords.contains(upper) ? .keyword(upper) : .identifier(word)))
            } else if byte == UInt8(ascii: "`") {
                // A quoted name: `name with spaces`.
                let start = index + 1
                index += 1
                while index < bytes.count && bytes[index] != byte { index += 1 }
                guard index < bytes.count else { throw fail("unterminated quoted name") }
                tokens.append(token(.identifier(String(decoding: bytes[start..<index], as: UTF8.self))))
                index += 1
            } else if isDigit(byte) || (byte == UInt8(ascii: ".") && index + 1 < bytes.count && isDigit(bytes[index + 1])) {
                let start = index
                var isDouble = false
                while index < bytes.count && isDigit(bytes[index]) { index += 1 }
                if index < bytes.count && bytes[index] == UInt8(ascii: ".") && index + 1 < bytes.count && isDigit(bytes[index + 1]) {
                    isDouble = true
                    index += 1
                    while index < bytes.count && isDigit(bytes[index]) { index += 1 }
                }
                if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
                    isDouble = true
                    index += 1
                    if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
                    guard index < bytes.count && isDigit(bytes[index]) else { throw fail("malformed number") }
                    while index < bytes.count && isDigit(bytes[index]) { index += 1 }
                }
                let text = String(decoding: bytes[start..<index], as: UTF8.self)
                if !isDouble, let value = Int64(text) {
                    tokens.append(token(.integer(value)))
                } else if let value = Double(text), value.isFinite {
                    tokens.append(token(.double(value)))
                } else {
                    throw fail("number out of range")
                }
            } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                // `fail` reads `index`, so the string reader works on a copy (an inout `index`
                // would be an overlapping access).
                var end = index
                let text = readString(bytes, &end, quote: byte)
                index = end
                guard let text else { throw fail("unterminated string or malformed escape") }
                tokens.append(token(.string(text)))
            } else if byte == UInt8(ascii: "@") {
                index += 1
                var collection = false
                if index < bytes.count && bytes[index] == UInt8(ascii: "@") {
                    collection = true
                    index += 1
                }
                let start = index
                while index < bytes.count && isIdentifierPart(bytes[index]) { index += 1 }
                guard index > start else { throw fail("bind parameter without a name") }
                tokens.append(token(.bindParameter(String(decoding: bytes[start..<index], as: UTF8.self), collection: collection)))
            } else {
                let two = index + 1 < bytes.count ? String(decoding: bytes[index...index + 1], as: UTF8.self) : ""
                if ["==", "!=", "<=", ">=", "&&", "||"].contains(two) {
                    tokens.append(token(.symbol(two)))
                    index += 2
                } else if "<>()[]{},.:!=+-*/%?".utf8.contains(byte) {
                    let symbol = String(decoding: [byte], as: UTF8.self)
                    // A single `=` is AQL's assignment (LET, COLLECT): outside the subset.
                    tokens.append(token(.symbol(symbol)))
                    index += 1
                } else {
                    throw fail("unexpected character '\(String(decoding: [byte], as: UTF8.self))'")
                }
            }
        }
    }

    /// The string starting at the quote at `index`, with `index` moved past its closing quote;
    /// `nil` when it is unterminated or has a malformed escape (`index` then at the fault).
    static func readString(_ bytes: [UInt8], _ index: inout Int, quote: UInt8) -> String? {
        index += 1
        var value: [UInt8] = []
        while index < bytes.count && bytes[index] != quote {
            var byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard index < bytes.count else { break }
                byte = bytes[index]
                switch byte {
                case UInt8(ascii: "n"): value.append(0x0a)
                case UInt8(ascii: "t"): value.append(0x09)
                case UInt8(ascii: "r"): value.append(0x0d)
                case UInt8(ascii: "b"): value.append(0x08)
                case UInt8(ascii: "f"): value.append(0x0c)
                case UInt8(ascii: "u"):
                    guard index + 4 < bytes.count,
                          let code = UInt32(String(decoding: bytes[(index + 1)...(index + 4)], as: UTF8.self), radix: 16),
                          let scalar = Unicode.Scalar(code) else { return nil }
                    value.append(contentsOf: Array(String(Character(scalar)).utf8))
                    index += 4
                default: value.append(byte)
                }
                index += 1
                continue
            }
            value.append(byte)
            index += 1
        }
        guard index < bytes.count else { return nil }
        index += 1
        return String(decoding: value, as: UTF8.self)
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    static func isIdentifierStart(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$")
    }
    static func isIdentifierPart(_ byte: UInt8) -> Bool { isIdentifierStart(byte) || isDigit(byte) }
}
