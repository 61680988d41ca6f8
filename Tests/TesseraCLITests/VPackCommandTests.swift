import Foundation
import Testing
import TesseraProcessSupport

/// Runs the `tessera` executable built next to this test bundle.
struct Tessera {
    struct Outcome {
        let status: Int32
        let standardOutput: [UInt8]
        let standardError: String
        var text: String { String(decoding: standardOutput, as: UTF8.self) }
    }

    /// Runs `tessera arguments…` (or another `program`) with `input` on standard input.
    static func run(_ arguments: [String], input: [UInt8] = [], program: URL = TesseraExecutable.url) throws -> Outcome {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        // A program that exits without reading its input (help, a refused command line) closes
        // the pipe: the write then fails with EPIPE instead of a SIGPIPE ending this process.
        signal(SIGPIPE, SIG_IGN)
        try process.run()
        try? stdin.fileHandleForWriting.write(contentsOf: Data(input))
        try? stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit, "tessera \(arguments) ended by a signal")
        return Outcome(status: process.terminationStatus, standardOutput: Array(output),
                       standardError: String(decoding: errors, as: UTF8.self))
    }

    static func run(_ arguments: [String], text: String, program: URL = TesseraExecutable.url) throws -> Outcome {
        try run(arguments, input: Array(text.utf8), program: program)
    }
}

@Suite("tessera vpack")
struct VPackCommandTests {
    @Test func encodeWritesTheReferenceBytes() throws {
        let hex = try Tessera.run(["vpack", "encode", "--hex"], text: #"{"b":2,"a":1}"#)
        #expect(hex.status == 0)
        #expect(hex.text == "0b0b02416232416131 0603\n".replacingOccurrences(of: " ", with: ""))
        let raw = try Tessera.run(["vpack", "encode"], text: "[1,2,3]")
        #expect(raw.standardOutput == [0x02, 0x05, 0x31, 0x32, 0x33])
    }

    @Test func decodeReadsRawAndHex() throws {
        let raw = try Tessera.run(["vpack", "decode"], input: [0x02, 0x05, 0x31, 0x32, 0x33])
        #expect(raw.text == "[1,2,3]\n")
        let hex = try Tessera.run(["vpack", "decode", "--hex"], text: "14 06 41 61 31 01\n")
        #expect(hex.text == #"{"a":1}"# + "\n")
        let pretty = try Tessera.run(["vpack", "decode", "--hex", "--pretty"], text: "1406416131 01")
        #expect(pretty.text == "{\n  \"a\": 1\n}\n")
    }

    @Test func decodeOfNonJSONTypesFollowsTheOption() throws {
        let failing = try Tessera.run(["vpack", "decode", "--hex"], text: "1e")
        #expect(failing.status == 1)
        #expect(failing.standardError == "error: unsupportedType at byte 0: min-key has no JSON equivalent\n")
        let nulls = try Tessera.run(["vpack", "decode", "--hex", "--unsupported", "null"], text: "1e")
        #expect(nulls.text == "null\n")
    }

    @Test func validateExitsZeroOrNamesTheFault() throws {
        let good = try Tessera.run(["vpack", "validate", "--hex"], text: "0205313233")
        #expect(good.status == 0)
        #expect(good.standardError.isEmpty)
        let bad = try Tessera.run(["vpack", "validate", "--hex"], text: "0206312001 32")
        #expect(bad.status == 1)
        #expect(bad.standardError.hasPrefix("error: memberSizeMismatch at byte 3"))
        #expect(bad.standardError.filter { $0 == "\n" }.count == 1)
        let strict = try Tessera.run(["vpack", "validate", "--hex", "--strict"], text: "42c328")
        #expect(strict.status == 1)
        #expect(strict.standardError.hasPrefix("error: invalidUTF8 at byte 1"))
    }

    @Test func badInputGetsOneLineAndExitOne() throws {
        let cases: [([String], String, String)] = [
            (["vpack", "encode"], "[1,", "error: unexpectedEnd at byte 3"),
            (["vpack", "encode"], "", "error: unexpectedEnd at byte 0"),
            (["vpack", "decode", "--hex"], "0g", "error: invalid hex at character 1"),
            (["vpack", "decode", "--hex"], "123", "error: invalid hex at character"),
            (["vpack", "validate"], "", "error: emptyInput at byte 0"),
            (["vpack", "validate", "--hex"], "ff", "error: truncated at byte 0"),
            (["vpack", "decode", "/nonexistent/file.vpack"], "", "error: cannot open /nonexistent/file.vpack"),
        ]
        for (arguments, input, expected) in cases {
            let outcome = try Tessera.run(arguments, text: input)
            #expect(outcome.status == 1, "\(arguments) \(input)")
            #expect(outcome.standardError.hasPrefix(expected), "\(arguments) \(input): \(outcome.standardError)")
            #expect(outcome.standardOutput.isEmpty)
        }
    }

    @Test func encodeLinesConvertsEachLine() throws {
        let outcome = try Tessera.run(["vpack", "encode", "--lines"], text: "[1,2]\n{\"a\":\nnull\n")
        #expect(outcome.text == "02043132\nerror: unexpectedEnd at byte 5: expected a value\n18\n")
    }

    @Test func filesAreReadFromTheArgument() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let json = folder.appendingPathComponent("doc.json")
        try Data(#"{"name":"Ada","born":1815}"#.utf8).write(to: json)
        let encoded = try Tessera.run(["vpack", "encode", json.path])
        let vpack = folder.appendingPathComponent("doc.vpack")
        try Data(encoded.standardOutput).write(to: vpack)
        #expect(try Tessera.run(["vpack", "validate", vpack.path]).status == 0)
        #expect(try Tessera.run(["vpack", "decode", vpack.path]).text == #"{"born":1815,"name":"Ada"}"# + "\n")
    }

    /// `{"a":[{"a":[ … 0 … ]}]}` nested `depth` levels (objects and arrays alternating).
    static func nested(depth: Int) -> String {
        var text = ""
        for level in 0..<depth { text += level % 2 == 0 ? #"{"a":"# : "[" }
        text += "0"
        for level in (0..<depth).reversed() { text += level % 2 == 0 ? "}" : "]" }
        return text
    }

    /// The offline tools convert files nested deeper than the server's limit for network
    /// input: a real 403-level file, and one at the default `--max-depth`, which also checks
    /// that the stack reserved per level suffices (the debug build's frames are the largest).
    @Test(arguments: [403, 100_000])
    func deepNestingRoundTrips(_ depth: Int) throws {
        let json = Self.nested(depth: depth)
        let encoded = try Tessera.run(["vpack", "encode"], text: json)
        #expect(encoded.status == 0, "\(encoded.standardError)")
        #expect(try Tessera.run(["vpack", "validate"], input: encoded.standardOutput).status == 0)
        let decoded = try Tessera.run(["vpack", "decode"], input: encoded.standardOutput)
        #expect(decoded.status == 0, "\(decoded.standardError)")
        // Compared without printing: a failure message holding the whole file is no help.
        let same = decoded.text == json + "\n"
        #expect(same, "decoded text differs (\(decoded.standardOutput.count) bytes, expected \(json.utf8.count + 1))")
    }

    @Test func decodeChecksUTF8AndUniqueKeysWhenAsked() throws {
        #expect(try Tessera.run(["vpack", "decode", "--hex"], text: "42c328").status == 0)
        let badUTF8 = try Tessera.run(["vpack", "decode", "--hex", "--validate-utf8"], text: "42c328")
        #expect(badUTF8.status == 1)
        #expect(badUTF8.standardError.hasPrefix("error: invalidUTF8"))
        let repeated = try Tessera.run(["vpack", "encode"], text: #"{"a":1,"a":2}"#)
        #expect(try Tessera.run(["vpack", "decode"], input: repeated.standardOutput).status == 0)
        let refused = try Tessera.run(["vpack", "decode", "--unique-keys"], input: repeated.standardOutput)
        #expect(refused.status == 1)
        #expect(refused.standardError.hasPrefix("error: duplicateKey"))
    }

    @Test func maxDepthRefusesDeeperInput() throws {
        let json = Self.nested(depth: 403)
        let refused = try Tessera.run(["vpack", "encode", "--max-depth", "402"], text: json)
        #expect(refused.status == 1)
        #expect(refused.standardError.hasPrefix("error: nestingTooDeep"))
        let encoded = try Tessera.run(["vpack", "encode", "--max-depth", "403"], text: json)
        #expect(encoded.status == 0)
        let decodeRefused = try Tessera.run(["vpack", "decode", "--max-depth", "402"], input: encoded.standardOutput)
        #expect(decodeRefused.status == 1)
        #expect(decodeRefused.standardError.hasPrefix("error: nestingTooDeep"))
        #expect(try Tessera.run(["vpack", "validate", "--max-depth", "0"], input: encoded.standardOutput).status != 0)
    }

    @Test func versionNamesTheLinkedLibUV() throws {
        let outcome = try Tessera.run(["--version"])
        #expect(outcome.status == 0)
        #expect(outcome.text.hasPrefix("tessera 0.1.0 (libuv 1."))
    }

    @Test func outputGoesToTheNamedFileAndAFileThatCannotBeCreatedIsAnError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vpack-output-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let vpack = directory.appendingPathComponent("a.vpack").path
        let json = directory.appendingPathComponent("a.json").path
        // An existing file is truncated, not appended to.
        FileManager.default.createFile(atPath: vpack, contents: Data(repeating: 0xff, count: 100))
        let encoded = try Tessera.run(["vpack", "encode", "-o", vpack], text: #"{"a":[1,2]}"#)
        #expect(encoded.status == 0 && encoded.standardOutput.isEmpty, "\(encoded.standardError)")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: vpack))) == [0x14, 0x09, 0x41, 0x61, 0x02, 0x04, 0x31, 0x32, 0x01])
        let decoded = try Tessera.run(["vpack", "decode", vpack, "--output", json])
        #expect(decoded.status == 0 && decoded.standardOutput.isEmpty, "\(decoded.standardError)")
        #expect(try String(contentsOfFile: json, encoding: .utf8) == #"{"a":[1,2]}"# + "\n")
        let refused = try Tessera.run(["vpack", "encode", "-o", directory.path + "/missing/x.vpack"], text: "[1]")
        #expect(refused.status == 1 && refused.standardError.contains("cannot create"), "\(refused.standardError)")
    }
}
