import Foundation
import Testing
import TesseraProcessSupport

/// `tessera` runs `vpack` itself and hands every other command to `tessera-server` beside it.
@Suite("tessera and tessera-server")
struct FrontProgramTests {
    /// Runs `program arguments…` with `input` on standard input; status and both outputs.
    static func run(_ program: URL, _ arguments: [String], input: String = "") throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: errors, as: UTF8.self))
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
        let alone = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-front-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: alone, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: alone) }
        let copy = alone.appendingPathComponent("tessera")
        try FileManager.default.copyItem(at: front, to: copy)
        let encoded = try Self.run(copy, ["vpack", "encode", "--hex"], input: "[1,2,3]")
        #expect(encoded.0 == 0 && encoded.1 == "0205313233\n", "\(encoded)")
        let missing = try Self.run(copy, ["single", "--help"])
        #expect(missing.0 == 127, "\(missing)")
        #expect(missing.2.contains("cannot start \(alone.path)/tessera-server"), "\(missing.2)")
    }
}
