import ArgumentParser
import Foundation
import Storage
import VelocyPack

/// `tessera debug …`: hidden tools for tests; not part of the user interface.
struct DebugCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug",
        abstract: "Tools for Tessera's own tests.",
        shouldDisplay: false,
        subcommands: [StorageWriter.self, StorageCheck.self, RaftDiskWriter.self, AgencyWriter.self]
    )
}

/// Writes `text` and a newline to standard output, unbuffered, so that a line printed before
/// a `kill -9` is there for the crash tests to read.
func writeLineToStandardOutput(_ text: String) {
    var bytes = Array((text + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let written = bytes.withUnsafeMutableBytes { Foundation.write(1, $0.baseAddress! + done, $0.count - done) }
        if written <= 0 { return }
        done += written
    }
}

/// `tessera debug storage-writer`: the victim of the storage crash tests.
///
/// Opens (or creates) a shard and runs `--threads` writers that insert, replace and remove
/// documents with `waitForSync`, with small segments, frequent checkpoints and background
/// compaction, so a `kill -9` can land in any of them. Each thread owns the keys
/// `<prefix>-t<thread>-<n>`. Around every operation it appends a line to standard output
/// (unbuffered, one `write` per line):
///
/// ```
/// B <op> <key> <version>      before the call   (op: I insert, R replace, U update, D remove)
/// A <op> <key> <version>      after it returned, i.e. acknowledged
/// ```
///
/// The document for (key, version) is `{"_key": key, "version": version, "payload": P}` with
/// P = `"<key>/<version>;"` repeated `1 + (version * 7 + key.utf8.count) % 40` times; the
/// checker rebuilds it to compare.
struct StorageWriter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage-writer", abstract: "Write to a shard until killed (crash tests).")

    @Option(help: "Shard directory.") var directory: String
    @Option(help: "Seed for the choice of operations.") var seed: UInt64 = 1
    @Option(help: "Writer threads.") var threads: Int = 4
    @Option(help: "Operations per thread before exiting on its own.") var operations: Int = 2000
    @Option(help: "Key prefix (unique per run).") var prefix: String = "r0"

    func run() throws {
        guard (1...64).contains(threads), (1...1_000_000).contains(operations) else {
            throw ValidationError("--threads must be 1...64 and --operations 1...1000000")
        }
        var options = ShardOptions()
        options.waitForSync = true
        options.segmentByteCountTarget = 64 << 10
        options.syncIntervalMilliseconds = 20
        options.compactionIntervalMilliseconds = 40
        options.compactionLiveShareMin = 0.8
        options.checkpointIntervalOperations = 150
        options.checkpointIntervalGrowsWithDocuments = false  // crash tests want many checkpoints
        let engine = try ShardEngine(directory: directory, options: options)
        let output = Locked()
        let finished = DispatchGroup()
        for thread in 0..<threads {
            finished.enter()
            let worker = Thread {
                defer { finished.leave() }
                Self.write(engine: engine, thread: thread, seed: seed, operations: operations,
                           prefix: prefix, output: output)
            }
            worker.start()
        }
        finished.wait()
        try engine.close()
    }

    /// Serializes whole lines onto standard output.
    final class Locked: @unchecked Sendable {  // `lock` guards the writes.
        let lock = NSLock()
        func line(_ text: String) {
            lock.lock()
            defer { lock.unlock() }
            writeLineToStandardOutput(text)
        }
    }

    static func document(key: String, version: Int) -> Slice {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "_key", key)
        builder.add(key: "version", version)
        let repeats = 1 + (version * 7 + key.utf8.count) % 40
        builder.add(key: "payload", String(repeating: "\(key)/\(version);", count: repeats))
        try! builder.close()  // A flat object of three members always closes.
        return builder.slice
    }

    /// The update that turns any version of the document into `version`.
    static func patch(key: String, version: Int) -> Slice {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "version", version)
        let repeats = 1 + (version * 7 + key.utf8.count) % 40
        builder.add(key: "payload", String(repeating: "\(key)/\(version);", count: repeats))
        try! builder.close()  // A flat object of two members always closes.
        return builder.slice
    }

    static func write(engine: ShardEngine, thread: Int, seed: UInt64, operations: Int, prefix: String, output: Locked) {
        var random = Corpus.Generator(state: seed &* 1_000_003 &+ UInt64(thread))
        var live: [(key: String, version: Int)] = []
        var next = 0
        for _ in 0..<operations {
            let choice = random.next() % 100
            do {
                if choice < 55 || live.isEmpty {
                    let key = "\(prefix)-t\(thread)-\(next)"
                    next += 1
                    output.line("B I \(key) 1")
                    try engine.insert(document(key: key, version: 1))
                    output.line("A I \(key) 1")
                    live.append((key, 1))
                } else if choice < 85 {
                    // Replace or update (merge): both end in the same document for the version.
                    let position = Int(random.next() % UInt64(live.count))
                    let (key, version) = live[position]
                    let merge = choice >= 75
                    output.line("B \(merge ? "U" : "R") \(key) \(version + 1)")
                    if merge {
                        try engine.update(key, with: patch(key: key, version: version + 1))
                    } else {
                        try engine.replace(key, with: document(key: key, version: version + 1))
                    }
                    output.line("A \(merge ? "U" : "R") \(key) \(version + 1)")
                    live[position].version = version + 1
                } else {
                    let position = Int(random.next() % UInt64(live.count))
                    let key = live[position].key
                    output.line("B D \(key) 0")
                    try engine.remove(key)
                    output.line("A D \(key) 0")
                    live.remove(at: position)
                }
            } catch {
                output.line("E \(error)")
                return
            }
        }
    }
}

/// `tessera debug storage-check`: opens a shard as a DBServer would, prints what recovery
/// found, and closes it. With `--truncate-at-corruption` it is the operator's way to accept
/// losing the log after a damaged record (the shard refuses to open otherwise).
///
/// Exit status 0 when the shard opened; 1 with `error: <number> <description>` on stderr
/// (for damage: the file and offset) when it did not.
struct StorageCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage-check", abstract: "Open a shard, report its recovery, close it.")

    @Option(help: "Shard directory.") var directory: String
    @Flag(help: "Cut the log at a damaged record in its middle (everything after it is lost).")
    var truncateAtCorruption = false

    func run() throws {
        var options = ShardOptions()
        options.truncateAtCorruption = truncateAtCorruption
        options.backgroundThreads = false
        let engine: ShardEngine
        do {
            engine = try ShardEngine(directory: directory, options: options)
        } catch {
            FileHandle.standardError.write(Data("error: \(error.errorNumber) \(error)\n".utf8))
            throw ExitCode(1)
        }
        let report = engine.recoveryReport
        print("documents: \(engine.count)")
        print("segments: \(report.segmentCount)")
        print("checkpoint used: \(report.checkpointUsed)" + (report.checkpointRejection.map { " (rejected: \($0))" } ?? ""))
        print("records verified: \(report.recordsVerified), replayed: \(report.recordsReplayed)")
        if let torn = report.tornTail { print("torn tail cut: \(torn)") }
        if let cut = report.truncatedCorruption { print("corruption cut: \(cut)") }
        for leftover in report.removedLeftovers { print("removed leftover: \(leftover)") }
        print("recovery took \(Double(report.durationNanoseconds / 1000) / 1000) ms")
        try engine.close()
    }
}
