/// A fault in a VelocyStream byte stream or message header, with a stable code.
///
/// Every such fault is the peer's: the connection that produced it is answered with an
/// error where that is possible and then closed. `offset` is the position in the
/// connection's byte stream (counted from the first byte after the preamble) where the fault
/// was found; for faults in a message header, the position within that message (the
/// validator's offset for `invalidHeader`, 0 for shape and type faults).
public struct VSTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Stable error codes; golden vectors in `Protocol/vectors/vst/` name them.
    public enum Code: String, Sendable, CaseIterable {
        /// The first 11 bytes are neither `VST/1.0\r\n\r\n` nor `VST/1.1\r\n\r\n`.
        case invalidPreamble
        /// A chunk's length field is smaller than its header.
        case chunkTooShort
        /// A chunk's length field is above ``VSTLimits/chunkByteCountMax``.
        case chunkTooLarge
        /// A chunk carries no data bytes.
        case emptyChunk
        /// Message id 0 is reserved.
        case reservedMessageID
        /// A first chunk announces zero chunks.
        case invalidChunkCount
        /// A message's announced length is above ``VSTLimits/messageByteCountMax``.
        case messageTooLarge
        /// A message's chunks carry more or fewer bytes than its announced length, or the
        /// chunks of one message disagree about it.
        case messageLengthMismatch
        /// A chunk index is at or beyond the announced count, or arrives twice.
        case invalidChunkIndex
        /// A second first chunk arrives for a message id that is still being assembled.
        case duplicateFirstChunk
        /// More messages are partly received than ``VSTLimits/partialMessageCountMax``.
        case tooManyPartialMessages
        /// The message header is not a valid VelocyPack value, or is larger than
        /// ``VSTLimits/headerByteCountMax``.
        case invalidHeader
        /// The header is valid VelocyPack but not an array of the expected shape.
        case malformedHeader
        /// The header's version is not 1, or its type is not one this side accepts.
        case unsupportedMessageType
        /// The data of all partly received messages together is above
        /// ``VSTLimits/partialByteCountMax``.
        case tooMuchPartialData

        /// A stable number for the code (declaration order from 1; codes are only appended).
        public var number: Int { Self.allCases.firstIndex(of: self)! + 1 }
    }

    /// What went wrong.
    public let code: Code
    /// Where in the stream (or header) it was found.
    public let offset: Int
    /// A short human explanation; not part of the stable contract.
    public let detail: String

    /// Creates an error.
    public init(_ code: Code, at offset: Int, _ detail: String = "") {
        self.code = code
        self.offset = offset
        self.detail = detail
    }

    public var description: String {
        detail.isEmpty ? "\(code.rawValue) at byte \(offset)" : "\(code.rawValue) at byte \(offset): \(detail)"
    }

    /// Equality compares code and offset; the detail text is free to improve.
    public static func == (lhs: VSTError, rhs: VSTError) -> Bool {
        lhs.code == rhs.code && lhs.offset == rhs.offset
    }
}
