internal import CSnappy

/// Snappy block compression through the system `libsnappy` (its C interface).
///
/// Documents are stored Snappy-compressed on disk; the storage engine calls these two
/// functions. Both work on whole blocks held in memory.
public enum Snappy {
    /// A fault reported by libsnappy.
    public enum Failure: Error, Equatable, Sendable {
        /// The compressed bytes are not a valid Snappy block.
        case invalidInput
        /// The block claims an uncompressed size above the caller's limit.
        case tooLarge(uncompressedByteCount: Int, limit: Int)
        /// libsnappy returned a status this wrapper does not know.
        case unexpectedStatus(Int)
    }

    /// Compresses `input` into one Snappy block.
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        let capacity = snappy_max_compressed_length(input.count)
        // Uninitialized capacity: zero-filling the worst-case buffer first cost the storage
        // engine's write path about a fifth of its compression throughput.
        return [UInt8](unsafeUninitializedCapacity: capacity) { output, initializedCount in
            var outputLength = capacity
            let status = input.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { sourceChars in
                    output.withMemoryRebound(to: CChar.self) { target in
                        snappy_compress(sourceChars.baseAddress, sourceChars.count, target.baseAddress, &outputLength)
                    }
                }
            }
            // Compression of in-memory bytes into a buffer of the documented maximum size
            // cannot fail; a failure here is a broken library, not an operating fault.
            precondition(status == SNAPPY_OK, "snappy_compress failed with status \(status.rawValue)")
            initializedCount = outputLength
        }
    }

    /// Decompresses one Snappy block.
    ///
    /// - Parameter byteCountLimit: the largest uncompressed size accepted; a block that claims
    ///   more is refused before any memory is reserved for it.
    /// - Throws: `Snappy.Failure` for corrupt input or a size above the limit.
    public static func uncompress(_ input: [UInt8], byteCountLimit: Int) throws(Failure) -> [UInt8] {
        let result: Result<[UInt8], Failure> = input.withUnsafeBytes { bytes in
            Result { () throws(Failure) in try uncompress(bytes, byteCountLimit: byteCountLimit) }
        }
        return try result.get()
    }

    /// Decompresses one Snappy block held anywhere in memory (no copy of the input).
    ///
    /// - Parameter byteCountLimit: as for the array version.
    /// - Throws: `Snappy.Failure` for corrupt input or a size above the limit.
    public static func uncompress(_ input: UnsafeRawBufferPointer, byteCountLimit: Int) throws(Failure) -> [UInt8] {
        // Seen as C `char` only for the calls (no lasting rebinding of the caller's memory).
        let result: Result<[UInt8], Failure> = input.withMemoryRebound(to: CChar.self) { source in
            Result { () throws(Failure) in try uncompress(chars: source, byteCountLimit: byteCountLimit) }
        }
        return try result.get()
    }

    private static func uncompress(chars source: UnsafeBufferPointer<CChar>, byteCountLimit: Int) throws(Failure) -> [UInt8] {
        var length = 0
        guard snappy_uncompressed_length(source.baseAddress, source.count, &length) == SNAPPY_OK else {
            throw .invalidInput
        }
        guard length <= byteCountLimit else {
            throw .tooLarge(uncompressedByteCount: length, limit: byteCountLimit)
        }
        var outputLength = length
        var status = SNAPPY_OK
        let output = [UInt8](unsafeUninitializedCapacity: length) { target, initializedCount in
            status = target.withMemoryRebound(to: CChar.self) { targetChars in
                snappy_uncompress(source.baseAddress, source.count, targetChars.baseAddress, &outputLength)
            }
            // Only bytes libsnappy wrote count as initialized; on failure none do.
            initializedCount = status == SNAPPY_OK ? min(outputLength, length) : 0
        }
        switch status {
        case SNAPPY_OK: break
        case SNAPPY_INVALID_INPUT, SNAPPY_BUFFER_TOO_SMALL: throw .invalidInput
        default: throw .unexpectedStatus(Int(status.rawValue))
        }
        guard outputLength == length else { throw .invalidInput }
        return output
    }
}
