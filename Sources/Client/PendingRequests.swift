/// The requests of one connection that wait for their answers, by message id.
///
/// A connection numbers its requests 1, 2, 3, … and most answers come back in about that
/// order, so the recent ids live in a ring indexed by the id itself: adding and finding one
/// costs an index, not a hash (a dictionary's hashing was a tenth of a pipelining client's
/// time). The ring covers at most ``ringCapacityMax`` ids behind the newest; a request still
/// waiting when the ring has to move past it (a slow request among many fast ones) moves to
/// a dictionary, so memory stays bounded by the requests waiting, not by the ids sent.
package struct PendingRequests<Value> {
    /// The most ids the ring spans; older waiting requests move to `overflow`.
    static var ringCapacityMax: Int { 4096 }

    /// Slot `id & (slots.count - 1)` holds the request with that id, for ids in `base..<next`.
    private var slots: [Value?] = Array(repeating: nil, count: 16)
    /// The oldest id the ring covers.
    private var base: UInt64 = 1
    /// The id the next request gets.
    private var next: UInt64 = 1
    /// Waiting requests older than `base`.
    private var overflow: [UInt64: Value] = [:]
    private var ringCount = 0

    package init() {}

    /// Requests waiting.
    package var count: Int { ringCount + overflow.count }
    package var isEmpty: Bool { count == 0 }

    /// Files `value` under the next id and returns that id.
    package mutating func add(_ value: Value) -> UInt64 {
        let id = next
        if Int(next - base) == slots.count {
            if slots.count < Self.ringCapacityMax {
                grow()
            } else {
                // The ring is full of ids: the oldest moves out (to the dictionary if it waits).
                let oldest = Int(base) & (slots.count - 1)
                if let waiting = slots[oldest] {
                    overflow[base] = waiting
                    slots[oldest] = nil
                    ringCount -= 1
                }
                base += 1
            }
        }
        slots[Int(id) & (slots.count - 1)] = value
        ringCount += 1
        next += 1
        return id
    }

    /// Takes the request with `id` out; `nil` when none waits under it (answered already,
    /// timed out, or never sent).
    package mutating func remove(_ id: UInt64) -> Value? {
        guard id >= base else { return overflow.isEmpty ? nil : overflow.removeValue(forKey: id) }
        guard id < next else { return nil }
        let slot = Int(id) & (slots.count - 1)
        guard let value = slots[slot] else { return nil }
        slots[slot] = nil
        ringCount -= 1
        // Answered ids at the front are done with: the ring moves past them.
        while base < next, slots[Int(base) & (slots.count - 1)] == nil { base += 1 }
        return value
    }

    /// Every waiting request with its id, oldest first, leaving the table empty.
    package mutating func removeAll() -> [(id: UInt64, value: Value)] {
        let all = entries()
        // Ids keep counting up: an answer to an id of before must not match a new request.
        let next = self.next
        self = PendingRequests()
        self.base = next
        self.next = next
        return all
    }

    /// Every waiting request with its id, oldest first.
    package func entries() -> [(id: UInt64, value: Value)] {
        var all = overflow.map { (id: $0.key, value: $0.value) }.sorted { $0.id < $1.id }
        var id = base
        while id < next {
            if let value = slots[Int(id) & (slots.count - 1)] { all.append((id, value)) }
            id += 1
        }
        return all
    }

    private mutating func grow() {
        var larger = [Value?](repeating: nil, count: slots.count * 2)
        var id = base
        while id < next {
            larger[Int(id) & (larger.count - 1)] = slots[Int(id) & (slots.count - 1)]
            id += 1
        }
        slots = larger
    }
}

/// The send times of requests waiting for answers (monotonic microseconds), by message id:
/// ``PendingRequests`` made concrete here, in its own module, so that a load generator in
/// another module gets the specialised code rather than generic calls (which looked up type
/// metadata on every request).
package struct PendingSendTimes {
    var table = PendingRequests<UInt64>()

    package init() {}

    package mutating func add(_ sentAt: UInt64) -> UInt64 { table.add(sentAt) }
    package mutating func remove(_ id: UInt64) -> UInt64? { table.remove(id) }
    package mutating func removeAll() -> [(id: UInt64, value: UInt64)] { table.removeAll() }
}
