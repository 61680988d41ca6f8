// libFuzzer target: the JSON parser, which turns untrusted text into VelocyPack.
//
// Properties beyond "does not crash", for text the parser accepts:
//
// - Its bytes pass the Validator (and, when UTF-8 was validated, the UTF-8 check too).
// - Canonical form: dump → parse gives the same bytes, except that a double with an integral
//   value below 2^53 comes back as that integer (the dumper writes `100`, not `100.0`, as the
//   reference dumper does; `1e2` parses to a double, `100` to a uint, and `-0.0` dumps as
//   `-0`, which parses to 0); from the second parse on, dump → parse gives the same bytes and
//   dumping again the same text.
// - Options agree with each other and with the Validator: `validateUTF8` accepts the same
//   bytes or refuses exactly the texts whose lenient parse holds invalid UTF-8;
//   `rejectDuplicateKeys` refuses exactly the values `checkUniqueKeys` refuses.
// - Framing: two dumps one after another parse (with `allowMultipleValues`) to the two
//   values one after another; parsing into a builder with an open array appends the value,
//   and a failed parse leaves that builder exactly as it was.
//
// Build and run with `Fuzz/run.sh` (compiled together with Sources/VelocyPack in one module).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    JSONParserFuzz.check(input)
    return 0
}

/// Stops the run with a message that names the property; libFuzzer saves the input.
func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = String(decoding: input.prefix(200), as: UTF8.self)
    fatalError("FuzzJSONParser property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum JSONParserFuzz {
    static func parse(_ text: [UInt8], _ options: JSONParser.Options = .default) -> Result<Builder, VPackError> {
        Result { () throws(VPackError) in try JSONParser.parse(text, options: options) }
    }

    static func check(_ input: [UInt8]) {
        let lenient = parse(input)
        checkIntoOpenBuilder(input, lenient: lenient)
        checkUTF8Option(input, lenient: lenient)
        checkDuplicateOption(input, lenient: lenient)
        guard case .success(let builder) = lenient else { return }
        checkAccepted(builder, options: .default, input)
    }

    /// Properties of one accepted parse.
    static func checkAccepted(_ builder: Builder, options: JSONParser.Options, _ input: [UInt8]) {
        guard builder.isClosed, !builder.bytes.isEmpty else { violated("accepted parse left an open or empty builder", input) }
        let vpack = builder.bytes
        let validator = Validator(options: Validator.Options(validateUTF8: options.validateUTF8))
        do throws(VPackError) {
            try validator.validate(vpack)
        } catch {
            violated("parser output does not validate: \(error); vpack: \(Hex.encode(vpack.prefix(200)))", input)
        }
        let json: [UInt8]
        do throws(VPackError) {
            json = try JSONDumper.dump(builder.slice)
        } catch {
            violated("parser output does not dump: \(error)", input)
        }
        let again: Builder
        switch parse(json, options) {
        case .success(let value): again = value
        case .failure(let error): violated("dump does not parse: \(error); json: \(show(json))", input)
        }
        let expected = integralDoublesAsIntegers(builder.slice)
        guard again.bytes == expected else {
            violated("dump → parse changed the bytes: \(Hex.encode(expected.prefix(100))) vs \(Hex.encode(again.bytes.prefix(100))); json: \(show(json))", input)
        }
        // From the second parse on, the round trip is exact in bytes and in text.
        let json2: [UInt8]
        let third: Builder
        do throws(VPackError) {
            json2 = try JSONDumper.dump(again.slice)
            third = try JSONParser.parse(json2, options: options)
        } catch {
            violated("second dump or its parse threw: \(error)", input)
        }
        guard third.bytes == again.bytes else {
            violated("second round trip changed the bytes; json: \(show(json2))", input)
        }
        do throws(VPackError) {
            let json3 = try JSONDumper.dump(third.slice)
            guard json3 == json2 else { violated("dump is not stable: \(show(json2)) vs \(show(json3))", input) }
        } catch {
            violated("third dump threw: \(error)", input)
        }

        // Framing: two dumps in one text are the two values in order.
        var multiple = options
        multiple.allowMultipleValues = true
        switch parse(json + [0x20] + json, multiple) {
        case .success(let pair):
            guard pair.bytes == again.bytes + again.bytes else { violated("two values in one text are not the two values", input) }
        case .failure(let error):
            violated("two dumps in one text do not parse: \(error)", input)
        }
    }

    /// With `validateUTF8` the parser gives the same bytes, or refuses exactly when the
    /// lenient parse produced invalid UTF-8 (raw bytes or lone surrogate escapes).
    static func checkUTF8Option(_ input: [UInt8], lenient: Result<Builder, VPackError>) {
        let strict = parse(input, JSONParser.Options(validateUTF8: true))
        switch (lenient, strict) {
        case (.success(let loose), .success(let tight)):
            guard loose.bytes == tight.bytes else { violated("validateUTF8 changed the bytes", input) }
            checkAccepted(tight, options: JSONParser.Options(validateUTF8: true), input)
        case (.success(let loose), .failure(let error)):
            guard error.code == .invalidUTF8 || error.code == .invalidSurrogate else {
                violated("validateUTF8 refused with \(error) what the lenient parse accepted", input)
            }
            guard (try? Validator(options: Validator.Options(validateUTF8: true)).validate(loose.bytes)) == nil else {
                violated("validateUTF8 refused (\(error)) text whose lenient parse is valid UTF-8", input)
            }
        case (.failure(let error), .success):
            violated("validateUTF8 accepted what the lenient parse refused (\(error))", input)
        case (.failure, .failure):
            break
        }
    }

    /// `rejectDuplicateKeys` refuses exactly the values the validator's unique-key check refuses.
    static func checkDuplicateOption(_ input: [UInt8], lenient: Result<Builder, VPackError>) {
        let unique = parse(input, JSONParser.Options(rejectDuplicateKeys: true))
        switch (lenient, unique) {
        case (.success(let loose), .success(let checked)):
            guard loose.bytes == checked.bytes else { violated("rejectDuplicateKeys changed the bytes", input) }
            guard (try? Validator(options: Validator.Options(checkUniqueKeys: true)).validate(checked.bytes)) != nil else {
                violated("rejectDuplicateKeys accepted a value with a repeated key", input)
            }
        case (.success(let loose), .failure(let error)):
            guard error.code == .duplicateKey else {
                violated("rejectDuplicateKeys refused with \(error) what the lenient parse accepted", input)
            }
            guard (try? Validator(options: Validator.Options(checkUniqueKeys: true)).validate(loose.bytes)) == nil else {
                violated("rejectDuplicateKeys refused a value without repeated keys", input)
            }
        case (.failure(let error), .success):
            violated("rejectDuplicateKeys accepted what the lenient parse refused (\(error))", input)
        case (.failure, .failure):
            break
        }
    }

    /// Parsing into a builder with an open array: success appends one member; failure leaves
    /// the builder as it was, still usable.
    static func checkIntoOpenBuilder(_ input: [UInt8], lenient: Result<Builder, VPackError>) {
        var outer = Builder()
        outer.openArray()
        outer.add(Int64(1000))
        let before = outer.bytes
        let outcome = Result { () throws(VPackError) in try JSONParser.parse(input, into: &outer) }
        switch (outcome, lenient) {
        case (.success, .success(let alone)):
            do throws(VPackError) {
                try outer.close()
            } catch {
                violated("closing the outer array threw \(error)", input)
            }
            let array = outer.slice
            guard array.count == 2, array[0]?.intValue == 1000, let member = array[1],
                  member.bytes.elementsEqual(alone.bytes)
            else { violated("parse into an open array did not append the value", input) }
        case (.failure(let error), .failure(let aloneError)):
            guard error == aloneError else { violated("parse into a builder failed with \(error), alone with \(aloneError)", input) }
            guard outer.bytes == before else { violated("failed parse changed the builder's bytes", input) }
            outer.add(true)
            do throws(VPackError) {
                try outer.close()
                try Validator().validate(outer.bytes)
            } catch {
                violated("builder unusable after a failed parse: \(error)", input)
            }
            guard outer.slice.count == 2, outer.slice[1]?.boolValue == true else {
                violated("builder after a failed parse does not hold [1000, true]", input)
            }
        case (.success, .failure(let error)):
            violated("parse into a builder accepted what a parse alone refused (\(error))", input)
        case (.failure(let error), .success):
            violated("parse into a builder refused (\(error)) what a parse alone accepted", input)
        }
    }

    /// The bytes the parser gives for the dump of `slice` (parser output): the same value
    /// with every integral double below 2^53 as an integer (uint when not negative, as the
    /// parser types `100` and `-0`), object members in the order the dump writes them.
    static func integralDoublesAsIntegers(_ slice: Slice) -> [UInt8] {
        var builder = Builder()
        rebuild(slice, into: &builder)
        return builder.bytes
    }

    static func rebuild(_ slice: Slice, into builder: inout Builder) {
        switch slice.type {
        case .double:
            let value = slice.doubleValue!
            if value == value.rounded(.towardZero) && value.magnitude < 9_007_199_254_740_992 {
                if value >= 0 { builder.add(UInt64(value)) } else { builder.add(Int64(value)) }
            } else {
                builder.add(slice)
            }
        case .array:
            builder.openArray()
            for member in slice.arrayElements { rebuild(member, into: &builder) }
            try! builder.close()  // Cannot throw: no uniqueness check in the default options.
        case .object:
            builder.openObject()
            // Index order: the dump writes members sorted by key, and the re-parse stores them so.
            for (key, value) in slice.objectMembers {
                key.stringBytes!.withUnsafeBufferPointer { builder.addKey(utf8: $0) }
                rebuild(value, into: &builder)
            }
            try! builder.close()
        default:
            builder.add(slice)
        }
    }

    static func show(_ json: [UInt8]) -> String {
        String(decoding: json.prefix(200), as: UTF8.self)
    }
}
