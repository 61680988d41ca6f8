/// VelocyPack to JSON text.
///
/// Integers are exact; doubles use the shortest text that reads back to the same bits
/// (integral doubles below 2^53 without a fraction, as the reference dumper writes them);
/// strings escape `"`, `\` and control characters, and keep other bytes as they are. Object
/// members come out in index order (sorted by key) unless ``Options/objectOrder`` says
/// `.stored`. Tags are dropped, their inner value dumped. Types JSON cannot express follow
/// ``Options/unsupportedTypeBehavior``.
public struct JSONDumper {
    /// What to do with a value JSON cannot express.
    public enum UnsupportedBehavior: Sendable, Equatable {
        /// Throw `unsupportedType` (or `unsupportedDouble` for NaN and infinities).
        case fail
        /// Write `null`.
        case null
        /// Write a descriptive string, such as `"(non-representable type min-key)"` or `"NaN"`.
        case string
    }

    /// The order of object members in the output.
    public enum ObjectOrder: Sendable, Equatable {
        /// Index order: sorted by key for `0b`–`0e`, stored order for compact objects.
        case index
        /// The order in which the pairs are stored (the order they were built in).
        case stored
    }

    /// How to write JSON.
    public struct Options: Sendable, Equatable {
        public var unsupportedTypeBehavior = UnsupportedBehavior.fail
        /// For NaN and ±infinity.
        public var nonFiniteDoubleBehavior = UnsupportedBehavior.fail
        public var objectOrder = ObjectOrder.index
        /// Write `/` as `\/`.
        public var escapeForwardSlashes = false
        /// Write non-ASCII characters as `\uXXXX` escapes (surrogate pairs above U+FFFF).
        public var escapeUnicode = false
        /// Write UTC dates as their millisecond integer instead of treating them as unsupported.
        public var datesAsIntegers = false
        /// Write binary blobs as lowercase hex strings instead of treating them as unsupported.
        public var binaryAsHex = false
        /// Indent nested values by this many spaces a level; `nil` writes one compact line.
        public var indent: Int? = nil

        public static let `default` = Options()

        public init(
            unsupportedTypeBehavior: UnsupportedBehavior = .fail,
            nonFiniteDoubleBehavior: UnsupportedBehavior = .fail,
            objectOrder: ObjectOrder = .index, escapeForwardSlashes: Bool = false,
            escapeUnicode: Bool = false, datesAsIntegers: Bool = false, binaryAsHex: Bool = false,
            indent: Int? = nil
        ) {
            self.unsupportedTypeBehavior = unsupportedTypeBehavior
            self.nonFiniteDoubleBehavior = nonFiniteDoubleBehavior
            self.objectOrder = objectOrder
            self.escapeForwardSlashes = escapeForwardSlashes
            self.escapeUnicode = escapeUnicode
            self.datesAsIntegers = datesAsIntegers
            self.binaryAsHex = binaryAsHex
            self.indent = indent
        }
    }

    /// Dumps a value to JSON bytes (UTF-8).
    /// - Throws: ``VPackError`` for values the options do not allow; its offset is the value's
    ///   position in the slice's storage.
    public static func dump(_ slice: Slice, options: Options = .default) throws(VPackError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(slice.byteSize * 2 + 16)
        try dump(slice, into: &output, options: options)
        return output
    }

    /// Dumps a value to a JSON string.
    public static func dumpString(_ slice: Slice, options: Options = .default) throws(VPackError) -> String {
        String(decoding: try dump(slice, options: options), as: UTF8.self)
    }

    /// Appends the JSON text of a value to `output`.
    public static func dump(_ slice: Slice, into output: inout [UInt8], options: Options = .default) throws(VPackError) {
        var dumper = JSONDumper(capacity: slice.byteSize * 2 + 16, options: options)
        defer { dumper.output.release() }
        try slice.storage.withUnsafeBufferPointer { (buffer) throws(VPackError) in
            try dumper.value(buffer.baseAddress!, at: slice.offset, level: 0)
        }
        output.append(contentsOf: dumper.output.written)
    }

    /// Dumps a value in pieces, for output too large to hold at once: `write` gets the text
    /// in order, a piece whenever at least `chunkByteCount` bytes are ready between two
    /// members of an array or object, and the rest at the end. The pieces are valid only
    /// during the call.
    public static func dump(
        _ slice: Slice, options: Options = .default, chunkByteCount: Int,
        write: (UnsafeBufferPointer<UInt8>) -> Void
    ) throws(VPackError) {
        try withoutActuallyEscaping(write) { (write) throws(VPackError) in
            var dumper = JSONDumper(capacity: chunkByteCount + 4096, options: options)
            defer { dumper.output.release() }
            dumper.chunkByteCount = chunkByteCount
            dumper.flush = write
            try slice.storage.withUnsafeBufferPointer { (buffer) throws(VPackError) in
                try dumper.value(buffer.baseAddress!, at: slice.offset, level: 0)
            }
            write(dumper.output.written)
        }
    }

    /// The text written so far (not yet handed to the caller).
    var output: OutputBuffer
    let options: Options
    /// When `output` reaches this many bytes between members, ``flush`` takes them.
    var chunkByteCount = Int.max
    var flush: ((UnsafeBufferPointer<UInt8>) -> Void)? = nil

    init(capacity: Int, options: Options) {
        output = OutputBuffer(capacity: capacity)
        self.options = options
    }

    @inline(__always)
    mutating func flushIfFull() {
        if output.count >= chunkByteCount, let flush {
            flush(output.written)
            output.removeAll()
        }
    }

    // MARK: Values

    mutating func value(_ base: UnsafePointer<UInt8>, at start: Int, level: Int) throws(VPackError) {
        // Tags are dropped: step over them in a loop (chains may be long).
        var offset = start
        while base[offset] == 0xee || base[offset] == 0xef { offset += base[offset] == 0xee ? 2 : 9 }
        let pointer = base + offset
        let head = pointer[0]
        switch head {
        case 0x18: appendASCII("null")
        case 0x19: appendASCII("false")
        case 0x1a: appendASCII("true")
        case 0x30...0x39: output.append(head - 0x30 + UInt8(ascii: "0"))
        case 0x3a...0x3f:
            output.append(UInt8(ascii: "-"))
            output.append(0x40 - head + UInt8(ascii: "0"))
        case 0x20...0x27: appendInt(Raw.readInt(pointer + 1, width: Int(head) - 0x1f))
        case 0x28...0x2f: appendUInt(Raw.readUInt(pointer + 1, width: Int(head) - 0x27))
        case 0x1b: try appendDouble(Double(bitPattern: Raw.readUInt64(pointer + 1)), offset)
        case 0x40...0xbe:
            appendString(UnsafeBufferPointer(start: pointer + 1, count: Int(head) - 0x40))
        case 0xbf:
            appendString(UnsafeBufferPointer(start: pointer + 9, count: Int(truncatingIfNeeded: Raw.readUInt64(pointer + 1))))
        case 0x01: appendASCII("[]")
        case 0x0a: appendASCII("{}")
        case 0x02...0x09, 0x13: try array(base, at: offset, level: level)
        case 0x0b...0x0e, 0x14: try object(base, at: offset, level: level)
        case 0x1c where options.datesAsIntegers:
            appendInt(Raw.readInt(pointer + 1, width: 8))
        case 0xc0...0xc7 where options.binaryAsHex:
            let width = Int(head) - 0xbf
            let length = Int(truncatingIfNeeded: Raw.readUInt(pointer + 1, width: width))
            output.append(UInt8(ascii: "\""))
            for byte in UnsafeBufferPointer(start: pointer + 1 + width, count: length) {
                output.append(Hex.digits[Int(byte >> 4)])
                output.append(Hex.digits[Int(byte & 0x0f)])
            }
            output.append(UInt8(ascii: "\""))
        default:
            try unsupported(ValueType(head: head), offset)
        }
    }

    mutating func unsupported(_ type: ValueType, _ offset: Int) throws(VPackError) {
        switch options.unsupportedTypeBehavior {
        case .fail:
            throw VPackError(.unsupportedType, at: offset, "\(type) has no JSON equivalent")
        case .null:
            appendASCII("null")
        case .string:
            appendASCII("\"(non-representable type \(type))\"")
        }
    }

    @inline(__always)
    mutating func newline(_ level: Int) {
        guard let indent = options.indent else { return }
        output.append(0x0a)
        output.append(UInt8(ascii: " "), repeated: indent * level)
    }

    mutating func array(_ base: UnsafePointer<UInt8>, at offset: Int, level: Int) throws(VPackError) {
        let pointer = base + offset
        let count = Raw.count(pointer)
        var position = pointer[0] == 0x13
            ? 1 + Raw.readVarint(pointer + 1).length
            : Raw.firstMemberOffset(pointer)
        output.append(UInt8(ascii: "["))
        for i in 0..<count {
            if i > 0 { output.append(UInt8(ascii: ",")) }
            newline(level + 1)
            try value(base, at: offset + position, level: level + 1)
            position += Raw.byteSize(pointer + position)
            flushIfFull()
        }
        newline(level)
        output.append(UInt8(ascii: "]"))
    }

    mutating func object(_ base: UnsafePointer<UInt8>, at offset: Int, level: Int) throws(VPackError) {
        let pointer = base + offset
        let head = pointer[0]
        let count = Raw.count(pointer)
        let indexed = head != 0x14 && options.objectOrder == .index
        let width = Raw.compoundWidth(head)
        let table = indexed ? Raw.indexTableOffset(pointer, count: count) : 0
        var position = head == 0x14 ? 1 + Raw.readVarint(pointer + 1).length : Raw.firstMemberOffset(pointer)
        output.append(UInt8(ascii: "{"))
        for i in 0..<count {
            if i > 0 { output.append(UInt8(ascii: ",")) }
            newline(level + 1)
            let keyOffset = indexed
                ? Int(truncatingIfNeeded: Raw.readUInt(pointer + table + i * width, width: width))
                : position
            let keySize = Raw.byteSize(pointer + keyOffset)
            let written: Void? = Raw.withKeyName(pointer + keyOffset) { appendString($0) }
            if written == nil {
                throw VPackError(.unknownAttributeId, at: offset + keyOffset, "integer key without a name")
            }
            output.append(UInt8(ascii: ":"))
            if options.indent != nil { output.append(UInt8(ascii: " ")) }
            try value(base, at: offset + keyOffset + keySize, level: level + 1)
            if !indexed {
                position = keyOffset + keySize
                position += Raw.byteSize(pointer + position)
            }
            flushIfFull()
        }
        newline(level)
        output.append(UInt8(ascii: "}"))
    }

    // MARK: Scalars

    @inline(__always)
    mutating func appendASCII(_ text: StaticString) {
        output.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func appendASCII(_ text: String) {
        output.append(utf8: text)
    }

    /// Two decimal digits for each of 0...99, for writing integers two digits at a time. A
    /// static string: its bytes are constant data, read without a lazy-initialization check.
    static var digitPairs: StaticString { """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """ }

    mutating func appendUInt(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, enough for 20 digits
        withUnsafeMutableBytes(of: &digits) { scratch in
            var end = 24
            var rest = value
            do {
                let pairs = Self.digitPairs.utf8Start
                while rest >= 100 {
                    let pair = Int(rest % 100)
                    rest /= 100
                    end -= 2
                    scratch[end] = pairs[2 * pair]
                    scratch[end + 1] = pairs[2 * pair + 1]
                }
                if rest >= 10 {
                    end -= 2
                    scratch[end] = pairs[2 * Int(rest)]
                    scratch[end + 1] = pairs[2 * Int(rest) + 1]
                } else {
                    end -= 1
                    scratch[end] = UInt8(ascii: "0") + UInt8(rest)
                }
            }
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[end..<24]))
        }
    }

    mutating func appendInt(_ value: Int64) {
        if value < 0 {
            output.append(UInt8(ascii: "-"))
            appendUInt(value.magnitude)
        } else {
            appendUInt(UInt64(value))
        }
    }

    mutating func appendDouble(_ value: Double, _ offset: Int) throws(VPackError) {
        guard value.isFinite else {
            switch options.nonFiniteDoubleBehavior {
            case .fail: throw VPackError(.unsupportedDouble, at: offset, "\(value) has no JSON form")
            case .null: appendASCII("null")
            case .string: appendASCII(value.isNaN ? "\"NaN\"" : (value < 0 ? "\"-Infinity\"" : "\"Infinity\""))
            }
            return
        }
        // Integral values below 2^53 are written as integers (the reference dumper does the
        // same); they read back as the same number.
        if value == value.rounded(.towardZero) && value.magnitude < 9_007_199_254_740_992 {
            if value == 0 && value.sign == .minus {
                appendASCII("-0")
            } else {
                appendInt(Int64(value))
            }
            return
        }
        ShortestDouble.append(value, to: &output)
    }

    // MARK: Strings

    /// Whether a byte needs escaping: controls, `"` and `\`.
    @inline(__always)
    static func needsEscape(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x22 || byte == 0x5c }

    mutating func appendString(_ bytes: UnsafeBufferPointer<UInt8>) {
        output.append(UInt8(ascii: "\""))
        guard let start = bytes.baseAddress else {
            output.append(UInt8(ascii: "\""))
            return
        }
        let count = bytes.count
        var runStart = 0
        var position = 0
        let extraMask: UInt64 = options.escapeUnicode ? 0x8080_8080_8080_8080 : 0
        let slash = options.escapeForwardSlashes
        while position < count {
            // Skip eight plain bytes at a time.
            while count - position >= 8 {
                let word = UnsafeRawPointer(start + position).loadUnaligned(as: UInt64.self)
                let ones: UInt64 = 0x0101_0101_0101_0101
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5c)
                let slashes = slash ? word ^ (ones &* 0x2f) : ~0
                var flagged = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
                flagged |= (slashes &- ones) & ~slashes
                flagged |= (word &- (ones &* 0x20)) & ~word
                flagged = (flagged & 0x8080_8080_8080_8080) | (word & extraMask)
                if flagged != 0 {
                    position += flagged.trailingZeroBitCount / 8
                    break
                }
                position += 8
            }
            guard position < count else { break }
            let byte = start[position]
            let needsEscape = Self.needsEscape(byte) || (slash && byte == 0x2f) || (extraMask != 0 && byte >= 0x80)
            if !needsEscape {
                position += 1
                continue
            }
            if position > runStart {
                output.append(contentsOf: UnsafeBufferPointer(start: start + runStart, count: position - runStart))
            }
            if byte >= 0x80 {
                position += appendUnicodeEscape(start + position, available: count - position)
            } else {
                appendEscape(byte)
                position += 1
            }
            runStart = position
        }
        if count > runStart {
            output.append(contentsOf: UnsafeBufferPointer(start: start + runStart, count: count - runStart))
        }
        output.append(UInt8(ascii: "\""))
    }

    mutating func appendEscape(_ byte: UInt8) {
        output.append(UInt8(ascii: "\\"))
        switch byte {
        case 0x22: output.append(UInt8(ascii: "\""))
        case 0x5c: output.append(UInt8(ascii: "\\"))
        case 0x2f: output.append(UInt8(ascii: "/"))
        case 0x08: output.append(UInt8(ascii: "b"))
        case 0x0c: output.append(UInt8(ascii: "f"))
        case 0x0a: output.append(UInt8(ascii: "n"))
        case 0x0d: output.append(UInt8(ascii: "r"))
        case 0x09: output.append(UInt8(ascii: "t"))
        default: appendU16(UInt16(byte))
        }
    }

    mutating func appendU16(_ unit: UInt16, backslash: Bool = false) {
        if backslash { output.append(UInt8(ascii: "\\")) }
        output.append(UInt8(ascii: "u"))
        for shift in stride(from: 12, through: 0, by: -4) {
            output.append(Hex.digits[Int((unit >> UInt16(shift)) & 0xf)])
        }
    }

    /// Writes the character at `pointer` as `\uXXXX` (two escapes above U+FFFF) and returns
    /// the bytes it used. An invalid sequence is written as U+FFFD and consumes one byte.
    mutating func appendUnicodeEscape(_ pointer: UnsafePointer<UInt8>, available: Int) -> Int {
        guard let length = UTF8Check.sequenceLength(pointer, available: available) else {
            appendU16(0xfffd, backslash: true)
            return 1
        }
        var scalar = UInt32(pointer[0]) & (length == 2 ? 0x1f : (length == 3 ? 0x0f : 0x07))
        for i in 1..<length { scalar = scalar << 6 | UInt32(pointer[i] & 0x3f) }
        if scalar >= 0x10000 {
            let reduced = scalar - 0x10000
            appendU16(UInt16(0xd800 + (reduced >> 10)), backslash: true)
            appendU16(UInt16(0xdc00 + (reduced & 0x3ff)), backslash: true)
        } else {
            appendU16(UInt16(scalar), backslash: true)
        }
        return length
    }
}

/// Shortest round-trip text for doubles, from the standard library's formatter (the one
/// behind `Double.description`). Its output of up to 15 bytes is a small string held inline,
/// so the common case allocates nothing.
enum ShortestDouble {
    /// Appends the text of `value` (finite) to `output`.
    struct Sink: TextOutputStream {
        var output: OutputBuffer
        mutating func write(_ string: String) { output.append(utf8: string) }
    }

    /// Appends the shortest decimal text that reads back as `value` (finite): plain digits
    /// like `0.1` or `123.25`, or an exponent form like `1e+21` or `5e-324`.
    static func append(_ value: Double, to output: inout OutputBuffer) {
        var sink = Sink(output: output)
        value.write(to: &sink)
        output = sink.output
    }
}
