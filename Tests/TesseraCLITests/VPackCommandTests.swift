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

    /// Runs `tessera arguments…` with `input` on standard input.
    static func run(_ arguments: [String], input: [UInt8] = []) throws -> Outcome {
        let process = Process()
        process.executableURL = TesseraExecutable.url
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit, "tessera \(arguments) ended by a signal")
        return Outcome(status: process.terminationStatus, standardOutput: Array(output),
                       standardError: String(decoding: errors, as: UTF8.self))
    }

    static func run(_ arguments: [String], text: String) throws -> Outcome {
        try run(arguments, input: Array(text.utf8))
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

    @Test func versionNamesTheLinkedLibUV() throws {
        let outcome = try Tessera.run(["--version"])
        #expect(outcome.status == 0)
        #expect(outcome.text.hasPrefix("tessera 0.1.0 (libuv 1."))
    }
}
