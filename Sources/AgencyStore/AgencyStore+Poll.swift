import VelocyPack

// The poll history: what changed after a given index, for servers that keep a cache of the
// store (ArangoDB's AgencyCache long-polls `/_api/agency/poll`).

/// The answer to ``AgencyStore/poll(from:)``.
public enum AgencyPollAnswer: Sendable, Equatable {
    /// Every change in the entries `firstIndex...commitIndex` (entries without tree changes
    /// are left out). Empty when nothing changed; a long poll then waits for the next entry.
    case log(firstIndex: UInt64, commitIndex: UInt64, entries: [AgencyHistoryEntry])
    /// The history no longer reaches back to the index asked for: the whole tree (dot-keys
    /// included) as of `commitIndex`, to replace the cache with.
    case snapshot(commitIndex: UInt64, tree: [UInt8])

    /// The wire form, mirroring ArangoDB's poll result:
    ///
    /// ```
    /// {"commitIndex": C, "firstIndex": F, "log": [{"index": I, "time": T, "query": [{path: op, …}, …]}, …]}
    /// {"commitIndex": C, "firstIndex": 0, "readDB": [ <tree> ]}
    /// ```
    public func encoded() -> [UInt8] {
        AgencyValue.bytes { builder in
            builder.openObject()
            switch self {
            case .log(let firstIndex, let commitIndex, let entries):
                builder.add(key: "commitIndex", commitIndex)
                builder.add(key: "firstIndex", firstIndex)
                builder.add(key: "log")
                builder.openArray()
                for entry in entries {
                    builder.openObject()
                    builder.add(key: "index", entry.index)
                    builder.add(key: "time", entry.timeMilliseconds)
                    builder.add(key: "query")
                    builder.openArray()
                    for transaction in entry.transactions { builder.add(Slice(trustedBytes: transaction)) }
                    builder.closeBuilt()
                    builder.closeBuilt()
                }
                builder.closeBuilt()
            case .snapshot(let commitIndex, let tree):
                builder.add(key: "commitIndex", commitIndex)
                builder.add(key: "firstIndex", UInt64(0))
                builder.add(key: "readDB")
                builder.openArray()
                builder.add(Slice(trustedBytes: tree))
                builder.closeBuilt()
            }
            builder.closeBuilt()
        }
    }
}

extension AgencyStore {
    /// The changes of the entries from `firstIndex` on, or the whole tree when the history no
    /// longer reaches back that far (or `firstIndex` is 0: a new cache starts from a snapshot).
    ///
    /// The history holds at most ``AgencyLimits/historyEntryCountMax`` entries and
    /// ``AgencyLimits/historyByteCountMax`` bytes of operations, and starts empty after
    /// ``restore(_:)``. A `firstIndex` beyond ``index`` gives an empty log.
    public func poll(from firstIndex: UInt64) -> AgencyPollAnswer {
        guard firstIndex > historyStartIndex else {
            return .snapshot(commitIndex: index, tree: AgencyValue.bytes { root.build(into: &$0) })
        }
        let start = history.partitioningIndex { $0.index >= firstIndex }
        return .log(firstIndex: firstIndex, commitIndex: index, entries: Array(history[start...]))
    }

    /// Appends one entry's changes and forgets the oldest beyond the bounds.
    mutating func record(_ entry: AgencyHistoryEntry) {
        history.append(entry)
        historyByteCount += entry.byteCount
        var dropped = 0
        // Keeps at least the newest entry, however large, so a poll right after it works.
        while history.count - dropped > 1,
              history.count - dropped > AgencyLimits.historyEntryCountMax || historyByteCount > AgencyLimits.historyByteCountMax {
            historyByteCount -= history[dropped].byteCount
            historyStartIndex = history[dropped].index
            dropped += 1
        }
        history.removeFirst(dropped)
    }
}

extension Array {
    /// The first index whose element satisfies `predicate`, which must be false for a prefix
    /// and true for the rest (binary search).
    func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let middle = low + (high - low) / 2
            if predicate(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
