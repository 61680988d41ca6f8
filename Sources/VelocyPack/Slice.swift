/// A read-only, zero-copy view of one VelocyPack value inside a shared byte buffer.
///
/// A `Slice` trusts its bytes: it is made by the ``Validator`` from foreign bytes
/// (``init(validating:options:)``), by a ``Builder`` from the bytes it wrote, or by
/// ``init(trustedBytes:offset:)`` for bytes this process produced itself. Sub-values (array
/// members, object values) are slices over the same buffer; nothing is copied.
///
/// ```
/// storage: [ ........ | head | ...rest of the value... | ........ ]
///                     ^ offset
/// ```
public struct Slice: Sendable {
    /// The buffer that holds this value (and possibly others around it).
    public let storage: [UInt8]
    /// The offset of this value's head byte in ``storage``.
    public let offset: Int

    /// A slice over bytes that are known to be valid VelocyPack, starting at `offset`.
    ///
    /// Use only for bytes this process built or already validated; foreign bytes go through
    /// ``init(validating:options:)``. A reader over invalid bytes traps rather than reading
    /// out of bounds, but gives no useful error.
    public init(trustedBytes storage: [UInt8], offset: Int = 0) {
        precondition(offset >= 0 && offset < storage.count, "slice offset \(offset) outside \(storage.count) bytes")
        self.storage = storage
        self.offset = offset
    }

    /// Validates `bytes` as exactly one VelocyPack value and views it.
    ///
    /// - Throws: ``VPackError`` with the code and byte offset of the first fault.
    public init(validating bytes: [UInt8], options: Validator.Options = .default) throws(VPackError) {
        try Validator(options: options).validate(bytes)
        self.init(trustedBytes: bytes)
    }

    /// Runs `body` with a pointer to this value's head byte.
    @inline(__always) @usableFromInline
    func withPointer<R>(_ body: (UnsafePointer<UInt8>) throws(VPackError) -> R) throws(VPackError) -> R {
        let result: Result<R, VPackError> = storage.withUnsafeBufferPointer { buffer in
            do throws(VPackError) {
                return .success(try body(buffer.baseAddress! + offset))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Runs the non-throwing `body` with a pointer to this value's head byte.
    @inline(__always) @usableFromInline
    func read<R>(_ body: (UnsafePointer<UInt8>) -> R) -> R {
        storage.withUnsafeBufferPointer { body($0.baseAddress! + offset) }
    }

    /// The value's first byte, which decides its type and layout.
    public var head: UInt8 { storage[offset] }

    /// The value's type.
    public var type: ValueType { ValueType(head: head) }

    /// The value's size in bytes, head included. O(1) for every type but tagged (O(tags)).
    public var byteSize: Int { read(Raw.byteSize) }

    /// The bytes of this value alone.
    public var bytes: ArraySlice<UInt8> { storage[offset..<(offset + byteSize)] }

    /// The bytes of this value in a new array of their own.
    public var copiedBytes: [UInt8] { Array(bytes) }

    /// A slice of the value that starts `relativeOffset` bytes after this one's head.
    @inline(__always)
    func sub(_ relativeOffset: Int) -> Slice {
        Slice(uncheckedStorage: storage, offset: offset + relativeOffset)
    }

    @inline(__always)
    init(uncheckedStorage storage: [UInt8], offset: Int) {
        self.storage = storage
        self.offset = offset
    }
}

// MARK: - Scalars

extension Slice {
    public var isNone: Bool { head == 0x00 }
    public var isNull: Bool { head == 0x18 }
    public var isBool: Bool { head == 0x19 || head == 0x1a }
    public var isArray: Bool { type == .array }
    public var isObject: Bool { type == .object }
    public var isString: Bool { type == .string }
    public var isNumber: Bool { type.isNumber }
    /// Whether the value is an integer of any encoding (int, uint or smallint).
    public var isInteger: Bool { (0x20...0x3f).contains(head) }

    /// The boolean, or `nil` when the value is not a bool.
    public var boolValue: Bool? {
        switch head {
        case 0x19: false
        case 0x1a: true
        default: nil
        }
    }

    /// The integer as `Int64`, or `nil` when the value is not an integer or a uint above
    /// `Int64.max`.
    public var intValue: Int64? { read(Raw.intValue) }

    /// The integer as `UInt64`, or `nil` when the value is not a non-negative integer.
    public var uintValue: UInt64? {
        read { pointer in
            let head = pointer[0]
            switch head {
            case 0x30...0x39: return UInt64(head - 0x30)
            case 0x28...0x2f: return Raw.readUInt(pointer + 1, width: Int(head) - 0x27)
            case 0x20...0x27:
                let value = Raw.readInt(pointer + 1, width: Int(head) - 0x1f)
                return value >= 0 ? UInt64(value) : nil
            default: return nil
            }
        }
    }

    /// The double of a `1b` value, or `nil` for any other type.
    public var doubleValue: Double? {
        guard head == 0x1b else { return nil }
        return read { Double(bitPattern: Raw.readUInt64($0 + 1)) }
    }

    /// Any number converted to `Double` (large integers round), or `nil` for non-numbers.
    public var numberValue: Double? {
        switch type {
        case .double: doubleValue
        case .uint: uintValue.map { Double($0) }
        case .int, .smallInt: intValue.map { Double($0) }
        default: nil
        }
    }

    /// Milliseconds since the Unix epoch of a UTC date (`1c`), or `nil`.
    public var utcDateValue: Int64? {
        guard head == 0x1c else { return nil }
        return read { Raw.readInt($0 + 1, width: 8) }
    }

    /// The offset and length of a string's bytes relative to the head, or `nil`.
    @inline(__always)
    var stringBounds: (start: Int, count: Int)? {
        let head = self.head
        if head >= 0x40 && head <= 0xbe { return (1, Int(head) - 0x40) }
        if head == 0xbf { return (9, read { Int(truncatingIfNeeded: Raw.readUInt64($0 + 1)) }) }
        return nil
    }

    /// The UTF-8 bytes of a string, without copying, or `nil` when the value is no string.
    public var stringBytes: ArraySlice<UInt8>? {
        guard let (start, count) = stringBounds else { return nil }
        return storage[(offset + start)..<(offset + start + count)]
    }

    /// The string (invalid UTF-8 is repaired with U+FFFD), or `nil` when the value is no string.
    public var stringValue: String? {
        guard let (start, count) = stringBounds else { return nil }
        return storage.withUnsafeBufferPointer {
            String(decoding: UnsafeBufferPointer(start: $0.baseAddress! + offset + start, count: count),
                   as: UTF8.self)
        }
    }

    /// The bytes of a binary blob (`c0`–`c7`), without copying, or `nil`.
    public var binaryValue: ArraySlice<UInt8>? {
        let head = self.head
        guard head >= 0xc0 && head <= 0xc7 else { return nil }
        let width = Int(head) - 0xbf
        let length = read { Int(truncatingIfNeeded: Raw.readUInt($0 + 1, width: width)) }
        let start = offset + 1 + width
        return storage[start..<(start + length)]
    }

    /// The tag of a tagged value (`ee`/`ef`), or `nil`.
    public var tag: UInt64? {
        switch head {
        case 0xee: UInt64(storage[offset + 1])
        case 0xef: read { Raw.readUInt64($0 + 1) }
        default: nil
        }
    }

    /// The value inside all tags: itself when not tagged.
    public var untagged: Slice {
        var current = self
        while true {
            switch current.head {
            case 0xee: current = current.sub(2)
            case 0xef: current = current.sub(9)
            default: return current
            }
        }
    }

    /// The payload of a custom value (`f0`–`ff`), or `nil`.
    public var customPayload: ArraySlice<UInt8>? {
        let head = self.head
        guard head >= 0xf0 else { return nil }
        let lengthBytes: Int
        switch head {
        case 0xf0...0xf3: lengthBytes = 0
        case 0xf4...0xf6: lengthBytes = 1
        case 0xf7...0xf9: lengthBytes = 2
        case 0xfa...0xfc: lengthBytes = 4
        default: lengthBytes = 8
        }
        let start = offset + 1 + lengthBytes
        return storage[start..<(offset + byteSize)]
    }
}
