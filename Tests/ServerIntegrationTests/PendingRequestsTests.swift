import Testing
import TestRandomness
@testable import Client

/// The client's table of requests waiting for answers, against a dictionary: answers in
/// order, out of order, never (requests that stay waiting while the ring moves on), and the
/// table emptied on a close.
@Suite("Pending requests")
struct PendingRequestsTests {
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func behavesLikeADictionary(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var table = PendingRequests<Int>()
        var model: [UInt64: Int] = [:]
        var lastID: UInt64 = 0
        for step in 0..<8_000 {
            let roll = Int.random(in: 0..<100, using: &random)
            if roll < 50 || model.isEmpty {
                let id = table.add(step)
                #expect(id == lastID + 1, "ids count up by one")
                lastID = id
                model[id] = step
            } else if roll < 95 {
                // Mostly the oldest few (in-order answers), sometimes any waiting one.
                let keys = model.keys.sorted()
                let id = roll < 85 ? keys[Int.random(in: 0..<min(4, keys.count), using: &random)] : keys.randomElement(using: &random)!
                #expect(table.remove(id) == model.removeValue(forKey: id))
            } else {
                // An answer to an id that waits for nothing (answered, or never sent).
                let id = UInt64.random(in: 0...(lastID + 10), using: &random)
                #expect(table.remove(id) == model.removeValue(forKey: id))
            }
            #expect(table.count == model.count)
        }
        #expect(table.entries().map(\.id) == model.keys.sorted())
        #expect(table.entries().map(\.value) == model.keys.sorted().map { model[$0]! })
        let all = table.removeAll()
        #expect(all.map(\.id) == model.keys.sorted())
        #expect(table.isEmpty)
        // Ids go on counting after a close: an old answer cannot match a new request.
        let next = table.add(-1)
        #expect(next == lastID + 1)
        #expect(table.remove(lastID) == nil)
        #expect(table.remove(next) == -1)
    }

    /// One request that never gets its answer while many others do: it moves out of the ring
    /// and is still found, and the ring stays at its bounded size.
    @Test func aSlowRequestAmongManyFastOnes() {
        var table = PendingRequests<Int>()
        let slow = table.add(0)
        for step in 1...20_000 {
            let id = table.add(step)
            #expect(table.remove(id) == step)
        }
        #expect(table.count == 1)
        #expect(table.remove(slow) == 0)
        #expect(table.isEmpty)
    }
}
