// The builder's buffers: written through a raw pointer, shared copy-on-write.

/// The heap object that owns a builder's bytes or offsets (tail-allocated after the header).
final class RawStoreOwner<Element>: ManagedBuffer<Void, Element> {}

/// A growable buffer with value semantics for ``Builder``: its bytes (``ByteStore``), its open
/// compounds (``CompoundStore``) and their member offsets (``OffsetStore``).
///
/// An `Array` append checks uniqueness (a call into the runtime) and capacity for every
/// element, and its bulk and removal paths are generic; the parser appends a few bytes per
/// value, so those checks were a quarter of its time. Here the writers only check capacity:
/// uniqueness is checked by ``makeUnique()``, which every mutating entry point of ``Builder``
/// calls before it writes (the parser calls it once per document).
///
/// Every use of `base` that could outlive the last visible use of `owner` (a copy out, a
/// reallocation) keeps `owner` alive explicitly: a raw pointer is no use of its owner to the
/// optimizer.
///
/// `@unchecked Sendable`: `base` points into `owner`'s elements; elements shared by two copies
/// of a builder are never written (every writer runs after ``makeUnique()``), so a shared
/// owner is only ever read.
@usableFromInline
struct RawStore<Element: BitwiseCopyable>: @unchecked Sendable {
    /// Keeps the memory alive; its elements start at `base`.
    var owner: RawStoreOwner<Element>
    var base: UnsafeMutablePointer<Element>
    /// Elements written.
    private(set) var count: Int
    private(set) var capacity: Int

    /// A store with room for `capacity` elements.
    init(allocating capacity: Int) {
        let owner = RawStoreOwner<Element>.create(minimumCapacity: capacity) { _ in () } as! RawStoreOwner<Element>
        self.owner = owner
        self.base = owner.withUnsafeMutablePointerToElements { $0 }
        self.count = 0
        // An empty store claims no room even where the allocator rounded up: its first
        // write always allocates, so the shared empty stores are never written.
        self.capacity = capacity == 0 ? 0 : owner.capacity
    }

    var isEmpty: Bool { count == 0 }

    /// Gives this copy memory of its own when another copy shares it. A store without
    /// capacity needs none: its first write allocates.
    @inline(__always)
    mutating func makeUnique() {
        if capacity > 0 && !isKnownUniquelyReferenced(&owner) { reallocate(capacity: capacity) }
    }

    @inline(never)
    mutating func reallocate(capacity newCapacity: Int) {
        var fresh = RawStore(allocating: newCapacity)
        // `base` is a raw pointer: the optimizer does not see it as a use of `owner` and could
        // release the old owner before the copy without this.
        withExtendedLifetime(owner) {
            fresh.base.initialize(from: base, count: count)
        }
        fresh.count = count
        self = fresh
    }

    /// Makes room for `extra` more elements.
    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if capacity - count < extra { grow(extra) }
    }

    @inline(never)
    mutating func grow(_ extra: Int) {
        // Doubling keeps appends amortized O(1).
        reallocate(capacity: max(capacity * 2, count + extra, 16))
    }

    mutating func reserveCapacity(_ total: Int) {
        if total > capacity { reallocate(capacity: total) }
    }

    @inline(__always)
    subscript(position: Int) -> Element {
        get {
            precondition(position >= 0 && position < count, "builder element \(position) outside \(count)")
            return base[position]
        }
        set {
            precondition(position >= 0 && position < count, "builder element \(position) outside \(count)")
            base[position] = newValue
        }
    }

    @inline(__always)
    mutating func append(_ element: Element) {
        reserve(1)
        base[count] = element
        count += 1
    }

    @inline(__always)
    mutating func append(contentsOf elements: UnsafeBufferPointer<Element>) {
        guard let source = elements.baseAddress else { return }
        reserve(elements.count)
        (base + count).update(from: source, count: elements.count)
        count += elements.count
    }

    mutating func append(contentsOf elements: some Collection<Element>) {
        let done: Void? = elements.withContiguousStorageIfAvailable { append(contentsOf: $0) }
        if done == nil { Array(elements).withUnsafeBufferPointer { append(contentsOf: $0) } }
    }

    @inline(__always)
    mutating func removeLast(_ elementCount: Int) {
        precondition(elementCount >= 0 && elementCount <= count, "removing \(elementCount) of \(count) builder elements")
        count -= elementCount
    }

    /// Forgets the elements from `newCount` on.
    @inline(__always)
    mutating func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count, "truncating \(count) builder elements to \(newCount)")
        count = newCount
    }

    mutating func removeAll() { count = 0 }

    /// The last element, or `nil` when there is none.
    @inline(__always)
    var last: Element? { count > 0 ? base[count - 1] : nil }

    @inline(__always)
    mutating func removeLast() {
        precondition(count > 0, "removing the last of no builder elements")
        count -= 1
    }

    func withUnsafeBufferPointer<R, E>(_ body: (UnsafeBufferPointer<Element>) throws(E) -> R) throws(E) -> R {
        // `owner` must outlive the raw pointer's use, which the optimizer cannot see.
        defer { withExtendedLifetime(owner) {} }
        return try body(UnsafeBufferPointer(start: base, count: count))
    }

    /// The elements in an array of their own.
    var array: [Element] {
        withUnsafeBufferPointer { Array($0) }
    }
}

/// The bytes of a builder.
@usableFromInline typealias ByteStore = RawStore<UInt8>
/// Offsets of the members of a builder's open compounds.
@usableFromInline typealias OffsetStore = RawStore<Int>
/// A builder's open compounds, innermost last.
@usableFromInline typealias CompoundStore = RawStore<Builder.OpenCompound>

/// Empty stores shared by every builder that has not written yet: never unique (these
/// globals hold them), so the first write allocates.
let emptyByteStore = ByteStore(allocating: 0)
let emptyOffsetStore = OffsetStore(allocating: 0)
let emptyCompoundStore = CompoundStore(allocating: 0)

extension RawStore where Element == UInt8 {
    /// A byte store with room for `capacity` bytes; no allocation for none.
    init(capacity: Int) {
        self = capacity == 0 ? emptyByteStore : ByteStore(allocating: capacity)
    }

    /// Appends `byteCount` bytes from `source`; short runs (keys, most strings) are copied
    /// with two overlapping word moves instead of a call to `memmove`.
    @inline(__always)
    mutating func appendBytes(_ source: UnsafePointer<UInt8>, _ byteCount: Int) {
        reserve(byteCount)
        let target = UnsafeMutableRawPointer(base + count)
        let from = UnsafeRawPointer(source)
        if byteCount >= 8 && byteCount <= 16 {
            let head = from.loadUnaligned(as: UInt64.self)
            let tail = from.loadUnaligned(fromByteOffset: byteCount - 8, as: UInt64.self)
            target.storeBytes(of: head, as: UInt64.self)
            target.storeBytes(of: tail, toByteOffset: byteCount - 8, as: UInt64.self)
        } else if byteCount >= 4 && byteCount < 8 {
            let head = from.loadUnaligned(as: UInt32.self)
            let tail = from.loadUnaligned(fromByteOffset: byteCount - 4, as: UInt32.self)
            target.storeBytes(of: head, as: UInt32.self)
            target.storeBytes(of: tail, toByteOffset: byteCount - 4, as: UInt32.self)
        } else if byteCount < 4 {
            for offset in 0..<byteCount { (base + count + offset).pointee = source[offset] }
        } else {
            (base + count).update(from: source, count: byteCount)
        }
        count += byteCount
    }

    /// Takes the bytes a caller wrote itself into reserved room, up to `position`.
    @inline(__always)
    mutating func didWrite(upTo position: UnsafeMutablePointer<UInt8>) {
        let newCount = position - base
        precondition(newCount >= count && newCount <= capacity, "written past the reserved room of a builder")
        count = newCount
    }

    mutating func append(contentsOf bytes: UnsafeRawBufferPointer) {
        append(contentsOf: bytes.bindMemory(to: UInt8.self))
    }

    /// Appends `byteCount` zero bytes.
    @inline(__always)
    mutating func appendZeros(_ byteCount: Int) {
        reserve(byteCount)
        (base + count).update(repeating: 0, count: byteCount)
        count += byteCount
    }

    /// Appends `value` as `width` (1...8) little-endian bytes.
    @inline(__always)
    mutating func appendLittleEndian(_ value: UInt64, width: Int) {
        reserve(8)
        // Eight bytes are stored and `width` of them kept: one store instead of a loop.
        UnsafeMutableRawPointer(base + count).storeBytes(of: value.littleEndian, as: UInt64.self)
        count += width
    }
}
