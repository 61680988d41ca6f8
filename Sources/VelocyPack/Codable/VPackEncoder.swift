// Encodable → VelocyPack. `encode(to:)` first fills a small tree of `EncodingNode`s; the tree is
// then written with a `Builder`, so every layout choice (compact single-member objects, sorted
// indexes, array forms) is the builder's own.
//
// A tree, not direct writes, because Codable lets a type fill containers out of order: two
// nested containers may be written alternately, and `superEncoder()` hands out an encoder that
// may be used after its parent's later members. The builder can only append.

/// Encodes `Encodable` values as VelocyPack, with exactly the bytes a ``Builder`` writes when
/// given the same values in the same order.
///
/// | Swift                                   | Builder call                          |
/// |-----------------------------------------|---------------------------------------|
/// | keyed container                         | `openObject()`, `add(key:)` per key   |
/// | unkeyed container (also `[UInt8]`)      | `openArray()`                         |
/// | `Int`, `Int8`…`Int64` (`Int128` if fits)| `add(_: Int64)`                       |
/// | `UInt`, `UInt8`…`UInt64` (`UInt128` …)  | `add(_: UInt64)`                      |
/// | `Float`, `Double`                       | `add(_: Double)`                      |
/// | `String`, `Bool`                        | `add(_:)`                             |
/// | `nil` (`encodeNil`)                     | `addNull()`                           |
///
/// Object members are written in the order they were encoded (for synthesized conformances,
/// the order of the `CodingKeys`). A `Dictionary` has no stable order — it iterates
/// differently in every process — so its members are written in key byte order instead,
/// which makes its bytes the same in every run. Encoding a key twice in one keyed container
/// keeps the key's first position and the last value. A value whose `encode(to:)` writes
/// nothing becomes an empty object `0a` (as with Foundation's `JSONEncoder`), except at the
/// top level, where it is an error.
///
/// ```swift
/// struct Point: Codable { var x: Int; var y: Int }
/// try VPackEncoder().encode(Point(x: 1, y: 2))  // 0b 0b 02 41 78 31 41 79 32 03 06
/// ```
public struct VPackEncoder: Sendable {
    /// The layout options of the ``Builder`` that writes the output of ``encode(_:)`` and
    /// ``encodeSlice(_:)``.
    public var builderOptions: Builder.Options
    /// Context handed to every `encode(to:)` as `Encoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable]

    /// An encoder with the given builder options (the reference defaults unless told).
    public init(builderOptions: Builder.Options = .default, userInfo: [CodingUserInfoKey: any Sendable] = [:]) {
        self.builderOptions = builderOptions
        self.userInfo = userInfo
    }

    /// Encodes `value` as one VelocyPack value.
    ///
    /// - Throws: ``VPackError`` with offset 0 and the coding path in its detail:
    ///   `builderMisuse` when containers are used in a way that has no VelocyPack form (a
    ///   single value encoded twice, a keyed container asked of a value already encoded as an
    ///   array, nothing encoded at the top level); `unsupportedType` for an `Int128`/`UInt128`
    ///   beyond 64 bits, and for any non-``VPackError`` thrown by a type's own `encode(to:)`
    ///   (its description is kept in the detail). Errors from ``Builder/close()`` pass through.
    public func encode<T: Encodable>(_ value: T) throws(VPackError) -> [UInt8] {
        var builder = Builder(options: builderOptions)
        try encode(value, into: &builder)
        return builder.bytes
    }

    /// Encodes `value` and views the result; see ``encode(_:)``.
    public func encodeSlice<T: Encodable>(_ value: T) throws(VPackError) -> Slice {
        var builder = Builder(options: builderOptions)
        try encode(value, into: &builder)
        return builder.slice
    }

    /// Appends `value` to `builder` as one value: a top-level value, an array member, or the
    /// value of the key just added. The builder's own options decide the layout;
    /// ``builderOptions`` is not used.
    ///
    /// - Throws: ``VPackError`` as ``encode(_:)`` does, and `builderMisuse` at the builder's
    ///   byte count when `builder` is inside an object and waits for a key. The whole value
    ///   is encoded before the first byte is appended, so on any error but one from
    ///   ``Builder/close()`` the builder is left as it was.
    public func encode<T: Encodable>(_ value: T, into builder: inout Builder) throws(VPackError) {
        if let top = builder.stack.last, top.isObject, !builder.awaitingValue {
            throw VPackError(.builderMisuse, at: builder.byteCount, "an object member needs its key before \(T.self)")
        }
        let root = EncodingNode()
        let context = EncodingContext(userInfo: userInfo)
        do {
            try context.encode(value, into: root, codingPath: [])
        } catch let error as VPackError {
            throw error
        } catch {
            throw VPackError(.unsupportedType, at: 0, "\(T.self).encode(to:) threw: \(error)")
        }
        if let misuse = context.misuse { throw misuse }
        guard !root.isUnset else {
            throw VPackError(.builderMisuse, at: 0, "top-level \(T.self) encoded no value")
        }
        try root.write(into: &builder)
    }
}

// MARK: - Coding keys and paths (shared with the decoder)

/// The coding key for array positions and `super`, which no user type provides.
struct VPackCodingKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }

    init(intValue: Int) {
        stringValue = "Index \(intValue)"
        self.intValue = intValue
    }

    /// The key `superEncoder()` and `superDecoder()` use, as Foundation's coders do.
    static let `super` = VPackCodingKey(stringValue: "super")

    /// The key of array member `index`.
    static func index(_ index: Int) -> VPackCodingKey { VPackCodingKey(intValue: index) }
}

/// A coding path as text for error details: `.a.b[2].c`, or `top level` when empty.
func describeCodingPath(_ path: [any CodingKey]) -> String {
    if path.isEmpty { return "top level" }
    return path.map { key in
        if key is VPackCodingKey, let index = key.intValue { return "[\(index)]" }
        return "." + key.stringValue
    }.joined()
}

// MARK: - The tree

/// Dictionaries, whose iteration order differs from process to process; their objects are
/// written in key order so that the bytes do not.
protocol UnorderedKeyedCollection {}
extension Dictionary: UnorderedKeyedCollection {}

/// One value being encoded. A reference, because containers handed out by an encoder keep
/// filling it after the call that made them has returned.
final class EncodingNode {
    enum Content {
        /// Nothing encoded yet.
        case unset
        case null
        case bool(Bool)
        case int(Int64)
        case uint(UInt64)
        case double(Double)
        case string(String)
        /// An array; the members are in ``EncodingNode/members``.
        case array
        /// An object; values in ``EncodingNode/members``, keys in ``EncodingNode/keys``.
        case object
    }

    var content: Content
    /// The members of an array, or the values of an object (parallel to ``keys``).
    var members: [EncodingNode] = []
    /// The keys of an object, in the order they were first encoded.
    var keys: [String] = []
    /// The position of each key in ``keys``, so that a repeated key replaces its value.
    var positionByKey: [String: Int] = [:]
    /// Write the object's members in key byte order rather than encoding order.
    var sortsMembers = false

    init(_ content: Content = .unset) { self.content = content }

    var isUnset: Bool { if case .unset = content { true } else { false } }
    var isArray: Bool { if case .array = content { true } else { false } }
    var isObject: Bool { if case .object = content { true } else { false } }

    /// The content of an integer: signed types as `int`, unsigned as `uint`; `nil` when the
    /// value needs more than 64 bits (only `Int128`/`UInt128` can).
    static func integer<T: FixedWidthInteger>(_ value: T) -> Content? {
        if T.isSigned {
            guard let signed = Int64(exactly: value) else { return nil }
            return .int(signed)
        }
        guard let unsigned = UInt64(exactly: value) else { return nil }
        return .uint(unsigned)
    }

    /// Appends a new array member and returns it.
    func appendMember(_ content: Content = .unset) -> EncodingNode {
        let member = EncodingNode(content)
        members.append(member)
        return member
    }

    /// Sets the value of `key` to a new node and returns it; a repeated key keeps its place.
    func replaceMember(forKey key: String, _ content: Content = .unset) -> EncodingNode {
        let member = EncodingNode(content)
        if let position = positionByKey[key] {
            members[position] = member
        } else {
            positionByKey[key] = keys.count
            keys.append(key)
            members.append(member)
        }
        return member
    }

    /// The value of `key` when it is already a container of `content`'s kind (so nested
    /// containers for one key share their members), else a new one.
    func containerMember(forKey key: String, _ content: Content) -> EncodingNode {
        if let position = positionByKey[key] {
            let existing = members[position]
            switch (existing.content, content) {
            case (.array, .array), (.object, .object): return existing
            default: break
            }
        }
        return replaceMember(forKey: key, content)
    }

    /// Writes the tree with `builder`'s calls for each value.
    func write(into builder: inout Builder) throws(VPackError) {
        switch content {
        case .unset:
            // Nothing encoded below the top level: an empty object, as JSONEncoder writes `{}`.
            builder.openObject()
            try builder.close()
        case .null: builder.addNull()
        case .bool(let value): builder.add(value)
        case .int(let value): builder.add(value)
        case .uint(let value): builder.add(value)
        case .double(let value): builder.add(value)
        case .string(let value): builder.add(value)
        case .array:
            builder.openArray()
            for member in members { try member.write(into: &builder) }
            try builder.close()
        case .object:
            builder.openObject()
            var order = Array(keys.indices)
            if sortsMembers {
                // The byte order Builder sorts its index by, so stored order matches the index.
                order.sort { keys[$0].utf8.lexicographicallyPrecedes(keys[$1].utf8) }
            }
            for position in order {
                builder.add(key: keys[position])
                try members[position].write(into: &builder)
            }
            try builder.close()
        }
    }
}

/// What every encoder of one `encode` call shares: the user info, and the first misuse of a
/// container that could not be reported when it happened (the container accessors of
/// `Encoder` cannot throw).
final class EncodingContext {
    let userInfo: [CodingUserInfoKey: Any]
    private(set) var misuse: VPackError?

    init(userInfo: [CodingUserInfoKey: any Sendable]) {
        self.userInfo = userInfo
    }

    /// Notes a misuse; only the first is reported.
    func recordMisuse(_ detail: String, at codingPath: [any CodingKey]) {
        if misuse == nil {
            misuse = VPackError(.builderMisuse, at: 0, "\(describeCodingPath(codingPath)): \(detail)")
        }
    }

    /// Encodes `value` into `node` (which may already be partly filled when a type encodes
    /// through an encoder it was handed).
    func encode<T: Encodable>(_ value: T, into node: EncodingNode, codingPath: [any CodingKey]) throws {
        try value.encode(to: NodeEncoder(node: node, codingPath: codingPath, context: self))
        if value is any UnorderedKeyedCollection { node.sortsMembers = true }
    }

    /// `node` made (or kept) a container of `content`'s kind. When it already holds a
    /// different value the misuse is recorded and a detached node is returned, so the
    /// caller can go on until `encode` reports the error.
    func container(_ node: EncodingNode, _ content: EncodingNode.Content, at codingPath: [any CodingKey]) -> EncodingNode {
        switch (node.content, content) {
        case (.unset, _):
            node.content = content
            return node
        case (.array, .array), (.object, .object):
            return node
        default:
            let wanted = if case .object = content { "a keyed" } else { "an unkeyed" }
            recordMisuse("\(wanted) container asked for a value already encoded as \(node.content)", at: codingPath)
            return EncodingNode(content)
        }
    }
}

// MARK: - Encoder

/// The `Encoder` handed to `encode(to:)`: a position in the tree.
struct NodeEncoder: Encoder {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    let context: EncodingContext

    var userInfo: [CodingUserInfoKey: Any] { context.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object = context.container(node, .object, at: codingPath)
        return KeyedEncodingContainer(KeyedNodeEncodingContainer<Key>(node: object, codingPath: codingPath, context: context))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array = context.container(node, .array, at: codingPath)
        return UnkeyedNodeEncodingContainer(node: array, codingPath: codingPath, context: context)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueNodeEncodingContainer(node: node, codingPath: codingPath, context: context)
    }
}

// MARK: - Keyed container

/// Writes object members: each key's value is a member node of the object's node.
struct KeyedNodeEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    let context: EncodingContext

    private func put(_ content: EncodingNode.Content, _ key: Key) {
        _ = node.replaceMember(forKey: key.stringValue, content)
    }

    private func putInteger<T: FixedWidthInteger>(_ value: T, _ key: Key) throws(VPackError) {
        guard let content = EncodingNode.integer(value) else {
            throw VPackError(.unsupportedType, at: 0, "\(describeCodingPath(codingPath + [key])): \(value) needs more than 64 bits")
        }
        put(content, key)
    }

    mutating func encodeNil(forKey key: Key) throws { put(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(.double(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(.double(Double(value)), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: Int128, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt128, forKey key: Key) throws { try putInteger(value, key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let member = node.replaceMember(forKey: key.stringValue)
        try context.encode(value, into: member, codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let member = node.containerMember(forKey: key.stringValue, .object)
        return KeyedEncodingContainer(
            KeyedNodeEncodingContainer<NestedKey>(node: member, codingPath: codingPath + [key], context: context))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let member = node.containerMember(forKey: key.stringValue, .array)
        return UnkeyedNodeEncodingContainer(node: member, codingPath: codingPath + [key], context: context)
    }

    mutating func superEncoder() -> any Encoder {
        let member = node.replaceMember(forKey: VPackCodingKey.super.stringValue)
        return NodeEncoder(node: member, codingPath: codingPath + [VPackCodingKey.super], context: context)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let member = node.replaceMember(forKey: key.stringValue)
        return NodeEncoder(node: member, codingPath: codingPath + [key], context: context)
    }
}

// MARK: - Unkeyed container

/// Writes array members in order.
struct UnkeyedNodeEncodingContainer: UnkeyedEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    let context: EncodingContext

    var count: Int { node.members.count }

    private var nextPath: [any CodingKey] { codingPath + [VPackCodingKey.index(count)] }

    private func put(_ content: EncodingNode.Content) {
        _ = node.appendMember(content)
    }

    private func putInteger<T: FixedWidthInteger>(_ value: T) throws(VPackError) {
        guard let content = EncodingNode.integer(value) else {
            throw VPackError(.unsupportedType, at: 0, "\(describeCodingPath(nextPath)): \(value) needs more than 64 bits")
        }
        put(content)
    }

    mutating func encodeNil() throws { put(.null) }
    mutating func encode(_ value: Bool) throws { put(.bool(value)) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(.double(value)) }
    mutating func encode(_ value: Float) throws { put(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { try putInteger(value) }
    mutating func encode(_ value: Int8) throws { try putInteger(value) }
    mutating func encode(_ value: Int16) throws { try putInteger(value) }
    mutating func encode(_ value: Int32) throws { try putInteger(value) }
    mutating func encode(_ value: Int64) throws { try putInteger(value) }
    mutating func encode(_ value: Int128) throws { try putInteger(value) }
    mutating func encode(_ value: UInt) throws { try putInteger(value) }
    mutating func encode(_ value: UInt8) throws { try putInteger(value) }
    mutating func encode(_ value: UInt16) throws { try putInteger(value) }
    mutating func encode(_ value: UInt32) throws { try putInteger(value) }
    mutating func encode(_ value: UInt64) throws { try putInteger(value) }
    mutating func encode(_ value: UInt128) throws { try putInteger(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = nextPath
        try context.encode(value, into: node.appendMember(), codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = nextPath
        return KeyedEncodingContainer(
            KeyedNodeEncodingContainer<NestedKey>(node: node.appendMember(.object), codingPath: path, context: context))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = nextPath
        return UnkeyedNodeEncodingContainer(node: node.appendMember(.array), codingPath: path, context: context)
    }

    mutating func superEncoder() -> any Encoder {
        let path = nextPath
        return NodeEncoder(node: node.appendMember(), codingPath: path, context: context)
    }
}

// MARK: - Single value container

/// Sets the content of one node, once.
struct SingleValueNodeEncodingContainer: SingleValueEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    let context: EncodingContext

    /// Refuses a second value for the same node; Foundation's coders trap here instead.
    private func checkUnset() throws(VPackError) {
        guard node.isUnset else {
            throw VPackError(.builderMisuse, at: 0,
                             "\(describeCodingPath(codingPath)): single value encoded over \(node.content)")
        }
    }

    private func put(_ content: EncodingNode.Content) throws(VPackError) {
        try checkUnset()
        node.content = content
    }

    private func putInteger<T: FixedWidthInteger>(_ value: T) throws(VPackError) {
        guard let content = EncodingNode.integer(value) else {
            throw VPackError(.unsupportedType, at: 0, "\(describeCodingPath(codingPath)): \(value) needs more than 64 bits")
        }
        try put(content)
    }

    mutating func encodeNil() throws { try put(.null) }
    mutating func encode(_ value: Bool) throws { try put(.bool(value)) }
    mutating func encode(_ value: String) throws { try put(.string(value)) }
    mutating func encode(_ value: Double) throws { try put(.double(value)) }
    mutating func encode(_ value: Float) throws { try put(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { try putInteger(value) }
    mutating func encode(_ value: Int8) throws { try putInteger(value) }
    mutating func encode(_ value: Int16) throws { try putInteger(value) }
    mutating func encode(_ value: Int32) throws { try putInteger(value) }
    mutating func encode(_ value: Int64) throws { try putInteger(value) }
    mutating func encode(_ value: Int128) throws { try putInteger(value) }
    mutating func encode(_ value: UInt) throws { try putInteger(value) }
    mutating func encode(_ value: UInt8) throws { try putInteger(value) }
    mutating func encode(_ value: UInt16) throws { try putInteger(value) }
    mutating func encode(_ value: UInt32) throws { try putInteger(value) }
    mutating func encode(_ value: UInt64) throws { try putInteger(value) }
    mutating func encode(_ value: UInt128) throws { try putInteger(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try checkUnset()
        try context.encode(value, into: node, codingPath: codingPath)
    }
}
