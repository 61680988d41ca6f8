/// The only door from untrusted bytes to a ``Slice``: checks every structural rule of
/// VelocyPack and reports the first fault as a ``VPackError`` with its byte offset.
///
/// Checked always: the value fits its buffer (and its container) exactly; heads are not
/// reserved; lengths, counts and varints are consistent; padding is all zeros and either
/// absent or complete; unindexed array members have equal sizes; every index entry points at
/// a member (arrays: in member order; objects: each key exactly once); object keys are
/// strings or known system-attribute ids; nesting stays within the limit. Checked by
/// default, beyond the reference validator: the object index is sorted by key. Optional:
/// unique keys, valid UTF-8 in strings. BCD and External values are refused by default.
public struct Validator: Sendable {
    /// What the validator accepts.
    public struct Options: Sendable, Equatable {
        /// Refuse strings (and string keys) that are not valid UTF-8.
        public var validateUTF8 = false
        /// Refuse objects that repeat a key.
        public var checkUniqueKeys = false
        /// Refuse `0b`–`0e` objects whose index is not sorted by key (lookups rely on it).
        public var checkSortedIndex = true
        /// Accept packed-decimal BCD values (`c8`–`d7`).
        public var allowBCD = false
        /// Accept External values (`1d`, in-process pointers).
        public var allowExternals = false
        /// Accept tagged values (`ee`/`ef`).
        public var allowTags = true
        /// Accept custom values (`f0`–`ff`).
        public var allowCustom = true
        /// The deepest nesting of arrays and objects accepted.
        public var nestingLimit = Validator.nestingLimitDefault
        /// The largest value accepted, in bytes.
        public var byteCountMax = Validator.byteCountMaxDefault

        /// Structural checks with sorted indexes; BCD and externals refused.
        public static let `default` = Options()

        /// For request bodies from clients: additionally valid UTF-8, unique keys, and no
        /// tags or custom values.
        public static let strict = Options(
            validateUTF8: true, checkUniqueKeys: true, allowTags: false, allowCustom: false)

        public init(
            validateUTF8: Bool = false, checkUniqueKeys: Bool = false, checkSortedIndex: Bool = true,
            allowBCD: Bool = false, allowExternals: Bool = false, allowTags: Bool = true,
            allowCustom: Bool = true, nestingLimit: Int = Validator.nestingLimitDefault,
            byteCountMax: Int = Validator.byteCountMaxDefault
        ) {
            self.validateUTF8 = validateUTF8
            self.checkUniqueKeys = checkUniqueKeys
            self.checkSortedIndex = checkSortedIndex
            self.allowBCD = allowBCD
            self.allowExternals = allowExternals
            self.allowTags = allowTags
            self.allowCustom = allowCustom
            self.nestingLimit = nestingLimit
            self.byteCountMax = byteCountMax
        }
    }

    /// Default nesting limit (the JSON parser's too).
    public static let nestingLimitDefault = 256
    /// Default size limit of one value: 1 GiB, the largest message VelocyStream carries.
    public static let byteCountMaxDefault = 1 << 30

    /// The options in force.
    public let options: Options

    /// A validator with the given options.
    public init(options: Options = .default) {
        self.options = options
    }

    /// Checks that `bytes` hold exactly one valid value.
    /// - Throws: ``VPackError``; `trailingBytes` when bytes follow the value.
    public func validate(_ bytes: [UInt8]) throws(VPackError) {
        let size = try validatePrefix(bytes)
        if size != bytes.count {
            throw VPackError(.trailingBytes, at: size, "\(bytes.count - size) bytes after the value")
        }
    }

    /// Checks the value at the start of `bytes`, which may be followed by other bytes (a
    /// message header followed by its body), and returns its size.
    public func validatePrefix(_ bytes: [UInt8]) throws(VPackError) -> Int {
        try bytes.withUnsafeBufferPointer { (buffer) throws(VPackError) -> Int in
            try validatePrefix(buffer)
        }
    }

    /// Checks the value at the start of `buffer` and returns its size.
    public func validatePrefix(_ buffer: UnsafeBufferPointer<UInt8>) throws(VPackError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else {
            throw VPackError(.emptyInput, at: 0, "no bytes")
        }
        let limit = min(buffer.count, options.byteCountMax)
        var walk = Walk(base: base, options: options, inputEnd: limit, inputIsCut: limit < buffer.count)
        let size = try walk.value(at: 0, end: limit, depth: 0)
        return size
    }
}

extension Validator {
    /// One validation pass over a buffer; offsets are absolute within it.
    struct Walk {
        let base: UnsafePointer<UInt8>
        let options: Options
        /// Where the bytes the walk may read end.
        let inputEnd: Int
        /// Whether `inputEnd` is the size limit rather than the end of the input.
        let inputIsCut: Bool
        /// Key offsets of the objects being checked, used as a stack so that validating an
        /// object allocates nothing once the walk has warmed up.
        /// Raw storage: an `Array`'s removal of the object's keys at the end of every object
        /// took its generic path. A walk is never copied, so it owns its store.
        var keyStack = emptyOffsetStore

        @inline(__always)
        func readUInt(_ at: Int, _ width: Int) -> UInt64 { Raw.readUInt(base + at, width: width) }

        /// `count` bytes from `at` lie before `end`; otherwise the value that starts at
        /// `valueStart` is `truncated` (the input ends too soon), `valueTooLarge` (it passes
        /// the size limit) or `memberOutOfBounds` (it runs out of its array or object).
        @inline(__always)
        func need(_ at: Int, _ count: UInt64, _ end: Int, _ valueStart: Int) throws(VPackError) {
            if count > UInt64(end - at) { try overrun(at, count, end, valueStart) }
        }

        func overrun(_ at: Int, _ count: UInt64, _ end: Int, _ valueStart: Int) throws(VPackError) {
            if end < inputEnd {
                throw VPackError(.memberOutOfBounds, at: valueStart, "member runs past the end of its container at \(end)")
            }
            if inputIsCut {
                throw VPackError(.valueTooLarge, at: valueStart, "value larger than the limit of \(options.byteCountMax) bytes")
            }
            throw VPackError(.truncated, at: valueStart, "value needs \(count) bytes at \(at), \(end - at) left")
        }

        /// Validates the value at `at`, which must end at or before `end`; returns its size.
        mutating func value(at start: Int, end: Int, depth: Int) throws(VPackError) -> Int {
            var at = start
            var depth = depth
            if at >= end { try overrun(at, 1, end, at) }
            // Tags wrap a value. Each tag counts as a nesting level, so a chain of tags is as
            // bounded as a chain of arrays; the loop keeps the validator's own stack flat.
            while base[at] == 0xee || base[at] == 0xef {
                guard options.allowTags else { throw VPackError(.tagsNotAllowed, at: at, "tagged value") }
                depth += 1
                try enter(depth, at)
                let tagSize = base[at] == 0xee ? 2 : 9
                try need(at, UInt64(tagSize + 1), end, at)
                at += tagSize
            }
            let size = try untaggedValue(at: at, end: end, depth: depth)
            return at - start + size
        }

        mutating func untaggedValue(at: Int, end: Int, depth: Int) throws(VPackError) -> Int {
            let head = base[at]
            switch head {
            case 0x01, 0x0a:
                // Empty compounds count towards nesting as the JSON parser counts them.
                try enter(depth + 1, at)
                return 1
            case 0x00, 0x17, 0x18, 0x19, 0x1a, 0x1e, 0x1f, 0x30...0x3f:
                return 1
            case 0x1b, 0x1c:
                try need(at, 9, end, at)
                return 9
            case 0x1d:
                guard options.allowExternals else { throw VPackError(.externalNotAllowed, at: at, "external value") }
                try need(at, 9, end, at)
                return 9
            case 0x20...0x27, 0x28...0x2f:
                let size = 1 + Int(head & 0x07) + 1
                try need(at, UInt64(size), end, at)
                return size
            case 0x40...0xbf:
                return try string(at: at, end: end)
            case 0xc0...0xc7:
                let width = Int(head) - 0xbf
                try need(at, UInt64(1 + width), end, at)
                let length = readUInt(at + 1, width)
                try need(at + 1 + width, length, end, at)
                return 1 + width + Int(length)
            case 0xc8...0xd7:
                guard options.allowBCD else { throw VPackError(.bcdNotAllowed, at: at, "BCD value") }
                let width = Int(head) - (head < 0xd0 ? 0xc7 : 0xcf)
                try need(at, UInt64(1 + width + 4), end, at)
                let length = readUInt(at + 1, width)
                guard length >= 1 else { throw VPackError(.invalidByteLength, at: at, "BCD without digits") }
                try need(at + 1 + width + 4, length, end, at)
                return 1 + width + 4 + Int(length)
            case 0xf0...0xff:
                guard options.allowCustom else { throw VPackError(.customNotAllowed, at: at, "custom value") }
                return try custom(at: at, head: head, end: end)
            case 0x02...0x05:
                return try unindexedArray(at: at, end: end, depth: depth + 1)
            case 0x06...0x09:
                return try indexedArray(at: at, end: end, depth: depth + 1)
            case 0x0b...0x0e:
                return try indexedObject(at: at, end: end, depth: depth + 1)
            case 0x13, 0x14:
                return try compact(at: at, end: end, depth: depth + 1, isObject: head == 0x14)
            default:
                throw VPackError(.reservedHead, at: at, "head 0x\(String(head, radix: 16)) is reserved or obsolete")
            }
        }

        /// Validates a short (`40`–`be`) or long (`bf`) string and returns its size.
        func string(at: Int, end: Int) throws(VPackError) -> Int {
            let head = base[at]
            let (start, length): (Int, UInt64)
            if head == 0xbf {
                try need(at, 9, end, at)
                (start, length) = (9, readUInt(at + 1, 8))
            } else {
                (start, length) = (1, UInt64(head) - 0x40)
            }
            try need(at + start, length, end, at)
            try checkUTF8(at + start, Int(length))
            return start + Int(length)
        }

        func checkUTF8(_ at: Int, _ count: Int) throws(VPackError) {
            guard options.validateUTF8 else { return }
            if let bad = UTF8Check.firstInvalidOffset(base + at, count: count) {
                throw VPackError(.invalidUTF8, at: at + bad, "invalid UTF-8 in string")
            }
        }

        func custom(at: Int, head: UInt8, end: Int) throws(VPackError) -> Int {
            let lengthWidth: Int
            switch head {
            case 0xf0...0xf3:
                let size = 1 + (1 << Int(head - 0xf0))
                try need(at, UInt64(size), end, at)
                return size
            case 0xf4...0xf6: lengthWidth = 1
            case 0xf7...0xf9: lengthWidth = 2
            case 0xfa...0xfc: lengthWidth = 4
            default: lengthWidth = 8
            }
            try need(at, UInt64(1 + lengthWidth), end, at)
            let length = readUInt(at + 1, lengthWidth)
            guard length > 0 else { throw VPackError(.invalidCustomLength, at: at, "custom value with empty payload") }
            try need(at + 1 + lengthWidth, length, end, at)
            return 1 + lengthWidth + Int(length)
        }

        func enter(_ depth: Int, _ at: Int) throws(VPackError) {
            if depth > options.nestingLimit {
                throw VPackError(.nestingTooDeep, at: at, "nesting deeper than \(options.nestingLimit)")
            }
        }

        /// Reads BYTELENGTH of a `02`–`09`/`0b`–`0e` value and checks it against the buffer.
        func byteLength(at: Int, width: Int, end: Int, headerMin: Int) throws(VPackError) -> Int {
            try need(at, UInt64(1 + width), end, at)
            let length = readUInt(at + 1, width)
            try need(at, length, end, at)
            guard length >= UInt64(headerMin) else {
                throw VPackError(.invalidByteLength, at: at, "byte length \(length) below the minimum \(headerMin)")
            }
            return Int(length)
        }

        /// Finds the first member after an optional zero padding, which must run to offset 9.
        func firstMember(at: Int, natural: Int, length: Int) throws(VPackError) -> Int {
            guard natural < 9, base[at + natural] == 0 else { return natural }
            guard length > 9 else { throw VPackError(.invalidPadding, at: at + natural, "padding without members") }
            for position in natural..<9 where base[at + position] != 0 {
                throw VPackError(.invalidPadding, at: at + position, "padding must be zeros up to offset 9")
            }
            return 9
        }

        mutating func unindexedArray(at: Int, end: Int, depth: Int) throws(VPackError) -> Int {
            try enter(depth, at)
            let width = Raw.compoundWidth(base[at])
            let length = try byteLength(at: at, width: width, end: end, headerMin: 2 + width)
            let first = try firstMember(at: at, natural: 1 + width, length: length)
            let valueEnd = at + length
            var position = at + first
            let memberSize = try value(at: position, end: valueEnd, depth: depth)
            position += memberSize
            while position < valueEnd {
                let size = try value(at: position, end: valueEnd, depth: depth)
                guard size == memberSize else {
                    throw VPackError(.memberSizeMismatch, at: position, "member of \(size) bytes, first was \(memberSize)")
                }
                position += size
            }
            return length
        }

        /// Reads NRITEMS and locates the index table of an indexed array or object.
        func indexLayout(at: Int, length: Int, width: Int) throws(VPackError) -> (count: Int, table: Int, natural: Int) {
            let count: UInt64
            let natural: Int
            if width == 8 {
                guard length >= 9 + 8 else { throw VPackError(.invalidByteLength, at: at, "too short for 8-byte layout") }
                count = readUInt(at + length - 8, 8)
                natural = 9
            } else {
                count = readUInt(at + 1 + width, width)
                natural = 1 + 2 * width
            }
            guard count >= 1 else { throw VPackError(.invalidItemCount, at: at, "indexed compound with no members") }
            // Each member needs at least one byte and one index entry.
            let trailer = width == 8 ? 8 : 0
            guard count <= UInt64(length) / UInt64(width + 1) else {
                throw VPackError(.invalidItemCount, at: at, "item count \(count) cannot fit in \(length) bytes")
            }
            let table = length - Int(count) * width - trailer
            guard table >= natural + Int(count) else {
                throw VPackError(.invalidIndexTable, at: at, "index table overlaps the header")
            }
            return (Int(count), table, natural)
        }

        mutating func indexedArray(at: Int, end: Int, depth: Int) throws(VPackError) -> Int {
            try enter(depth, at)
            let width = Raw.compoundWidth(base[at])
            let length = try byteLength(at: at, width: width, end: end, headerMin: 1 + 2 * width + 1)
            let (count, table, natural) = try indexLayout(at: at, length: length, width: width)
            let first = try firstMember(at: at, natural: natural, length: table)
            var position = at + first
            for i in 0..<count {
                let entry = readUInt(at + table + i * width, width)
                guard entry == UInt64(position - at) else {
                    throw VPackError(.invalidIndexTable, at: at + table + i * width, "index entry \(i) is \(entry), member is at \(position - at)")
                }
                position += try value(at: position, end: at + table, depth: depth)
            }
            guard position == at + table else {
                throw VPackError(.invalidItemCount, at: position, "bytes after the last of \(count) members, before the index table")
            }
            return length
        }

        mutating func indexedObject(at: Int, end: Int, depth: Int) throws(VPackError) -> Int {
            try enter(depth, at)
            let width = Raw.compoundWidth(base[at])
            let length = try byteLength(at: at, width: width, end: end, headerMin: 1 + 2 * width + 2)
            let (count, table, natural) = try indexLayout(at: at, length: length, width: width)
            let first = try firstMember(at: at, natural: natural, length: table)
            // Every index entry names a key, each key exactly once. Keys are walked in
            // ascending offset order onto the key stack; each entry is found there by binary
            // search and marked (negated) so that a repeated entry is caught.
            let mark = keyStack.count
            defer { keyStack.truncate(to: mark) }
            var position = at + first
            for _ in 0..<count {
                guard position < at + table else {
                    throw VPackError(.invalidItemCount, at: position, "fewer pairs than the item count")
                }
                keyStack.append(position - at)
                position += try key(at: position, end: at + table)
                position += try value(at: position, end: at + table, depth: depth)
            }
            guard position == at + table else {
                throw VPackError(.invalidItemCount, at: position, "bytes after the last of \(count) pairs, before the index table")
            }
            var previousKey = -1
            for i in 0..<count {
                let entryOffset = at + table + i * width
                let entry = Int(truncatingIfNeeded: readUInt(entryOffset, width))
                guard let slot = findKey(entry, from: mark, count: count), keyStack[slot] > 0 else {
                    throw VPackError(.invalidIndexTable, at: entryOffset, "index entry \(i) does not name a key exactly once")
                }
                keyStack[slot] = -entry
                if options.checkSortedIndex && previousKey >= 0 {
                    let order = keyOrder(at + previousKey, at + entry)
                    if order > 0 {
                        throw VPackError(.unsortedIndex, at: entryOffset, "index not sorted by key")
                    }
                    if order == 0 && options.checkUniqueKeys {
                        throw VPackError(.duplicateKey, at: at + max(previousKey, entry), "repeated key")
                    }
                }
                previousKey = entry
            }
            if !options.checkSortedIndex && options.checkUniqueKeys {
                try checkUnique((mark..<keyStack.count).map { at - keyStack[$0] })
            }
            return length
        }

        mutating func compact(at: Int, end: Int, depth: Int, isObject: Bool) throws(VPackError) -> Int {
            try enter(depth, at)
            // BYTELENGTH: forward varint of at most 8 bytes.
            var length: UInt64 = 0
            var lengthBytes = 0
            while true {
                guard lengthBytes < 8 else {
                    throw VPackError(.invalidVarint, at: at + 1, "byte length varint longer than 8 bytes")
                }
                try need(at + 1 + lengthBytes, 1, end, at)
                let byte = base[at + 1 + lengthBytes]
                length |= UInt64(byte & 0x7f) << UInt64(7 * lengthBytes)
                lengthBytes += 1
                if byte & 0x80 == 0 {
                    // Minimal form only: a last group of zero adds nothing.
                    if byte == 0 && lengthBytes > 1 {
                        throw VPackError(.invalidVarint, at: at + lengthBytes, "byte length varint not minimal")
                    }
                    break
                }
            }
            try need(at, length, end, at)
            let minimum = isObject ? 5 : 4
            guard length >= UInt64(minimum) else {
                throw VPackError(.invalidByteLength, at: at, "compact value shorter than \(minimum) bytes")
            }
            let valueEnd = at + Int(length)
            let membersStart = at + 1 + lengthBytes
            // NRITEMS: reverse varint ending at the last byte; it may not reach the members.
            var count: UInt64 = 0
            var countBytes = 0
            while true {
                let position = valueEnd - 1 - countBytes
                guard position >= membersStart, countBytes < 8 else {
                    throw VPackError(.invalidVarint, at: valueEnd - 1, "item count varint unterminated or too long")
                }
                let byte = base[position]
                count |= UInt64(byte & 0x7f) << UInt64(7 * countBytes)
                countBytes += 1
                if byte & 0x80 == 0 {
                    if byte == 0 && countBytes > 1 {
                        throw VPackError(.invalidVarint, at: position, "item count varint not minimal")
                    }
                    break
                }
            }
            guard count >= 1 else { throw VPackError(.invalidItemCount, at: valueEnd - 1, "compact value with no members") }
            let membersEnd = valueEnd - countBytes
            var position = membersStart
            var keys: [Int] = []
            let collectKeys = isObject && options.checkUniqueKeys
            var seen: UInt64 = 0
            while position < membersEnd {
                if isObject {
                    if collectKeys { keys.append(position) }
                    position += try key(at: position, end: membersEnd)
                }
                position += try value(at: position, end: membersEnd, depth: depth)
                seen += 1
            }
            guard seen == count else {
                throw VPackError(.invalidItemCount, at: valueEnd - 1, "item count \(count), found \(seen)")
            }
            if isObject && options.checkUniqueKeys { try checkUnique(keys) }
            return Int(length)
        }

        /// Validates an object key: a string, or an integer that names a system attribute.
        func key(at: Int, end: Int) throws(VPackError) -> Int {
            guard at < end else { throw VPackError(.truncated, at: at, "a key is missing") }
            let head = base[at]
            switch head {
            case 0x40...0xbf:
                return try string(at: at, end: end)
            case 0x31...0x39, 0x28...0x2f:
                // SmallInt 1...9 (31-39) or UInt with 1...8 bytes (28-2f).
                let isSmall = head >= 0x31
                let size = isSmall ? 1 : 1 + Int(head) - 0x27
                try need(at, UInt64(size), end, at)
                let id = isSmall ? UInt64(head - 0x30) : readUInt(at + 1, size - 1)
                guard AttributeTranslation.name(forId: id) != nil else {
                    throw VPackError(.unknownAttributeId, at: at, "integer key \(id) names no attribute")
                }
                return size
            default:
                throw VPackError(.invalidKeyType, at: at, "object key of type \(ValueType(head: head))")
            }
        }

        /// The slot of key offset `entry` among the `count` ascending offsets on the key stack
        /// from `mark` (found ones are stored negated), or `nil`.
        func findKey(_ entry: Int, from mark: Int, count: Int) -> Int? {
            var low = mark
            var high = mark + count - 1
            while low <= high {
                let middle = (low + high) / 2
                let stored = abs(keyStack[middle])
                if stored == entry { return middle }
                if stored < entry { low = middle + 1 } else { high = middle - 1 }
            }
            return nil
        }

        func keyOrder(_ lhs: Int, _ rhs: Int) -> Int {
            Raw.withKeyName(base + lhs) { left in
                Raw.withKeyName(base + rhs) { right in Raw.compare(left, right) } ?? 0
            } ?? 0
        }

        func checkUnique(_ keys: [Int]) throws(VPackError) {
            guard keys.count > 1 else { return }
            let sorted = keys.sorted { keyOrder($0, $1) < 0 }
            for i in 1..<sorted.count where keyOrder(sorted[i - 1], sorted[i]) == 0 {
                throw VPackError(.duplicateKey, at: max(sorted[i - 1], sorted[i]), "repeated key")
            }
        }
    }
}
