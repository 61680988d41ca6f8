public import ArangoAPI
public import VelocyPack
import TesseraPlatform

/// Open query cursors: results not yet fetched, handed out a batch at a time
/// (`PUT /_api/cursor/<id>`). A cursor not touched for its time to live is dropped; so is the
/// oldest when the server holds its limit of cursors.
public final class CursorRegistry: Sendable {
    public struct Cursor: Sendable {
        public let id: String
        /// Results not yet handed out.
        var remaining: ArraySlice<Slice>
        public let batchSize: Int
        public let ttlSeconds: Double
        public let count: Int?
        /// The `extra` object of the first answer, repeated in later ones as ArangoDB does.
        public let extra: [UInt8]
        var expiresAt: Double
        /// The user who opened it: nobody else may read it.
        public let user: String?
        public let database: String
    }

    /// One batch: results and whether more follow.
    public struct Batch: Sendable {
        public let id: String
        public let results: ArraySlice<Slice>
        public let hasMore: Bool
        public let count: Int?
        public let extra: [UInt8]
    }

    public static let cursorCountMax = 4096
    public static let ttlSecondsDefault = 30.0
    public static let ttlSecondsMax = 3600.0

    let state = Locked(State())
    struct State: Sendable {
        var cursors: [String: Cursor] = [:]
        var nextID: UInt64 = 1
    }

    public init() {}

    /// Hands out the first batch of `results`; keeps the rest under a new id when more follow.
    public func open(results: [Slice], batchSize: Int, ttlSeconds: Double, count: Int?, extra: [UInt8],
                     user: String?, database: String, now: Double) -> Batch {
        let first = results.prefix(batchSize)
        guard results.count > batchSize else {
            return Batch(id: "", results: first, hasMore: false, count: count, extra: extra)
        }
        return state.withLock { state in
            sweep(&state, now: now)
            if state.cursors.count >= Self.cursorCountMax,
               let oldest = state.cursors.values.min(by: { $0.expiresAt < $1.expiresAt }) {
                state.cursors[oldest.id] = nil
            }
            let id = String(state.nextID)
            state.nextID += 1
            state.cursors[id] = Cursor(id: id, remaining: results[batchSize...], batchSize: batchSize, ttlSeconds: ttlSeconds,
                                       count: count, extra: extra, expiresAt: now + ttlSeconds, user: user, database: database)
            return Batch(id: id, results: first, hasMore: true, count: count, extra: extra)
        }
    }

    /// The next batch of cursor `id`; the cursor goes away after its last batch.
    public func next(_ id: String, user: String?, database: String, now: Double) throws(DocumentError) -> Batch {
        try state.withLock { (state) throws(DocumentError) -> Batch in
            sweep(&state, now: now)
            guard var cursor = state.cursors[id], cursor.user == user, cursor.database == database else {
                throw Self.notFound(id)
            }
            let batch = cursor.remaining.prefix(cursor.batchSize)
            cursor.remaining = cursor.remaining.dropFirst(cursor.batchSize)
            cursor.expiresAt = now + cursor.ttlSeconds
            let hasMore = !cursor.remaining.isEmpty
            state.cursors[id] = hasMore ? cursor : nil
            return Batch(id: id, results: batch, hasMore: hasMore, count: cursor.count, extra: cursor.extra)
        }
    }

    /// Drops cursor `id`.
    public func delete(_ id: String, user: String?, database: String, now: Double) throws(DocumentError) {
        try state.withLock { (state) throws(DocumentError) in
            sweep(&state, now: now)
            guard let cursor = state.cursors[id], cursor.user == user, cursor.database == database else {
                throw Self.notFound(id)
            }
            state.cursors[cursor.id] = nil
        }
    }

    public var openCount: Int { state.withLock { $0.cursors.count } }

    func sweep(_ state: inout State, now: Double) {
        state.cursors = state.cursors.filter { $0.value.expiresAt > now }
    }

    static func notFound(_ id: String) -> DocumentError {
        DocumentError(status: 404, .cursorNotFound, "cursor not found: '\(id)' (it may have expired)")
    }
}
