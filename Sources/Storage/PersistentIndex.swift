import ArangoAPI
import VelocyPack

/// The definition of a secondary persistent index: sorted over one or more attributes.
public struct IndexDefinition: Sendable, Equatable, Hashable {
    /// The index's name, unique within the shard (1...64 characters of the key alphabet).
    public var name: String
    /// Attribute paths; a dot separates nesting levels (`"address.city"`).
    public var fields: [String]
    /// No two documents may hold the same values (ArangoDB's `unique`).
    public var unique: Bool
    /// Documents in which an indexed attribute is missing or null are left out (ArangoDB's
    /// `sparse`); without it, missing counts as null.
    public var sparse: Bool

    public static let fieldCountMax = 16
    public static let nameByteCountMax = 64

    public init(name: String, fields: [String], unique: Bool = false, sparse: Bool = false) {
        self.name = name
        self.fields = fields
        self.unique = unique
        self.sparse = sparse
    }

    /// Why the definition is not usable, or nil.
    var fault: String? {
        if name.utf8.count > Self.nameByteCountMax || DocumentKey.fault(name.utf8) != nil {
            return "index name '\(name)' must be 1...\(Self.nameByteCountMax) key characters"
        }
        if fields.isEmpty || fields.count > Self.fieldCountMax {
            return "an index needs 1...\(Self.fieldCountMax) fields"
        }
        if fields.contains(where: { $0.isEmpty || $0.utf8.count > 254 || $0.hasPrefix(".") || $0.hasSuffix(".") }) {
            return "a field path is empty, too long, or starts or ends with a dot"
        }
        if Set(fields).count != fields.count { return "a field appears twice" }
        return nil
    }
}

/// One entry of a persistent index: the encoded attribute values, then the document key, so
/// equal values sort by key and every entry is unique.
struct IndexEntry: Comparable, Sendable {
    var value: [UInt8]
    var key: String

    static func < (lhs: IndexEntry, rhs: IndexEntry) -> Bool {
        if lhs.value != rhs.value { return lhs.value.lexicographicallyPrecedes(rhs.value) }
        return lhs.key.utf8.lexicographicallyPrecedes(rhs.key.utf8)
    }
}

/// Turns attribute values into bytes whose byte order is the order of the values, so one
/// sorted container serves equality, prefix and range lookups.
///
/// Each value is a type tag followed by a self-delimiting payload, so the encoding of a
/// prefix of the fields is a byte prefix of the encoding of all of them:
///
/// ```
/// 01            null or missing
/// 02 / 03       false / true
/// 04 + 8 bytes  number as a double, big-endian, sign bit flipped (negatives: all bits)
/// 05 + text     string: its UTF-8 with 00 written as 00 ff, then 00 00
/// 06 + bytes    array, object or other: its VelocyPack bytes escaped like a string
/// ```
///
/// The order follows ArangoDB's for scalars (null < bool < number < string); arrays and
/// objects sort after them by their bytes. Integers beyond 2^53 compare as their nearest
/// double.
enum IndexValueEncoding {
    static func append(_ value: Slice?, to output: inout [UInt8]) {
        guard let value = value?.untagged, !value.isNull, !value.isNone else {
            output.append(0x01)
            return
        }
        if let bool = value.boolValue {
            output.append(bool ? 0x03 : 0x02)
        } else if value.isNumber, let number = value.numberValue {
            output.append(0x04)
            let normalized = number == 0 ? 0.0 : number  // -0 and 0 are the same value.
            let bits = normalized.bitPattern
            let ordered = bits & (1 << 63) == 0 ? bits | (1 << 63) : ~bits
            withUnsafeBytes(of: ordered.bigEndian) { output.append(contentsOf: $0) }
        } else if let text = value.stringBytes {
            output.append(0x05)
            appendEscaped(text, to: &output)
        } else {
            output.append(0x06)
            appendEscaped(value.bytes, to: &output)
        }
    }

    static func appendEscaped(_ bytes: some Collection<UInt8>, to output: inout [UInt8]) {
        for byte in bytes {
            output.append(byte)
            if byte == 0 { output.append(0xff) }
        }
        output.append(contentsOf: [0x00, 0x00])
    }

    /// The value at a dotted path, or nil when a step is missing.
    static func value(in document: Slice, path: String) -> Slice? {
        if !path.contains(".") { return document[path] }
        var current = document
        for component in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard current.isObject, let next = current[String(component)] else { return nil }
            current = next
        }
        return current
    }
}

/// A persistent index's in-memory state: the sorted entries and, per document, its entry's
/// value (so a replace or remove finds the old entry without reading the old document).
struct PersistentIndex: Sendable {
    let definition: IndexDefinition
    private(set) var entries = SortedChunks<IndexEntry>()
    private(set) var valueByKey: [String: [UInt8]] = [:]

    init(definition: IndexDefinition) {
        self.definition = definition
    }

    /// The entry value for a document, or nil when a sparse index leaves it out.
    func value(for document: Slice) -> [UInt8]? {
        var output: [UInt8] = []
        for field in definition.fields {
            let value = IndexValueEncoding.value(in: document, path: field)
            if definition.sparse, value == nil || value!.isNull { return nil }
            IndexValueEncoding.append(value, to: &output)
        }
        return output
    }

    /// The other document that holds `value` in a unique index, if any.
    func conflict(value: [UInt8], key: String) -> String? {
        guard definition.unique else { return nil }
        guard let first = entries.first(atOrAfter: IndexEntry(value: value, key: "")), first.value == value else {
            return nil
        }
        if first.key != key { return first.key }
        // The document itself holds the value; another one could follow it.
        let next = entries.elements(from: first, inclusive: false, limit: 1)
        return next.first.flatMap { $0.value == value ? $0.key : nil }
    }

    /// Points the document's entry at `value` (nil: no entry).
    mutating func set(key: String, value: [UInt8]?) {
        if let old = valueByKey[key] {
            if old == value { return }
            entries.remove(IndexEntry(value: old, key: key))
        }
        valueByKey[key] = value
        if let value { entries.insert(IndexEntry(value: value, key: key)) }
    }

    /// Two documents with equal values (the first such pair in index order), if any.
    func firstDuplicate() -> (String, String)? {
        var previous: IndexEntry?
        for chunk in entries.chunks {
            for entry in chunk {
                if let previous, previous.value == entry.value { return (previous.key, entry.key) }
                previous = entry
            }
        }
        return nil
    }

    mutating func removeAll() {
        entries.removeAll()
        valueByKey.removeAll()
    }

    /// Keys of the documents whose first `values.count` indexed attributes equal `values`, in
    /// index order.
    func keys(matching values: [Slice?], limit: Int) -> [String] {
        var prefix: [UInt8] = []
        for value in values { IndexValueEncoding.append(value, to: &prefix) }
        return entries.elements(from: IndexEntry(value: prefix, key: ""), limit: limit) { entry in
            !entry.value.starts(with: prefix)
        }.map(\.key)
    }

    /// Keys of all indexed documents in index order, after the entry (value, key) given.
    func keysInOrder(after: IndexEntry?, limit: Int) -> [IndexEntry] {
        entries.elements(from: after, inclusive: false, limit: limit)
    }
}
