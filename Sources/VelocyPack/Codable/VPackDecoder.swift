// VelocyPack → Decodable, read straight from a `Slice`: keyed containers look keys up in the
// object (`slice[key]`), unkeyed containers walk the array with `arrayElements`. Nothing is
// copied except the scalars and strings handed to the decoded type.

/// Decodes `Decodable` values from VelocyPack.
///
/// - Objects feed keyed containers. Keys are looked up by name, so an integer key stands for
///   its system attribute (`31` is found as `_key`); `allKeys` names integer keys the same way
///   and leaves out integer keys that name nothing.
/// - Arrays feed unkeyed containers.
/// - Any integer encoding (smallint, int, uint of any width) decodes into any Swift integer
///   type that holds its value; a double decodes into an integer type only when it is a
///   whole number in range. Integers and doubles decode into `Double` and `Float` (large
///   integers round; a double beyond `Float`'s range does not fit).
/// - `null` is `nil`; a missing key is `nil` for `decodeIfPresent`.
/// - Tagged values (`ee`/`ef`) are read as the value inside the tags.
///
/// Errors about the shape of the value are Swift's `DecodingError`, with the coding path:
/// `keyNotFound` for a missing key, `valueNotFound` for `null` (or the end of an array) where
/// a value is needed, `typeMismatch` for a value of the wrong type or a number that does not
/// fit the requested type. Errors about the bytes themselves are ``VPackError``.
public struct VPackDecoder: Sendable {
    /// The checks applied to untrusted bytes by the `decode(_:from:)` that takes `[UInt8]`.
    public var validatorOptions: Validator.Options
    /// Context handed to every `init(from:)` as `Decoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable]

    /// A decoder that validates bytes with `validatorOptions` (the defaults unless told).
    public init(validatorOptions: Validator.Options = .default, userInfo: [CodingUserInfoKey: any Sendable] = [:]) {
        self.validatorOptions = validatorOptions
        self.userInfo = userInfo
    }

    /// Decodes a `T` from a value that is already valid VelocyPack.
    ///
    /// - Throws: `DecodingError` when the value does not have `T`'s shape (see the type's
    ///   documentation), or whatever `T.init(from:)` throws itself.
    public func decode<T: Decodable>(_ type: T.Type, from slice: Slice) throws -> T {
        try T(from: SliceDecoder(slice: slice, codingPath: [], userInfo: userInfo))
    }

    /// Validates untrusted `bytes` as exactly one VelocyPack value, then decodes a `T` from it.
    ///
    /// - Throws: ``VPackError`` from the ``Validator`` when the bytes are not valid VelocyPack
    ///   under ``validatorOptions``; then as the `decode(_:from:)` that takes a ``Slice``.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let slice = try Slice(validating: bytes, options: validatorOptions)
        return try decode(type, from: slice)
    }
}

// MARK: - Scalars

/// Reads scalars out of slices for every container, with the errors `Decoder` expects.
/// `codingPath` is a closure so that the path is only built when there is an error.
enum SliceScalar {
    typealias CodingPath = () -> [any CodingKey]

    /// `valueNotFound` for `null`, else `typeMismatch`, naming what was found.
    static func mismatch(_ type: Any.Type, _ slice: Slice, _ codingPath: CodingPath) -> DecodingError {
        if slice.isNull {
            return .valueNotFound(type, .init(codingPath: codingPath(), debugDescription: "expected \(type), found null"))
        }
        return .typeMismatch(type, .init(codingPath: codingPath(), debugDescription: "expected \(type), found \(slice.type)"))
    }

    static func bool(_ slice: Slice, _ codingPath: CodingPath) throws -> Bool {
        guard let value = slice.boolValue else { throw mismatch(Bool.self, slice, codingPath) }
        return value
    }

    static func string(_ slice: Slice, _ codingPath: CodingPath) throws -> String {
        guard let value = slice.stringValue else { throw mismatch(String.self, slice, codingPath) }
        return value
    }

    /// Any number as a `Double`; integers beyond 2^53 round to the nearest double.
    ///
    /// Not `Slice.numberValue`: its `uintValue.map(Double.init)` picks
    /// `Double.init(bitPattern:)` for `UInt64` and turns uint 300 into 1.5e-321.
    static func number(_ slice: Slice) -> Double? {
        if let double = slice.doubleValue { return double }
        guard slice.isInteger else { return nil }
        if let signed = slice.intValue { return Double(signed) }
        return slice.uintValue.map { Double($0) }
    }

    static func double(_ slice: Slice, _ codingPath: CodingPath) throws -> Double {
        guard let value = number(slice) else { throw mismatch(Double.self, slice, codingPath) }
        return value
    }

    static func float(_ slice: Slice, _ codingPath: CodingPath) throws -> Float {
        guard let wide = number(slice) else { throw mismatch(Float.self, slice, codingPath) }
        let value = Float(wide)
        if wide.isFinite && !value.isFinite {
            throw DecodingError.typeMismatch(Float.self, .init(
                codingPath: codingPath(), debugDescription: "\(wide) does not fit in Float"))
        }
        return value
    }

    /// Any integer encoding into `T` when the value fits; a whole double in range, too.
    static func integer<T: FixedWidthInteger>(_ type: T.Type, _ slice: Slice, _ codingPath: CodingPath) throws -> T {
        if slice.isInteger {
            // Every integer has an Int64 or (above Int64.max) a UInt64 reading.
            if let signed = slice.intValue {
                if let value = T(exactly: signed) { return value }
                throw overflow(T.self, "\(signed)", codingPath)
            }
            if let unsigned = slice.uintValue {
                if let value = T(exactly: unsigned) { return value }
                throw overflow(T.self, "\(unsigned)", codingPath)
            }
        }
        if let double = slice.doubleValue {
            if let value = T(exactly: double) { return value }
            throw overflow(T.self, "\(double)", codingPath)
        }
        throw mismatch(T.self, slice, codingPath)
    }

    static func overflow(_ type: Any.Type, _ value: String, _ codingPath: CodingPath) -> DecodingError {
        .typeMismatch(type, .init(codingPath: codingPath(), debugDescription: "\(value) does not fit in \(type)"))
    }
}

// MARK: - Decoder and single value container

/// The `Decoder` handed to `init(from:)`: one value, which is also its own single value
/// container.
struct SliceDecoder: Decoder, SingleValueDecodingContainer {
    /// The value, tags removed.
    let slice: Slice
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]

    init(slice: Slice, codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: Any]) {
        self.slice = slice.untagged
        self.codingPath = codingPath
        self.userInfo = userInfo
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard slice.isObject else { throw SliceScalar.mismatch([String: Any].self, slice, { codingPath }) }
        return KeyedDecodingContainer(
            KeyedSliceDecodingContainer<Key>(object: slice, codingPath: codingPath, userInfo: userInfo))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard slice.isArray else { throw SliceScalar.mismatch([Any].self, slice, { codingPath }) }
        return UnkeyedSliceDecodingContainer(array: slice, codingPath: codingPath, userInfo: userInfo)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { slice.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try SliceScalar.bool(slice, { codingPath }) }
    func decode(_ type: String.Type) throws -> String { try SliceScalar.string(slice, { codingPath }) }
    func decode(_ type: Double.Type) throws -> Double { try SliceScalar.double(slice, { codingPath }) }
    func decode(_ type: Float.Type) throws -> Float { try SliceScalar.float(slice, { codingPath }) }
    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: Int128.Type) throws -> Int128 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { try integer(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }

    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try SliceScalar.integer(type, slice, { codingPath })
    }
}

// MARK: - Keyed container

/// Reads object members by key, looking each one up when asked.
struct KeyedSliceDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: Slice
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]

    /// The keys by name, in the object's index order; integer keys that name nothing are left
    /// out, as are names `Key` does not know.
    var allKeys: [Key] {
        object.objectMembers.compactMap { member in member.key.keyName.flatMap(Key.init(stringValue:)) }
    }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    /// The value of `key`, tags removed. Complexity: O(log n) in an indexed object of more
    /// than 4 members, else O(n).
    private func value(forKey key: Key) throws -> Slice {
        guard let value = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(
                codingPath: codingPath, debugDescription: "no key \"\(key.stringValue)\" in the object"))
        }
        return value.untagged
    }

    /// The value of `key`, or `nil` when the key is missing or its value is `null`.
    private func valueIfPresent(forKey key: Key) -> Slice? {
        guard let value = object[key.stringValue]?.untagged, !value.isNull else { return nil }
        return value
    }

    private func decoder(for value: Slice, _ key: any CodingKey) -> SliceDecoder {
        SliceDecoder(slice: value, codingPath: codingPath + [key], userInfo: userInfo)
    }

    private func integer<T: FixedWidthInteger>(_ type: T.Type, _ key: Key) throws -> T {
        try SliceScalar.integer(type, value(forKey: key), { codingPath + [key] })
    }

    private func integerIfPresent<T: FixedWidthInteger>(_ type: T.Type, _ key: Key) throws -> T? {
        guard let value = valueIfPresent(forKey: key) else { return nil }
        return try SliceScalar.integer(type, value, { codingPath + [key] })
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(forKey: key).isNull }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try SliceScalar.bool(value(forKey: key), { codingPath + [key] })
    }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try SliceScalar.string(value(forKey: key), { codingPath + [key] })
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try SliceScalar.double(value(forKey: key), { codingPath + [key] })
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        try SliceScalar.float(value(forKey: key), { codingPath + [key] })
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(type, key) }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { try integer(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(type, key) }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { try integer(type, key) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: decoder(for: value(forKey: key), key))
    }

    // One lookup per optional member; the protocol's defaults take three
    // (`contains`, `decodeNil`, `decode`).

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        try valueIfPresent(forKey: key).map { try SliceScalar.bool($0, { codingPath + [key] }) }
    }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        try valueIfPresent(forKey: key).map { try SliceScalar.string($0, { codingPath + [key] }) }
    }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        try valueIfPresent(forKey: key).map { try SliceScalar.double($0, { codingPath + [key] }) }
    }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? {
        try valueIfPresent(forKey: key).map { try SliceScalar.float($0, { codingPath + [key] }) }
    }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int128.Type, forKey key: Key) throws -> Int128? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt128.Type, forKey key: Key) throws -> UInt128? { try integerIfPresent(type, key) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = valueIfPresent(forKey: key) else { return nil }
        return try T(from: decoder(for: value, key))
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(for: value(forKey: key), key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(for: value(forKey: key), key).unkeyedContainer()
    }

    /// A decoder for the value of `super`; a missing key reads as `null`, as in Foundation's
    /// `JSONDecoder`.
    func superDecoder() throws -> any Decoder {
        decoder(for: object[VPackCodingKey.super.stringValue] ?? standaloneNull, VPackCodingKey.super)
    }

    /// A decoder for the value of `key`; a missing key reads as `null`.
    func superDecoder(forKey key: Key) throws -> any Decoder {
        decoder(for: object[key.stringValue] ?? standaloneNull, key)
    }
}

/// A `null` value on its own, for decoders of members that are not there.
private let standaloneNull = Slice(trustedBytes: [0x18])

// MARK: - Unkeyed container

/// Walks array members front to back; a member is consumed only when it decodes, so a type
/// may try another way after an error (as with Foundation's `JSONDecoder`).
struct UnkeyedSliceDecodingContainer: UnkeyedDecodingContainer {
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]
    /// The number of members. O(1), except a compact array `13`, where it reads a varint.
    let count: Int?
    private(set) var currentIndex = 0
    private var members: ArrayElements.Iterator
    /// The member at ``currentIndex``, or `nil` at the end.
    private var upcoming: Slice?

    init(array: Slice, codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: Any]) {
        self.codingPath = codingPath
        self.userInfo = userInfo
        count = array.count
        members = array.arrayElements.makeIterator()
        upcoming = members.next()
    }

    var isAtEnd: Bool { upcoming == nil }

    private var currentPath: [any CodingKey] { codingPath + [VPackCodingKey.index(currentIndex)] }

    /// The current member, tags removed, without consuming it.
    private func peek(_ type: Any.Type) throws -> Slice {
        guard let upcoming else {
            throw DecodingError.valueNotFound(type, .init(
                codingPath: currentPath, debugDescription: "unkeyed container is at its end (\(currentIndex) members)"))
        }
        return upcoming.untagged
    }

    private mutating func advance() {
        upcoming = members.next()
        currentIndex += 1
    }

    /// Reads the current member with `read` and consumes it when that succeeds.
    private mutating func next<T>(_ read: (Slice, SliceScalar.CodingPath) throws -> T) throws -> T {
        let path = { currentPath }
        let value = try read(try peek(T.self), path)
        advance()
        return value
    }

    private mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try next { try SliceScalar.integer(type, $0, $1) }
    }

    mutating func decodeNil() throws -> Bool {
        guard try peek((Any?).self).isNull else { return false }
        advance()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(SliceScalar.bool) }
    mutating func decode(_ type: String.Type) throws -> String { try next(SliceScalar.string) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(SliceScalar.double) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(SliceScalar.float) }
    mutating func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { try integer(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { try integer(type) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let decoder = try memberDecoder(type)
        let value = try T(from: decoder)
        advance()
        return value
    }

    private func memberDecoder(_ type: Any.Type) throws -> SliceDecoder {
        SliceDecoder(slice: try peek(type), codingPath: currentPath, userInfo: userInfo)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let container = try memberDecoder([String: Any].self).container(keyedBy: type)
        advance()
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let container = try memberDecoder([Any].self).unkeyedContainer()
        advance()
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        let decoder = try memberDecoder(Any.self)
        advance()
        return decoder
    }
}
