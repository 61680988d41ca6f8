// libFuzzer target: the Builder, driven by a little program read from the fuzz bytes.
//
// The program opens arrays and objects, adds every kind of scalar and closes, always
// respecting the Builder's contract (keys only in objects, a key before each object value,
// close only when open, depth at most `depthMax`, output at most `byteCountMax`). Beside the
// builder it keeps an expected model tree. At the end:
//
// - the bytes pass the Validator; `checkUniqueKeys` and `validateUTF8` refuse exactly when
//   the model has a repeated key name or a string/key that is not UTF-8;
// - every value reads back equal to what was added (integers, doubles by bits, strings,
//   binaries, dates, tags, custom payloads), in the narrowest encoding;
// - arrays and objects have the layout the options ask for; index access, iteration and
//   key lookup agree; indexed objects list keys sorted (stable for repeated keys), compact
//   ones in insertion order; system keys are integer keys exactly when translated;
// - with `checkAttributeUniqueness`, `close()` throws `duplicateKey` exactly for objects with
//   a repeated key name and leaves the builder's bytes untouched.
//
// Program layout: byte 0 holds the options (bit 0 translateSystemKeys, 1 buildUnindexedArrays,
// 2 buildUnindexedObjects, 3 checkAttributeUniqueness, 4 top-level object, 5 top-level
// compact); then one operation a byte (`Operation`), each reading its own arguments.
//
// Build and run with `Fuzz/run.sh` (compiled together with Sources/VelocyPack in one module).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard !input.isEmpty else { return 0 }
    var run = BuilderRun(program: Program(bytes: input))
    run.execute()
    return 0
}

/// Stops the run with a message that names the property; libFuzzer saves the input.
func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzBuilderRoundTrip property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

/// The fuzz bytes as a stream of arguments; reads past the end give zeros.
struct Program {
    let bytes: [UInt8]
    var position = 0

    var isAtEnd: Bool { position >= bytes.count }

    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// A little-endian unsigned integer of `width` bytes.
    mutating func unsigned(width: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<width { value |= UInt64(byte()) << UInt64(8 * i) }
        return value
    }

    mutating func bytes(count: Int) -> [UInt8] {
        (0..<count).map { _ in byte() }
    }
}

/// What the builder must hold.
indirect enum Expected {
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string([UInt8])
    /// A one-byte value: null, false, true, minKey, maxKey, illegal, none.
    case single(UInt8)
    case binary([UInt8])
    case utcDate(Int64)
    /// Tags from the outermost in, around an inner value.
    case tagged([UInt64], Expected)
    case custom(head: UInt8, payload: [UInt8])
    case array([Expected], compact: Bool)
    case object([(name: [UInt8], value: Expected)], compact: Bool)
}

struct BuilderRun {
    /// Deepest nesting of open arrays and objects.
    static let depthMax = 32
    /// Output size above which the program stops adding values (it still closes).
    static let byteCountMax = 1 << 20

    static let keyNames: [[UInt8]] = ["a", "b", "c", "ab", "", "_key", "_rev", "_id", "_from", "_to",
                                      "_keyx", "_k", "z", "\u{e9}"].map { Array($0.utf8) }
    static let singleHeads: [UInt8] = [0x18, 0x19, 0x1a, 0x1e, 0x1f, 0x17, 0x00]
    static let uintEdges: [UInt64] = [0, 9, 10, 0x7f, 0xff, 0x100, 0xffff, 0x1_0000, 0xff_ffff, 0xffff_ffff,
                                      0x1_0000_0000, UInt64(Int64.max), UInt64(Int64.max) + 1, UInt64.max]
    static let intEdges: [Int64] = [-6, -7, -1, 9, 10, -128, -129, 127, 128, -32768, -32769, 32767, 32768,
                                    Int64(Int32.min), Int64(Int32.min) - 1, Int64(Int32.max) + 1, Int64.min, Int64.max]

    struct Frame {
        var isObject: Bool
        var compact: Bool
        var members: [Expected] = []
        var names: [[UInt8]] = []
    }

    var program: Program
    let options: Builder.Options
    var builder: Builder
    var frames: [Frame] = []
    var result: Expected?

    init(program: Program) {
        self.program = program
        let flags = self.program.byte()
        options = Builder.Options(
            buildUnindexedArrays: flags & 2 != 0, buildUnindexedObjects: flags & 4 != 0,
            checkAttributeUniqueness: flags & 8 != 0, translateSystemKeys: flags & 1 != 0)
        builder = Builder(options: options)
        let topIsObject = flags & 16 != 0
        let topCompact = flags & 32 != 0
        open(isObject: topIsObject, compact: topCompact)
    }

    func fail(_ message: String) -> Never { violated(message, program.bytes) }

    mutating func execute() {
        while !program.isAtEnd && !frames.isEmpty {
            if !step() { return }
        }
        while !frames.isEmpty {
            if !close() { return }
        }
        guard let result else { fail("no value was built") }
        verify(result)
    }

    // MARK: Building

    /// Runs one operation; false when the run ended early (an expected `close()` failure).
    mutating func step() -> Bool {
        let operation = program.byte() % 16
        if operation == 2 || operation == 3 { return close() }
        if builder.bytes.count > Self.byteCountMax { return close() }
        if frames.last!.isObject { addKey() }
        switch operation {
        case 0, 1:
            let compact = program.byte() & 1 != 0
            if frames.count >= Self.depthMax {
                builder.addNull()
                append(.single(0x18))
            } else {
                open(isObject: operation == 1, compact: compact)
            }
        case 4:
            let width = Int(program.byte() % 8) + 1
            let raw = program.unsigned(width: width)
            let unused = UInt64(64 - 8 * width)
            // Sign-extend from the top bit of the bytes read.
            let value = Int64(bitPattern: raw << unused) >> Int64(unused)
            builder.add(value)
            append(.int(value))
        case 5:
            let value = program.unsigned(width: Int(program.byte() % 8) + 1)
            builder.add(value)
            append(.uint(value))
        case 6:
            let value = Double(bitPattern: program.unsigned(width: 8))
            builder.add(value)
            append(.double(value))
        case 7:
            let text = program.bytes(count: Int(program.byte() % 32))
            text.withUnsafeBufferPointer { builder.addString(utf8: $0) }
            append(.string(text))
        case 8:
            // Long strings (the `bf` form) and compounds past the 1-byte layouts.
            let count = 100 + Int(program.byte()) * 16
            let fill = program.byte()
            let text = (0..<count).map { fill &+ UInt8(truncatingIfNeeded: $0 % 7) }
            text.withUnsafeBufferPointer { builder.addString(utf8: $0) }
            append(.string(text))
        case 9:
            let head = Self.singleHeads[Int(program.byte()) % Self.singleHeads.count]
            switch head {
            case 0x18: builder.addNull()
            case 0x19: builder.add(false)
            case 0x1a: builder.add(true)
            case 0x1e: builder.addMinKey()
            case 0x1f: builder.addMaxKey()
            case 0x17: builder.addIllegal()
            default: builder.addNone()
            }
            append(.single(head))
        case 10:
            let selector = program.byte()
            let count = selector & 0x80 != 0 ? 200 + Int(selector & 0x7f) * 8 : Int(selector % 40)
            let payload = program.bytes(count: count)
            builder.addBinary(payload)
            append(.binary(payload))
        case 11:
            let value = Int64(bitPattern: program.unsigned(width: 8))
            builder.addUTCDate(milliseconds: value)
            append(.utcDate(value))
        case 12:
            addTagged()
        case 13:
            let head = 0xf0 + program.byte() % 16
            let count = head <= 0xf3 ? 1 << Int(head - 0xf0) : 1 + Int(program.byte() % 32)
            let payload = program.bytes(count: count)
            builder.addCustom(head: head, payload: payload)
            append(.custom(head: head, payload: payload))
        case 14:
            let selector = program.byte()
            let value = selector & 0x80 != 0
                ? Self.intEdges[Int(selector & 0x7f) % Self.intEdges.count]
                : Int64(Int8(bitPattern: program.byte()))
            builder.add(value)
            append(.int(value))
        default:
            let value = Self.uintEdges[Int(program.byte()) % Self.uintEdges.count]
            builder.add(value)
            append(.uint(value))
        }
        return true
    }

    mutating func addKey() {
        let selector = program.byte()
        let name = selector < 0xe0
            ? Self.keyNames[Int(selector) % Self.keyNames.count]
            : program.bytes(count: Int(selector & 0x07))  // arbitrary bytes, maybe not UTF-8
        name.withUnsafeBufferPointer { builder.addKey(utf8: $0) }
        frames[frames.count - 1].names.append(name)
    }

    mutating func addTagged() {
        let tagCount = Int(program.byte() % 3) + 1
        let tags: [UInt64] = (0..<tagCount).map { _ in
            let selector = program.byte()
            return selector & 0x80 != 0 ? program.unsigned(width: 8) : UInt64(selector)
        }
        var inner = Builder()
        let innerValue: Expected
        if program.byte() & 1 == 0 {
            let value = Int64(Int16(bitPattern: UInt16(program.unsigned(width: 2))))
            inner.add(value)
            innerValue = .int(value)
        } else {
            let text = program.bytes(count: Int(program.byte() % 16))
            text.withUnsafeBufferPointer { inner.addString(utf8: $0) }
            innerValue = .string(text)
        }
        // Wrap from the innermost tag outwards.
        for tag in tags.dropFirst().reversed() {
            var wrapper = Builder()
            wrapper.add(tag: tag, inner.slice)
            inner = wrapper
        }
        builder.add(tag: tags[0], inner.slice)
        append(.tagged(tags, innerValue))
    }

    mutating func open(isObject: Bool, compact: Bool) {
        if isObject { builder.openObject(compact: compact) } else { builder.openArray(compact: compact) }
        frames.append(Frame(isObject: isObject, compact: compact))
    }

    mutating func append(_ value: Expected) {
        if frames.isEmpty {
            result = value
        } else {
            frames[frames.count - 1].members.append(value)
        }
    }

    /// Closes the innermost compound; false when `close()` refused a repeated key, as it must.
    mutating func close() -> Bool {
        let frame = frames.removeLast()
        let duplicate = frame.isObject && Set(frame.names).count != frame.names.count
        let before = builder.bytes
        do throws(VPackError) {
            try builder.close()
        } catch {
            guard options.checkAttributeUniqueness, duplicate, error.code == .duplicateKey else {
                fail("close() threw \(error) (checkAttributeUniqueness \(options.checkAttributeUniqueness), repeated key \(duplicate))")
            }
            guard builder.bytes == before, !builder.isClosed else { fail("a refused close() changed the builder") }
            return false
        }
        if options.checkAttributeUniqueness && duplicate {
            fail("close() accepted an object with a repeated key under checkAttributeUniqueness")
        }
        if frame.isObject {
            append(.object(Array(zip(frame.names, frame.members)).map { (name: $0.0, value: $0.1) }, compact: frame.compact))
        } else {
            append(.array(frame.members, compact: frame.compact))
        }
        return true
    }

    // MARK: Reading back

    mutating func verify(_ expected: Expected) {
        guard builder.isClosed else { fail("builder still open after closing every frame") }
        let bytes = builder.bytes
        do throws(VPackError) {
            try Validator().validate(bytes)
        } catch {
            fail("builder output does not validate: \(error); bytes: \(Hex.encode(bytes.prefix(200)))")
        }
        var facts = Facts()
        facts.collect(expected)
        let unique = Result { () throws(VPackError) in
            try Validator(options: Validator.Options(checkUniqueKeys: true)).validate(bytes)
        }
        if case .failure(let error) = unique, !facts.hasRepeatedKey || error.code != .duplicateKey {
            fail("checkUniqueKeys refused (\(error)); model repeated key: \(facts.hasRepeatedKey)")
        }
        if case .success = unique, facts.hasRepeatedKey { fail("checkUniqueKeys accepted a repeated key") }
        let utf8 = Result { () throws(VPackError) in
            try Validator(options: Validator.Options(validateUTF8: true)).validate(bytes)
        }
        if case .failure(let error) = utf8, !facts.hasInvalidUTF8 || error.code != .invalidUTF8 {
            fail("validateUTF8 refused (\(error)); model invalid UTF-8: \(facts.hasInvalidUTF8)")
        }
        if case .success = utf8, facts.hasInvalidUTF8 { fail("validateUTF8 accepted invalid UTF-8") }

        compare(Slice(trustedBytes: bytes), expected, path: "$")
        guard builder.slice.byteSize == bytes.count else { fail("byteSize \(builder.slice.byteSize) != \(bytes.count) bytes built") }
    }

    func compare(_ slice: Slice, _ expected: Expected, path: String) {
        func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition {
                fail("\(path): \(message()) (head 0x\(String(slice.head, radix: 16)), bytes \(Hex.encode(slice.bytes.prefix(40))))")
            }
        }
        switch expected {
        case .int(let value):
            check(slice.intValue == value, "intValue \(String(describing: slice.intValue)) != \(value)")
            check(slice.byteSize == Self.intByteSize(value), "int \(value) not in the narrowest encoding")
        case .uint(let value):
            check(slice.uintValue == value, "uintValue \(String(describing: slice.uintValue)) != \(value)")
            check(slice.byteSize == Self.uintByteSize(value), "uint \(value) not in the narrowest encoding")
        case .double(let value):
            check(slice.doubleValue?.bitPattern == value.bitPattern, "double bits differ from \(value)")
        case .string(let text):
            check(slice.stringBytes.map { $0.elementsEqual(text) } == true, "string bytes differ")
            check((slice.head == 0xbf) == (text.count > 126), "string of \(text.count) bytes in the wrong form")
        case .single(let head):
            check(slice.head == head && slice.byteSize == 1, "expected the one-byte value 0x\(String(head, radix: 16))")
        case .binary(let payload):
            check(slice.binaryValue.map { $0.elementsEqual(payload) } == true, "binary payload differs")
        case .utcDate(let value):
            check(slice.utcDateValue == value, "utcDate differs from \(value)")
        case .custom(let head, let payload):
            check(slice.head == head, "custom head differs")
            check(slice.customPayload.map { $0.elementsEqual(payload) } == true, "custom payload differs")
        case .tagged(let tags, let inner):
            var current = slice
            for tag in tags {
                check(current.tag == tag, "tag \(String(describing: current.tag)) != \(tag)")
                check((current.head == 0xee) == (tag <= 0xff), "tag \(tag) in the wrong form")
                current = Slice(trustedBytes: current.storage, offset: current.offset + (current.head == 0xee ? 2 : 9))
            }
            check(current.offset == slice.untagged.offset, "untagged does not skip exactly the tags")
            compare(current, inner, path: path + "<tagged>")
        case .array(let members, let compact):
            check(slice.isArray, "not an array")
            check(slice.count == members.count, "count \(slice.count) != \(members.count)")
            if members.isEmpty {
                check(slice.head == 0x01, "empty array not 01")
            } else if compact || options.buildUnindexedArrays {
                check(slice.head == 0x13, "compact array not 13")
            } else {
                check((0x02...0x09).contains(slice.head), "indexed array not 02...09")
            }
            var index = 0
            for member in slice.arrayElements {
                check(index < members.count, "iteration yields too many members")
                check(slice[index]?.offset == member.offset, "slice[\(index)] is not iteration member \(index)")
                compare(member, members[index], path: "\(path)[\(index)]")
                index += 1
            }
            check(index == members.count, "iteration yields \(index) members")
            check(slice[members.count] == nil, "index past the end found a member")
        case .object(let pairs, let compact):
            check(slice.isObject, "not an object")
            check(slice.count == pairs.count, "count \(slice.count) != \(pairs.count)")
            let isCompact: Bool
            if pairs.isEmpty {
                check(slice.head == 0x0a, "empty object not 0a")
                isCompact = false
            } else if compact || options.buildUnindexedObjects || pairs.count == 1 {
                check(slice.head == 0x14, "compact object not 14")
                isCompact = true
            } else {
                check((0x0b...0x0e).contains(slice.head), "indexed object not 0b...0e")
                isCompact = false
            }
            // Indexed: sorted by name, repeated names in insertion order. Compact: insertion order.
            let order = isCompact ? pairs : Self.stableSorted(pairs)
            var index = 0
            for (key, value) in slice.objectMembers {
                check(index < order.count, "objectMembers yields too many pairs")
                let name = order[index].name
                check(Walker.name(of: key) == name, "key \(index) is \(Hex.encode(Walker.name(of: key))), expected \(Hex.encode(name))")
                let translated = options.translateSystemKeys && Self.isSystemName(name)
                check(key.isInteger == translated, "key \(Hex.encode(name)) is \(key.isInteger ? "" : "not ")an integer key")
                compare(value, order[index].value, path: "\(path).\(String(decoding: name, as: UTF8.self))")
                let found = name.withUnsafeBufferPointer { slice.lookup($0) }
                check(found != nil, "lookup of \(Hex.encode(name)) found nothing")
                if pairs.filter({ $0.name == name }).count == 1 {
                    check(found?.offset == value.offset, "lookup of \(Hex.encode(name)) found another value")
                }
                index += 1
            }
            check(index == pairs.count, "objectMembers yields \(index) pairs")
        }
    }

    static func isSystemName(_ name: [UInt8]) -> Bool {
        name.withUnsafeBufferPointer { AttributeTranslation.id(forName: $0) } != nil
    }

    /// Pairs sorted by name bytes, keeping insertion order among equal names.
    static func stableSorted(_ pairs: [(name: [UInt8], value: Expected)]) -> [(name: [UInt8], value: Expected)] {
        pairs.enumerated().sorted { lhs, rhs in
            if lhs.element.name != rhs.element.name { return lhs.element.name.lexicographicallyPrecedes(rhs.element.name) }
            return lhs.offset < rhs.offset
        }.map(\.element)
    }

    /// The size of an int in the narrowest encoding: SmallInt for −6...9, else `20`–`27`.
    static func intByteSize(_ value: Int64) -> Int {
        if (-6...9).contains(value) { return 1 }
        for width in 1...8 {
            let bits = Int64(8 * width - 1)
            if width == 8 || (value >= -(Int64(1) << bits) && value < Int64(1) << bits) { return 1 + width }
        }
        return 9
    }

    /// The size of a uint in the narrowest encoding: SmallInt for 0...9, else `28`–`2f`.
    static func uintByteSize(_ value: UInt64) -> Int {
        if value <= 9 { return 1 }
        for width in 1...8 where width == 8 || value < UInt64(1) << UInt64(8 * width) { return 1 + width }
        return 9
    }
}

/// Facts about the model that the Validator's optional checks must agree with.
struct Facts {
    var hasRepeatedKey = false
    var hasInvalidUTF8 = false

    mutating func collect(_ expected: Expected) {
        switch expected {
        case .string(let text):
            note(text)
        case .tagged(_, let inner):
            collect(inner)
        case .array(let members, _):
            for member in members { collect(member) }
        case .object(let pairs, _):
            if Set(pairs.map(\.name)).count != pairs.count { hasRepeatedKey = true }
            for pair in pairs {
                note(pair.name)
                collect(pair.value)
            }
        default:
            break
        }
    }

    mutating func note(_ text: [UInt8]) {
        if String(validating: text, as: UTF8.self) == nil { hasInvalidUTF8 = true }
    }
}

enum Walker {
    /// The name bytes of a key: the string, or the attribute name of an integer key.
    static func name(of key: Slice) -> [UInt8] {
        if let bytes = key.stringBytes { return Array(bytes) }
        return Array((key.keyName ?? "<no name>").utf8)
    }
}
