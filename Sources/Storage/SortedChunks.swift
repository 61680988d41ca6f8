/// A sorted set kept as a list of small sorted arrays ("chunks"), the in-memory order behind
/// key-order iteration, revision-order iteration and persistent indexes.
///
/// Insert and remove cost two binary searches and a move of at most `chunkCapacity`
/// elements; a chunk that fills up splits in two, an empty one goes away. Iteration from any
/// point is a binary search followed by a walk. Elements are unique.
struct SortedChunks<Element: Comparable & Sendable>: Sendable {
    static var chunkCapacity: Int { 512 }

    private(set) var chunks: [[Element]] = []
    private(set) var count = 0

    /// The position of the first element `>= element`: (chunk, index), or `nil` past the end.
    private func lowerBound(_ element: Element) -> (chunk: Int, index: Int)? {
        var low = 0, high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            if chunks[middle].last! < element { low = middle + 1 } else { high = middle }
        }
        guard low < chunks.count else { return nil }
        let chunk = chunks[low]
        var first = 0, last = chunk.count
        while first < last {
            let middle = (first + last) / 2
            if chunk[middle] < element { first = middle + 1 } else { last = middle }
        }
        return (low, first)
    }

    func contains(_ element: Element) -> Bool {
        guard let (chunk, index) = lowerBound(element) else { return false }
        return chunks[chunk][index] == element
    }

    /// Adds `element`; returns false when it was already there.
    @discardableResult
    mutating func insert(_ element: Element) -> Bool {
        guard let (chunk, index) = lowerBound(element) else {
            // Past every element: the common case for increasing revisions.
            if chunks.isEmpty || chunks[chunks.count - 1].count >= Self.chunkCapacity {
                chunks.append([element])
            } else {
                chunks[chunks.count - 1].append(element)
            }
            count += 1
            return true
        }
        if chunks[chunk][index] == element { return false }
        chunks[chunk].insert(element, at: index)
        count += 1
        if chunks[chunk].count > Self.chunkCapacity {
            let upper = Array(chunks[chunk][(Self.chunkCapacity / 2)...])
            chunks[chunk].removeSubrange((Self.chunkCapacity / 2)...)
            chunks.insert(upper, at: chunk + 1)
        }
        return true
    }

    /// Removes `element`; returns false when it was not there.
    @discardableResult
    mutating func remove(_ element: Element) -> Bool {
        guard let (chunk, index) = lowerBound(element), chunks[chunk][index] == element else { return false }
        chunks[chunk].remove(at: index)
        if chunks[chunk].isEmpty { chunks.remove(at: chunk) }
        count -= 1
        return true
    }

    mutating func removeAll() {
        chunks = []
        count = 0
    }

    /// Up to `limit` elements in order, starting at the first one `>= start` (or the first
    /// one `> start` when `inclusive` is false; from the beginning when `start` is nil), and
    /// stopping before the first one for which `isPastEnd` is true.
    func elements(from start: Element?, inclusive: Bool = true, limit: Int,
                  isPastEnd: (Element) -> Bool = { _ in false }) -> [Element] {
        var result: [Element] = []
        guard limit > 0 else { return result }
        var position: (chunk: Int, index: Int)
        if let start {
            guard let found = lowerBound(start) else { return result }
            position = found
        } else {
            guard !chunks.isEmpty else { return result }
            position = (0, 0)
        }
        while position.chunk < chunks.count {
            let chunk = chunks[position.chunk]
            while position.index < chunk.count {
                let element = chunk[position.index]
                position.index += 1
                if !inclusive, let start, element == start { continue }
                if isPastEnd(element) { return result }
                result.append(element)
                if result.count == limit { return result }
            }
            position = (position.chunk + 1, 0)
        }
        return result
    }

    /// The first element `>= element`, if any.
    func first(atOrAfter element: Element) -> Element? {
        guard let (chunk, index) = lowerBound(element) else { return nil }
        return chunks[chunk][index]
    }
}
