// libFuzzer target: the VelocyStream decoder, which turns a connection's untrusted bytes (after
// the preamble) into messages, and the encoder as its inverse.
//
// Input: byte 0 chooses the framing (bit 0: 0 = VST 1.1, 1 = VST 1.0) and the limits (bits
// 1 and up, modulo 3: chunk 4096, message 16384, 8 partial messages; chunk 128, message 512,
// 2 partial; chunk 512, message 64, 3 partial, where a one-chunk message can exceed the
// message limit); the rest is the byte stream (what follows the preamble).
//
// Properties beyond "does not crash":
//
// - Splitting: the stream fed whole, in pieces whose sizes come from a PRNG seeded with the
//   input, and byte by byte (streams up to 1 KiB) gives the same messages in the same order
//   and the same final error (code and offset), or, without an error, the same number of
//   buffered bytes and partial messages.
// - A fault is sticky: after an error, `nextMessage` throws it again, also after more bytes.
// - Memory is bounded by the limits at every step: at most `partialMessageCountMax` partial
//   messages, none holding more than `messageByteCountMax` bytes or a chunk above
//   `chunkByteCountMax`.
// - A reference model (`StreamModel`: chunks walked by their length fields, each checked
//   against the rules of Protocol/VelocyStream.md §5 and the limits, reassembled per message
//   id) agrees: the same messages; an error exactly at the first chunk that breaks a rule,
//   with the code of the first rule it breaks in the document's order; no error when no chunk
//   does, with the bytes of an incomplete last chunk still buffered and the same number of
//   partial messages.
// - `VSTVersion.detect` on every prefix (up to 11 bytes) of the input: a version exactly for
//   a whole preamble, `nil` exactly for a proper start of one, else `invalidPreamble` at 0.
// - Re-encoding: every decoded message, encoded by `VSTEncoder` at a few chunk sizes in both
//   versions, decodes to exactly that message (and the model reads the same from the
//   encoding); all messages with fresh ids, chunks interleaved and some messages' chunks in
//   reverse order, decode to all messages, in the order the model completes them.
//
// Build and run with `Fuzz/run.sh` (compiled together with Sources/VelocyPack and
// Sources/VelocyStream in one module, so internal state is visible to the checks).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    VSTDecoderFuzz.check(input)
    return 0
}

/// Stops the run with a message that names the property; libFuzzer saves the input.
func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzVSTDecoder property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

/// What one decode of a stream gave.
struct Outcome: Equatable, CustomStringConvertible {
    var messages: [VSTMessage] = []
    /// Compared by code and offset (`VSTError.==`).
    var error: VSTError?
    /// Only without an error (after one, how much was buffered depends on the split).
    var bufferedByteCount: Int?
    var partialMessageCount: Int?

    var description: String {
        let shown = messages.map { "#\($0.id):\($0.bytes.count)B" }.joined(separator: " ")
        if let error { return "[\(shown)] error \(error)" }
        return "[\(shown)] buffered \(bufferedByteCount ?? -1), partial \(partialMessageCount ?? -1)"
    }
}

/// The format's rules, written from the documentation, one chunk at a time: walks the chunks
/// by their length fields and reports the first chunk that breaks a rule with every rule it
/// breaks.
struct StreamModel {
    struct Partial {
        var chunkCount: UInt32?
        var messageLength: UInt64?
        var chunks: [UInt32: ArraySlice<UInt8>] = [:]
        /// The largest index held (linear time: no scan of `chunks` per chunk).
        var largestIndex: UInt32?
        var receivedByteCount = 0
    }

    /// What the model reads from a stream.
    struct Result {
        var messages: [VSTMessage] = []
        /// The offset of the first chunk that breaks a rule and the codes of the rules it
        /// breaks, in the order Protocol/VelocyStream.md §5 lists them (the first is raised).
        var fault: (offset: Int, codes: [VSTError.Code])?
        /// Where the incomplete last chunk (if any) starts; the stream's end otherwise.
        var consumed = 0
        var partialMessageCount = 0
        /// The start of every chunk the model walked over, the faulty one included.
        var chunkStarts: [Int] = []
    }

    static func read(_ stream: [UInt8], version: VSTVersion, limits: VSTLimits) -> Result {
        var result = Result()
        var partials: [UInt64: Partial] = [:]
        var at = 0
        func field(_ offset: Int, _ width: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in (0..<width).reversed() { value = value << 8 | UInt64(stream[at + offset + index]) }
            return value
        }
        while stream.count - at >= 16 {
            let length = Int(field(0, 4))
            let chunkX = UInt32(field(4, 4))
            let id = field(8, 8)
            let isFirst = chunkX & 1 == 1
            let countOrIndex = chunkX >> 1
            let long = version == .v1_1 || (isFirst && countOrIndex > 1)
            let headerByteCount = long ? 24 : 16
            result.chunkStarts.append(at)

            // Rules on the first 16 bytes.
            var codes: [VSTError.Code] = []
            if length < headerByteCount { codes.append(.chunkTooShort) }
            if length > limits.chunkByteCountMax { codes.append(.chunkTooLarge) }
            if length == headerByteCount { codes.append(.emptyChunk) }
            if id == 0 { codes.append(.reservedMessageID) }
            if isFirst && countOrIndex == 0 { codes.append(.invalidChunkCount) }
            if !isFirst && countOrIndex == 0 { codes.append(.invalidChunkIndex) }
            // The rule on the announced length, once it is there.
            var announced: UInt64?
            if long && stream.count - at >= 24 {
                announced = field(16, 8)
                if announced! > UInt64(limits.messageByteCountMax) { codes.append(.messageTooLarge) }
            }
            if !codes.isEmpty {
                result.fault = (at, codes)
                result.consumed = at
                return result
            }
            guard !long || announced != nil, stream.count - at >= length else { break }  // incomplete

            // Rules across the chunks of one message.
            let data = stream[(at + headerByteCount)..<(at + length)]
            let known = partials[id] != nil
            if isFirst && countOrIndex == 1 && !known {
                if data.count > limits.messageByteCountMax { codes.append(.messageTooLarge) }
                if let announced, announced != UInt64(data.count) { codes.append(.messageLengthMismatch) }
                if !codes.isEmpty {
                    result.fault = (at, codes)
                    result.consumed = at
                    return result
                }
                result.messages.append(VSTMessage(id: id, bytes: Array(data)))
                at += length
                continue
            }
            if !known && partials.count >= limits.partialMessageCountMax { codes.append(.tooManyPartialMessages) }
            // Taken out while it changes, so that adding a chunk does not copy the others.
            var partial = partials.removeValue(forKey: id) ?? Partial()
            if isFirst && partial.chunkCount != nil { codes.append(.duplicateFirstChunk) }
            let index = isFirst ? 0 : countOrIndex
            if let announced, let length = partial.messageLength, length != announced { codes.append(.messageLengthMismatch) }
            let messageLength = announced ?? partial.messageLength
            let count = isFirst ? countOrIndex : partial.chunkCount
            if let count {
                if let messageLength, UInt64(count) > messageLength { codes.append(.invalidChunkCount) }
                if index >= count || partial.largestIndex.map({ $0 >= count }) == true { codes.append(.invalidChunkIndex) }
            }
            if partial.chunks[index] != nil { codes.append(.invalidChunkIndex) }
            let received = partial.receivedByteCount + data.count
            if let messageLength {
                if UInt64(received) > messageLength { codes.append(.messageLengthMismatch) }
            } else if received > limits.messageByteCountMax {
                codes.append(.messageTooLarge)
            }
            let complete = count.map { partial.chunks.count + (partial.chunks[index] == nil ? 1 : 0) == Int($0) } ?? false
            if complete, let messageLength, UInt64(received) != messageLength { codes.append(.messageLengthMismatch) }
            if !codes.isEmpty {
                result.fault = (at, codes)
                result.consumed = at
                return result
            }
            partial.chunkCount = count
            partial.messageLength = messageLength
            partial.chunks[index] = data
            partial.largestIndex = max(partial.largestIndex ?? 0, index)
            partial.receivedByteCount = received
            if complete {
                partials[id] = nil
                var bytes: [UInt8] = []
                for chunkIndex in 0..<count! { bytes += partial.chunks[chunkIndex]! }
                result.messages.append(VSTMessage(id: id, bytes: bytes))
            } else {
                partials[id] = partial
            }
            at += length
        }
        result.consumed = at
        result.partialMessageCount = partials.count
        return result
    }

    /// The chunks of a well-formed stream, as byte ranges.
    static func chunks(of stream: [UInt8], version: VSTVersion) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var at = 0
        while at < stream.count {
            let length = Int(stream[at]) | Int(stream[at + 1]) << 8 | Int(stream[at + 2]) << 16 | Int(stream[at + 3]) << 24
            ranges.append(at..<(at + length))
            at += length
        }
        return ranges
    }
}

enum VSTDecoderFuzz {
    static let roomy = VSTLimits(
        chunkByteCountMax: 4096, messageByteCountMax: 16384, partialMessageCountMax: 8, headerByteCountMax: 4096)
    static let tight = VSTLimits(
        chunkByteCountMax: 128, messageByteCountMax: 512, partialMessageCountMax: 2, headerByteCountMax: 256)
    static let smallMessages = VSTLimits(
        chunkByteCountMax: 512, messageByteCountMax: 64, partialMessageCountMax: 3, headerByteCountMax: 64)

    static func check(_ input: [UInt8]) {
        guard let control = input.first else { return }
        let version: VSTVersion = control & 1 == 0 ? .v1_1 : .v1_0
        let limits = [roomy, tight, smallMessages][Int(control >> 1) % 3]
        checkPreamble(input)
        let stream = Array(input.dropFirst())
        var random = SplitMix(seed: input)

        let whole = decode(stream, version: version, limits: limits, input) { stream.count }
        checkAgainstModel(whole, stream, version: version, limits: limits, input)
        for round in 0..<3 {
            let pieces = decode(stream, version: version, limits: limits, input) {
                switch random.next() % 4 {
                case 0: random.next(in: 1...3)
                case 1: random.next(in: 14...26)
                case 2: random.next(in: 1...64)
                default: random.next(in: 1...max(1, stream.count))
                }
            }
            guard pieces == whole else { violated("pieces (round \(round)) gave \(pieces), whole stream \(whole)", input) }
        }
        if stream.count <= 1024 {
            let bytes = decode(stream, version: version, limits: limits, input) { 1 }
            guard bytes == whole else { violated("byte by byte gave \(bytes), whole stream \(whole)", input) }
        }
        checkReencoding(whole.messages, &random, input)
    }

    static func checkPreamble(_ input: [UInt8]) {
        let preambles = [VSTVersion.v1_1, .v1_0].map { ($0, $0.preamble) }
        for count in 0...min(input.count, VSTVersion.preambleByteCount) {
            let prefix = input.prefix(count)
            let whole = preambles.first(where: { $0.1.elementsEqual(prefix) })?.0
            let start = preambles.contains(where: { $0.1.starts(with: prefix) })
            switch Result(catching: { () throws(VSTError) in try VSTVersion.detect(preamble: prefix) }) {
            case .success(let version?):
                guard version == whole else { violated("detect(\(Hex.encode(prefix))) gave \(version)", input) }
            case .success(nil):
                guard whole == nil, start, count < VSTVersion.preambleByteCount else {
                    violated("detect(\(Hex.encode(prefix))) asked for more bytes", input)
                }
            case .failure(let error):
                guard !start, error == VSTError(.invalidPreamble, at: 0) else {
                    violated("detect(\(Hex.encode(prefix))) threw \(error)", input)
                }
            }
        }
    }

    /// Decodes `stream` fed in pieces of `nextPieceSize()` bytes (at least 1), checking the
    /// memory bounds after every step and that a fault is sticky.
    static func decode(_ stream: [UInt8], version: VSTVersion, limits: VSTLimits, _ input: [UInt8],
                       nextPieceSize: () -> Int) -> Outcome {
        var decoder = VSTDecoder(version: version, limits: limits)
        var outcome = Outcome()
        var start = 0
        repeat {
            let end = min(stream.count, start + max(1, nextPieceSize()))
            decoder.append(stream[start..<end])
            start = end
            do throws(VSTError) {
                while let message = try decoder.nextMessage() {
                    outcome.messages.append(message)
                    checkBounds(decoder, limits, input)
                }
                checkBounds(decoder, limits, input)
            } catch {
                outcome.error = error
                decoder.append(stream[start...])
                decoder.append([0x18, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
                do throws(VSTError) {
                    let after = try decoder.nextMessage()
                    violated("after \(error) the decoder went on and returned \(String(describing: after))", input)
                } catch let again {
                    guard again == error else { violated("after \(error) the decoder threw \(again)", input) }
                }
                return outcome
            }
        } while start < stream.count
        outcome.bufferedByteCount = decoder.bufferedByteCount
        outcome.partialMessageCount = decoder.partialMessageCount
        return outcome
    }

    static func checkBounds(_ decoder: VSTDecoder, _ limits: VSTLimits, _ input: [UInt8]) {
        guard decoder.partialMessageCount <= limits.partialMessageCountMax else {
            violated("\(decoder.partialMessageCount) partial messages, limit \(limits.partialMessageCountMax)", input)
        }
        for (id, partial) in decoder.partials {
            guard partial.receivedByteCount <= limits.messageByteCountMax,
                  partial.chunks.values.reduce(0, { $0 + $1.count }) == partial.receivedByteCount,
                  partial.chunks.values.allSatisfy({ $0.count <= limits.chunkByteCountMax - ChunkHeader.byteCountShort })
            else { violated("partial message \(id) holds \(partial.receivedByteCount) bytes in \(partial.chunks.count) chunks", input) }
        }
    }

    static func checkAgainstModel(_ outcome: Outcome, _ stream: [UInt8], version: VSTVersion, limits: VSTLimits,
                                  _ input: [UInt8]) {
        let model = StreamModel.read(stream, version: version, limits: limits)
        guard outcome.messages == model.messages else {
            let shown = model.messages.map { "#\($0.id):\($0.bytes.count)B" }.joined(separator: " ")
            violated("decoder gave \(outcome), the model [\(shown)]", input)
        }
        switch (outcome.error, model.fault) {
        case (let error?, let fault?):
            guard error.offset == fault.offset, error.code == fault.codes.first else {
                violated("decoder threw \(error); the model finds the chunk at \(fault.offset) breaking \(fault.codes.map(\.rawValue))", input)
            }
        case (let error?, nil):
            violated("decoder threw \(error); the model finds no fault (chunks at \(model.chunkStarts.prefix(20)))", input)
        case (nil, let fault?):
            violated("decoder accepted the stream (\(outcome)); the model finds the chunk at \(fault.offset) breaking \(fault.codes.map(\.rawValue))", input)
        case (nil, nil):
            guard outcome.bufferedByteCount == stream.count - model.consumed,
                  outcome.partialMessageCount == model.partialMessageCount else {
                violated("decoder ends with \(outcome); the model with \(stream.count - model.consumed) bytes of an incomplete chunk, \(model.partialMessageCount) partial", input)
            }
        }
    }

    /// Every message, encoded at a few chunk sizes in both versions, decodes back to itself;
    /// all of them interleaved decode to all of them.
    static func checkReencoding(_ messages: [VSTMessage], _ random: inout SplitMix, _ input: [UInt8]) {
        let limits = VSTLimits.default
        for message in messages {
            // At most 64 chunks: the decoder looks at every chunk held for a message per chunk.
            let smallest = 24 + (message.bytes.count + 63) / 64
            var sizes = [VSTEncoder.chunkByteCountDefault,
                         max(smallest, 24 + random.next(in: 1...max(1, message.bytes.count))),
                         max(smallest, 24 + random.next(in: 1...16))]
            if message.bytes.count <= 64 { sizes.append(25) }
            for version in [VSTVersion.v1_1, .v1_0] {
                for size in sizes {
                    let stream = VSTEncoder.encode(messageID: message.id, message: message.bytes, version: version,
                                                   chunkByteCount: size)
                    let expected = Outcome(messages: [message], error: nil, bufferedByteCount: 0, partialMessageCount: 0)
                    let whole = decode(stream, version: version, limits: limits, input) { stream.count }
                    guard whole == expected else {
                        violated("message #\(message.id) of \(message.bytes.count) bytes encoded in \(version) at chunk size \(size) decodes to \(whole)", input)
                    }
                    checkAgainstModel(whole, stream, version: version, limits: limits, input)
                    let chunks = StreamModel.chunks(of: stream, version: version)
                    let dataPerChunk = size - ChunkHeader.byteCountLong
                    guard chunks.count == (message.bytes.count + dataPerChunk - 1) / dataPerChunk,
                          chunks.allSatisfy({ $0.count <= size }) else {
                        violated("\(message.bytes.count) bytes at chunk size \(size) in \(version) made chunks of \(chunks.map(\.count))", input)
                    }
                }
            }
        }
        guard !messages.isEmpty else { return }
        // All messages with fresh ids, chunks interleaved round robin; odd ids in reverse order.
        for version in [VSTVersion.v1_1, .v1_0] {
            let size = 24 + random.next(in: 1...64)
            var queues: [[[UInt8]]] = []
            var expected: [UInt64: [UInt8]] = [:]
            for (number, message) in messages.prefix(limits.partialMessageCountMax).enumerated() {
                let id = UInt64(number + 1)
                expected[id] = message.bytes
                let stream = VSTEncoder.encode(messageID: id, message: message.bytes, version: version,
                                               chunkByteCount: max(size, 24 + (message.bytes.count + 63) / 64))
                var chunks = StreamModel.chunks(of: stream, version: version).map { Array(stream[$0]) }
                if id % 2 == 1 { chunks.reverse() }
                queues.append(chunks)
            }
            var stream: [UInt8] = []
            var round = 0
            while queues.contains(where: { round < $0.count }) {
                for queue in queues where round < queue.count { stream += queue[round] }
                round += 1
            }
            let outcome = decode(stream, version: version, limits: limits, input) { random.next(in: 1...200) }
            guard outcome.error == nil, outcome.messages.count == expected.count,
                  outcome.messages.allSatisfy({ expected[$0.id] == $0.bytes }),
                  outcome.bufferedByteCount == 0, outcome.partialMessageCount == 0 else {
                violated("\(expected.count) interleaved messages in \(version) at chunk size \(size) decode to \(outcome)", input)
            }
            checkAgainstModel(outcome, stream, version: version, limits: limits, input)
        }
    }
}
