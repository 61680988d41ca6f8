/// A view of one trusted VelocyPack value through a bare pointer, for hot paths that read a
/// handful of members (a message header per request).
///
/// A ``Slice`` owns a reference to its buffer, so every member it hands out costs a retain
/// and a release; a `BorrowedSlice` holds none, so walking members costs no reference
/// counting. It is valid only inside the ``Slice/withBorrowed(_:)`` call that made it and
/// must not escape it. The bytes are trusted, exactly as for the slice it borrows from.
public struct BorrowedSlice {
    @usableFromInline let pointer: UnsafePointer<UInt8>

    @inlinable
    init(_ pointer: UnsafePointer<UInt8>) {
        self.pointer = pointer
    }

    /// A view of the value at `pointer`, whose bytes a ``Validator`` has checked (they are
    /// trusted from here on, as for ``Slice/init(trustedBytes:)``). The caller keeps the bytes
    /// alive and unchanged while the view is used.
    @inlinable
    public init(validated pointer: UnsafePointer<UInt8>) {
        self.pointer = pointer
    }

    /// The value's first byte, which decides its type and layout.
    public var head: UInt8 { pointer[0] }
    public var isArray: Bool { ValueType(head: head) == .array }
    public var isObject: Bool { ValueType(head: head) == .object }

    /// The number of members of an array or pairs of an object; 0 for other types.
    public var count: Int { Raw.count(pointer) }

    /// The integer as `Int64`; see ``Slice/intValue``.
    public var intValue: Int64? { Raw.intValue(pointer) }

    /// The UTF-8 bytes of a string, or `nil` when the value is no string.
    public var stringBytes: UnsafeBufferPointer<UInt8>? {
        let head = pointer[0]
        if head >= 0x40 && head <= 0xbe { return UnsafeBufferPointer(start: pointer + 1, count: Int(head) - 0x40) }
        if head == 0xbf { return UnsafeBufferPointer(start: pointer + 9, count: Int(truncatingIfNeeded: Raw.readUInt64(pointer + 1))) }
        return nil
    }

    /// The string (invalid UTF-8 is repaired with U+FFFD), or `nil`; see ``Slice/stringValue``.
    public var stringValue: String? { stringBytes.map { String(decoding: $0, as: UTF8.self) } }

    /// The name of an object key; see ``Slice/keyName``.
    public var keyName: String? { Raw.withKeyName(pointer) { String(decoding: $0, as: UTF8.self) } }

    /// The members of an array in order (or an object's values in stored order), as
    /// ``Slice/arrayElements``.
    public var arrayElements: BorrowedArrayElements { BorrowedArrayElements(slice: self) }

    /// The key/value pairs of an object, in the order of ``Slice/objectMembers``.
    public var objectMembers: BorrowedObjectMembers { BorrowedObjectMembers(slice: self) }
}

extension Slice {
    /// Runs `body` with a borrowed view of this value (no reference counting while it reads
    /// members); the view must not escape `body`. Inlinable so that callers get it
    /// specialised (a generic call looked up `Result` metadata on every request).
    @inlinable
    public func withBorrowed<R, E: Error>(_ body: (BorrowedSlice) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = storage.withUnsafeBufferPointer { buffer in
            do throws(E) {
                return .success(try body(BorrowedSlice(buffer.baseAddress! + offset)))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// The members of a borrowed array (or values of a borrowed object), front to back.
public struct BorrowedArrayElements: Sequence, IteratorProtocol {
    let base: UnsafePointer<UInt8>
    var position: Int
    var remaining: Int
    let isObject: Bool

    init(slice: BorrowedSlice) {
        base = slice.pointer
        let type = ValueType(head: slice.head)
        isObject = type == .object
        remaining = type == .array || isObject ? slice.count : 0
        if remaining == 0 {
            position = 0
        } else if slice.head == 0x13 || slice.head == 0x14 {
            position = 1 + Raw.readVarint(base + 1).length
        } else {
            position = Raw.firstMemberOffset(base)
        }
    }

    public mutating func next() -> BorrowedSlice? {
        guard remaining > 0 else { return nil }
        remaining -= 1
        // Step over the key; the object's values come out in stored order.
        if isObject { position += Raw.byteSize(base + position) }
        let member = BorrowedSlice(base + position)
        position += Raw.byteSize(base + position)
        return member
    }
}

/// The key/value pairs of a borrowed object: index (sorted key) order for `0b`–`0e`, stored
/// order for compact `14`, as ``ObjectMembers``.
public struct BorrowedObjectMembers: Sequence, IteratorProtocol {
    let base: UnsafePointer<UInt8>
    var nextIndex = 0
    let count: Int
    let indexed: Bool
    var position = 0

    init(slice: BorrowedSlice) {
        base = slice.pointer
        guard slice.isObject, slice.head != 0x0a else {
            count = 0
            indexed = false
            return
        }
        count = slice.count
        indexed = slice.head != 0x14
        if !indexed { position = 1 + Raw.readVarint(base + 1).length }
    }

    public mutating func next() -> (key: BorrowedSlice, value: BorrowedSlice)? {
        guard nextIndex < count else { return nil }
        defer { nextIndex += 1 }
        let keyOffset: Int
        if indexed {
            let width = Raw.compoundWidth(base[0])
            let table = Raw.indexTableOffset(base, count: count)
            keyOffset = Int(truncatingIfNeeded: Raw.readUInt(base + table + nextIndex * width, width: width))
        } else {
            keyOffset = position
        }
        let keySize = Raw.byteSize(base + keyOffset)
        if !indexed { position += keySize + Raw.byteSize(base + keyOffset + keySize) }
        return (BorrowedSlice(base + keyOffset), BorrowedSlice(base + keyOffset + keySize))
    }
}
