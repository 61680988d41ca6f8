import VelocyPack

// Snapshots for Raft log compaction and for followers that lag behind it.
//
// ```
// {"format": 1,
//  "index": <last applied index, UInt>, "time": <its time, ms, Int>,
//  "tree": { …the whole tree, dot-keys included… },
//  "ttl": [["/path", <expiry ms>], …],                 path order
//  "clientIds": [["id", <index>, <applied: Bool>], …],  oldest first
//  "observers": [["/path", "url"], …]}                  path, then URL order
// ```
//
// Everything is written in a fixed order, so two stores that applied the same entries give
// the same bytes. The poll history is not part of it: a restored store answers polls older
// than its index with the whole tree.

extension AgencyStore {
    /// The snapshot format version this code writes and reads.
    public static let snapshotFormat: Int64 = 1

    /// The whole state as VelocyPack bytes, for Raft log compaction.
    public func snapshot() -> [UInt8] {
        AgencyValue.bytes { builder in
            builder.openObject()
            builder.add(key: "format", Self.snapshotFormat)
            builder.add(key: "index", index)
            builder.add(key: "time", timeMilliseconds)
            builder.add(key: "tree")
            root.build(into: &builder)
            builder.add(key: "ttl")
            builder.openArray()
            for path in expiries.keys.sorted() {
                builder.openArray()
                builder.add(path.description)
                builder.add(expiries[path]!)
                builder.closeBuilt()
            }
            builder.closeBuilt()
            builder.add(key: "clientIds")
            builder.openArray()
            for id in clientIdOrder {
                builder.openArray()
                builder.add(id)
                switch clientRecords[id]! {
                case .applied(let index): builder.add(index); builder.add(true)
                case .preconditionFailed(let index): builder.add(index); builder.add(false)
                case .unknown: preconditionFailure("client id \(id) recorded as unknown")
                }
                builder.closeBuilt()
            }
            builder.closeBuilt()
            builder.add(key: "observers")
            builder.openArray()
            for (path, urls) in observerTable {
                for url in urls {
                    builder.openArray()
                    builder.add(path.description)
                    builder.add(url)
                    builder.closeBuilt()
                }
            }
            builder.closeBuilt()
            builder.closeBuilt()
        }
    }

    /// The store a snapshot describes.
    ///
    /// The bytes are foreign (a peer's or the disk's) and are checked fully: VelocyPack
    /// validity under the agency's limits, the format version, every field's type, path
    /// syntax, the client-id bound, and that no two keys of an object collide.
    ///
    /// - Throws: ``AgencyError`` with ``AgencyError/Code/invalidVelocyPack``,
    ///   ``AgencyError/Code/malformedSnapshot`` or ``AgencyError/Code/limitExceeded``.
    public init(restoring bytes: [UInt8]) throws(AgencyError) {
        // The tree nests deeper than a request: a value set at a deep path.
        let options = Validator.Options.agency(byteCountMax: AgencyLimits.snapshotByteCountMax, nestingLimit: Self.snapshotNestingMax)
        let slice: Slice
        do {
            slice = try Slice(validating: bytes, options: options)
        } catch {
            throw AgencyError(error, in: "snapshot")
        }
        func malformed(_ detail: String) -> AgencyError { AgencyError(.malformedSnapshot, detail) }
        guard slice.isObject, slice.count == 7 else { throw malformed("a snapshot is an object of 7 fields") }
        guard let format = slice["format"]?.intValue, format == Self.snapshotFormat else {
            throw malformed("unknown snapshot format (this code reads \(Self.snapshotFormat))")
        }
        guard let indexSlice = slice["index"], indexSlice.isInteger, let index = indexSlice.uintValue else {
            throw malformed("'index' must be a non-negative integer")
        }
        guard let timeSlice = slice["time"], timeSlice.isInteger, let time = timeSlice.intValue else {
            throw malformed("'time' must be an integer")
        }
        guard let tree = slice["tree"], tree.isObject else { throw malformed("'tree' must be an object") }
        guard let ttl = slice["ttl"], ttl.isArray, let clientIds = slice["clientIds"], clientIds.isArray,
              let observers = slice["observers"], observers.isArray else {
            throw malformed("'ttl', 'clientIds' and 'observers' must be arrays")
        }
        self.init()
        self.index = index
        self.timeMilliseconds = time
        self.historyStartIndex = index
        root = try Self.restoredNode(tree)

        for member in ttl.arrayElements {
            guard member.isArray, member.count == 2, let path = member[0]?.stringValue,
                  let expirySlice = member[1], expirySlice.isInteger, let expiry = expirySlice.intValue else {
                throw malformed("a 'ttl' entry is [path, expiry ms]")
            }
            let parsed = try Self.restoredPath(path)
            guard expiries.updateValue(expiry, forKey: parsed) == nil else { throw malformed("'ttl' lists \(parsed) twice") }
        }

        guard clientIds.count <= AgencyLimits.clientIdRetentionCount else {
            throw AgencyError(.limitExceeded, "\(clientIds.count) client ids exceed \(AgencyLimits.clientIdRetentionCount)")
        }
        for member in clientIds.arrayElements {
            guard member.isArray, member.count == 3, let id = member[0]?.stringValue, !id.isEmpty,
                  id.utf8.count <= AgencyLimits.clientIdByteCountMax,
                  let indexSlice = member[1], indexSlice.isInteger, let entryIndex = indexSlice.uintValue,
                  let applied = member[2]?.boolValue else {
                throw malformed("a 'clientIds' entry is [id, index, applied]")
            }
            guard entryIndex <= index else { throw malformed("client id \(id) names index \(entryIndex) after the snapshot's \(index)") }
            let inquiry: AgencyInquiry = applied ? .applied(index: entryIndex) : .preconditionFailed(index: entryIndex)
            guard clientRecords.updateValue(inquiry, forKey: id) == nil else { throw malformed("client id \(id) listed twice") }
            clientIdOrder.append(id)
        }

        for member in observers.arrayElements {
            guard member.isArray, member.count == 2, let path = member[0]?.stringValue, let url = member[1]?.stringValue,
                  !url.isEmpty, url.utf8.count <= AgencyLimits.urlByteCountMax else {
                throw malformed("an 'observers' entry is [path, url]")
            }
            let parsed = try Self.restoredPath(path)
            guard self.observers[parsed, default: []].insert(url).inserted else {
                throw malformed("observer \(url) of \(parsed) listed twice")
            }
        }
    }

    /// Deepest nesting accepted in a snapshot: a request's values below the deepest path.
    static let snapshotNestingMax = AgencyLimits.nestingMax + AgencyLimits.pathComponentCountMax + 8

    /// A path from a snapshot, which must be in normalized form.
    private static func restoredPath(_ string: String) throws(AgencyError) -> AgencyPath {
        let path = try AgencyPath(string)
        guard path.description == string else {
            throw AgencyError(.malformedSnapshot, "path '\(string.prefix(64))' is not normalized")
        }
        return path
    }

    /// The node for a snapshot's tree value, refusing keys that Swift's String equality
    /// (Unicode canonical equivalence) would merge, which the tree could not hold apart.
    private static func restoredNode(_ value: Slice) throws(AgencyError) -> AgencyNode {
        guard value.isObject else { return AgencyNode(leaf: value.copiedBytes) }
        var node = AgencyNode()
        for (key, member) in value.objectMembers {
            guard let name = key.keyName else { throw AgencyError(.malformedSnapshot, "a tree key is not a string") }
            guard node.children.updateValue(try restoredNode(member), forKey: name) == nil else {
                throw AgencyError(.malformedSnapshot, "tree keys equal to '\(name.prefix(64))' appear twice")
            }
        }
        return node
    }
}
