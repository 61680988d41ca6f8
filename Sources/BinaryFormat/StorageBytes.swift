/// Little-endian integer reading and writing for the on-disk formats (records, checkpoints,
/// the Merkle tree). Every reader checks bounds through its caller: these take an offset that
/// the caller has already proven to lie inside the buffer. Pure; shared by the shard engine
/// and the agent's Raft disk formats (`AgentStorage`).
public enum StorageBytes {
    @inline(__always)
    public static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    public static func read<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= bytes.count,
                     "read of \(MemoryLayout<T>.size) bytes at \(offset) outside \(bytes.count)")
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    @inline(__always)
    public static func write<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= bytes.count,
                     "write of \(MemoryLayout<T>.size) bytes at \(offset) outside \(bytes.count)")
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
    }
}

/// A bounds-checked little-endian reader over untrusted bytes (checkpoints, tree images):
/// every read that would pass the end throws instead of trapping.
package struct StorageByteReader {
    package let bytes: [UInt8]
    package private(set) var offset: Int

    package init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    package var remainingByteCount: Int { bytes.count - offset }

    package struct Overrun: Error {}

    package mutating func read<T: FixedWidthInteger>(_: T.Type) throws(Overrun) -> T {
        guard remainingByteCount >= MemoryLayout<T>.size else { throw Overrun() }
        let value = bytes.withUnsafeBytes { StorageBytes.read(T.self, $0, at: offset) }
        offset += MemoryLayout<T>.size
        return value
    }

    package mutating func readBytes(_ count: Int) throws(Overrun) -> ArraySlice<UInt8> {
        guard count >= 0, remainingByteCount >= count else { throw Overrun() }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }
}
