import Query
public import VelocyPack
public import ArangoAPI
import Storage

/// Runs a query of the supported subset over one collection and returns every result (the
/// cursor layer hands them out in batches).
///
/// Access path: `_key == c` / `_key IN [...]` read the primary index; equality conditions on
/// a leading prefix of a persistent index's fields (or `IN` on its first field) read that
/// index; otherwise the collection is scanned in key order. Every candidate is checked
/// against all filters again, so the index only narrows the candidates and can never change
/// an answer.
public struct QueryExecution: Sendable {
    /// Options from the cursor request.
    public struct Options: Sendable {
        public var fullCount = false
        /// Stop with an error after this many seconds (0: no limit).
        public var maxRuntimeSeconds: Double = 0
        /// The most bytes of documents held for sorting or results.
        public var memoryByteCountMax = 512 << 20
        /// Collection names the query's collection stands for here (a coordinator sends a
        /// DBServer the user's query with the collection mapped to one of its shards).
        public var collectionAliases: [String: String] = [:]
        /// For a coordinator gathering from shards: return the matching documents themselves
        /// (sorted, at most offset + limit of them), not the projection, so the coordinator
        /// can sort, cut and project across shards.
        public var forGather = false
        public init() {}
    }

    /// What the run did, for `extra.stats`.
    public struct Statistics: Sendable {
        public var scannedFull = 0
        public var scannedIndex = 0
        public var filtered = 0
        /// Matches before LIMIT (only counted in full when asked for).
        public var fullCount: Int?
        public var executionSeconds = 0.0
        /// Which access path ran: `primary`, the index name, or `full scan`.
        public var accessPath = "full scan"

        public init() {}
    }

    public let results: [Slice]
    public let statistics: Statistics

    /// Parses, binds and runs `text` against `store`'s database `database`.
    public static func run(_ text: String, bindVars: Slice?, database: String, store: DocumentStore,
                           options: Options, clock: @escaping @Sendable () -> Double) throws(DocumentError) -> QueryExecution {
        let started = clock()
        let bound: BoundQuery
        do throws(QueryError) {
            let query = try QueryParser.parse(text)
            if query.distinct {
                throw QueryError(.notSupported, "RETURN DISTINCT is not supported by Tessera's query subset")
            }
            bound = try BoundQuery(query, parameters: bindVars)
        } catch {
            throw DocumentError(status: error.kind == .notSupported ? 501 : 400, ErrorNumber(rawValue: error.errorNumber),
                                error.message)
        }
        let collection = try store.collection(options.collectionAliases[bound.collection] ?? bound.collection, in: database)
        let execution = Execution(bound: bound, collection: collection, options: options, started: started, clock: clock)
        try execution.run()
        execution.statistics.executionSeconds = clock() - started
        return QueryExecution(results: execution.results, statistics: execution.statistics)
    }
}

/// One run's mutable state (a class: the scan hands candidates to a closure that updates
/// the same statistics the scan does).
private final class Execution {
    let bound: BoundQuery
    let collection: DocumentCollection
    let options: QueryExecution.Options
    let started: Double
    let clock: @Sendable () -> Double
    let name: String
    var results: [Slice] = []
    var statistics = QueryExecution.Statistics()
    var heldByteCount = 0

    init(bound: BoundQuery, collection: DocumentCollection, options: QueryExecution.Options, started: Double, clock: @escaping @Sendable () -> Double) {
        self.bound = bound
        self.collection = collection
        self.options = options
        self.started = started
        self.clock = clock
        self.name = collection.idName
    }

    /// How many matches are needed before the scan may stop (nil: all).
    var neededMatchCount: Int? {
        if options.forGather { return bound.query.sort.isEmpty && !options.fullCount ? bound.query.limit.map { bound.query.offset + $0 } : nil }
        guard bound.query.sort.isEmpty, !options.fullCount, let limit = bound.query.limit else { return nil }
        return bound.query.offset + limit
    }

    func run() throws(DocumentError) {
        var matches: [Slice] = []
        var matchCount = 0
        func consider(_ document: Slice) throws(DocumentError) -> Bool {
            guard bound.matches(document) else {
                statistics.filtered += 1
                return true
            }
            matchCount += 1
            if bound.query.sort.isEmpty, let needed = neededMatchCount, matchCount > needed { return false }
            // Without SORT, matches past offset+limit are only counted.
            if bound.query.sort.isEmpty, let limit = bound.query.limit, matchCount > bound.query.offset + limit { return true }
            heldByteCount += document.byteSize
            if heldByteCount > options.memoryByteCountMax {
                throw DocumentError(status: 500, .resourceLimit,
                                    "query would hold more than \(options.memoryByteCountMax) bytes of documents; add a FILTER or LIMIT")
            }
            matches.append(document)
            return true
        }
        try scan(consider)
        if !bound.query.sort.isEmpty {
            let query = bound
            matches.sort { query.sortsBefore($0, $1) }
        }
        if options.fullCount { statistics.fullCount = matchCount }
        if options.forGather {
            // Every candidate for the first offset + limit overall, in order; the coordinator
            // cuts and projects.
            let end = bound.query.limit.map { min(matches.count, bound.query.offset + $0) } ?? matches.count
            results = Array(matches[0..<end])
            return
        }
        let start = min(bound.query.offset, matches.count)
        let end = bound.query.limit.map { min(matches.count, start + $0) } ?? matches.count
        results.reserveCapacity(end - start)
        for document in matches[start..<end] {
            var builder = Builder()
            bound.project(document, into: &builder)
            results.append(builder.slice)
        }
    }

    func checkRuntime() throws(DocumentError) {
        if options.maxRuntimeSeconds > 0, clock() - started > options.maxRuntimeSeconds {
            throw DocumentError(status: 410, .queryKilled, "query killed: it ran longer than maxRuntime (\(options.maxRuntimeSeconds) s)")
        }
    }

    /// Feeds candidates to `consider` until it returns false.
    func scan(_ consider: (Slice) throws(DocumentError) -> Bool) throws(DocumentError) {
        let conditions = bound.indexConditions
        // 1. The primary index.
        if let keyCondition = conditions.first(where: { $0.path == ["_key"] && $0.op == .equal }) {
            statistics.accessPath = "primary"
            let keys = (keyCondition.values.isEmpty ? [keyCondition.value] : keyCondition.values)
                .compactMap { Slice(trustedBytes: $0).stringValue }
            for key in Set(keys).sorted() {
                guard let found = try collection.document(key) else { continue }
                statistics.scannedIndex += 1
                if try !consider(found.slice) { return }
            }
            return
        }
        // 2. A persistent index with equality on a prefix of its fields.
        if let (index, lookups) = chooseIndex(conditions) {
            statistics.accessPath = index.name
            var seen = Set<String>()
            for values in lookups {
                let documents: [StoredDocument]
                do { documents = try collection.engine.lookup(index: index.name, values: values) } catch {
                    throw DocumentError(error, collection: name)
                }
                for stored in documents where seen.insert(stored.key).inserted {
                    statistics.scannedIndex += 1
                    let document = collection.decorated(stored.document, key: stored.key, revision: stored.revision, collection: name)
                    if try !consider(document) { return }
                }
                try checkRuntime()
            }
            return
        }
        // 3. Everything, a page at a time.
        var after: String?
        while true {
            let page: [StoredDocument]
            do { page = try collection.engine.documentsInKeyOrder(after: after, limit: 1024) } catch {
                throw DocumentError(error, collection: name)
            }
            for stored in page {
                statistics.scannedFull += 1
                let document = collection.decorated(stored.document, key: stored.key, revision: stored.revision, collection: name)
                if try !consider(document) { return }
            }
            guard let last = page.last, page.count == 1024 else { return }
            after = last.key
            try checkRuntime()
        }
    }

    /// The index serving the most equality conditions on a leading prefix of its fields, and
    /// the value lists to look up (several when the first field has an `IN`).
    func chooseIndex(_ conditions: [BoundQuery.IndexCondition]) -> (IndexInfo, [[Slice?]])? {
        var best: (IndexInfo, [[Slice?]], Int)?
        for index in collection.info.indexes {
            var lookups: [[Slice?]] = [[]]
            var prefix = 0
            for (position, field) in index.fields.enumerated() {
                let path = field.split(separator: ".").map(String.init)
                guard let condition = conditions.first(where: { $0.path == path && $0.op == .equal }) else { break }
                let constants = condition.values.isEmpty ? [condition.value] : condition.values
                // IN only on the first field, so the number of lookups stays the list's length.
                if constants.count != 1 && position != 0 { break }
                let slices = constants.map { Slice(trustedBytes: $0) }
                // A sparse index holds no nulls; a lookup of null there would miss documents.
                if index.sparse && slices.contains(where: \.isNull) { break }
                lookups = lookups.flatMap { prefix in slices.map { prefix + [$0.isNull ? nil : $0] } }
                prefix += 1
            }
            if prefix > 0 && prefix > (best?.2 ?? 0) { best = (index, lookups, prefix) }
        }
        return best.map { ($0.0, $0.1) }
    }
}
