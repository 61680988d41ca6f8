@testable import DBServerRole
import Documents
import Foundation
import Replication
import Testing
import VelocyPack

/// The leader's resync answers page correctly whatever the byte limit cuts: every current
/// document of the asked ranges comes exactly once, in revision order.
@Suite struct ResyncPagingTests {
    @Test(arguments: [300, 2_000, 50_000, 4 << 20])
    func rangePagesCoverEveryDocumentOnce(byteLimit: Int) throws {
        let directory = NSTemporaryDirectory() + "tessera-test-paging-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try DocumentStore(directory: directory)
        defer { try? store.close() }
        let collection = try store.createCollection(DocumentStore.CollectionSettings(name: "s1"), in: "_system")
        for index in 0..<700 {
            var builder = Builder()
            builder.openObject()
            builder.add(key: "_key", "k\(index)")
            builder.add(key: "pad", String(repeating: "z", count: index % 97))
            builder.closeTrusted()
            _ = try collection.insert(builder.slice, options: DocumentOptions())
        }
        let (tree, _) = collection.engine.merkleTreeAndSequence()
        let ranges = MerkleTree().diff(tree)
        #expect(!ranges.isEmpty)
        let stream = StreamIdentity(database: "_system", shard: "s1", leader: "L", epoch: 1)
        var seen: [UInt64] = []
        var after: UInt64? = nil
        var pages = 0
        repeat {
            let page = try ReplicationRoutes.rangeDocuments(collection, RangeFetch(stream: stream, ranges: ranges, after: after,
                                                                                   byteLimit: byteLimit)).get()
            seen += page.documents.map(\.revision)
            after = page.resumeAfter
            pages += 1
        } while after != nil && pages < 10_000
        let expected = collection.engine.revisions(in: 0...UInt64.max, limit: 10_000).map(\.revision)
        #expect(seen == expected, "byte limit \(byteLimit): \(seen.count) of \(expected.count) documents in \(pages) pages")
        if byteLimit < 10_000 { #expect(pages > 1) }
    }

    /// A byte limit far above the documents' bytes: the count limit pages the answer, and
    /// every page is one a follower decodes (it once summed 10,000 per range, over 10,000).
    @Test func manySmallDocumentsPageByCount() throws {
        let directory = NSTemporaryDirectory() + "tessera-test-paging-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try DocumentStore(directory: directory)
        defer { try? store.close() }
        let collection = try store.createCollection(DocumentStore.CollectionSettings(name: "s1"), in: "_system")
        let total = ReplicationLimits.default.operationCountMax + 2_500
        for index in 0..<total {
            var builder = Builder()
            builder.openObject()
            builder.add(key: "_key", "k\(index)")
            builder.closeTrusted()
            _ = try collection.insert(builder.slice, options: DocumentOptions())
        }
        let (tree, _) = collection.engine.merkleTreeAndSequence()
        let ranges = MerkleTree().diff(tree)
        #expect(ranges.count > 1)
        let stream = StreamIdentity(database: "_system", shard: "s1", leader: "L", epoch: 1)
        var seen = 0
        var after: UInt64? = nil
        var pages = 0
        repeat {
            let page = try ReplicationRoutes.rangeDocuments(collection, RangeFetch(stream: stream, ranges: ranges, after: after,
                                                                                   byteLimit: 1 << 30)).get()
            let decoded = try RangeDocuments(decoding: Slice(trustedBytes: page.vpack))
            #expect(decoded.documents.count <= ReplicationLimits.default.operationCountMax)
            seen += decoded.documents.count
            after = decoded.resumeAfter
            pages += 1
        } while after != nil && pages < 100
        #expect(seen == total && pages == 2, "\(seen) of \(total) documents in \(pages) pages")
    }
}
