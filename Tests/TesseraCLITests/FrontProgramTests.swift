import Foundation
import Testing
import TesseraProcessSupport

/// `tessera` runs `vpack` itself and hands every other command to `tessera-server` beside it.
@Suite("tessera and tessera-server")
struct FrontProgramTests {
    /// Status, output and error text of `program arguments…` with `input` on standard input.
    static func run(_ program: URL, _ arguments: [String], input: String = "") throws -> (Int32, String, String) {
        let outcome = try Tessera.run(arguments, text: input, program: program)
        return (outcome.status, outcome.text, outcome.standardError)
    }

    /// A copy of the built `tessera` in a new directory of its own, without `tessera-server`
    /// beside it (the caller removes the directory).
    static func loneFront() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-front-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let copy = directory.appendingPathComponent("tessera")
        try FileManager.default.copyItem(at: TesseraExecutable.url, to: copy)
        return copy
    }

    @Test("server commands reach tessera-server under the same process; vpack needs no server program; a missing one is named")
    func handsOverEverythingButVPack() throws {
        let front = TesseraExecutable.url
        // Through the front: the server program's version and its full command list.
        let version = try Self.run(front, ["--version"])
        #expect(version.0 == 0 && version.1.hasPrefix("tessera "), "\(version)")
        let help = try Self.run(front, ["--help"])
        #expect(help.0 == 0 && help.1.contains("single") && help.1.contains("vpack"), "\(help)")

        // The front alone, in a directory without tessera-server.
        let copy = try Self.loneFront()
        defer { try? FileManager.default.removeItem(at: copy.deletingLastPathComponent()) }
        let alone = copy.deletingLastPathComponent()
        let encoded = try Self.run(copy, ["vpack", "encode", "--hex"], input: "[1,2,3]")
        #expect(encoded.0 == 0 && encoded.1 == "0205313233\n", "\(encoded)")
        let missing = try Self.run(copy, ["single", "--help"])
        #expect(missing.0 == 127, "\(missing)")
        #expect(missing.2.contains("cannot start \(alone.path)/tessera-server"), "\(missing.2)")
    }

    /// Command lines the front reads itself, and ones it must hand to `tessera-server`.
    static let plainForms: [([String], String)] = [
        (["vpack", "encode", "--hex"], #"{"b":2,"a":1}"#),
        (["vpack", "encode", "--compact", "--hex"], #"{"b":[1,2],"a":1}"#),
        (["vpack", "encode", "--lines"], "[1]\n{\"a\":\n\"x\"\n"),
        (["vpack", "encode", "--validate-utf8", "--hex"], "\"\u{FFFF}\""),
        (["vpack", "encode", "--hex", "--reject-duplicate-keys"], #"{"a":1,"a":2}"#),
        (["vpack", "encode", "--max-depth", "2", "--hex"], "[[[1]]]"),
        (["vpack", "encode", "-", "--max-depth=3", "--hex"], "[[[1]]]"),
        (["vpack", "decode", "--hex", "--pretty"], "0b 0b 02 41 62 32 41 61 31 06 03"),
        (["vpack", "decode", "--hex"], "1e"),
        (["vpack", "decode", "--unsupported", "null", "--hex"], "1e"),
        (["vpack", "decode", "--hex", "--unsupported=string"], "1e"),
        (["vpack", "decode", "--hex", "--unique-keys", "--validate-utf8"], "0b 09 02 41 61 31 41 61 32 03 06"),
        (["vpack", "validate", "--hex"], "0b 09 02 41 61 31 41 61 32 03 06"),
        (["vpack", "validate", "--hex", "--strict"], "0b 09 02 41 61 31 41 61 32 03 06"),
        (["vpack", "validate", "--hex"], "02 05 31"),
    ]
    static let handedOver: [([String], String)] = [
        (["vpack", "--help"], ""),
        (["vpack", "encode", "--help"], ""),
        (["vpack", "encode", "--max-depth", "0"], "[1]"),
        (["vpack", "encode", "--nope"], "[1]"),
        (["vpack", "encode", "--hex", "--hex"], "[1]"),
        (["vpack", "decode", "--unsupported", "maybe"], ""),
        (["vpack", "validate", "a", "b"], ""),
        (["vpack", "encode", "-o"], "[1]"),
        (["vpack"], ""),
    ]

    @Test("the front's vpack command lines mean exactly what tessera-server's argument parser makes of them")
    func frontAgreesWithTheServerProgram() throws {
        let front = TesseraExecutable.url
        let server = front.deletingLastPathComponent().appendingPathComponent("tessera-server")
        let lone = try Self.loneFront()
        defer { try? FileManager.default.removeItem(at: lone.deletingLastPathComponent()) }
        for (arguments, input) in Self.plainForms + Self.handedOver {
            let viaFront = try Self.run(front, arguments, input: input)
            let direct = try Self.run(server, arguments, input: input)
            #expect(viaFront.0 == direct.0 && viaFront.1 == direct.1 && viaFront.2 == direct.2,
                    "\(arguments): front \(viaFront), tessera-server \(direct)")
        }
        // The plain forms run in the front itself (no tessera-server beside the copy) ...
        for (arguments, input) in Self.plainForms {
            let lonely = try Self.run(lone, arguments, input: input)
            let direct = try Self.run(server, arguments, input: input)
            #expect(lonely.0 == direct.0 && lonely.1 == direct.1 && lonely.2 == direct.2, "\(arguments): \(lonely) vs \(direct)")
        }
        // ... and the others do not.
        for (arguments, input) in Self.handedOver {
            #expect(try Self.run(lone, arguments, input: input).0 == 127, "\(arguments) was not handed over")
        }
    }
}
