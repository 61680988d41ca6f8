// libFuzzer target: the Validator, the one door from untrusted bytes to a `Slice`.
//
// Properties beyond "does not crash", for bytes the validator accepts:
//
// - Framing: the value validates alone, cut off right after its last byte, and without its
//   last byte it does not validate (short input is never taken for a whole value).
// - Every reader agrees with the validator: byteSize, count, index access, iteration,
//   objectMembers, key lookup (by raw name bytes and by `String`) and the scalar accessors
//   stay inside the value and agree with each other.
// - The optional checks agree with naive models: `checkUniqueKeys` refuses exactly the values
//   with a repeated key name, `validateUTF8` exactly those with a string that Swift's own
//   UTF-8 decoder refuses.
// - `AttributeTranslation.untranslated` leaves no integer key and keeps the value.
// - `numberValue` is the exact integer (as `Double`) for every integer encoding.
// - JSON: the dumper never fails with `.null` behaviours; with `.fail` it fails exactly for
//   values JSON cannot express; the dump re-parses to a value semantically equal to the
//   original; indented and escaped dumps re-parse to the same bytes.
//
// Build and run with `Fuzz/run.sh` (compiled together with Sources/VelocyPack in one module).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    ValidatorFuzz.check(input)
    return 0
}

/// Stops the run with a message that names the property; libFuzzer saves the input.
func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzValidator property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}


enum ValidatorFuzz {
    static let jsonLenient = JSONDumper.Options(unsupportedTypeBehavior: .null, nonFiniteDoubleBehavior: .null)

    static func check(_ input: [UInt8]) {
        let size: Int
        do throws(VPackError) {
            size = try Validator().validatePrefix(input)
        } catch {
            return
        }
        checkFraming(input, size: size)

        // Readers over the whole input: trailing bytes after the value must not matter.
        let slice = Slice(trustedBytes: input)
        guard slice.byteSize == size else {
            violated("byteSize \(slice.byteSize) != validated size \(size)", input)
        }
        var walk = Walk(input: input)
        walk.value(slice, end: size)

        checkOptionalChecks(input, size: size, walk: walk)
        checkIntegerKeys(slice, walk: walk, input: input)
        checkJSON(slice, walk: walk, input: input)
    }

    /// The value validates alone; the value minus its last byte does not.
    static func checkFraming(_ input: [UInt8], size: Int) {
        let value = Array(input[0..<size])
        do throws(VPackError) {
            try Validator().validate(value)
        } catch {
            violated("prefix of \(size) bytes validated with trailing bytes but not alone: \(error)", input)
        }
        if size > 1, (try? Validator().validatePrefix(Array(value.dropLast()))) != nil {
            violated("value of \(size) bytes minus its last byte still validates", input)
        }
    }

    /// `checkUniqueKeys` and `validateUTF8` refuse exactly what the naive models find.
    static func checkOptionalChecks(_ input: [UInt8], size: Int, walk: Walk) {
        let value = Array(input[0..<size])
        let unique = Validator(options: Validator.Options(checkUniqueKeys: true))
        let uniqueError = Result { () throws(VPackError) in try unique.validate(value) }
        switch (uniqueError, walk.hasDuplicateKeys) {
        case (.success, false): break
        case (.failure(let error), true) where error.code == .duplicateKey: break
        case (.success, true): violated("checkUniqueKeys accepted a value with a repeated key", input)
        case (.failure(let error), _): violated("checkUniqueKeys: \(error), model duplicates: \(walk.hasDuplicateKeys)", input)
        }
        let utf8 = Validator(options: Validator.Options(validateUTF8: true))
        let utf8Error = Result { () throws(VPackError) in try utf8.validate(value) }
        switch (utf8Error, walk.hasInvalidUTF8) {
        case (.success, false): break
        case (.failure(let error), true) where error.code == .invalidUTF8: break
        case (.success, true): violated("validateUTF8 accepted a string Swift refuses as UTF-8", input)
        case (.failure(let error), _): violated("validateUTF8: \(error), model invalid UTF-8: \(walk.hasInvalidUTF8)", input)
        }
    }

    static func checkIntegerKeys(_ slice: Slice, walk: Walk, input: [UInt8]) {
        guard slice.containsIntegerKeys == walk.hasIntegerKeys else {
            violated("containsIntegerKeys \(slice.containsIntegerKeys), walk found \(walk.hasIntegerKeys)", input)
        }
        guard walk.hasIntegerKeys else { return }
        let plain: Slice
        do throws(VPackError) {
            plain = try AttributeTranslation.untranslated(slice)
        } catch {
            violated("untranslated threw on a validated value: \(error)", input)
        }
        guard !plain.containsIntegerKeys else {
            violated("untranslated left integer keys: \(Hex.encode(plain.bytes))", input)
        }
        do throws(VPackError) {
            try Validator().validate(plain.copiedBytes)
        } catch {
            violated("untranslated value does not validate: \(error); \(Hex.encode(plain.bytes))", input)
        }
        if let difference = Equality(mode: .exact).difference(slice, plain, path: "$") {
            violated("untranslated value differs: \(difference)", input)
        }
    }

    static func checkJSON(_ slice: Slice, walk: Walk, input: [UInt8]) {
        let json: [UInt8]
        do throws(VPackError) {
            json = try JSONDumper.dump(slice, options: jsonLenient)
        } catch {
            violated("dump with .null behaviours threw: \(error)", input)
        }
        // With the default `.fail` behaviours the dump fails exactly for non-JSON values.
        switch Result(catching: { () throws(VPackError) in try JSONDumper.dump(slice) }) {
        case .success(let strict):
            guard !walk.hasNonJSON else { violated("dump with .fail accepted a non-JSON value", input) }
            guard strict == json else { violated("dump with .fail differs from dump with .null", input) }
        case .failure(let error):
            guard walk.hasNonJSON, error.code == .unsupportedType || error.code == .unsupportedDouble else {
                violated("dump with .fail threw \(error) (model non-JSON: \(walk.hasNonJSON))", input)
            }
        }

        let reparsed: Builder
        do throws(VPackError) {
            reparsed = try JSONParser.parse(json)
        } catch {
            violated("dumped JSON does not parse: \(error); json: \(String(decoding: json.prefix(300), as: UTF8.self))", input)
        }
        do throws(VPackError) {
            try Validator().validate(reparsed.bytes)
        } catch {
            violated("parser output does not validate: \(error)", input)
        }
        if let difference = Equality(mode: .json).difference(slice, reparsed.slice, path: "$") {
            violated("JSON round trip changed the value: \(difference); json: \(String(decoding: json.prefix(300), as: UTF8.self))", input)
        }

        // Layout-only dump options read back to the same bytes. `\u` escapes are exact only
        // for valid UTF-8 (an invalid byte is written as U+FFFD).
        var fancy = jsonLenient
        fancy.indent = 2
        fancy.escapeForwardSlashes = true
        fancy.escapeUnicode = !walk.hasInvalidUTF8
        do throws(VPackError) {
            let text = try JSONDumper.dump(slice, options: fancy)
            let again = try JSONParser.parse(text)
            guard again.bytes == reparsed.bytes else {
                violated("indented/escaped dump parses to other bytes; json: \(String(decoding: text.prefix(300), as: UTF8.self))", input)
            }
        } catch {
            violated("indented/escaped dump or its parse threw: \(error)", input)
        }
    }
}

// MARK: - Walking every reader

/// Walks a validated value with every reader and checks that they agree; records facts the
/// later checks compare against.
struct Walk {
    let input: [UInt8]
    var hasDuplicateKeys = false
    var hasInvalidUTF8 = false
    var hasInvalidUTF8Key = false
    var hasIntegerKeys = false
    /// A value the JSON dumper cannot express (with `.fail` it throws).
    var hasNonJSON = false

    init(input: [UInt8]) { self.input = input }

    func fail(_ message: String, _ slice: Slice) -> Never {
        violated("\(message) (value at offset \(slice.offset), head 0x\(String(slice.head, radix: 16)))", input)
    }

    /// Checks the value `slice`, which must end at or before `end` (an absolute offset).
    mutating func value(_ slice: Slice, end: Int) {
        let size = slice.byteSize
        guard size >= 1, slice.offset + size <= end else { fail("byteSize \(size) leaves the container ending at \(end)", slice) }
        guard slice.bytes.count == size else { fail("bytes.count != byteSize", slice) }

        let inner = slice.untagged
        if slice.type == .tagged {
            guard slice.tag != nil else { fail("tagged value without tag", slice) }
            guard inner.offset > slice.offset, inner.offset + inner.byteSize == slice.offset + size else {
                fail("untagged value does not end where the tagged value ends", slice)
            }
        } else {
            guard slice.tag == nil, inner.offset == slice.offset else { fail("untagged moved an untagged value", slice) }
        }
        guard inner.type != .tagged else { fail("untagged returned a tagged value", inner) }
        untaggedValue(inner, end: slice.offset + size)
    }

    mutating func untaggedValue(_ slice: Slice, end: Int) {
        let size = slice.byteSize
        let type = slice.type
        if type != .array && type != .object {
            guard slice.count == 0, slice[0] == nil, slice["a"] == nil,
                  slice.arrayElements.first(where: { _ in true }) == nil,
                  slice.objectMembers.first(where: { _ in true }) == nil
            else { fail("a \(type) has members", slice) }
        }
        guard (slice.boolValue != nil) == (type == .bool),
              (slice.doubleValue != nil) == (type == .double),
              (slice.utcDateValue != nil) == (type == .utcDate),
              (slice.stringBytes != nil) == (type == .string),
              (slice.binaryValue != nil) == (type == .binary),
              (slice.customPayload != nil) == (type == .custom),
              slice.isNumber == (slice.numberValue != nil)
        else { fail("scalar accessors disagree with type \(type)", slice) }

        switch type {
        case .none, .illegal, .minKey, .maxKey:
            guard size == 1 else { fail("\(type) of size \(size)", slice) }
            hasNonJSON = true
        case .null, .bool:
            guard size == 1 else { fail("\(type) of size \(size)", slice) }
        case .int, .uint, .smallInt:
            integer(slice)
        case .double:
            guard size == 9 else { fail("double of size \(size)", slice) }
            let bits = slice.bytes.dropFirst().reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard slice.doubleValue!.bitPattern == bits else { fail("doubleValue is not the stored bits", slice) }
            if !slice.doubleValue!.isFinite { hasNonJSON = true }
        case .utcDate:
            guard size == 9 else { fail("utcDate of size \(size)", slice) }
            hasNonJSON = true
        case .string:
            string(slice)
        case .binary:
            let payload = slice.binaryValue!
            guard payload.endIndex == slice.offset + size else { fail("binary payload does not end the value", slice) }
            hasNonJSON = true
        case .custom:
            let payload = slice.customPayload!
            guard !payload.isEmpty, payload.endIndex == slice.offset + size else { fail("custom payload empty or misplaced", slice) }
            hasNonJSON = true
        case .array:
            array(slice, end: end)
        case .object:
            object(slice, end: end)
        case .external, .bcd, .reserved, .tagged:
            fail("validator (default options) accepted a \(type)", slice)
        }
    }

    func integer(_ slice: Slice) {
        guard slice.isInteger else { fail("integer type but not isInteger", slice) }
        let signed = slice.intValue
        let unsigned = slice.uintValue
        switch (signed, unsigned) {
        case (nil, nil):
            fail("integer with neither intValue nor uintValue", slice)
        case (let signed?, let unsigned?):
            guard signed >= 0, UInt64(signed) == unsigned else { fail("intValue \(signed) != uintValue \(unsigned)", slice) }
        case (let signed?, nil):
            guard signed < 0 else { fail("non-negative intValue \(signed) without uintValue", slice) }
        case (nil, let unsigned?):
            guard unsigned > UInt64(Int64.max) else { fail("uintValue \(unsigned) fits Int64 but intValue is nil", slice) }
        }
        guard slice.numberValue == Equality.number(slice) else {
            fail("numberValue \(String(describing: slice.numberValue)) is not the integer \(signed.map(String.init) ?? String(unsigned!))", slice)
        }
    }

    mutating func string(_ slice: Slice) {
        let bytes = slice.stringBytes!
        let header = slice.head == 0xbf ? 9 : 1
        guard header + bytes.count == slice.byteSize, bytes.startIndex == slice.offset + header else {
            fail("string bytes do not fill the value", slice)
        }
        guard let text = slice.stringValue else { fail("string without stringValue", slice) }
        if String(validating: bytes, as: UTF8.self) == nil {
            hasInvalidUTF8 = true
        } else if !text.utf8.elementsEqual(bytes) {
            fail("stringValue of valid UTF-8 differs from the bytes", slice)
        }
    }

    mutating func array(_ slice: Slice, end: Int) {
        let count = slice.count
        let valueEnd = slice.offset + slice.byteSize
        guard count >= 0, (count == 0) == slice.isEmptyCompound else { fail("count \(count) vs empty head", slice) }
        var offsets: [Int] = []
        for member in slice.arrayElements {
            guard offsets.count < count else { fail("iteration yields more than count \(count) members", slice) }
            guard member.offset > slice.offset, member.offset < valueEnd,
                  member.offset >= (offsets.last.map { $0 + 1 } ?? 0)
            else { fail("member \(offsets.count) at \(member.offset) out of place", slice) }
            offsets.append(member.offset)
            value(member, end: valueEnd)
        }
        guard offsets.count == count else { fail("iteration yields \(offsets.count) members, count is \(count)", slice) }
        for i in 1..<max(count, 1) where offsets[i - 1] + Slice(trustedBytes: input, offset: offsets[i - 1]).byteSize > offsets[i] {
            fail("members \(i - 1) and \(i) overlap", slice)
        }
        // Index access is O(n) a member for compact arrays: sample long ones.
        let step = slice.head == 0x13 && count > 256 ? count / 64 : 1
        for i in stride(from: 0, to: count, by: step) {
            guard slice[i]?.offset == offsets[i] else { fail("slice[\(i)] is not iteration member \(i)", slice) }
        }
        if count > 0, slice[count - 1]?.offset != offsets[count - 1] { fail("slice[last] is not the last member", slice) }
        guard slice[count] == nil, slice[-1] == nil else { fail("index out of range found a member", slice) }
    }

    mutating func object(_ slice: Slice, end: Int) {
        let count = slice.count
        let valueEnd = slice.offset + slice.byteSize
        guard count >= 0, (count == 0) == slice.isEmptyCompound else { fail("count \(count) vs empty head", slice) }
        var pairs: [(name: [UInt8], value: Slice)] = []
        for (key, member) in slice.objectMembers {
            guard pairs.count < count else { fail("objectMembers yields more than count \(count) pairs", slice) }
            guard key.offset > slice.offset, member.offset == key.offset + key.byteSize, member.offset < valueEnd else {
                fail("pair \(pairs.count): key at \(key.offset), value at \(member.offset) out of place", slice)
            }
            pairs.append((keyName(key, in: slice), member))
            value(key, end: member.offset)
            value(member, end: valueEnd)
        }
        guard pairs.count == count else { fail("objectMembers yields \(pairs.count) pairs, count is \(count)", slice) }

        // Iterating the object as an array gives the same values (in stored order).
        let stored = slice.arrayElements.map(\.offset)
        guard stored.count == count, stored.sorted() == pairs.map(\.value.offset).sorted() else {
            fail("arrayElements of an object are not its values", slice)
        }
        for i in 1..<max(stored.count, 1) where stored[i - 1] >= stored[i] { fail("arrayElements out of stored order", slice) }

        // Indexed objects come out sorted by key name (the validator checks the index order).
        if slice.head != 0x14 {
            for i in 1..<max(count, 1) where pairs[i].name.lexicographicallyPrecedes(pairs[i - 1].name) {
                fail("objectMembers of an indexed object not sorted by key", slice)
            }
        }

        var valuesByName: [[UInt8]: [Int]] = [:]
        for pair in pairs { valuesByName[pair.name, default: []].append(pair.value.offset) }
        if valuesByName.count != count { hasDuplicateKeys = true }
        for pair in pairs {
            let candidates = valuesByName[pair.name]!
            let found = pair.name.withUnsafeBufferPointer { slice.lookup($0) }
            guard let found else { fail("lookup of key \(Hex.encode(pair.name)) found nothing", slice) }
            guard candidates.contains(found.offset), candidates.count > 1 || found.offset == pair.value.offset else {
                fail("lookup of key \(Hex.encode(pair.name)) found the value at \(found.offset), not \(candidates)", slice)
            }
            if let name = String(validating: pair.name, as: UTF8.self) {
                guard slice[name]?.offset == found.offset else { fail("slice[\"\(name)\"] disagrees with lookup", slice) }
            }
        }
        // A name longer than every key and not among them is absent.
        let absent = (pairs.map(\.name).max { $0.lexicographicallyPrecedes($1) } ?? []) + [0xff, 0xff]
        if valuesByName[absent] == nil, absent.withUnsafeBufferPointer({ slice.lookup($0) }) != nil {
            fail("lookup of an absent key found a value", slice)
        }
    }

    /// The name bytes of a key; records integer keys and invalid UTF-8.
    mutating func keyName(_ key: Slice, in object: Slice) -> [UInt8] {
        if let bytes = key.stringBytes {
            if String(validating: bytes, as: UTF8.self) == nil {
                hasInvalidUTF8 = true
                hasInvalidUTF8Key = true
            }
            return Array(bytes)
        }
        guard key.isInteger, let id = key.uintValue, let name = AttributeTranslation.name(forId: id),
              key.keyName == name
        else { fail("object key is neither a string nor a known attribute id", key) }
        hasIntegerKeys = true
        return Array(name.utf8)
    }
}

// MARK: - Semantic equality

/// Compares two values: `.exact` keeps every type (only integer keys may have become names);
/// `.json` compares an original value with what its JSON dump parses back to.
struct Equality {
    enum Mode { case exact, json }
    let mode: Mode

    /// A description of the first difference, or `nil` when the values are equal.
    func difference(_ original: Slice, _ copy: Slice, path: String) -> String? {
        var left = original
        var right = copy
        if mode == .exact {
            guard left.tag == right.tag else { return "\(path): tags \(String(describing: left.tag)) vs \(String(describing: right.tag))" }
        }
        left = left.untagged
        right = right.untagged
        switch left.type {
        case .array:
            guard right.type == .array, left.count == right.count else { return "\(path): array of \(left.count) vs \(right.type) of \(right.count)" }
            for (i, (a, b)) in zip(left.arrayElements, right.arrayElements).enumerated() {
                if let difference = difference(a, b, path: "\(path)[\(i)]") { return difference }
            }
            return nil
        case .object:
            guard right.type == .object, left.count == right.count else { return "\(path): object of \(left.count) vs \(right.type) of \(right.count)" }
            let pairs = left.objectMembers.map { (name: Self.name($0.key), value: $0.value) }
            // Repeated keys cannot be compared by lookup.
            guard Set(pairs.map(\.name)).count == pairs.count else { return nil }
            for pair in pairs {
                guard let other = pair.name.withUnsafeBufferPointer({ right.lookup($0) }) else {
                    return "\(path): key \(Hex.encode(pair.name)) missing"
                }
                if let difference = difference(pair.value, other, path: "\(path).\(String(decoding: pair.name, as: UTF8.self))") {
                    return difference
                }
            }
            return nil
        default:
            return mode == .exact ? exactScalar(left, right, path) : jsonScalar(left, right, path)
        }
    }

    func exactScalar(_ left: Slice, _ right: Slice, _ path: String) -> String? {
        left.bytes.elementsEqual(right.bytes) ? nil : "\(path): \(Hex.encode(left.bytes)) vs \(Hex.encode(right.bytes))"
    }

    func jsonScalar(_ left: Slice, _ right: Slice, _ path: String) -> String? {
        let shown = "\(path): \(Hex.encode(left.bytes.prefix(40))) vs \(Hex.encode(right.bytes.prefix(40)))"
        switch left.type {
        case .null, .none, .illegal, .minKey, .maxKey, .utcDate, .binary, .custom:
            return right.isNull ? nil : shown
        case .bool:
            return right.boolValue == left.boolValue ? nil : shown
        case .string:
            return right.isString && left.stringBytes!.elementsEqual(right.stringBytes!) ? nil : shown
        case .int, .uint, .smallInt:
            guard right.isInteger else { return shown }
            return left.intValue == right.intValue && left.uintValue == right.uintValue ? nil : shown
        case .double:
            let value = left.doubleValue!
            if !value.isFinite { return right.isNull ? nil : shown }
            return Self.number(right) == value ? nil : shown
        default:
            return "\(path): unexpected \(left.type)"
        }
    }

    /// A number as `Double`, computed here rather than by `Slice.numberValue` (which is
    /// under test): integers through `intValue`/`uintValue`, doubles by their bits.
    static func number(_ slice: Slice) -> Double? {
        if let signed = slice.intValue { return Double(signed) }
        if let unsigned = slice.uintValue { return Double(unsigned) }
        return slice.doubleValue
    }

    static func name(_ key: Slice) -> [UInt8] {
        if let bytes = key.stringBytes { return Array(bytes) }
        return Array((key.keyName ?? "").utf8)
    }
}
