import Documents
import Foundation
import Storage
import Testing
import VelocyPack

/// The documents layer on its own: a real `DocumentStore` in a temporary directory, without a
/// server in front (the REST behaviour on top is covered by ServerIntegrationTests).
@Suite("Documents layer")
struct CollectionTests {
    final class Store {
        let directory = NSTemporaryDirectory() + "tessera-documents-" + UUID().uuidString
        let store: DocumentStore
        init(options: DocumentStore.Options = .init()) throws {
            store = try DocumentStore(directory: directory, options: options)
        }
        deinit {
            try? store.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
        func reopen() throws -> DocumentStore {
            try store.close()
            return try DocumentStore(directory: directory)
        }
    }

    static func json(_ text: String) -> Slice { try! JSONParser.parse(text).slice }

    @Test("a read names _key once, first among the system attributes, whatever names sort before it")
    func readNamesKeyOnce() throws {
        let holder = try Store()
        let things = try holder.store.createCollection(.init(name: "things"), in: "_system")
        _ = try things.insert(Self.json(#"{"_key": "a", "0": "x", "B": 2, "Name": 1, "z": {"_key": "inner"}}"#), options: DocumentOptions())
        let (document, _) = try #require(try things.document("a"))
        let strict = try Slice(validating: Array(document.bytes), options: .strict)  // unique keys
        #expect(strict.count == 7)
        #expect(strict["_key"]?.stringValue == "a" && strict["_id"]?.stringValue == "things/a")
        #expect(strict["z"]?["_key"]?.stringValue == "inner" && strict["Name"]?.intValue == 1 && strict["0"]?.stringValue == "x")
    }

    @Test("insert, replace, update and remove keep ArangoDB's key and revision rules")
    func writeSemantics() throws {
        let holder = try Store()
        let people = try holder.store.createCollection(.init(name: "people"), in: "_system")
        let inserted = try people.insert(Self.json(#"{"_key": "ada", "born": 1815, "langs": {"en": true}}"#),
                                         options: DocumentOptions())
        #expect(inserted.key == "ada" && inserted.sequence > 0)
        let (stored, revision) = try #require(try people.document("ada"))
        #expect(revision == inserted.revision)
        #expect(stored["born"]?.intValue == 1815)
        #expect(stored["_id"]?.stringValue == "people/ada" && stored["_rev"]?.stringValue != nil)
        let raw = try #require(try people.engine.get("ada")).document
        #expect(raw["_id"] == nil && raw["_rev"] == nil, "_id and _rev are added on the way out, never stored")

        // A second insert of the key is refused with 1210, and an ignored one keeps the revision.
        #expect(throws: DocumentError.self) { try people.insert(Self.json(#"{"_key": "ada"}"#), options: DocumentOptions()) }
        var ignore = DocumentOptions()
        ignore.overwriteMode = .ignore
        #expect(try people.insert(Self.json(#"{"_key": "ada", "born": 0}"#), options: ignore).revision == inserted.revision)

        // Update merges objects by default; keepNull: false removes null attributes.
        var patch = DocumentOptions()
        patch.keepNull = false
        let updated = try people.update("ada", with: Self.json(#"{"langs": {"fr": true}, "born": null}"#), options: patch)
        #expect(updated.oldRevision == inserted.revision && updated.revision != inserted.revision)
        let merged = try #require(try people.document("ada")).slice
        #expect(merged["langs"]?["en"]?.boolValue == true && merged["langs"]?["fr"]?.boolValue == true)
        #expect(merged["born"] == nil)

        // A stale If-Match revision is a conflict and changes nothing.
        var stale = DocumentOptions()
        stale.ifMatch = inserted.revision
        do {
            _ = try people.replace("ada", with: Self.json(#"{"x": 1}"#), options: stale)
            Issue.record("a stale If-Match replaced the document")
        } catch {
            #expect(error.number.rawValue == 1200)
        }
        #expect(try people.document("ada")?.revision == updated.revision)

        _ = try people.remove("ada", options: DocumentOptions())
        #expect(try people.document("ada") == nil)
        do {
            _ = try people.remove("ada", options: DocumentOptions())
            Issue.record("removing a missing document succeeded")
        } catch {
            #expect(error.number.rawValue == 1202)
        }
    }

    @Test("generated keys are unique and continue past the keys of an earlier run")
    func keyGeneratorSurvivesReopen() throws {
        let holder = try Store()
        var settings = DocumentStore.CollectionSettings(name: "counters")
        settings.keyOptions.kind = .autoincrement
        let counters = try holder.store.createCollection(settings, in: "_system")
        var keys = Set<String>()
        for _ in 0..<50 { keys.insert(try counters.insert(Self.json(#"{"n": 1}"#), options: DocumentOptions()).key) }
        #expect(keys.count == 50)
        let reopened = try holder.reopen()
        defer { try? reopened.close() }
        let again = try reopened.collection("counters", in: "_system")
        let next = try again.insert(Self.json(#"{"n": 2}"#), options: DocumentOptions()).key
        #expect(!keys.contains(next), "key \(next) handed out twice")
        #expect(again.engine.count == 51)
    }

    @Test("acknowledge answers a batch once its writes are in the file, and synced when asked")
    func acknowledgementHandsBatchesToTheOperatingSystem() throws {
        // No background flusher: it hands buffered writes to the file within the sync
        // interval (100 ms), which a slow machine can pass before `before` is measured.
        var options = DocumentStore.Options()
        options.shard.backgroundThreads = false
        let holder = try Store(options: options)
        let batch = try holder.store.createCollection(.init(name: "batch"), in: "_system")
        var deferred = DocumentOptions()
        deferred.defersFileWrite = true
        var last: UInt64 = 0
        for number in 0..<100 {
            last = try batch.insert(Self.json(#"{"_key": "k\#(number)"}"#), options: deferred).sequence
        }
        let segment = holder.directory + "/collections/\(batch.id)"
        let before = Self.logBytes(in: segment)
        try batch.acknowledged(sequence: last, waitForSync: false)
        let after = Self.logBytes(in: segment)
        #expect(after > before, "the deferred batch reached the segment file only through the acknowledgement")

        // The callback form: answers at once without a sync, after the group commit with one.
        let answered = Locked(0)
        batch.acknowledge(sequence: last, waitForSync: false) { error in
            #expect(error == nil)
            answered.withLock { $0 += 1 }
        }
        #expect(answered.withLock { $0 } == 1)
        let synced = DispatchSemaphore(value: 0)
        batch.acknowledge(sequence: last, waitForSync: true) { error in
            #expect(error == nil)
            synced.signal()
        }
        #expect(synced.wait(timeout: .now() + 10) == .success)
    }

    @Test("a closed store refuses to acknowledge with the engine's error")
    func acknowledgementOfAClosedEngineFails() throws {
        let holder = try Store()
        let closing = try holder.store.createCollection(.init(name: "closing"), in: "_system")
        let sequence = try closing.insert(Self.json(#"{"_key": "a"}"#), options: DocumentOptions()).sequence
        try closing.engine.close()
        #expect(throws: DocumentError.self) { try closing.acknowledged(sequence: sequence, waitForSync: false) }
    }

    /// The bytes of the collection's log segments on disk.
    static func logBytes(in directory: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("segment") || $0.hasSuffix(".log") }.reduce(0) { total, name in
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)
            return total + ((attributes?[.size] as? NSNumber)?.intValue ?? 0)
        }
    }
}

/// A value behind a lock, for callbacks that run on other threads.
final class Locked<Value>: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&value) } }
}
