import VelocyPack

/// One node of the agency tree: an object node with named children, or a leaf that holds one
/// VelocyPack value that is not an object (objects are always taken apart into nodes, as
/// ArangoDB's `Node` does, so every key of a stored object is addressable by a path).
struct AgencyNode: Sendable, Equatable {
    /// The children of an object node; empty for a leaf.
    var children: [String: AgencyNode] = [:]
    /// The value of a leaf (never an object); `nil` for an object node.
    var leaf: [UInt8]?

    /// An empty object node.
    init() {}

    /// The node for `value`: objects become object nodes (recursively), anything else a leaf
    /// holding a copy of the value's bytes (so the node does not keep the request alive).
    init(_ value: Slice) {
        if value.isObject {
            for (key, member) in value.objectMembers {
                // Keys were validated as strings; keyName also resolves integer keys.
                guard let name = key.keyName else { continue }
                children[name] = AgencyNode(member)
            }
        } else {
            leaf = value.copiedBytes
        }
    }

    var isObject: Bool { leaf == nil }

    /// The leaf's value, or `nil` for an object node.
    var leafSlice: Slice? { leaf.map { Slice(trustedBytes: $0) } }

    /// The node's value as VelocyPack: the leaf, or an object of the children in key order.
    ///
    /// - Parameter hidingDotKeys: leave out keys that start with `.` at every level (ArangoDB
    ///   hides them from reads unless the read path names them).
    func build(into builder: inout Builder, hidingDotKeys: Bool = false) {
        if let leaf {
            builder.add(Slice(trustedBytes: leaf))
            return
        }
        builder.openObject()
        // Sorted: the member order must not depend on Dictionary's per-process hash seed.
        for key in children.keys.sorted() where !(hidingDotKeys && key.hasPrefix(".")) {
            builder.add(key: key)
            children[key]!.build(into: &builder, hidingDotKeys: hidingDotKeys)
        }
        builder.closeBuilt()
    }

    /// The node's value as a self-contained slice.
    var slice: Slice {
        if let leaf { return Slice(trustedBytes: leaf) }
        return Slice(trustedBytes: AgencyValue.bytes { build(into: &$0) })
    }

    /// The node at `path` below this one, or `nil` when some key on the way is missing or a leaf.
    func node(at path: ArraySlice<String>) -> AgencyNode? {
        guard let key = path.first else { return self }
        return children[key]?.node(at: path.dropFirst())
    }

    /// Runs `body` on the slot of the node at `path` (non-empty) below this one: `nil` when the
    /// node does not exist, and setting it `nil` removes the node.
    ///
    /// - Parameter create: make the object nodes on the way when they are missing, turning a
    ///   leaf on the way into an empty object node (as ArangoDB does when a set goes below a
    ///   leaf). Without it, `body` does not run when the way is blocked, and the result is `nil`.
    mutating func modify<R>(_ path: ArraySlice<String>, create: Bool, _ body: (inout AgencyNode?) -> R) -> R? {
        guard let key = path.first else { preconditionFailure("AgencyNode.modify needs a non-empty path") }
        if leaf != nil {
            guard create else { return nil }
            leaf = nil
        }
        if path.count == 1 { return body(&children[key]) }
        if children[key] == nil {
            guard create else { return nil }
            children[key] = AgencyNode()
        }
        return children[key]!.modify(path.dropFirst(), create: create, body)
    }

    /// The number of nodes in this subtree, this one included.
    var nodeCount: Int { children.values.reduce(1) { $0 + $1.nodeCount } }
}
