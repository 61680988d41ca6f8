/// Revision ids: 64-bit hybrid logical clock values, unique and increasing within a shard.
///
/// ```
///  63                              20 19                 0
///  +---------------------------------+--------------------+
///  | physical time, ms since 1970    | logical counter    |
///  +---------------------------------+--------------------+
/// ```
///
/// The next revision is the larger of "now" (counter 0) and the last revision plus one, so a
/// clock that steps back never makes revisions go back, and more than 2^20 revisions in one
/// millisecond simply borrow from the next one. Revisions that arrive from a leader are
/// `observe`d so that later local ones are larger still.
public struct HybridLogicalClock: Sendable, Equatable {
    public static let logicalBitCount = 20

    /// The largest revision handed out or observed.
    public private(set) var lastRevision: UInt64

    public init(lastRevision: UInt64 = 0) {
        self.lastRevision = lastRevision
    }

    /// The next revision at wall-clock time `physicalMilliseconds`.
    public mutating func next(physicalMilliseconds: UInt64) -> UInt64 {
        // 44 bits of milliseconds last until the year 2527; the shift cannot lose bits before then.
        let physical = physicalMilliseconds << UInt64(Self.logicalBitCount)
        precondition(lastRevision < UInt64.max, "revision space exhausted")
        lastRevision = max(physical, lastRevision + 1)
        return lastRevision
    }

    /// Makes every later revision larger than `revision`.
    public mutating func observe(_ revision: UInt64) {
        lastRevision = max(lastRevision, revision)
    }

    /// The wall-clock milliseconds part of a revision.
    public static func physicalMilliseconds(of revision: UInt64) -> UInt64 {
        revision >> UInt64(logicalBitCount)
    }
}
