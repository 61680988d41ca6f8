// Arrays and objects: member count, index access, key lookup, iteration and paths.

extension Slice {
    /// The number of members of an array or pairs of an object; 0 for other types.
    /// O(1), except compact forms where it reads a trailing varint.
    public var count: Int { read(Raw.count) }

    /// Whether the value is an empty array or object.
    public var isEmptyCompound: Bool { head == 0x01 || head == 0x0a }

    /// The member at `index` of an array, or `nil` when out of range or not an array.
    ///
    /// Complexity: O(1) for layouts with an index table or equal-size members; O(n) for the
    /// compact form `13`, which has no index.
    public subscript(index: Int) -> Slice? {
        guard isArray, index >= 0 else { return nil }
        guard let relative = read({ Self.arrayMemberOffset($0, index) }) else { return nil }
        return sub(relative)
    }

    /// The offset of member `index` relative to the array head, or `nil` if out of range.
    static func arrayMemberOffset(_ pointer: UnsafePointer<UInt8>, _ index: Int) -> Int? {
        let head = pointer[0]
        switch head {
        case 0x02...0x05:
            let first = Raw.firstMemberOffset(pointer)
            let memberSize = Raw.byteSize(pointer + first)
            let count = (Raw.byteSize(pointer) - first) / memberSize
            return index < count ? first + index * memberSize : nil
        case 0x06...0x09:
            let count = Raw.count(pointer)
            guard index < count else { return nil }
            // VelocyPack: a one-member indexed array is read from its first member.
            if count == 1 { return Raw.firstMemberOffset(pointer) }
            let width = Raw.compoundWidth(head)
            let table = Raw.indexTableOffset(pointer, count: count)
            return Int(truncatingIfNeeded: Raw.readUInt(pointer + table + index * width, width: width))
        case 0x13:
            let count = Raw.count(pointer)
            guard index < count else { return nil }
            var position = 1 + Raw.readVarint(pointer + 1).length
            for _ in 0..<index { position += Raw.byteSize(pointer + position) }
            return position
        default:
            return nil
        }
    }

    /// The members of an array, in order, or the values of an object in index order;
    /// empty for other types.
    public var arrayElements: ArrayElements { ArrayElements(slice: self) }

    /// The key/value pairs of an object: in index (sorted key) order for `0b`–`0e`, in stored
    /// order for compact `14`; empty for other types.
    public var objectMembers: ObjectMembers { ObjectMembers(slice: self) }

    /// The value for `key` in an object, or `nil` when absent or when this is not an object.
    ///
    /// Integer keys are matched by the system attribute name they stand for (`_key` finds
    /// key `31`). Complexity: O(log n) by binary search over the sorted index for `0b`–`0e`
    /// with more than 4 pairs; a linear scan over small and compact objects.
    public subscript(key: String) -> Slice? {
        var key = key
        return key.withUTF8 { lookup($0) }
    }

    /// The value for the key given as UTF-8 bytes; see ``subscript(_:)-(String)``.
    public func lookup(_ key: UnsafeBufferPointer<UInt8>) -> Slice? {
        guard let relative = read({ Self.objectValueOffset($0, key) }) else { return nil }
        return sub(relative)
    }

    /// The offset of the value for `key` relative to the object head, or `nil`.
    static func objectValueOffset(_ pointer: UnsafePointer<UInt8>, _ key: UnsafeBufferPointer<UInt8>) -> Int? {
        let head = pointer[0]
        switch head {
        case 0x0b...0x0e:
            let count = Raw.count(pointer)
            let width = Raw.compoundWidth(head)
            let table = Raw.indexTableOffset(pointer, count: count)
            @inline(__always) func keyOffset(_ i: Int) -> Int {
                Int(truncatingIfNeeded: Raw.readUInt(pointer + table + i * width, width: width))
            }
            if count <= 4 {
                for i in 0..<count {
                    let at = keyOffset(i)
                    if Raw.withKeyName(pointer + at, { Raw.compare($0, key) }) == 0 {
                        return at + Raw.byteSize(pointer + at)
                    }
                }
                return nil
            }
            var low = 0
            var high = count - 1
            while low <= high {
                let middle = (low + high) / 2
                let at = keyOffset(middle)
                let order = Raw.withKeyName(pointer + at, { Raw.compare($0, key) }) ?? 0
                if order == 0 { return at + Raw.byteSize(pointer + at) }
                if order < 0 { low = middle + 1 } else { high = middle - 1 }
            }
            return nil
        case 0x14:
            let total = Raw.byteSize(pointer)
            let count = Int(truncatingIfNeeded: Raw.readReverseVarint(endingAt: pointer + total - 1))
            var position = 1 + Raw.readVarint(pointer + 1).length
            for _ in 0..<count {
                let keySize = Raw.byteSize(pointer + position)
                if Raw.withKeyName(pointer + position, { Raw.compare($0, key) }) == 0 {
                    return position + keySize
                }
                position += keySize
                position += Raw.byteSize(pointer + position)
            }
            return nil
        default:
            return nil
        }
    }

    /// The value at a nested path of object keys and array positions, or `nil` when any step
    /// is missing or of the wrong type.
    public func value(atPath path: [PathComponent]) -> Slice? {
        var current = self
        for component in path {
            switch component {
            case .key(let name):
                guard let next = current[name] else { return nil }
                current = next
            case .index(let position):
                guard let next = current[position] else { return nil }
                current = next
            }
        }
        return current
    }

    /// The value at a nested path of object keys, or `nil`.
    public func value(atPath keys: String...) -> Slice? {
        value(atPath: keys.map(PathComponent.key))
    }

    /// Whether this value or any value inside it has an integer object key.
    public var containsIntegerKeys: Bool {
        switch type {
        case .array:
            return arrayElements.contains { (member: Slice) in member.containsIntegerKeys }
        case .object:
            return objectMembers.contains { $0.key.isInteger || $0.value.containsIntegerKeys }
        case .tagged:
            return untagged.containsIntegerKeys
        default:
            return false
        }
    }

    /// The name of an object key: the string, or the system attribute an integer key stands
    /// for; `nil` for an unknown integer key or a non-key value.
    public var keyName: String? {
        if let string = stringValue { return string }
        guard let id = uintValue else { return nil }
        return AttributeTranslation.name(forId: id)
    }
}

/// One step of a path into nested values.
public enum PathComponent: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case key(String)
    case index(Int)
    public init(stringLiteral value: String) { self = .key(value) }
    public init(integerLiteral value: Int) { self = .index(value) }
}

/// The members of an array (or values of an object), walked front to back.
public struct ArrayElements: Sequence, Sendable {
    let slice: Slice

    public func makeIterator() -> Iterator { Iterator(slice: slice) }

    public struct Iterator: IteratorProtocol, Sendable {
        let slice: Slice
        var position: Int
        var remaining: Int
        let isObject: Bool

        init(slice: Slice) {
            self.slice = slice
            let head = slice.head
            isObject = slice.type == .object
            remaining = slice.type == .array || isObject ? slice.count : 0
            if remaining == 0 {
                position = 0
            } else if head == 0x13 || head == 0x14 {
                position = slice.read { 1 + Raw.readVarint($0 + 1).length }
            } else {
                position = slice.read(Raw.firstMemberOffset)
            }
        }

        public mutating func next() -> Slice? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            if isObject {
                // Step over the key; the object's values come out in stored order.
                position += slice.read { Raw.byteSize($0 + position) }
            }
            let member = slice.sub(position)
            position += slice.read { Raw.byteSize($0 + position) }
            return member
        }
    }
}

/// The key/value pairs of an object.
public struct ObjectMembers: Sequence, Sendable {
    let slice: Slice

    public func makeIterator() -> Iterator { Iterator(slice: slice) }

    public struct Iterator: IteratorProtocol, Sendable {
        let slice: Slice
        var nextIndex: Int = 0
        let count: Int
        let indexed: Bool
        var position: Int = 0

        init(slice: Slice) {
            self.slice = slice
            guard slice.type == .object, !slice.isEmptyCompound else {
                count = 0
                indexed = false
                return
            }
            count = slice.count
            indexed = slice.head != 0x14
            if !indexed { position = slice.read { 1 + Raw.readVarint($0 + 1).length } }
        }

        public mutating func next() -> (key: Slice, value: Slice)? {
            guard nextIndex < count else { return nil }
            defer { nextIndex += 1 }
            if indexed {
                let keyOffset = slice.read { pointer in
                    let width = Raw.compoundWidth(pointer[0])
                    let table = Raw.indexTableOffset(pointer, count: count)
                    return Int(truncatingIfNeeded: Raw.readUInt(pointer + table + nextIndex * width, width: width))
                }
                let keySize = slice.read { Raw.byteSize($0 + keyOffset) }
                return (slice.sub(keyOffset), slice.sub(keyOffset + keySize))
            }
            let keyOffset = position
            let keySize = slice.read { Raw.byteSize($0 + keyOffset) }
            let valueSize = slice.read { Raw.byteSize($0 + keyOffset + keySize) }
            position += keySize + valueSize
            return (slice.sub(keyOffset), slice.sub(keyOffset + keySize))
        }
    }
}
