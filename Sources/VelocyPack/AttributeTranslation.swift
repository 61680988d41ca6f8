/// Integer keys for the system attributes, as ArangoDB stores them.
///
/// An object key may be a small unsigned integer instead of a string; it then stands for one
/// of five names. Tessera knows exactly these five and no others:
///
/// | id | name    | encoded key |
/// |----|---------|-------------|
/// | 1  | `_key`  | `31`        |
/// | 2  | `_rev`  | `32`        |
/// | 3  | `_id`   | `33`        |
/// | 4  | `_from` | `34`        |
/// | 5  | `_to`   | `35`        |
///
/// Stored documents may use the integer keys to save space. Readers resolve them by name
/// (``Slice/subscript(_:)-(String)`` finds `_key` either way), and ``untranslated(_:)``
/// rewrites a value with string keys before anything leaves a node.
public enum AttributeTranslation {
    /// The names by id; index 0 is unused.
    static let names: [[UInt8]] = [[], Array("_key".utf8), Array("_rev".utf8), Array("_id".utf8),
                                   Array("_from".utf8), Array("_to".utf8)]

    /// The largest id with a name.
    public static let idMax: UInt64 = 5

    /// The attribute name for `id`, or `nil` when the id has no name.
    public static func name(forId id: UInt64) -> String? {
        guard id >= 1, id <= idMax else { return nil }
        return String(decoding: names[Int(id)], as: UTF8.self)
    }

    /// The id of a system attribute name, or `nil` for any other name.
    public static func id(forName name: UnsafeBufferPointer<UInt8>) -> UInt64? {
        // All five names start with "_" and are 3 to 5 bytes long.
        guard name.count >= 3, name.count <= 5, name[0] == 0x5f else { return nil }
        for id in 1...Int(idMax) where names[id].count == name.count {
            if names[id].withUnsafeBufferPointer({ Raw.compare($0, name) == 0 }) {
                return UInt64(id)
            }
        }
        return nil
    }

    @inline(__always)
    static func withName<R>(forId id: UInt64, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard id >= 1, id <= idMax else { return nil }
        return names[Int(id)].withUnsafeBufferPointer(body)
    }

    /// A copy of `slice` in which every integer object key is replaced by its name, at every
    /// depth. Values without integer keys come back byte for byte.
    ///
    /// - Throws: `unknownAttributeId` for an integer key that has no name.
    public static func untranslated(_ slice: Slice) throws(VPackError) -> Slice {
        if !slice.containsIntegerKeys { return slice }
        var builder = Builder()
        try builder.addUntranslated(slice)
        return builder.slice
    }
}
