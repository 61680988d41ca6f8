public import Foundation

/// The built `tessera` executable, for test suites that run it as a real process.
public enum TesseraExecutable {
    /// The test bundle and the executable live in the same build products folder (or one of
    /// its parents).
    public static let url: URL = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = bundle.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("tessera").path),
              folder.path != "/" {
            folder = folder.deletingLastPathComponent()
        }
        return folder.appendingPathComponent("tessera")
    }()
}

/// Crash tests: run a `tessera debug …-writer` and kill it with SIGKILL mid-write.
public enum CrashRun {
    /// Starts `tessera arguments…` with standard output to `outputPath`, waits (at most 30 s)
    /// until the output contains `acknowledgement` (the writer is writing; start-up time
    /// varies with sanitizers and load), waits `delayMilliseconds` more, kills it and
    /// returns how it ended.
    public static func runAndKill(_ arguments: [String], outputPath: String, acknowledgement: String,
                                  delayMilliseconds: Int) throws -> Process.TerminationReason {
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let process = Process()
        process.executableURL = TesseraExecutable.url
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let started = Date()
        while process.isRunning, Date().timeIntervalSince(started) < 30,
              !((try? String(contentsOfFile: outputPath, encoding: .utf8))?.contains(acknowledgement) ?? false) {
            usleep(5_000)
        }
        usleep(UInt32(delayMilliseconds * 1000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try output.close()
        return process.terminationReason
    }
}
