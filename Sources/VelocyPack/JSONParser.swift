import CTextScan
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Strict JSON text (RFC 8259) to VelocyPack, with the reference parser's number rules.
///
/// - Integers without fraction or exponent become UInt when non-negative (SmallInt for
///   0...9), Int when negative down to −2^63, and double beyond the 64-bit range.
/// - Any literal with `.` or an exponent becomes a double, correctly rounded; a literal whose
///   magnitude overflows a double is `numberOutOfRange`.
/// - `\uXXXX` escapes become UTF-8, surrogate pairs one 4-byte sequence. A lone surrogate is
///   kept as its 3-byte form, or refused when UTF-8 validation is on.
/// - A UTF-8 byte order mark at the start is skipped; whitespace is space, tab, CR and LF.
public struct JSONParser {
    /// What the parser accepts and how it builds.
    public struct Options: Sendable, Equatable {
        /// Refuse strings that are not valid UTF-8 (raw bytes and lone surrogate escapes).
        public var validateUTF8 = false
        /// The deepest nesting of arrays and objects accepted.
        public var nestingLimit = JSONParser.nestingLimitDefault
        /// Refuse an object that repeats a key.
        public var rejectDuplicateKeys = false
        /// Accept several JSON values one after another (each becomes a top-level value).
        public var allowMultipleValues = false
        /// Layout options for the builder.
        public var builder = Builder.Options.default

        /// Reference defaults plus Tessera's nesting limit.
        public static let `default` = Options()

        public init(
            validateUTF8: Bool = false, nestingLimit: Int = JSONParser.nestingLimitDefault,
            rejectDuplicateKeys: Bool = false, allowMultipleValues: Bool = false,
            builder: Builder.Options = .default
        ) {
            self.validateUTF8 = validateUTF8
            self.nestingLimit = nestingLimit
            self.rejectDuplicateKeys = rejectDuplicateKeys
            self.allowMultipleValues = allowMultipleValues
            self.builder = builder
        }
    }

    /// The default nesting limit: deep enough for real documents, shallow enough that the
    /// recursive parser stays far from the end of a 512 KiB thread stack.
    public static let nestingLimitDefault = 256

    /// Parses JSON text into a new builder that holds the value.
    /// - Throws: ``VPackError`` with the byte offset in `json` of the first fault.
    public static func parse(_ json: some Collection<UInt8>, options: Options = .default) throws(VPackError) -> Builder {
        var builder = Builder(options: options.builder, capacity: json.count + 16)
        try parse(json, into: &builder, options: options)
        return builder
    }

    /// Parses a JSON string into a new builder.
    public static func parse(_ json: String, options: Options = .default) throws(VPackError) -> Builder {
        try parse(Array(json.utf8), options: options)
    }

    /// Parses JSON text and appends the value(s) to `builder` (reusing its capacity).
    public static func parse(_ json: some Collection<UInt8>, into builder: inout Builder, options: Options = .default) throws(VPackError) {
        let outcome: Result<Void, VPackError>? = json.withContiguousStorageIfAvailable { buffer in
            Result { () throws(VPackError) in try parse(buffer, into: &builder, options: options) }
        }
        if let outcome { return try outcome.get() }
        let copy = Array(json)
        try copy.withUnsafeBufferPointer { (buffer) throws(VPackError) in
            try parse(buffer, into: &builder, options: options)
        }
    }

    /// Parses JSON text held in a buffer and appends the value(s) to `builder`.
    public static func parse(_ json: UnsafeBufferPointer<UInt8>, into builder: inout Builder, options: Options = .default) throws(VPackError) {
        let byteCountBefore = builder.store.count
        let openCountBefore = builder.stack.count
        let memberCountBefore = builder.memberOffsets.count
        let awaitingBefore = builder.awaitingValue
        var parser = JSONParser(json, builder: builder, options: options)
        builder = Builder(options: options.builder, capacity: 0)  // hand the buffer over uniquely
        // Owned now: the parser writes without checking again for each value.
        parser.builder.makeUnique()
        do {
            try parser.parseDocument()
            builder = parser.builder
        } catch {
            // Leave the builder as it was: nothing half-parsed stays behind.
            builder = parser.builder
            builder.store.truncate(to: byteCountBefore)
            builder.stack.truncate(to: openCountBefore)
            builder.memberOffsets.truncate(to: memberCountBefore)
            builder.awaitingValue = awaitingBefore
            throw error
        }
    }

    // MARK: State

    let start: UnsafePointer<UInt8>
    let end: UnsafePointer<UInt8>
    var cursor: UnsafePointer<UInt8>
    var builder: Builder
    let options: Options
    var depth = 0

    init(_ json: UnsafeBufferPointer<UInt8>, builder: Builder, options: Options) {
        // An empty buffer may have no base address; point at a static byte instead.
        let base = json.baseAddress ?? UnsafePointer(JSONParser.emptyByte)
        start = base
        end = base + json.count
        cursor = base
        self.builder = builder
        self.options = options
    }

    nonisolated(unsafe) static let emptyByte: UnsafeMutablePointer<UInt8> = {
        // One immutable byte that outlives every parser; written once, read only.
        let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return pointer
    }()

    var position: Int { cursor - start }

    func error(_ code: VPackError.Code, _ detail: String = "") -> VPackError {
        VPackError(code, at: position, detail)
    }

    // MARK: Document

    mutating func parseDocument() throws(VPackError) {
        // UTF-8 byte order mark.
        if end - cursor >= 3 && cursor[0] == 0xef && cursor[1] == 0xbb && cursor[2] == 0xbf {
            cursor += 3
        }
        skipWhitespace()
        guard cursor < end else { throw error(.unexpectedEnd, "no JSON value") }
        while true {
            try parseValue()
            skipWhitespace()
            if cursor == end { return }
            guard options.allowMultipleValues else {
                throw error(.trailingContent, "unexpected '\(Self.show(cursor.pointee))' after the JSON value")
            }
        }
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while cursor < end {
            switch cursor.pointee {
            case 0x20, 0x0a, 0x0d, 0x09: cursor += 1
            default: return
            }
        }
    }

    static func show(_ byte: UInt8) -> String {
        (0x20..<0x7f).contains(byte) ? String(UnicodeScalar(byte)) : "0x" + String(byte, radix: 16)
    }

    mutating func parseValue() throws(VPackError) {
        guard cursor < end else { throw error(.unexpectedEnd, "expected a value") }
        switch cursor.pointee {
        case UInt8(ascii: "{"): try parseObject()
        case UInt8(ascii: "["): try parseArray()
        case UInt8(ascii: "\""):
            builder.noteValue()
            try parseString()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            builder.noteValue()
            try parseNumber()
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            builder.noteValue()
            builder.store.append(0x1a)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            builder.noteValue()
            builder.store.append(0x19)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            builder.noteValue()
            builder.store.append(0x18)
        default:
            throw error(.unexpectedCharacter, "unexpected '\(Self.show(cursor.pointee))' where a value should start")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(VPackError) {
        let count = literal.utf8CodeUnitCount
        let text = literal.utf8Start
        for i in 0..<count {
            guard cursor + i < end else { throw VPackError(.unexpectedEnd, at: position + i, "incomplete literal") }
            guard cursor[i] == text[i] else {
                throw VPackError(.unexpectedCharacter, at: position + i, "invalid literal")
            }
        }
        cursor += count
    }

    // MARK: Compounds

    mutating func enter() throws(VPackError) {
        depth += 1
        if depth > options.nestingLimit {
            throw error(.nestingTooDeep, "nesting deeper than \(options.nestingLimit)")
        }
    }

    mutating func parseArray() throws(VPackError) {
        try enter()
        builder.noteValue()
        builder.openCompound(isObject: false, compact: builder.options.buildUnindexedArrays)
        cursor += 1
        skipWhitespace()
        if cursor < end && cursor.pointee == UInt8(ascii: "]") {
            cursor += 1
        } else {
            while true {
                skipWhitespace()
                try parseValue()
                skipWhitespace()
                guard cursor < end else { throw error(.unexpectedEnd, "unterminated array") }
                let byte = cursor.pointee
                cursor += 1
                if byte == UInt8(ascii: ",") { continue }
                if byte == UInt8(ascii: "]") { break }
                cursor -= 1
                throw error(.unexpectedCharacter, "expected ',' or ']' in array")
            }
        }
        try builder.closeOwned()
        depth -= 1
    }

    mutating func parseObject() throws(VPackError) {
        try enter()
        builder.noteValue()
        builder.openCompound(isObject: true, compact: builder.options.buildUnindexedObjects)
        cursor += 1
        skipWhitespace()
        if cursor < end && cursor.pointee == UInt8(ascii: "}") {
            cursor += 1
        } else {
            while true {
                skipWhitespace()
                guard cursor < end else { throw error(.unexpectedEnd, "unterminated object") }
                guard cursor.pointee == UInt8(ascii: "\"") else {
                    throw error(.unexpectedCharacter, "expected a string key")
                }
                builder.noteKey()
                try parseString(isKey: true)
                skipWhitespace()
                guard cursor < end else { throw error(.unexpectedEnd, "unterminated object") }
                guard cursor.pointee == UInt8(ascii: ":") else {
                    throw error(.unexpectedCharacter, "expected ':' after key")
                }
                cursor += 1
                skipWhitespace()
                try parseValue()
                skipWhitespace()
                guard cursor < end else { throw error(.unexpectedEnd, "unterminated object") }
                let byte = cursor.pointee
                cursor += 1
                if byte == UInt8(ascii: ",") { continue }
                if byte == UInt8(ascii: "}") { break }
                cursor -= 1
                throw error(.unexpectedCharacter, "expected ',' or '}' in object")
            }
        }
        if options.rejectDuplicateKeys, let top = builder.stack.last,
           builder.memberOffsets.count - top.firstMember > 1 {
            do throws(VPackError) {
                try builder.checkUniqueKeys(top)
            } catch {
                throw VPackError(.duplicateKey, at: position - 1, "object ending here repeats a key")
            }
        }
        try builder.closeOwned()
        depth -= 1
    }

    // MARK: Strings

    /// Parses a string at the cursor (on its opening quote) and appends it as VelocyPack.
    mutating func parseString(isKey: Bool = false) throws(VPackError) {
        cursor += 1
        // Most strings are one plain run up to the closing quote: their length is known before
        // anything is written, so the header goes out in its final form at once.
        let plainEnd = scanPlain(cursor)
        if plainEnd < end && plainEnd.pointee == UInt8(ascii: "\"") && !(isKey && builder.options.translateSystemKeys) {
            builder.appendString(UnsafeBufferPointer(start: cursor, count: plainEnd - cursor))
            cursor = plainEnd + 1
            return
        }
        let headPosition = builder.store.count
        builder.store.append(0x40)
        // The text is written straight into the builder's memory: unescaping never makes a
        // string longer than its JSON (`\n` is 1 byte for 2, `\uXXXX` at most 3 for 6, a
        // surrogate pair 4 for 12), so the rest of the input bounds it and one reserve does.
        builder.store.reserve(end - cursor)
        var output = builder.store.base + builder.store.count
        // The first run was scanned above already.
        var runEnd = plainEnd
        while true {
            let runCount = runEnd - cursor
            if runCount > 0 {
                Self.copy(cursor, to: output, runCount)
                output += runCount
                cursor = runEnd
            }
            guard cursor < end else {
                throw VPackError(.unexpectedEnd, at: position, "unterminated string")
            }
            let byte = cursor.pointee
            if byte == UInt8(ascii: "\"") {
                cursor += 1
                break
            } else if byte == UInt8(ascii: "\\") {
                try parseEscape(into: &output)
            } else if byte < 0x20 {
                throw error(.controlCharacterInString, "raw control character in string")
            } else {
                // Non-ASCII while validating UTF-8.
                guard let length = UTF8Check.sequenceLength(cursor, available: end - cursor) else {
                    throw error(.invalidUTF8, "invalid UTF-8 in string")
                }
                Self.copy(cursor, to: output, length)
                output += length
                cursor += length
            }
            runEnd = scanPlain(cursor)
        }
        builder.store.didWrite(upTo: output)
        let length = builder.store.count - headPosition - 1
        if isKey && builder.options.translateSystemKeys && length >= 3 && length <= 5 {
            let id = builder.store.withUnsafeBufferPointer {
                AttributeTranslation.id(forName: UnsafeBufferPointer(rebasing: $0[(headPosition + 1)...]))
            }
            if let id {
                builder.store.truncate(to: headPosition)
                builder.appendUInt(id)
                return
            }
        }
        if length <= 126 {
            builder.store[headPosition] = 0x40 + UInt8(length)
        } else {
            // VelocyPack: strings over 126 bytes use the long form `bf` + 8-byte length.
            // Room for the length is made by moving the string up in place.
            builder.store[headPosition] = 0xbf
            builder.appendLittleEndian(0, width: 8)
            let text = builder.store.base + headPosition + 1
            _ = memmove(text + 8, text, length)
            builder.writeLittleEndian(UInt64(length), at: headPosition + 1, width: 8)
        }
    }

    /// Advances over bytes that need no attention: not a quote, backslash or control byte,
    /// and (when validating UTF-8) not above 0x7f. Sixteen bytes per step with SSE2 (in C:
    /// Swift's portable vectors compiled this to a scalar reduction, ten times slower).
    @inline(__always)
    func scanPlain(_ from: UnsafePointer<UInt8>) -> UnsafePointer<UInt8> {
        tessera_scan_plain(from, end, options.validateUTF8 ? 1 : 0)
    }

    /// Copies `count` bytes; short runs without a call to `memmove`.
    @inline(__always)
    static func copy(_ source: UnsafePointer<UInt8>, to target: UnsafeMutablePointer<UInt8>, _ count: Int) {
        if count <= 16 && count >= 8 {
            let from = UnsafeRawPointer(source), to = UnsafeMutableRawPointer(target)
            to.storeBytes(of: from.loadUnaligned(as: UInt64.self), as: UInt64.self)
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self), toByteOffset: count - 8, as: UInt64.self)
        } else if count < 8 {
            for i in 0..<count { target[i] = source[i] }
        } else {
            target.update(from: source, count: count)
        }
    }

    /// Parses the escape at the cursor and writes what it stands for at `output`.
    @inline(__always)
    mutating func parseEscape(into output: inout UnsafeMutablePointer<UInt8>) throws(VPackError) {
        guard end - cursor >= 2 else { throw error(.unexpectedEnd, "unterminated escape") }
        let escaped = cursor[1]
        let plain: UInt8
        switch escaped {
        case UInt8(ascii: "\""): plain = 0x22
        case UInt8(ascii: "\\"): plain = 0x5c
        case UInt8(ascii: "/"): plain = 0x2f
        case UInt8(ascii: "b"): plain = 0x08
        case UInt8(ascii: "f"): plain = 0x0c
        case UInt8(ascii: "n"): plain = 0x0a
        case UInt8(ascii: "r"): plain = 0x0d
        case UInt8(ascii: "t"): plain = 0x09
        case UInt8(ascii: "u"):
            try parseUnicodeEscape(into: &output)
            return
        default:
            throw error(.invalidEscape, "invalid escape '\\\(Self.show(escaped))'")
        }
        output.pointee = plain
        output += 1
        cursor += 2
    }

    /// Reads the four hex digits of `\uXXXX` at `pointer + 2`, or `nil`.
    func hex4(_ pointer: UnsafePointer<UInt8>) -> UInt32? {
        guard end - pointer >= 6 else { return nil }
        var value: UInt32 = 0
        for i in 2..<6 {
            let byte = pointer[i]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    mutating func parseUnicodeEscape(into output: inout UnsafeMutablePointer<UInt8>) throws(VPackError) {
        guard let unit = hex4(cursor) else {
            if end - cursor < 6 { throw error(.unexpectedEnd, "incomplete \\u escape") }
            throw error(.invalidEscape, "\\u needs four hex digits")
        }
        var scalar = unit
        var consumed = 6
        if (0xd800...0xdbff).contains(unit) {
            // A high surrogate: combine with a following \u low surrogate.
            if end - cursor >= 12, cursor[6] == UInt8(ascii: "\\"), cursor[7] == UInt8(ascii: "u"),
               let low = hex4(cursor + 6), (0xdc00...0xdfff).contains(low) {
                scalar = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                consumed = 12
            } else if options.validateUTF8 {
                throw error(.invalidSurrogate, "high surrogate without a low surrogate")
            }
        } else if (0xdc00...0xdfff).contains(unit) && options.validateUTF8 {
            throw error(.invalidSurrogate, "low surrogate without a high surrogate")
        }
        Self.writeUTF8(scalar, to: &output)
        cursor += consumed
    }

    /// Writes a code point as UTF-8 at `output`; a lone surrogate gets the generalized 3-byte
    /// form.
    @inline(__always)
    static func writeUTF8(_ scalar: UInt32, to output: inout UnsafeMutablePointer<UInt8>) {
        switch scalar {
        case 0..<0x80:
            output[0] = UInt8(scalar)
            output += 1
        case 0x80..<0x800:
            output[0] = 0xc0 | UInt8(scalar >> 6)
            output[1] = 0x80 | UInt8(scalar & 0x3f)
            output += 2
        case 0x800..<0x10000:
            output[0] = 0xe0 | UInt8(scalar >> 12)
            output[1] = 0x80 | UInt8((scalar >> 6) & 0x3f)
            output[2] = 0x80 | UInt8(scalar & 0x3f)
            output += 3
        default:
            output[0] = 0xf0 | UInt8(scalar >> 18)
            output[1] = 0x80 | UInt8((scalar >> 12) & 0x3f)
            output[2] = 0x80 | UInt8((scalar >> 6) & 0x3f)
            output[3] = 0x80 | UInt8(scalar & 0x3f)
            output += 4
        }
    }
}
