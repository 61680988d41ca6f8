public import ArangoAPI
public import VelocyPack

/// A database in `Plan/Databases/<name>`: `{id, name}`.
public struct PlanDatabase: Sendable, Equatable {
    public var id: String
    public var name: String

    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }

    public var vpack: [UInt8] {
        vpackBytes { builder in
            builder.openObject()
            builder.add(key: "id", id)
            builder.add(key: "name", name)
            builder.closeTrusted()
        }
    }

    /// Decodes the entry stored under `name`; the stored name must agree with the key.
    public init(name: String, decoding slice: Slice) throws(ClusterError) {
        let fields = try AgencyFieldReader(slice, context: "Plan/Databases/\(name)")
        let storedName = try fields.string("name")
        guard storedName == name else { throw fields.invalid("name", "is '\(storedName)' under key '\(name)'") }
        self.init(id: try fields.string("id"), name: name)
    }
}

/// An index definition as Plan lists it: `{id, type, name, fields, unique, sparse}`.
public struct PlannedIndex: Sendable, Equatable {
    /// The index id, unique within the collection (`"0"` is the primary index).
    public var id: String
    /// `primary`, `edge`, `persistent`, …
    public var type: String
    public var name: String
    /// Attribute paths, in order.
    public var fields: [String]
    public var unique: Bool
    public var sparse: Bool

    public init(id: String, type: String, name: String, fields: [String], unique: Bool, sparse: Bool) {
        self.id = id
        self.type = type
        self.name = name
        self.fields = fields
        self.unique = unique
        self.sparse = sparse
    }

    /// The primary index every collection has.
    public static let primary = PlannedIndex(id: "0", type: "primary", name: "primary", fields: ["_key"], unique: true, sparse: false)

    /// Whether the storage engine makes the index by itself with the collection (primary,
    /// edge): Maintenance never ensures or drops it.
    public var isBuiltIn: Bool { type == "primary" || type == "edge" }

    func encode(into builder: inout Builder) {
        builder.openObject()
        builder.add(key: "fields", strings: fields)
        builder.add(key: "id", id)
        builder.add(key: "name", name)
        builder.add(key: "sparse", sparse)
        builder.add(key: "type", type)
        builder.add(key: "unique", unique)
        builder.closeTrusted()
    }

    init(decoding slice: Slice, context: String) throws(ClusterError) {
        let fields = try AgencyFieldReader(slice, context: context)
        let id = try fields.string("id")
        self.init(id: id, type: try fields.string("type"), name: try fields.optionalString("name") ?? "idx_\(id)",
                  fields: try fields.stringArray("fields"), unique: try fields.bool("unique", default: false),
                  sparse: try fields.bool("sparse", default: false))
    }

    static func encode(_ indexes: [PlannedIndex], into builder: inout Builder) {
        builder.openArray()
        for index in indexes { index.encode(into: &builder) }
        builder.closeTrusted()
    }

    static func decodeList(_ slice: Slice?, context: String) throws(ClusterError) -> [PlannedIndex] {
        guard let slice else { return [] }
        guard slice.isArray else { throw ClusterError(.agencyDataInvalid, "\(context): 'indexes' must be an array") }
        var indexes: [PlannedIndex] = []
        for (position, member) in slice.arrayElements.enumerated() {
            indexes.append(try PlannedIndex(decoding: member.untagged, context: "\(context)/indexes[\(position)]"))
        }
        return indexes
    }
}

/// Shard names, ArangoDB's `s<id>`.
public enum ShardName {
    /// The name of the shard with numeric id `id`.
    public static func make(_ id: UInt64) -> String { "s\(id)" }

    /// The numeric id of a shard name, or `nil` when it is not `s` followed by decimal digits.
    public static func id(_ name: String) -> UInt64? {
        guard name.hasPrefix("s"), name.count > 1 else { return nil }
        let digits = name.dropFirst()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(digits)
    }

    /// `names` in numeric order (`s9` before `s10`), which is the order routing indexes into.
    /// Names that are not `s<digits>` sort after all others, by bytes.
    public static func sorted(_ names: some Sequence<String>) -> [String] { sortedNumerically(names, by: id) }
}

/// `names` ordered by the number `number` finds in each, then by bytes; names without a
/// number come last. Dictionary keys must be ordered before they drive behaviour.
func sortedNumerically(_ names: some Sequence<String>, by number: (String) -> UInt64? = { UInt64($0) }) -> [String] {
    names.sorted { lhs, rhs in
        switch (number(lhs), number(rhs)) {
        case let (left?, right?): left != right ? left < right : lhs < rhs
        case (.some, nil): true
        case (nil, .some): false
        case (nil, nil): lhs < rhs
        }
    }
}

/// A collection in `Plan/Collections/<db>/<id>`.
public struct PlanCollection: Sendable, Equatable {
    public var id: String
    public var name: String
    public var type: CollectionType
    public var numberOfShards: Int
    /// The attributes whose values decide a document's shard, in order; `["_key"]` by default.
    public var shardKeys: [String]
    public var replicationFactor: Int
    /// How many in-sync copies a write needs (≤ `replicationFactor`).
    public var writeConcern: Int
    public var waitForSync: Bool
    public var keyOptions: KeyOptions
    public var indexes: [PlannedIndex]
    /// Shard name → servers, leader first (server ids: a resign marker is taken off and kept
    /// in `resigningLeaders`).
    public var shards: [String: [String]]
    /// Shards whose leader Plan asks to resign (a leader move's hand-over): stored as `"_"`
    /// before the leader's id, ArangoDB's marker. The leader keeps its copy; it stops taking
    /// writes, lets the writes under way finish, and reports itself resigned in Current.
    public var resigningLeaders: Set<String> = []
    /// Set while the creating coordinator waits for Current; cleared when every shard is there.
    public var isBuilding: Bool

    /// The most shard keys a collection may have (ArangoDB's limit).
    public static let shardKeyCountMax = 8
    /// The most shards a collection may have (ArangoDB's default `--cluster.max-number-of-shards`).
    public static let numberOfShardsMax = 1000
    /// The highest replication factor accepted at all (ArangoDB's default `--cluster.max-replication-factor`).
    public static let replicationFactorMax = 10

    public init(id: String, name: String, type: CollectionType = .document, numberOfShards: Int,
                shardKeys: [String] = ["_key"], replicationFactor: Int = 1, writeConcern: Int = 1,
                waitForSync: Bool = false, keyOptions: KeyOptions = KeyOptions(),
                indexes: [PlannedIndex] = [.primary], shards: [String: [String]], isBuilding: Bool = false) {
        self.id = id
        self.name = name
        self.type = type
        self.numberOfShards = numberOfShards
        self.shardKeys = shardKeys
        self.replicationFactor = replicationFactor
        self.writeConcern = writeConcern
        self.waitForSync = waitForSync
        self.keyOptions = keyOptions
        self.indexes = indexes
        self.shards = shards
        self.isBuilding = isBuilding
    }

    /// The shard names in numeric order.
    public var sortedShardNames: [String] { ShardName.sorted(shards.keys) }

    /// The planned leader of `shard`, or `nil` when the shard is unknown.
    public func leader(of shard: String) -> String? { shards[shard]?.first }

    /// The shard's servers as the agency stores them: with the resign marker on the leader when
    /// it is asked to resign. Preconditions on `Plan/…/shards/<shard>` compare these.
    public func storedServers(of shard: String) -> [String] {
        guard var servers = shards[shard] else { return [] }
        if resigningLeaders.contains(shard), !servers.isEmpty { servers[0] = Self.resignMarker + servers[0] }
        return servers
    }

    /// ArangoDB's prefix on a leader asked to resign (in Plan) or that has resigned (in Current).
    public static let resignMarker = "_"

    /// The server id behind a stored name and whether it carried the resign marker.
    public static func unmarked(_ name: String) -> (id: String, resigned: Bool) {
        name.hasPrefix(resignMarker) ? (String(name.dropFirst(resignMarker.count)), true) : (name, false)
    }

    /// Checks the creation parameters as a coordinator must before planning: shard count,
    /// shard keys, replication factor and write concern.
    ///
    /// - Throws: ``ClusterError/Code/badParameter`` naming the parameter.
    public static func validateProperties(numberOfShards: Int, shardKeys: [String], replicationFactor: Int,
                                          writeConcern: Int) throws(ClusterError) {
        guard (1...numberOfShardsMax).contains(numberOfShards) else {
            throw ClusterError(.badParameter, "numberOfShards must be in 1...\(numberOfShardsMax), not \(numberOfShards)")
        }
        guard (1...shardKeyCountMax).contains(shardKeys.count) else {
            throw ClusterError(.badParameter, "shardKeys must list 1...\(shardKeyCountMax) attributes, not \(shardKeys.count)")
        }
        for key in shardKeys where key.isEmpty || key == "_id" || key == "_rev" {
            throw ClusterError(.badParameter, "'\(key)' cannot be a shard key")
        }
        guard Set(shardKeys).count == shardKeys.count else {
            throw ClusterError(.badParameter, "shardKeys must not repeat an attribute: \(shardKeys)")
        }
        guard (1...replicationFactorMax).contains(replicationFactor) else {
            throw ClusterError(.badParameter, "replicationFactor must be in 1...\(replicationFactorMax), not \(replicationFactor)")
        }
        guard (1...replicationFactor).contains(writeConcern) else {
            throw ClusterError(.badParameter, "writeConcern must be in 1...replicationFactor (\(replicationFactor)), not \(writeConcern)")
        }
    }

    /// The VelocyPack of the Plan entry (ArangoDB's attribute names; `minReplicationFactor`
    /// repeats `writeConcern` for older readers).
    public var vpack: [UInt8] { vpackBytes { encode(into: &$0) } }

    func encode(into builder: inout Builder) {
        builder.openObject()
        builder.add(key: "id", id)
        builder.add(key: "indexes")
        PlannedIndex.encode(indexes, into: &builder)
        builder.add(key: "isBuilding", isBuilding)
        builder.add(key: "keyOptions")
        builder.openObject()
        builder.add(key: "allowUserKeys", keyOptions.allowUserKeys)
        builder.add(key: "type", keyOptions.kind.rawValue)
        builder.closeTrusted()
        builder.add(key: "minReplicationFactor", writeConcern)
        builder.add(key: "name", name)
        builder.add(key: "numberOfShards", numberOfShards)
        builder.add(key: "replicationFactor", replicationFactor)
        builder.add(key: "shardKeys", strings: shardKeys)
        builder.add(key: "shardingStrategy", "hash")
        builder.add(key: "shards")
        builder.openObject()
        // Sorted so equal collections encode to equal bytes (Dictionary order varies per process).
        for shard in sortedShardNames { builder.add(key: shard, strings: storedServers(of: shard)) }
        builder.closeTrusted()
        builder.add(key: "type", type.rawValue)
        builder.add(key: "waitForSync", waitForSync)
        builder.add(key: "writeConcern", writeConcern)
        builder.closeTrusted()
    }

    /// Decodes and validates the entry of collection `id` in database `database`.
    ///
    /// - Throws: ``ClusterError/Code/agencyDataInvalid`` for a missing or mistyped field, a
    ///   shard map that does not match `numberOfShards`, a bad shard name or an empty server
    ///   list; ``ClusterError/Code/unsupported`` for a sharding strategy other than `hash` or
    ///   a `"satellite"` replication factor.
    public init(database: String, id: String, decoding slice: Slice) throws(ClusterError) {
        let context = "Plan/Collections/\(database)/\(id)"
        let fields = try AgencyFieldReader(slice, context: context)
        let storedId = try fields.string("id")
        guard storedId == id else { throw fields.invalid("id", "is '\(storedId)' under key '\(id)'") }
        guard let type = CollectionType(rawValue: try fields.int("type", in: 2...3, default: 2)) else {
            preconditionFailure("the range 2...3 holds only collection types")
        }
        if let strategy = try fields.optionalString("shardingStrategy"), strategy != "hash" {
            throw ClusterError(.unsupported, "\(context): sharding strategy '\(strategy)' is not supported")
        }
        if fields.optional("replicationFactor")?.isString == true {
            throw ClusterError(.unsupported, "\(context): satellite collections are not supported")
        }
        let numberOfShards = try fields.int("numberOfShards", in: 1...Self.numberOfShardsMax)
        let replicationFactor = try fields.int("replicationFactor", in: 1...Self.replicationFactorMax)
        let writeConcern = try fields.int("writeConcern", in: 1...replicationFactor,
                                          default: try fields.int("minReplicationFactor", in: 1...replicationFactor, default: 1))
        let shardKeys = try fields.stringArray("shardKeys", default: ["_key"])
        guard (1...Self.shardKeyCountMax).contains(shardKeys.count), !shardKeys.contains("") else {
            throw fields.invalid("shardKeys", "must list 1...\(Self.shardKeyCountMax) non-empty attribute names")
        }
        var keyOptions = KeyOptions()
        if let options = fields.optional("keyOptions") {
            let keyFields = try AgencyFieldReader(options, context: context + "/keyOptions")
            let typeName = try keyFields.optionalString("type") ?? KeyOptions.Kind.traditional.rawValue
            guard let kind = KeyOptions.Kind(rawValue: typeName) else {
                throw ClusterError(.agencyDataInvalid, "\(context)/keyOptions: unknown key generator type '\(typeName)'")
            }
            keyOptions = KeyOptions(kind: kind, allowUserKeys: try keyFields.bool("allowUserKeys", default: true))
        }
        let (shards, resigning) = try Self.decodeShards(fields.optional("shards"), count: numberOfShards, context: context)
        self.init(id: id, name: try fields.string("name"), type: type, numberOfShards: numberOfShards,
                  shardKeys: shardKeys, replicationFactor: replicationFactor, writeConcern: writeConcern,
                  waitForSync: try fields.bool("waitForSync", default: false), keyOptions: keyOptions,
                  indexes: try PlannedIndex.decodeList(fields.optional("indexes"), context: context),
                  shards: shards, isBuilding: try fields.bool("isBuilding", default: false))
        resigningLeaders = resigning
    }

    /// The shard map and the shards whose leader carries the resign marker (only the leader
    /// may; a follower's name must be a plain id).
    static func decodeShards(_ slice: Slice?, count: Int, context: String) throws(ClusterError)
        -> (shards: [String: [String]], resigning: Set<String>) {
        guard let slice, slice.isObject else { throw ClusterError(.agencyDataInvalid, "\(context): 'shards' must be an object") }
        var shards: [String: [String]] = [:]
        var resigning: Set<String> = []
        for (key, value) in slice.objectMembers {
            guard let name = key.keyName, ShardName.id(name) != nil else {
                throw ClusterError(.agencyDataInvalid, "\(context): shard name '\(key.keyName ?? "?")' is not s<id>")
            }
            let servers = try AgencyFieldReader.strings(value.untagged, orThrow: ClusterError(
                .agencyDataInvalid, "\(context): servers of \(name) must be an array of strings"))
            guard !servers.isEmpty, !servers.contains("") else {
                throw ClusterError(.agencyDataInvalid, "\(context): shard \(name) has no leader")
            }
            var ids = servers
            let leader = unmarked(servers[0])
            if leader.resigned { resigning.insert(name); ids[0] = leader.id }
            guard !ids.contains(where: { $0.isEmpty || $0.hasPrefix(resignMarker) }) else {
                throw ClusterError(.agencyDataInvalid, "\(context): servers of \(name): only the leader may carry the resign marker '_'")
            }
            shards[name] = ids
        }
        guard shards.count == count else {
            throw ClusterError(.agencyDataInvalid, "\(context): \(shards.count) shards planned for numberOfShards \(count)")
        }
        return (shards, resigning)
    }
}

/// A shard leader's report in `Current/Collections/<db>/<cid>/<shard>`.
public struct CurrentShard: Sendable, Equatable {
    /// The leader first, then the in-sync followers: every server listed has applied every
    /// acknowledged write.
    public var servers: [String]
    /// The servers supervision may promote when the leader fails (ArangoDB's field): the
    /// in-sync servers. Tessera keeps it equal to `servers`; a follower leaves both in the
    /// same agency transaction before a write is acknowledged without it.
    public var failoverCandidates: [String]
    /// Tessera's members, written only by the leader's replication: the epoch of the
    /// leadership that last changed `servers`, and the in-sync version every change moves
    /// on by one (a change requires the version it was computed from, so a delayed one can
    /// never apply after a later one). nil before the leader's first change.
    public var leaderEpoch: UInt64?
    public var syncVersion: UInt64?
    public var error: Bool
    public var errorNum: Int
    public var errorMessage: String
    /// The indexes the leader holds.
    public var indexes: [PlannedIndex]
    /// Planned indexes the leader failed to build (Tessera's member; ArangoDB marks such
    /// entries of `indexes` with `error: true`). Written only when not empty.
    public var indexErrors: [IndexFailure]

    public init(servers: [String], failoverCandidates: [String]? = nil, leaderEpoch: UInt64? = nil, syncVersion: UInt64? = nil,
                indexes: [PlannedIndex], indexErrors: [IndexFailure] = [], error: Bool = false, errorNum: Int = 0,
                errorMessage: String = "") {
        self.servers = servers
        self.failoverCandidates = failoverCandidates ?? servers
        self.leaderEpoch = leaderEpoch
        self.syncVersion = syncVersion
        self.error = error
        self.errorNum = errorNum
        self.errorMessage = errorMessage
        self.indexes = indexes
        self.indexErrors = indexErrors
    }

    /// The leader that reported itself resigned (`servers[0]` is `"_" + id`, written by a
    /// leader that handed the shard on during a move), or nil.
    public var resignedLeader: String? {
        guard let first = servers.first else { return nil }
        let name = PlanCollection.unmarked(first)
        return name.resigned ? name.id : nil
    }

    /// Every server the report names as a copy (`servers` and `failoverCandidates`, the
    /// resign marker taken off).
    ///
    /// Nothing may add one of them to the shard's Plan while Plan does not name it: a server
    /// Plan dropped drops its copy, and the leader that would strike it from this list may be
    /// dead or cut off from the agency — the list then still names a copy that is gone, and
    /// a server planned again under that stale entry would count as in sync (a move would
    /// finish on it, a failover promote it) with none of the acknowledged writes. Once
    /// the list no longer names it, a leader lists it again only after it resynced under
    /// the Plan that names it (`Protocol/Cluster.md` §7, "Stale in-sync entries").
    public var listedServers: Set<String> {
        Set((servers + failoverCandidates).map { PlanCollection.unmarked($0).id })
    }

    /// A report that creating the shard failed on `server`, so a waiting coordinator can
    /// answer with the error instead of timing out.
    public static func failure(server: String, errorNum: Int, errorMessage: String) -> CurrentShard {
        CurrentShard(servers: [server], indexes: [], error: true, errorNum: errorNum, errorMessage: errorMessage)
    }

    public var vpack: [UInt8] {
        vpackBytes { builder in
            builder.openObject()
            builder.add(key: "error", error)
            builder.add(key: "errorMessage", errorMessage)
            builder.add(key: "errorNum", errorNum)
            builder.add(key: "failoverCandidates", strings: failoverCandidates)
            if !indexErrors.isEmpty {
                builder.add(key: "indexErrors")
                Self.encode(indexErrors, into: &builder)
            }
            builder.add(key: "indexes")
            PlannedIndex.encode(indexes, into: &builder)
            if let leaderEpoch { builder.add(key: "leaderEpoch", leaderEpoch) }
            builder.add(key: "servers", strings: servers)
            if let syncVersion { builder.add(key: "syncVersion", syncVersion) }
            builder.closeTrusted()
        }
    }

    static func encode(_ failures: [IndexFailure], into builder: inout Builder) {
        builder.openArray()
        for failure in failures {
            builder.openObject()
            builder.add(key: "errorMessage", failure.errorMessage)
            builder.add(key: "errorNum", failure.errorNum)
            builder.add(key: "id", failure.id)
            builder.closeTrusted()
        }
        builder.closeTrusted()
    }

    /// Decodes a report; `context` names its place for error messages.
    public init(decoding slice: Slice, context: String) throws(ClusterError) {
        let fields = try AgencyFieldReader(slice, context: context)
        var indexErrors: [IndexFailure] = []
        if let list = fields.optional("indexErrors") {
            guard list.isArray else { throw ClusterError(.agencyDataInvalid, "\(context): indexErrors is not an array") }
            for entry in list.arrayElements {
                let failure = try AgencyFieldReader(entry, context: context + " indexErrors")
                indexErrors.append(IndexFailure(id: try failure.string("id"),
                                                errorNum: try failure.int("errorNum", in: 0...Int(Int32.max), default: 0),
                                                errorMessage: try failure.optionalString("errorMessage") ?? ""))
            }
        }
        let servers = try fields.stringArray("servers")
        func unsigned(_ name: String) throws(ClusterError) -> UInt64? {
            guard let value = fields.optional(name) else { return nil }
            guard let number = value.uintValue else { throw fields.invalid(name, "must be an unsigned integer") }
            return number
        }
        self.init(servers: servers, failoverCandidates: try fields.stringArray("failoverCandidates", default: servers),
                  leaderEpoch: try unsigned("leaderEpoch"), syncVersion: try unsigned("syncVersion"), indexes: try PlannedIndex.decodeList(fields.optional("indexes"), context: context),
                  indexErrors: indexErrors,
                  error: try fields.bool("error", default: false),
                  errorNum: try fields.int("errorNum", in: 0...Int(Int32.max), default: 0),
                  errorMessage: try fields.optionalString("errorMessage") ?? "")
    }
}
