public import VelocyPack

// Reads: answers built from the root, as ArangoDB's `/_api/agency/read` gives them.

extension AgencyStore {
    /// The answer to a read request: an array with one object per query.
    ///
    /// Each object is built from the root down to every path of its query, and the paths of
    /// one query merge into one object: `[["/a/b", "/a/c"]]` answers
    /// `[{"a": {"b": …, "c": …}}]`. A missing key is left out, but the object nodes on the way
    /// to it stay (`{"a": {}}` when `/a` exists without `b`); a path that runs into a leaf
    /// value gives nothing for that value. Keys starting with `.` are left out of the subtrees
    /// returned unless the path names them itself.
    public func read(_ queries: [[AgencyPath]]) -> [[UInt8]] {
        queries.map(readQuery)
    }

    /// The answer to a `/_api/agency/read` body: the array of ``read(_:)``'s objects.
    ///
    /// - Throws: ``AgencyError`` when the body is not valid VelocyPack or not an array of
    ///   arrays of path strings.
    public func readAnswer(request bytes: [UInt8]) throws(AgencyError) -> [UInt8] {
        let envelope = try AgencyEnvelope(validating: bytes, as: .read)
        let queries = envelope.elements.map { element -> [AgencyPath] in
            guard case .read(let paths) = element else { preconditionFailure("a read envelope holds only reads") }
            return paths
        }
        return AgencyValue.bytes { builder in
            builder.openArray()
            for answer in read(queries) { builder.add(Slice(trustedBytes: answer)) }
            builder.closeBuilt()
        }
    }

    /// The value at `path` (an object for an object node, dot-keys included), or `nil` when absent.
    public func value(at path: AgencyPath) -> Slice? {
        root.node(at: path.components[...])?.slice
    }

    /// One query's answer object.
    func readQuery(_ paths: [AgencyPath]) -> [UInt8] {
        var selection = ReadSelection()
        for path in paths { selection.insert(path.components[...]) }
        return AgencyValue.bytes { builder in
            if selection.whole {
                root.build(into: &builder, hidingDotKeys: true)
            } else {
                selection.build(from: root, into: &builder)
            }
        }
    }
}

/// The paths of one read query as a trie: which subtrees to return whole, and which object
/// nodes to walk through.
struct ReadSelection {
    /// Return this node's whole subtree.
    var whole = false
    var children: [String: ReadSelection] = [:]

    mutating func insert(_ path: ArraySlice<String>) {
        guard !whole else { return }  // a shorter path already takes everything below
        guard let key = path.first else {
            whole = true
            children = [:]
            return
        }
        children[key, default: ReadSelection()].insert(path.dropFirst())
    }

    /// Writes the object for object node `node`: the selected children that exist.
    func build(from node: AgencyNode, into builder: inout Builder) {
        builder.openObject()
        for key in children.keys.sorted() {
            guard let child = node.children[key] else { continue }
            let selection = children[key]!
            if selection.whole {
                builder.add(key: key)
                child.build(into: &builder, hidingDotKeys: true)
            } else if child.isObject {
                builder.add(key: key)
                selection.build(from: child, into: &builder)
            }
        }
        builder.closeBuilt()
    }
}
