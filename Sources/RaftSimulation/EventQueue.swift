/// A min-heap of timed events; ties go to the event scheduled first, so the order never
/// depends on anything but the seed. Shared by the Raft and the agency simulators.
public struct EventQueue<Event> {
    private struct Item {
        var time: Int
        var sequence: UInt64
        var event: Event
        func precedes(_ other: Item) -> Bool { (time, sequence) < (other.time, other.sequence) }
    }

    private var heap: [Item] = []
    private var sequence: UInt64 = 0

    /// An empty queue.
    public init() {}

    /// True when no event is scheduled.
    public var isEmpty: Bool { heap.isEmpty }

    /// Schedules `event` at `time` (after every event already scheduled at that time).
    public mutating func schedule(_ event: Event, at time: Int) {
        sequence += 1
        heap.append(Item(time: time, sequence: sequence, event: event))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest event.
    public mutating func popFirst() -> (time: Int, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].precedes(heap[smallest]) { smallest = left }
            if right < heap.count && heap[right].precedes(heap[smallest]) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (first.time, first.event)
    }
}
