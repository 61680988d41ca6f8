import Testing
import VectorFileSupport
import VelocyPack

// The golden vectors in `Protocol/vectors/vpack/` are the compatibility contract of the
// VelocyPack layer: changing one is a protocol change and says so in its commit.
//
// Three files, one JSON object per line, read here with our own JSONParser and Slice:
//
//   valid.jsonl         {"name", "hex", "json"?, "options"?, "dump"?}
//       `hex` validates with default options. With `json`, parsing that text (with
//       `options.compact`: compact arrays and objects) builds exactly `hex`; every such `hex`
//       was printed by the reference C++ builder. `dump` is our dumper's output with default
//       options: absent on a `json` vector means "the same text as `json`", `null` means "not
//       checked" (the bytes are not valid UTF-8); a vector without `json` is dumped only when
//       it has a `dump`.
//   invalid.jsonl       {"name", "hex", "error", "offset", "options"?, "reference"}
//       The Validator refuses `hex` with exactly that code and byte offset. `reference` says
//       whether the reference validator (default options) "rejects" or "accepts" the bytes.
//   json-invalid.jsonl  {"name", "json" | "jsonHex", "error", "offset", "options"?, "reference"}
//       JSONParser refuses the text (or the raw bytes of `jsonHex`) with that code and offset.
//
// Validator options: "strict" (Validator.Options.strict as the base), "utf8", "uniqueKeys",
// "nestingLimit", "byteCountMax". Parser options: "utf8", "uniqueKeys", "nestingLimit".

@Suite("Golden vectors")
struct GoldenVectorTests {
    /// Vectors that state the contract but fail today, with the reason. Each runs under
    /// `withKnownIssue`, which fails once the bug is fixed: then delete its entry here.

    @Test("valid.jsonl: validates, re-encodes byte for byte, dumps as recorded", arguments: GoldenVectors.valid)
    func validVector(_ vector: ValidVector) {
        check(vector)
    }

    func check(_ vector: ValidVector) {
        if let problem = vector.problem {
            Issue.record("\(vector.location): \(problem)")
            return
        }
        do {
            try Validator().validate(vector.bytes)
        } catch {
            Issue.record("\(vector.name): the validator refuses the vector: \(error)")
            return
        }
        if let json = vector.json {
            let options = JSONParser.Options(
                builder: .init(buildUnindexedArrays: vector.compact, buildUnindexedObjects: vector.compact))
            do {
                let built = try JSONParser.parse(json, options: options).bytes
                let identical = built == vector.bytes  // not inside #expect: it would print every byte
                #expect(identical, "\(vector.name): re-encoding differs: \(Self.difference(built, vector.bytes))")
            } catch {
                Issue.record("\(vector.name): the parser refuses the vector's json: \(error)")
            }
        }
        if let dump = vector.dump {
            do {
                let written = try JSONDumper.dump(Slice(trustedBytes: vector.bytes))
                let identical = written == dump
                #expect(identical, "\(vector.name): dump differs: \(Self.difference(written, dump, asText: true))")
            } catch {
                Issue.record("\(vector.name): the dumper refuses the vector: \(error)")
            }
        }
    }

    @Test("invalid.jsonl: the validator refuses with the recorded code and offset", arguments: GoldenVectors.invalid)
    func invalidVector(_ vector: InvalidVector) {
        if let problem = vector.problem {
            Issue.record("\(vector.location): \(problem)")
            return
        }
        do {
            try Validator(options: vector.options).validate(vector.bytes)
            Issue.record("\(vector.name): accepted, expected \(vector.expected)")
        } catch {
            #expect(error == vector.expected, "\(vector.name): got \(error), expected \(vector.expected)")
        }
    }

    @Test("json-invalid.jsonl: the parser refuses with the recorded code and offset", arguments: GoldenVectors.jsonInvalid)
    func invalidJSON(_ vector: InvalidJSONVector) {
        if let problem = vector.problem {
            Issue.record("\(vector.location): \(problem)")
            return
        }
        do {
            _ = try JSONParser.parse(vector.text, options: vector.options)
            Issue.record("\(vector.name): accepted, expected \(vector.expected)")
        } catch {
            #expect(error == vector.expected, "\(vector.name): got \(error), expected \(vector.expected)")
        }
    }

    @Test("the vector files are complete: enough vectors, unique kebab-case names")
    func filesAreComplete() {
        #expect(GoldenVectors.valid.count >= 150, "valid.jsonl has \(GoldenVectors.valid.count) vectors")
        #expect(GoldenVectors.invalid.count >= 60, "invalid.jsonl has \(GoldenVectors.invalid.count) vectors")
        #expect(GoldenVectors.jsonInvalid.count >= 25, "json-invalid.jsonl has \(GoldenVectors.jsonInvalid.count) vectors")
        let names = GoldenVectors.valid.map(\.name) + GoldenVectors.invalid.map(\.name)
            + GoldenVectors.jsonInvalid.map(\.name)
        var seen: Set<String> = []
        for name in names {
            #expect(seen.insert(name).inserted, "vector name \(name) is used twice")
            let isKebab = !name.isEmpty && name.utf8.allSatisfy {
                ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                    || $0 == UInt8(ascii: "-")
            }
            #expect(isKebab, "vector name \(name) is not kebab-case")
        }
    }

    /// Where two byte strings first differ, short enough for a failure message.
    static func difference(_ actual: [UInt8], _ expected: [UInt8], asText: Bool = false) -> String {
        let common = min(actual.count, expected.count)
        let first = (0..<common).first { actual[$0] != expected[$0] } ?? common
        let from = max(0, first - 8)
        func excerpt(_ bytes: [UInt8]) -> String {
            let part = Array(bytes[min(from, bytes.count)..<min(first + 16, bytes.count)])
            return asText ? String(decoding: part, as: UTF8.self).debugDescription : Hex.encode(part)
        }
        return "\(actual.count) bytes vs \(expected.count) expected; first difference at byte \(first): "
            + "got …\(excerpt(actual))…, expected …\(excerpt(expected))…"
    }
}

// MARK: - Vectors

/// A valid encoding: it validates, and may re-encode from JSON and dump.
struct ValidVector: Sendable, CustomTestStringConvertible {
    var location = ""
    var name = ""
    var bytes: [UInt8] = []
    /// JSON text that builds exactly ``bytes``.
    var json: [UInt8]?
    var compact = false
    /// The expected dump; nil when not checked.
    var dump: [UInt8]?
    /// Why the line could not be read as a vector.
    var problem: String?
    var testDescription: String { name.isEmpty ? location : name }
}

/// Malformed VelocyPack and the exact error the validator gives.
struct InvalidVector: Sendable, CustomTestStringConvertible {
    var location = ""
    var name = ""
    var bytes: [UInt8] = []
    var options = Validator.Options.default
    var expected = VPackError(.emptyInput, at: 0)
    var problem: String?
    var testDescription: String { name.isEmpty ? location : name }
}

/// Malformed JSON text and the exact error the parser gives.
struct InvalidJSONVector: Sendable, CustomTestStringConvertible {
    var location = ""
    var name = ""
    var text: [UInt8] = []
    var options = JSONParser.Options.default
    var expected = VPackError(.emptyInput, at: 0)
    var problem: String?
    var testDescription: String { name.isEmpty ? location : name }
}

/// Reads the vector files once per test process.
enum GoldenVectors {
    /// The repository root: two directories above this file (`Tests/VelocyPackTests/`).
    static let root: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)
        return components.joined(separator: "/")
    }()

    static let directory = root + "/Protocol/vectors/vpack"

    static let valid: [ValidVector] = records("valid.jsonl").map { record in
        var vector = ValidVector(location: record.location)
        do throws(VectorFormatError) {
            let fields = try record.fields(required: ["name", "hex"], optional: ["json", "options", "dump"])
            vector.name = try fields.string("name")
            vector.bytes = try fields.hex("hex")
            vector.json = try fields.optionalBytes("json")
            if let options = try fields.optionalObject("options") {
                vector.compact = try options.flag("compact")
                try options.only(["compact"])
            }
            if fields["dump"]?.isNull == true {
                vector.dump = nil
            } else {
                vector.dump = try fields.optionalBytes("dump") ?? vector.json
            }
        } catch {
            vector.problem = error.message
        }
        return vector
    }

    static let invalid: [InvalidVector] = records("invalid.jsonl").map { record in
        var vector = InvalidVector(location: record.location)
        do throws(VectorFormatError) {
            let fields = try record.fields(
                required: ["name", "hex", "error", "offset", "reference"], optional: ["options"])
            vector.name = try fields.string("name")
            vector.bytes = try fields.hex("hex")
            vector.expected = try fields.error()
            try fields.reference()
            if let options = try fields.optionalObject("options") {
                try options.only(["strict", "utf8", "uniqueKeys", "nestingLimit", "byteCountMax"])
                var chosen: Validator.Options = try options.flag("strict") ? .strict : .default
                if try options.flag("utf8") { chosen.validateUTF8 = true }
                if try options.flag("uniqueKeys") { chosen.checkUniqueKeys = true }
                if let limit = try options.optionalInt("nestingLimit") { chosen.nestingLimit = limit }
                if let limit = try options.optionalInt("byteCountMax") { chosen.byteCountMax = limit }
                vector.options = chosen
            }
        } catch {
            vector.problem = error.message
        }
        return vector
    }

    static let jsonInvalid: [InvalidJSONVector] = records("json-invalid.jsonl").map { record in
        var vector = InvalidJSONVector(location: record.location)
        do throws(VectorFormatError) {
            let fields = try record.fields(
                required: ["name", "error", "offset", "reference"], optional: ["json", "jsonHex", "options"])
            vector.name = try fields.string("name")
            let text = try fields.optionalBytes("json")
            switch (text, fields["jsonHex"]) {
            case (let text?, nil): vector.text = text
            case (nil, .some): vector.text = try fields.hex("jsonHex")
            default: throw VectorFormatError("needs exactly one of json and jsonHex")
            }
            vector.expected = try fields.error()
            try fields.reference()
            if let options = try fields.optionalObject("options") {
                try options.only(["utf8", "uniqueKeys", "nestingLimit"])
                var chosen = JSONParser.Options.default
                if try options.flag("utf8") { chosen.validateUTF8 = true }
                if try options.flag("uniqueKeys") { chosen.rejectDuplicateKeys = true }
                if let limit = try options.optionalInt("nestingLimit") { chosen.nestingLimit = limit }
                vector.options = chosen
            }
        } catch {
            vector.problem = error.message
        }
        return vector
    }

    /// The non-empty lines of a vector file, or one record naming the problem when the file
    /// cannot be read (the count test then fails too).
    static func records(_ file: String) -> [Record] {
        guard let lines = VectorFiles.lines(of: file, in: directory) else {
            return [Record(location: file, line: [], readProblem: "cannot read \(directory)/\(file)")]
        }
        return lines.map { Record(location: $0.location, line: $0.bytes, readProblem: nil) }
    }
}

// MARK: - Reading one line

struct VectorFormatError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// One line of a vector file.
struct Record: Sendable {
    let location: String
    let line: [UInt8]
    let readProblem: String?

    /// Parses the line as a JSON object with exactly the given fields.
    func fields(required: [String], optional: [String]) throws(VectorFormatError) -> Fields {
        if let readProblem { throw VectorFormatError(readProblem) }
        let object: Slice
        do throws(VPackError) {
            object = try JSONParser.parse(line).slice
        } catch {
            throw VectorFormatError("not JSON: \(error)")
        }
        let fields = Fields(object: object)
        guard object.isObject else { throw VectorFormatError("not a JSON object") }
        try fields.only(required + optional)
        for name in required where object[name] == nil {
            throw VectorFormatError("missing field \(name)")
        }
        return fields
    }
}

/// Typed access to the fields of a vector (or of its options).
struct Fields {
    let object: Slice

    subscript(name: String) -> Slice? { object[name] }

    /// Throws when the object has a field not in `names`, so a misspelt option cannot be
    /// silently ignored.
    func only(_ names: [String]) throws(VectorFormatError) {
        for (key, _) in object.objectMembers {
            let name = key.keyName ?? "?"
            guard names.contains(name) else { throw VectorFormatError("unexpected field \(name)") }
        }
    }

    func string(_ name: String) throws(VectorFormatError) -> String {
        guard let value = object[name]?.stringValue else { throw VectorFormatError("\(name) must be a string") }
        return value
    }

    func optionalBytes(_ name: String) throws(VectorFormatError) -> [UInt8]? {
        guard let value = object[name] else { return nil }
        guard let bytes = value.stringBytes else { throw VectorFormatError("\(name) must be a string") }
        return Array(bytes)
    }

    func hex(_ name: String) throws(VectorFormatError) -> [UInt8] {
        let text = try string(name)
        let bytes: [UInt8]
        do throws(Hex.DecodingError) {
            bytes = try Hex.decode(text)
        } catch {
            throw VectorFormatError("\(name): \(error)")
        }
        // The files hold canonical hex: lowercase, no separators.
        guard Hex.encode(bytes) == text else { throw VectorFormatError("\(name) is not lowercase hex without spaces") }
        return bytes
    }

    func optionalObject(_ name: String) throws(VectorFormatError) -> Fields? {
        guard let value = object[name] else { return nil }
        guard value.isObject else { throw VectorFormatError("\(name) must be an object") }
        return Fields(object: value)
    }

    func flag(_ name: String) throws(VectorFormatError) -> Bool {
        guard let value = object[name] else { return false }
        guard let flag = value.boolValue else { throw VectorFormatError("\(name) must be true or false") }
        return flag
    }

    func optionalInt(_ name: String) throws(VectorFormatError) -> Int? {
        guard let value = object[name] else { return nil }
        guard let number = value.intValue, number >= 0 else { throw VectorFormatError("\(name) must be a count") }
        return Int(number)
    }

    /// The expected error from "error" (a ``VPackError/Code`` raw value) and "offset".
    func error() throws(VectorFormatError) -> VPackError {
        let name = try string("error")
        guard let code = VPackError.Code(rawValue: name) else { throw VectorFormatError("unknown error code \(name)") }
        guard let offset = try optionalInt("offset") else { throw VectorFormatError("offset is missing") }
        return VPackError(code, at: offset)
    }

    /// Checks the "reference" field: what the reference implementation does with the input.
    func reference() throws(VectorFormatError) {
        let value = try string("reference")
        guard value == "rejects" || value == "accepts" else {
            throw VectorFormatError("reference must be \"rejects\" or \"accepts\", not \(value)")
        }
    }
}
