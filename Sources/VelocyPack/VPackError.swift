/// An operating fault found in VelocyPack bytes or JSON text: hostile or corrupt input, or a
/// value the chosen options refuse.
///
/// Every error names a stable ``Code`` and the byte offset in the input where the fault was
/// found. Codes never change meaning; the golden vectors in `Protocol/vectors/vpack/` name them.
public struct VPackError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Stable error codes. The raw value is the name used in golden vectors and messages; the
    /// ``number`` is a stable numeric form for logs and wire error bodies.
    public enum Code: String, Sendable, CaseIterable {
        // Structure of VelocyPack bytes (Validator and readers).
        case emptyInput
        case truncated
        case trailingBytes
        case reservedHead
        case bcdNotAllowed
        case externalNotAllowed
        case tagsNotAllowed
        case customNotAllowed
        case invalidPadding
        case invalidByteLength
        case invalidItemCount
        case invalidIndexTable
        case memberSizeMismatch
        case invalidVarint
        case invalidKeyType
        case unsortedIndex
        case duplicateKey
        case invalidUTF8
        case nestingTooDeep
        case valueTooLarge
        case invalidCustomLength
        // JSON text (JSONParser).
        case unexpectedEnd
        case unexpectedCharacter
        case invalidNumber
        case numberOutOfRange
        case invalidEscape
        case invalidSurrogate
        case controlCharacterInString
        case trailingContent
        // Builder and dumper.
        case builderMisuse
        case unsupportedType
        case unsupportedDouble
        case unknownAttributeId
        // Codable bridge.
        case typeMismatch
        case missingKey
        // Structure, continued.
        case memberOutOfBounds

        /// A stable number for the code (its position in declaration order plus 1; new codes
        /// are only ever appended).
        public var number: Int { Self.allCases.firstIndex(of: self)! + 1 }
    }

    /// What went wrong.
    public let code: Code
    /// The byte offset in the input (VelocyPack bytes or JSON text) where it was found.
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
        detail.isEmpty
            ? "\(code.rawValue) at byte \(offset)"
            : "\(code.rawValue) at byte \(offset): \(detail)"
    }

    /// Equality compares code and offset; the detail text is free to improve.
    public static func == (lhs: VPackError, rhs: VPackError) -> Bool {
        lhs.code == rhs.code && lhs.offset == rhs.offset
    }
}
