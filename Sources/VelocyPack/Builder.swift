/// Writes VelocyPack values into a growing byte buffer, making the same layout choices as
/// the reference builder with default options, so the same input gives the same bytes.
///
/// Scalars are written at once. An array or object is opened with 9 reserved bytes (the head
/// and room for the widest header); members are appended behind it while their offsets are
/// remembered; ``close()`` then picks the layout, moves the members down when the header
/// shrinks, and writes the index table. The rules are in `Protocol/VelocyPack.md`.
///
/// ```swift
/// var builder = Builder()
/// builder.openObject()
/// builder.add(key: "a", 1)
/// try builder.close()
/// builder.bytes  // 14 06 41 61 31 01
/// ```
public struct Builder: Sendable {
    /// Layout choices beyond the reference defaults.
    public struct Options: Sendable, Equatable {
        /// Close every non-empty array in the compact form `13` (no index table).
        public var buildUnindexedArrays = false
        /// Close every non-empty object in the compact form `14` (no index table).
        public var buildUnindexedObjects = false
        /// Refuse an object with a repeated key at ``Builder/close()``.
        public var checkAttributeUniqueness = false
        /// Write the system keys `_key`, `_rev`, `_id`, `_from`, `_to` as the integer keys 1...5.
        public var translateSystemKeys = false

        /// The reference defaults.
        public static let `default` = Options()

        public init(
            buildUnindexedArrays: Bool = false, buildUnindexedObjects: Bool = false,
            checkAttributeUniqueness: Bool = false, translateSystemKeys: Bool = false
        ) {
            self.buildUnindexedArrays = buildUnindexedArrays
            self.buildUnindexedObjects = buildUnindexedObjects
            self.checkAttributeUniqueness = checkAttributeUniqueness
            self.translateSystemKeys = translateSystemKeys
        }
    }

    /// An array or object that is open: where its head is, where its member offsets begin
    /// in ``memberOffsets``, and whether a compact layout was asked for.
    @usableFromInline
    struct OpenCompound: Sendable, BitwiseCopyable {
        var start: Int
        var firstMember: Int
        var isObject: Bool
        var compact: Bool
    }

    /// The bytes written so far, in an array of their own (a copy: read it once a value is
    /// complete, not in a loop).
    public var bytes: [UInt8] { store.array }
    /// The number of bytes written so far.
    public var byteCount: Int { store.count }
    /// The bytes, written through a raw pointer; see ``ByteStore``.
    @usableFromInline var store: ByteStore
    /// The layout options.
    public let options: Options
    @usableFromInline var stack = emptyCompoundStore
    /// Offsets (relative to their compound's head) of the members of all open compounds;
    /// for objects, the offsets of the keys.
    @usableFromInline var memberOffsets = emptyOffsetStore
    /// In an open object: a key was written and its value is due.
    @usableFromInline var awaitingValue = false

    /// A new, empty builder.
    public init(options: Options = .default, capacity: Int = 64) {
        self.options = options
        store = ByteStore(capacity: capacity)
    }

    /// Whether every opened array and object has been closed.
    public var isClosed: Bool { stack.isEmpty }

    /// The first complete value written.
    public var slice: Slice {
        precondition(isClosed && !store.isEmpty, "Builder.slice needs one complete value")
        return Slice(uncheckedStorage: store.array, offset: 0)
    }

    /// Forgets everything written; keeps the allocated capacity.
    public mutating func clear() {
        makeUnique()
        store.removeAll()
        stack.removeAll()
        memberOffsets.removeAll()
        awaitingValue = false
    }

    // MARK: Member bookkeeping

    /// Gives this builder memory of its own when a copy shares it; every mutating entry
    /// point calls this before it writes (see ``RawStore``).
    @inline(__always) @usableFromInline
    mutating func makeUnique() {
        store.makeUnique()
        stack.makeUnique()
        memberOffsets.makeUnique()
    }

    /// Notes that a value starts here: in an array it is a member; in an object it must be
    /// the value of the key just written.
    @inline(__always) @usableFromInline
    mutating func beginValue() {
        makeUnique()
        noteValue()
    }

    /// ``beginValue()`` for a builder known to own its memory (the parser's).
    @inline(__always) @usableFromInline
    mutating func noteValue() {
        guard let top = stack.last else { return }
        if top.isObject {
            precondition(awaitingValue, "Builder: a value in an object needs a key first")
            awaitingValue = false
        } else {
            memberOffsets.append(store.count - top.start)
        }
    }

    /// Notes that an object key starts here.
    @inline(__always) @usableFromInline
    mutating func beginKey() {
        makeUnique()
        noteKey()
    }

    /// ``beginKey()`` for a builder known to own its memory (the parser's).
    @inline(__always) @usableFromInline
    mutating func noteKey() {
        guard let top = stack.last, top.isObject else {
            preconditionFailure("Builder: a key outside an object")
        }
        precondition(!awaitingValue, "Builder: two keys in a row")
        memberOffsets.append(store.count - top.start)
        awaitingValue = true
    }

    // MARK: Compounds

    /// Opens an array; members follow until ``close()``.
    /// - Parameter compact: close it in the compact form `13` when possible.
    public mutating func openArray(compact: Bool = false) {
        beginValue()
        openCompound(isObject: false, compact: compact || options.buildUnindexedArrays)
    }

    /// Opens an object; keys and values follow until ``close()``.
    /// - Parameter compact: close it in the compact form `14` when possible.
    public mutating func openObject(compact: Bool = false) {
        beginValue()
        openCompound(isObject: true, compact: compact || options.buildUnindexedObjects)
    }

    @inline(__always) @usableFromInline
    mutating func openCompound(isObject: Bool, compact: Bool) {
        stack.append(OpenCompound(start: store.count, firstMember: memberOffsets.count,
                                  isObject: isObject, compact: compact))
        // The head (a placeholder, fixed at close) and 8 zero bytes: room for the widest
        // BYTELENGTH and NRITEMS, and zero padding if the header stays wide.
        store.append(isObject ? 0x0b : 0x06)
        store.appendZeros(8)
    }

    // MARK: Scalars

    /// Appends `null`.
    public mutating func addNull() { beginValue(); store.append(0x18) }

    /// Appends a bool.
    public mutating func add(_ value: Bool) { beginValue(); store.append(value ? 0x1a : 0x19) }

    /// Appends a signed integer: SmallInt for −6...9, else the narrowest `20`–`27`.
    public mutating func add(_ value: Int64) { beginValue(); appendInt(value) }

    /// Appends a signed integer; see ``add(_:)-(Int64)``.
    public mutating func add(_ value: Int) { add(Int64(value)) }

    /// Appends an unsigned integer: SmallInt for 0...9, else the narrowest `28`–`2f`.
    public mutating func add(_ value: UInt64) { beginValue(); appendUInt(value) }

    /// Appends a double (`1b`, IEEE-754 bits little-endian).
    public mutating func add(_ value: Double) { beginValue(); appendDouble(value) }

    /// Appends a string: short form up to 126 bytes, long form `bf` above.
    public mutating func add(_ value: String) {
        beginValue()
        var value = value
        value.withUTF8 { appendString($0) }
    }

    /// Appends a string given as UTF-8 bytes.
    public mutating func addString(utf8 value: UnsafeBufferPointer<UInt8>) {
        beginValue()
        appendString(value)
    }

    /// Appends a binary blob with the narrowest length field (`c0`–`c7`).
    public mutating func addBinary(_ value: some Collection<UInt8>) {
        beginValue()
        let width = Self.unsignedWidth(UInt64(value.count))
        store.append(0xbf + UInt8(width))
        appendLittleEndian(UInt64(value.count), width: width)
        store.append(contentsOf: value)
    }

    /// Appends a UTC date (`1c`): milliseconds since the Unix epoch.
    public mutating func addUTCDate(milliseconds: Int64) {
        beginValue()
        store.append(0x1c)
        appendLittleEndian(UInt64(bitPattern: milliseconds), width: 8)
    }

    /// Appends MinKey (`1e`), the value that sorts below every other.
    public mutating func addMinKey() { beginValue(); store.append(0x1e) }

    /// Appends MaxKey (`1f`), the value that sorts above every other.
    public mutating func addMaxKey() { beginValue(); store.append(0x1f) }

    /// Appends Illegal (`17`), an application-defined marker.
    public mutating func addIllegal() { beginValue(); store.append(0x17) }

    /// Appends None (`00`). VelocyPack does not allow None inside stored values; this exists
    /// for tests of readers and validators.
    public mutating func addNone() { beginValue(); store.append(0x00) }

    /// Appends `value` with a tag: `ee` for tags up to 255, else `ef` with 8 tag bytes.
    public mutating func add(tag: UInt64, _ value: Slice) {
        beginValue()
        if tag <= 0xff {
            store.append(0xee)
            store.append(UInt8(tag))
        } else {
            store.append(0xef)
            appendLittleEndian(tag, width: 8)
        }
        store.append(contentsOf: value.bytes)
    }

    /// Appends a custom value: `head` in `f0`–`ff`, with a payload of the size that head
    /// allows (1/2/4/8 bytes for `f0`–`f3`, 1...max of the length field for the others).
    public mutating func addCustom(head: UInt8, payload: [UInt8]) {
        precondition(head >= 0xf0, "custom heads are f0...ff")
        let lengthWidth: Int
        switch head {
        case 0xf0...0xf3:
            precondition(payload.count == 1 << Int(head - 0xf0), "payload size fixed by head")
            lengthWidth = 0
        case 0xf4...0xf6: lengthWidth = 1
        case 0xf7...0xf9: lengthWidth = 2
        case 0xfa...0xfc: lengthWidth = 4
        default: lengthWidth = 8
        }
        if lengthWidth > 0 {
            precondition(!payload.isEmpty && Self.unsignedWidth(UInt64(payload.count)) <= lengthWidth,
                         "custom payload size must fit the length field and be non-zero")
        }
        beginValue()
        store.append(head)
        if lengthWidth > 0 { appendLittleEndian(UInt64(payload.count), width: lengthWidth) }
        store.append(contentsOf: payload)
    }

    /// Appends a copy of an existing value, byte for byte.
    public mutating func add(_ value: Slice) {
        beginValue()
        store.append(contentsOf: value.bytes)
    }

    // MARK: Keys

    /// Appends an object key; the next value added is its value. With
    /// ``Options/translateSystemKeys`` the five system names become integer keys.
    public mutating func add(key: String) {
        var key = key
        key.withUTF8 { addKey(utf8: $0) }
    }

    /// Appends an object key copied from another object (a string slice, or an integer key
    /// as ArangoDB's attribute translation writes them), byte for byte.
    public mutating func add(key: Slice) {
        precondition(key.isString || key.isInteger, "Builder: an object key must be a string or an integer")
        beginKey()
        store.append(contentsOf: key.bytes)
    }

    /// Appends an object key given as UTF-8 bytes.
    public mutating func addKey(utf8 key: UnsafeBufferPointer<UInt8>) {
        beginKey()
        if options.translateSystemKeys, let id = AttributeTranslation.id(forName: key) {
            appendUInt(id)
        } else {
            appendString(key)
        }
    }

    /// Appends a key and an integer value.
    public mutating func add(key: String, _ value: Int64) { add(key: key); add(value) }
    /// Appends a key and an integer value.
    public mutating func add(key: String, _ value: Int) { add(key: key); add(Int64(value)) }
    /// Appends a key and an unsigned value.
    public mutating func add(key: String, _ value: UInt64) { add(key: key); add(value) }
    /// Appends a key and a double.
    public mutating func add(key: String, _ value: Double) { add(key: key); add(value) }
    /// Appends a key and a bool.
    public mutating func add(key: String, _ value: Bool) { add(key: key); add(value) }
    /// Appends a key and a string.
    public mutating func add(key: String, _ value: String) { add(key: key); add(value) }
    /// Appends a key and a copy of a value.
    public mutating func add(key: String, _ value: Slice) { add(key: key); add(value) }

    // MARK: Raw writers (no bookkeeping; the parser calls these directly)

    @inline(__always) @usableFromInline
    mutating func appendLittleEndian(_ value: UInt64, width: Int) {
        store.appendLittleEndian(value, width: width)
    }

    /// The number of bytes (1...8) an unsigned value needs.
    @inline(__always) @usableFromInline
    static func unsignedWidth(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 7) / 8
    }

    @inline(__always) @usableFromInline
    mutating func appendUInt(_ value: UInt64) {
        if value <= 9 {
            store.append(0x30 + UInt8(value))
            return
        }
        let width = Self.unsignedWidth(value)
        store.append(0x27 + UInt8(width))
        appendLittleEndian(value, width: width)
    }

    @inline(__always) @usableFromInline
    mutating func appendInt(_ value: Int64) {
        if value >= -6 && value <= 9 {
            // SmallInt: 30...39 for 0...9, 3a...3f for -6...-1.
            store.append(value >= 0 ? 0x30 + UInt8(value) : UInt8(0x40 + value))
            return
        }
        // The narrowest two's complement width: the magnitude bits plus a sign bit.
        let significantBits = value >= 0 ? 65 - value.leadingZeroBitCount : 65 - (~value).leadingZeroBitCount
        let width = (significantBits + 7) / 8
        store.append(0x1f + UInt8(width))
        appendLittleEndian(UInt64(bitPattern: value), width: width)
    }

    @inline(__always) @usableFromInline
    mutating func appendDouble(_ value: Double) {
        store.append(0x1b)
        appendLittleEndian(value.bitPattern, width: 8)
    }

    @inline(__always) @usableFromInline
    mutating func appendString(_ value: UnsafeBufferPointer<UInt8>) {
        if value.count <= 126 {
            store.append(0x40 + UInt8(value.count))
        } else {
            store.append(0xbf)
            appendLittleEndian(UInt64(value.count), width: 8)
        }
        if let source = value.baseAddress { store.appendBytes(source, value.count) }
    }
}
