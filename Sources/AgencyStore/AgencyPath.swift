/// A normalized agency path: the list of its keys, root first.
///
/// ArangoDB's normalization: a leading `/` is optional, empty components (`//`, a trailing
/// `/`) are dropped, so `/a//b/`, `a/b` and `/a/b` are the same path; `/` (and the empty
/// string) is the root, with no components.
public struct AgencyPath: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The keys from the root down; empty for the root.
    public let components: [String]

    /// The path made of `components`, which must be non-empty keys without `/`.
    public init(components: [String]) {
        precondition(components.allSatisfy { !$0.isEmpty && !$0.contains("/") },
                     "AgencyPath components must be non-empty and free of '/': \(components)")
        self.components = components
    }

    /// Parses and normalizes a path string.
    ///
    /// - Throws: ``AgencyError/Code/invalidPath`` when the string exceeds
    ///   ``AgencyLimits/pathByteCountMax`` or has more than ``AgencyLimits/pathComponentCountMax``
    ///   components.
    public init(_ string: String) throws(AgencyError) {
        guard string.utf8.count <= AgencyLimits.pathByteCountMax else {
            throw AgencyError(.invalidPath, "path of \(string.utf8.count) bytes exceeds \(AgencyLimits.pathByteCountMax)")
        }
        let parts = string.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count <= AgencyLimits.pathComponentCountMax else {
            throw AgencyError(.invalidPath, "path '\(string.prefix(64))…' has \(parts.count) components, more than \(AgencyLimits.pathComponentCountMax)")
        }
        components = parts
    }

    /// The root, `/`.
    public static let root = AgencyPath(components: [])

    /// Whether this is the root.
    public var isRoot: Bool { components.isEmpty }

    /// The normalized string form: `/` followed by the components joined with `/`.
    public var description: String { "/" + components.joined(separator: "/") }

    /// Whether `self` is `other` or lies below it.
    public func hasPrefix(_ other: AgencyPath) -> Bool {
        components.count >= other.components.count && components.starts(with: other.components)
    }

    /// Component-wise order, so a parent sorts before its children and siblings by key:
    /// `/a` < `/a/b` < `/ab`. This is the order in which one transaction's operations apply.
    public static func < (lhs: AgencyPath, rhs: AgencyPath) -> Bool {
        lhs.components.lexicographicallyPrecedes(rhs.components)
    }
}
