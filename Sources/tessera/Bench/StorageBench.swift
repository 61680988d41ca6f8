import ArgumentParser
import CSnappy
import Foundation
import Storage
import TesseraPlatform
import VelocyPack

/// `tessera bench storage`: the shard engine's figures for BENCHMARKS.md.
///
/// Works on generated 1 KB JSON documents (deterministic, `--documents` of them) in a fresh
/// shard directory under `--directory` (removed afterwards). Phases, each bounded in count
/// or in `--seconds`:
///
/// 1. inserts without sync, 1 and 2 writer threads (all documents; inserts/s);
/// 2. inserts with `waitForSync`, 1 and 64 writer threads for `--seconds` (inserts/s,
///    fsyncs, acknowledged writes per fsync);
/// 3. reads by key, 1 and 2 reader threads, random keys, for `--seconds` (reads/s);
/// 4. bytes on disk against JSON and VelocyPack bytes;
/// 5. compaction after replacing every other document (MB/s of segment bytes read);
/// 6. recovery with the checkpoint (verifying every record, or reading only the tail) and
///    without it (seconds to open and close without writing a checkpoint, scaled to one
///    million documents);
/// 7. Snappy through the engine's wrapper against raw `snappy_compress`/`snappy_uncompress`
///    into reused buffers (MB/s of VelocyPack).
struct StorageBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Measure shard engine inserts, syncs, reads, compaction, recovery and Snappy.")

    @Option(help: "Number of 1 KB documents.") var documents: Int = 200_000
    @Option(help: "Seconds for each timed phase.") var seconds: Double = 3
    @Option(help: "Parent directory for the shard (a fresh subdirectory is made and removed).")
    var directory: String = NSTemporaryDirectory()

    func run() throws {
        guard (1_000...5_000_000).contains(documents), seconds > 0, seconds <= 120 else {
            throw ValidationError("--documents must be 1000...5000000 and --seconds in (0, 120]")
        }
        let root = directory + "/tessera-bench-storage-\(getpid())"
        try? FileManager.default.removeItem(atPath: root)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let corpus = Self.corpus(count: documents)
        let jsonBytes = corpus.json.reduce(0) { $0 + $1.count }
        let vpackBytes = corpus.vpack.reduce(0) { $0 + $1.byteSize }
        print("corpus: \(documents) documents, JSON \(mb(jsonBytes)) MB (\(jsonBytes / documents) B each), VelocyPack \(mb(vpackBytes)) MB")

        var options = ShardOptions()
        options.compactionIntervalMilliseconds = 0
        options.checkpointIntervalOperations = 0
        // Smaller than the default 32 MiB, so the corpus fills several segments to compact.
        options.segmentByteCountTarget = 8 << 20

        // 1. Inserts without sync.
        for threads in [1, 2] {
            let path = root + "/nosync\(threads)"
            let engine = try ShardEngine(directory: path, options: options)
            let elapsed = try timed { try insertAll(corpus.vpack, into: engine, threads: threads, sync: false) }
            try engine.sync()
            report("inserts/s, no sync, \(threads) writer(s)", Double(documents) / elapsed, target: "≥ 200 000")
            try engine.close()
            if threads == 2 { try? FileManager.default.removeItem(atPath: path) }
        }

        // 2. Inserts with waitForSync.
        for threads in [1, 64] {
            let engine = try ShardEngine(directory: root + "/sync\(threads)", options: options)
            let (count, elapsed) = try insertFor(corpus.vpack, into: engine, threads: threads)
            let statistics = engine.statistics
            report("inserts/s, waitForSync, \(threads) writer(s)", Double(count) / elapsed, target: "-")
            report("  acknowledged writes per fsync (\(statistics.syncCount) fsyncs)",
                   Double(statistics.syncedWriteCount) / Double(max(1, statistics.syncCount)),
                   target: threads == 64 ? "≥ 10" : "-")
            try engine.close()
            try? FileManager.default.removeItem(atPath: root + "/sync\(threads)")
        }

        // 3. Reads by key, 4. bytes on disk.
        let engine = try ShardEngine(directory: root + "/nosync1", options: options)
        for threads in [1, 2] {
            let (count, elapsed) = try readFor(engine: engine, documents: documents, threads: threads)
            report("reads/s by key, \(threads) reader(s)", Double(count) / elapsed, target: "≥ 500 000")
        }
        let onDisk = engine.statistics.logByteCount
        report("bytes on disk / JSON bytes", Double(onDisk) / Double(jsonBytes), target: "-")
        report("bytes on disk / VelocyPack bytes", Double(onDisk) / Double(vpackBytes), target: "-")

        // 5. Compaction: every other document replaced, so older segments are half dead.
        for index in stride(from: 0, to: documents, by: 2) {
            try engine.replace(corpus.vpack[index]["_key"]!.stringValue!, with: corpus.vpack[index])
        }
        try engine.sync()
        var compaction = ShardEngine.CompactionReport()
        let compactionSeconds = try timed { compaction = try engine.compact(liveShareBelow: 0.75) }
        report("compaction MB/s (segment bytes read; \(compaction.segmentsCompacted) segments, \(mb(compaction.bytesRead)) MB → \(mb(compaction.bytesWritten)) MB)",
               Double(compaction.bytesRead) / 1e6 / compactionSeconds, target: "-")
        try engine.close()

        // 6. Recovery.
        // Opening only: the checkpoint the close above wrote stays; no open writes another.
        var reopen = options
        reopen.checkpointOnClose = false
        let withCheckpoint = try timed { try ShardEngine(directory: root + "/nosync1", options: reopen).close() }
        var tailOnly = reopen
        tailOnly.verifyCheckpointedLogOnOpen = false
        let withCheckpointTailOnly = try timed { try ShardEngine(directory: root + "/nosync1", options: tailOnly).close() }
        try FileManager.default.removeItem(atPath: root + "/nosync1/checkpoint")
        var recovered = 0
        let withoutCheckpoint = try timed {
            let reopened = try ShardEngine(directory: root + "/nosync1", options: reopen)
            recovered = reopened.count
            try reopened.close()
        }
        let perMillion = 1_000_000 / Double(recovered)
        report("recovery s per million documents, checkpoint + verify all records", withCheckpoint * perMillion, target: "-")
        report("recovery s per million documents, checkpoint + log tail only", withCheckpointTailOnly * perMillion, target: "-")
        report("recovery s per million documents, full log replay", withoutCheckpoint * perMillion, target: "-")

        // 7. Snappy.
        try snappyFigures(corpus.vpack.map(\.copiedBytes))
    }

    // MARK: Phases

    /// Runs `body(thread, deadline)` on `threads` threads at once, each returning how many
    /// operations it did; rethrows the first failure. Returns the total and the seconds taken.
    func onThreads(_ threads: Int, until deadline: ContinuousClock.Instant?,
                   _ body: @escaping @Sendable (Int, ContinuousClock.Instant?) throws -> Int) throws -> (Int, Double) {
        let group = DispatchGroup()
        let failures = Failures()
        let counter = Counter()
        let start = ContinuousClock.now
        for thread in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                do { counter.add(try body(thread, deadline)) } catch { failures.add(error) }
            }.start()
        }
        group.wait()
        try failures.check()
        return (counter.value, seconds(since: start))
    }

    var phaseDeadline: ContinuousClock.Instant { ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000))) }

    func insertAll(_ documents: [Slice], into engine: ShardEngine, threads: Int, sync: Bool) throws {
        _ = try onThreads(threads, until: nil) { thread, _ in
            var done = 0
            for index in stride(from: thread, to: documents.count, by: threads) {
                try engine.insert(documents[index], options: WriteOptions(waitForSync: sync))
                done += 1
            }
            return done
        }
    }

    func insertFor(_ documents: [Slice], into engine: ShardEngine, threads: Int) throws -> (Int, Double) {
        try onThreads(threads, until: phaseDeadline) { thread, deadline in
            var done = 0
            for index in stride(from: thread, to: documents.count, by: threads) {
                if ContinuousClock.now >= deadline! { break }
                try engine.insert(documents[index], options: WriteOptions(waitForSync: true))
                done += 1
            }
            return done
        }
    }

    func readFor(engine: ShardEngine, documents: Int, threads: Int) throws -> (Int, Double) {
        let keys = (0..<documents).map { "doc\($0)" }
        return try onThreads(threads, until: phaseDeadline) { thread, deadline in
            var random = Corpus.Generator(state: UInt64(thread) + 7)
            var done = 0
            while ContinuousClock.now < deadline! {
                for _ in 0..<1000 {
                    guard try engine.get(keys[Int(random.next() % UInt64(keys.count))]) != nil else {
                        throw ValidationError("a document is missing")
                    }
                }
                done += 1000
            }
            return done
        }
    }

    func snappyFigures(_ documents: [[UInt8]]) throws {
        let bytes = documents.reduce(0) { $0 + $1.count }
        var compressedBlocks: [[UInt8]] = []
        let wrapperCompress = best { compressedBlocks = documents.map { Snappy.compress($0) } }
        let wrapperUncompress = try bestThrowing {
            for block in compressedBlocks { _ = try Snappy.uncompress(block, byteCountLimit: 1 << 20) }
        }
        var output = [CChar](repeating: 0, count: snappy_max_compressed_length(1 << 16))
        var plain = [CChar](repeating: 0, count: 1 << 16)
        let rawCompress = best {
            for document in documents {
                var length = output.count
                document.withUnsafeBufferPointer { source in
                    source.withMemoryRebound(to: CChar.self) { chars in
                        _ = snappy_compress(chars.baseAddress, chars.count, &output, &length)
                    }
                }
            }
        }
        let rawUncompress = best {
            for block in compressedBlocks {
                var length = plain.count
                block.withUnsafeBufferPointer { source in
                    source.withMemoryRebound(to: CChar.self) { chars in
                        _ = snappy_uncompress(chars.baseAddress, chars.count, &plain, &length)
                    }
                }
            }
        }
        let compressed = compressedBlocks.reduce(0) { $0 + $1.count }
        report("Snappy ratio (compressed / VelocyPack)", Double(compressed) / Double(bytes), target: "-")
        report("Snappy compress MB/s, engine path (TesseraPlatform.Snappy)", Double(bytes) / 1e6 / wrapperCompress, target: "-")
        report("Snappy compress MB/s, raw libsnappy", Double(bytes) / 1e6 / rawCompress, target: "-")
        report("  engine path / raw, compress", rawCompress / wrapperCompress, target: "≥ 0.8")
        report("Snappy uncompress MB/s, engine path", Double(bytes) / 1e6 / wrapperUncompress, target: "-")
        report("Snappy uncompress MB/s, raw libsnappy", Double(bytes) / 1e6 / rawUncompress, target: "-")
        report("  engine path / raw, uncompress", rawUncompress / wrapperUncompress, target: "≥ 0.8")
    }

    // MARK: Helpers

    /// Deterministic ~1 KB documents: `{"_key":"doc<i>", name, email, age, city, tags, scores, bio}`.
    static func corpus(count: Int) -> (json: [[UInt8]], vpack: [Slice]) {
        var random = Corpus.Generator(state: 2026)
        var json: [[UInt8]] = []
        var vpack: [Slice] = []
        json.reserveCapacity(count)
        vpack.reserveCapacity(count)
        let words = Corpus.words
        for index in 0..<count {
            var text = "{\"_key\":\"doc\(index)\",\"name\":\"\(words[Int(random.next() % 16)]) \(words[Int(random.next() % 16)])\""
            text += ",\"email\":\"user\(random.next() % 1_000_000)@example.com\",\"age\":\(random.next() % 90 + 10)"
            text += ",\"city\":\"\(Corpus.cities[Int(random.next() % 8)])\",\"active\":\(random.next() % 2 == 0)"
            text += ",\"tags\":[" + (0..<5).map { _ in "\"\(words[Int(random.next() % 16)])\"" }.joined(separator: ",") + "]"
            text += ",\"scores\":[" + (0..<8).map { _ in "\(random.next() % 100_000)" }.joined(separator: ",") + "]"
            var bio = ""
            while bio.utf8.count < 640 { bio += words[Int(random.next() % 16)] + (random.next() % 5 == 0 ? ". " : " ") }
            text += ",\"bio\":\"\(bio)\"}"
            json.append(Array(text.utf8))
            vpack.append(try! JSONParser.parse(text).slice)  // Generated JSON is valid.
        }
        return (json, vpack)
    }

    func timed(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        return seconds(since: start)
    }

    func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = start.duration(to: .now)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    /// The best of repeated passes over `--seconds` (at least one).
    func best(_ body: () -> Void) -> Double {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        var bestSeconds = Double.infinity
        repeat { bestSeconds = min(bestSeconds, timed(body)) } while ContinuousClock.now < deadline
        return bestSeconds
    }

    func bestThrowing(_ body: () throws -> Void) throws -> Double {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        var bestSeconds = Double.infinity
        repeat { bestSeconds = min(bestSeconds, try timed(body)) } while ContinuousClock.now < deadline
        return bestSeconds
    }

    func report(_ name: String, _ value: Double, target: String) {
        let shown = value >= 100 ? String(Int(value.rounded())) : String(format: "%.3f", value)
        print(name.padding(toLength: 78, withPad: " ", startingAt: 0) + " " + shown
              + (target == "-" ? "" : "   (target \(target))"))
    }

    func mb(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1e6) }

    /// Errors from worker threads. `@unchecked Sendable`: `lock` guards `errors`.
    final class Failures: @unchecked Sendable {
        private let lock = NSLock()
        private var errors: [any Error] = []
        func add(_ error: any Error) { lock.lock(); errors.append(error); lock.unlock() }
        func check() throws { if let first = lock.withLock({ errors.first }) { throw first } }
    }

    /// A shared count. `@unchecked Sendable`: `lock` guards `value`.
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var total = 0
        func add(_ count: Int) { lock.lock(); total += count; lock.unlock() }
        var value: Int { lock.withLock { total } }
    }
}
