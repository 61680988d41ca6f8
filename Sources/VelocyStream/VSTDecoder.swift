/// One complete VelocyStream message: its id and its bytes (a VelocyPack header followed by
/// the body).
public struct VSTMessage: Sendable, Equatable {
    /// The id the sender chose; a response carries its request's id.
    public let id: UInt64
    /// The message bytes, all chunks joined in index order.
    public let bytes: [UInt8]

    public init(id: UInt64, bytes: [UInt8]) {
        self.id = id
        self.bytes = bytes
    }
}

/// One complete message as the decoder holds it: its id and where its bytes lie, without a
/// copy of its own for a message that came in one chunk (most do). It keeps the decoder's
/// buffer alive, so hold it only while handling the message: a decoder that receives more
/// bytes while a view is alive copies its buffer first (copy on write).
public struct MessageView: Sendable {
    /// The id the sender chose; a response carries its request's id.
    public let id: UInt64
    @usableFromInline let storage: [UInt8]
    @usableFromInline let range: Range<Int>

    init(id: UInt64, storage: [UInt8], range: Range<Int>) {
        self.id = id
        self.storage = storage
        self.range = range
    }

    /// The message's byte count (header and body).
    public var count: Int { range.count }

    /// Calls `body` with the message bytes (a VelocyPack header followed by the body).
    @inlinable
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try withStorage { (storage, range) throws(Failure) in
            try body(UnsafeRawBufferPointer(rebasing: storage[range]))
        }
    }

    @inlinable
    func withStorage<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer, Range<Int>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // `withUnsafeBytes` of Array rethrows untyped; carry the typed error through a Result.
        let outcome: Swift.Result<Result, Failure> = storage.withUnsafeBytes { buffer in
            do throws(Failure) { return .success(try body(buffer, range)) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    /// The message as an owned value (a copy of its bytes).
    public var message: VSTMessage { VSTMessage(id: id, bytes: Array(storage[range])) }
}

/// Turns a connection's byte stream (after the preamble) into complete messages.
///
/// Bytes may arrive split at any point: ``append(_:)`` buffers them and ``nextMessage()``
/// returns a message as soon as its last chunk is in, or `nil` when more bytes are needed.
/// Chunks of different messages may interleave; chunks of one message may arrive in any
/// order (a later chunk before the first one is held until the first says how many there
/// are). Every limit in ``VSTLimits`` is enforced before memory is committed for it, and
/// every fault is a ``VSTError``; after one, the connection must be closed (the decoder
/// refuses to go on).
public struct VSTDecoder: Sendable {
    /// The framing version, chosen by the preamble.
    public let version: VSTVersion
    /// The limits in force.
    public let limits: VSTLimits

    var buffer: [UInt8] = []
    var readIndex = 0
    /// The stream offset of `buffer[0]`.
    var bufferStreamOffset = 0
    var partials: [UInt64: Partial] = [:]
    /// Data bytes held in `partials`, against ``VSTLimits/partialByteCountMax``.
    var partialByteCount = 0
    var failed: VSTError?

    /// A message whose chunks are still arriving.
    struct Partial: Sendable {
        /// Known from the first chunk.
        var chunkCount: UInt32?
        /// Known from the first chunk (1.0), or from any chunk (1.1).
        var messageLength: UInt64?
        /// Data of each chunk by index.
        var chunks: [UInt32: [UInt8]] = [:]
        var receivedByteCount = 0
        /// The highest chunk index received (the first chunk is index 0).
        var highestIndex: UInt32 = 0
    }

    /// A decoder for a connection whose preamble chose `version`.
    public init(version: VSTVersion, limits: VSTLimits = .default) {
        self.version = version
        self.limits = limits
    }

    /// Bytes received but not yet decoded.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Messages of which some but not all chunks have arrived.
    public var partialMessageCount: Int { partials.count }

    /// Adds bytes received from the connection.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            // Drop what was consumed so the buffer does not grow without bound.
            buffer.removeFirst(readIndex)
            bufferStreamOffset += readIndex
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, or `nil` when more bytes are needed.
    /// - Throws: ``VSTError`` for a protocol violation; every later call throws it again.
    public mutating func nextMessage() throws(VSTError) -> VSTMessage? {
        try nextMessageView()?.message
    }

    /// ``nextMessageView()`` for a reader that stops on a fault: the fault goes to `fault`
    /// and the result is `nil`, as when more bytes are needed.
    public mutating func nextMessageView(reportingFaultTo fault: (VSTError) -> Void) -> MessageView? {
        do throws(VSTError) {
            return try nextMessageView()
        } catch {
            fault(error)
            return nil
        }
    }

    /// The next complete message, viewed where the decoder holds it (no copy for a message
    /// in one chunk), or `nil` when more bytes are needed. The same checks and limits as
    /// ``nextMessage()``.
    /// - Throws: ``VSTError`` for a protocol violation; every later call throws it again.
    public mutating func nextMessageView() throws(VSTError) -> MessageView? {
        if let failed { throw failed }
        do throws(VSTError) {
            while let message = try decodeChunk() {
                if let complete = message { return complete }
            }
            return nil
        } catch {
            failed = error
            throw error
        }
    }

    /// Decodes one chunk if it is fully buffered. Returns nil when more bytes are needed,
    /// `.some(nil)` when a chunk was consumed without completing a message.
    mutating func decodeChunk() throws(VSTError) -> MessageView?? {
        let available = buffer.count - readIndex
        guard available >= ChunkHeader.byteCountShort else { return nil }
        let chunkStart = bufferStreamOffset + readIndex
        let common = buffer.withUnsafeBytes {
            ChunkHeader.readCommon(UnsafeRawBufferPointer(rebasing: $0[readIndex..<(readIndex + 16)]))
        }
        let isFirst = common.chunkX & 1 == 1
        let countOrIndex = common.chunkX >> 1
        // 1.1 always has the long header; 1.0 only on the first chunk of a multi-chunk message.
        let hasLength = version == .v1_1 || (isFirst && countOrIndex > 1)
        let headerByteCount = hasLength ? ChunkHeader.byteCountLong : ChunkHeader.byteCountShort
        let length = Int(common.length)
        guard length >= headerByteCount else {
            throw VSTError(.chunkTooShort, at: chunkStart, "chunk length \(length) below its \(headerByteCount)-byte header")
        }
        guard length <= limits.chunkByteCountMax else {
            throw VSTError(.chunkTooLarge, at: chunkStart, "chunk length \(length) above the limit \(limits.chunkByteCountMax)")
        }
        guard length > headerByteCount else { throw VSTError(.emptyChunk, at: chunkStart, "chunk without data") }
        guard common.messageID != 0 else { throw VSTError(.reservedMessageID, at: chunkStart, "message id 0") }
        if isFirst && countOrIndex == 0 { throw VSTError(.invalidChunkCount, at: chunkStart, "first chunk announces 0 chunks") }
        if !isFirst && countOrIndex == 0 { throw VSTError(.invalidChunkIndex, at: chunkStart, "later chunk with index 0") }
        var announcedLength: UInt64? = nil
        if hasLength {
            guard available >= ChunkHeader.byteCountLong else { return nil }
            announcedLength = buffer.withUnsafeBytes {
                UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: readIndex + 16, as: UInt64.self))
            }
        }
        if let announcedLength, announcedLength > UInt64(limits.messageByteCountMax) {
            throw VSTError(.messageTooLarge, at: chunkStart, "message of \(announcedLength) bytes above the limit \(limits.messageByteCountMax)")
        }
        guard available >= length else { return nil }
        let dataStart = readIndex + headerByteCount
        let dataEnd = readIndex + length
        readIndex = dataEnd

        // Fast path: a message in one chunk.
        if isFirst && countOrIndex == 1 && partials[common.messageID] == nil {
            let dataCount = dataEnd - dataStart
            // VST 1.0 announces no length for a single chunk; its data is the message.
            if dataCount > limits.messageByteCountMax {
                throw VSTError(.messageTooLarge, at: chunkStart, "message of \(dataCount) bytes above the limit \(limits.messageByteCountMax)")
            }
            if let announcedLength, announcedLength != UInt64(dataCount) {
                throw VSTError(.messageLengthMismatch, at: chunkStart, "one chunk of \(dataCount) bytes, message length \(announcedLength)")
            }
            return .some(MessageView(id: common.messageID, storage: buffer, range: dataStart..<dataEnd))
        }
        return .some(try addChunk(
            id: common.messageID, isFirst: isFirst, countOrIndex: countOrIndex,
            announcedLength: announcedLength, data: buffer[dataStart..<dataEnd], at: chunkStart)
            .map { MessageView(id: $0.id, storage: $0.bytes, range: 0..<$0.bytes.count) })
    }

    /// Files one chunk of a multi-chunk message; returns the message when it is complete.
    mutating func addChunk(
        id: UInt64, isFirst: Bool, countOrIndex: UInt32, announcedLength: UInt64?,
        data: ArraySlice<UInt8>, at chunkStart: Int
    ) throws(VSTError) -> VSTMessage? {
        if partials[id] == nil && partials.count >= limits.partialMessageCountMax {
            throw VSTError(.tooManyPartialMessages, at: chunkStart, "more than \(limits.partialMessageCountMax) messages in progress")
        }
        if partialByteCount + data.count > limits.partialByteCountMax {
            throw VSTError(.tooMuchPartialData, at: chunkStart,
                           "more than \(limits.partialByteCountMax) bytes held for partial messages")
        }
        // Work on the stored partial in place: copying it out and back would copy every chunk
        // held so far (copy on write), making a message of k chunks cost O(k²).
        let complete = try Self.file(
            &partials[id, default: Partial()], isFirst: isFirst, countOrIndex: countOrIndex,
            announcedLength: announcedLength, data: data, limits: limits, at: chunkStart, id: id)
        partialByteCount += data.count
        guard complete, let partial = partials.removeValue(forKey: id), let count = partial.chunkCount else { return nil }
        partialByteCount -= partial.receivedByteCount
        // Every first chunk of a multi-chunk message announces the length (1.0 and 1.1).
        if let length = partial.messageLength, length != UInt64(partial.receivedByteCount) {
            throw VSTError(.messageLengthMismatch, at: chunkStart, "chunks carry \(partial.receivedByteCount) bytes, message length \(length)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(partial.receivedByteCount)
        for chunkIndex in 0..<count { bytes.append(contentsOf: partial.chunks[chunkIndex]!) }
        return VSTMessage(id: id, bytes: bytes)
    }

    /// Checks one chunk against what is known of its message and files it; returns whether
    /// the message now has all its chunks.
    static func file(
        _ partial: inout Partial, isFirst: Bool, countOrIndex: UInt32, announcedLength: UInt64?,
        data: ArraySlice<UInt8>, limits: VSTLimits, at chunkStart: Int, id: UInt64
    ) throws(VSTError) -> Bool {
        let index: UInt32
        if isFirst {
            guard partial.chunkCount == nil else {
                throw VSTError(.duplicateFirstChunk, at: chunkStart, "second first chunk for message \(id)")
            }
            partial.chunkCount = countOrIndex
            index = 0
        } else {
            index = countOrIndex
        }
        if let announcedLength {
            if let known = partial.messageLength, known != announcedLength {
                throw VSTError(.messageLengthMismatch, at: chunkStart, "chunks disagree on the message length")
            }
            partial.messageLength = announcedLength
        }
        partial.highestIndex = max(partial.highestIndex, index)
        if let count = partial.chunkCount {
            // Each chunk carries at least one byte, so a count above the length is a lie.
            if let length = partial.messageLength, UInt64(count) > length {
                throw VSTError(.invalidChunkCount, at: chunkStart, "\(count) chunks for \(length) bytes")
            }
            if partial.highestIndex >= count {
                throw VSTError(.invalidChunkIndex, at: chunkStart, "chunk index \(partial.highestIndex) of \(count)")
            }
        }
        guard partial.chunks[index] == nil else {
            throw VSTError(.invalidChunkIndex, at: chunkStart, "chunk \(index) of message \(id) arrived twice")
        }
        partial.receivedByteCount += data.count
        let lengthBound = partial.messageLength ?? UInt64(limits.messageByteCountMax)
        guard UInt64(partial.receivedByteCount) <= lengthBound else {
            if partial.messageLength == nil {
                throw VSTError(.messageTooLarge, at: chunkStart, "message data above the limit \(limits.messageByteCountMax)")
            }
            throw VSTError(.messageLengthMismatch, at: chunkStart, "chunks carry more than the message length \(lengthBound)")
        }
        partial.chunks[index] = Array(data)
        guard let count = partial.chunkCount else { return false }
        return partial.chunks.count == Int(count)
    }
}

/// Splits messages into chunks.
public enum VSTEncoder {
    /// The chunk size drivers commonly use (30 KiB including the header).
    public static let chunkByteCountDefault = 30 * 1024

    /// The chunks of one message, ready to send.
    ///
    /// - Parameters:
    ///   - chunkByteCount: the largest chunk, header included (at least 25 bytes).
    public static func encode(
        messageID: UInt64, message: [UInt8], version: VSTVersion = .v1_1,
        chunkByteCount: Int = chunkByteCountDefault
    ) -> [UInt8] {
        var output: [UInt8] = []
        encode(messageID: messageID, message: message, version: version, chunkByteCount: chunkByteCount, into: &output)
        return output
    }

    /// Appends the chunks of the message `header` + `body` to `output`, without joining the
    /// two first when the message fits one chunk (most answers do).
    public static func encode(
        messageID: UInt64, header: [UInt8], body: [UInt8], version: VSTVersion = .v1_1,
        chunkByteCount: Int = chunkByteCountDefault, into output: inout [UInt8]
    ) {
        let messageByteCount = header.count + body.count
        guard messageByteCount <= chunkByteCount - ChunkHeader.byteCountLong, !header.isEmpty else {
            encode(messageID: messageID, message: header + body, version: version, chunkByteCount: chunkByteCount, into: &output)
            return
        }
        precondition(messageID != 0, "message id 0 is reserved")
        // One chunk: it carries the message length in 1.1, and in 1.0 only when there are more.
        let headerByteCount = version == .v1_1 ? ChunkHeader.byteCountLong : ChunkHeader.byteCountShort
        output.reserveCapacity(output.count + headerByteCount + messageByteCount)
        ChunkHeader(
            length: UInt32(headerByteCount + messageByteCount), isFirst: true, countOrIndex: 1, messageID: messageID,
            messageLength: version == .v1_1 ? UInt64(messageByteCount) : nil
        ).write(into: &output)
        // Through buffer pointers: appending an array as a collection retained it first.
        header.withUnsafeBufferPointer { output.append(contentsOf: $0) }
        body.withUnsafeBufferPointer { output.append(contentsOf: $0) }
    }

    /// Appends the chunks of one message to `output`.
    public static func encode(
        messageID: UInt64, message: [UInt8], version: VSTVersion = .v1_1,
        chunkByteCount: Int = chunkByteCountDefault, into output: inout [UInt8]
    ) {
        precondition(messageID != 0, "message id 0 is reserved")
        precondition(!message.isEmpty, "a message holds at least its header")
        precondition(chunkByteCount > ChunkHeader.byteCountLong, "chunks need room for data")
        let dataPerChunk = chunkByteCount - ChunkHeader.byteCountLong
        let chunkCount = (message.count + dataPerChunk - 1) / dataPerChunk
        precondition(chunkCount <= Int(UInt32.max >> 1), "message too large for chunk numbering")
        output.reserveCapacity(output.count + message.count + chunkCount * ChunkHeader.byteCountLong)
        for index in 0..<chunkCount {
            let start = index * dataPerChunk
            let end = min(start + dataPerChunk, message.count)
            let isFirst = index == 0
            let carriesLength = version == .v1_1 || (isFirst && chunkCount > 1)
            let headerByteCount = carriesLength ? ChunkHeader.byteCountLong : ChunkHeader.byteCountShort
            let header = ChunkHeader(
                length: UInt32(headerByteCount + end - start), isFirst: isFirst,
                countOrIndex: isFirst ? UInt32(chunkCount) : UInt32(index), messageID: messageID,
                messageLength: carriesLength ? UInt64(message.count) : nil)
            header.write(into: &output)
            output.append(contentsOf: message[start..<end])
        }
    }
}
