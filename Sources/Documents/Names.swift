/// ArangoDB's rules for database and collection names ("traditional" naming).
///
/// A collection name has 1 to 256 bytes: a letter or `_` first (a leading `_` makes a
/// system collection, which users may not create), then letters, digits, `_` and `-`. A
/// database name has 1 to 64 bytes: a letter first (only `_system` starts with `_`), then
/// letters, digits, `_` and `-`.
public enum Names {
    public static let collectionByteCountMax = 256
    public static let databaseByteCountMax = 64

    /// Why `name` is not a valid collection name, or `nil`.
    public static func collectionFault(_ name: String, allowSystem: Bool) -> String? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { return "collection name is empty" }
        guard bytes.count <= collectionByteCountMax else {
            return "collection name has \(bytes.count) bytes, more than \(collectionByteCountMax)"
        }
        if bytes[0] == UInt8(ascii: "_") {
            if !allowSystem { return "collection names starting with '_' are reserved for system collections" }
        } else if !isLetter(bytes[0]) {
            return "collection name must start with a letter"
        }
        if let bad = bytes.dropFirst().first(where: { !isNameByte($0) }) {
            return "collection name contains '\(Character(Unicode.Scalar(bad)))'; allowed are letters, digits, '_' and '-'"
        }
        return nil
    }

    /// Why `name` is not a valid database name, or `nil`.
    public static func databaseFault(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { return "database name is empty" }
        guard bytes.count <= databaseByteCountMax else {
            return "database name has \(bytes.count) bytes, more than \(databaseByteCountMax)"
        }
        guard isLetter(bytes[0]) else { return "database name must start with a letter" }
        if let bad = bytes.dropFirst().first(where: { !isNameByte($0) }) {
            return "database name contains '\(Character(Unicode.Scalar(bad)))'; allowed are letters, digits, '_' and '-'"
        }
        return nil
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }
}

/// A document revision as clients see it (`_rev`): the engine's 64-bit hybrid logical clock
/// value written in ArangoDB's style, six bits per character from the most significant end,
/// with the alphabet `-_A-Za-z0-9`. Clients treat it as an opaque string; the server parses
/// it back to compare with the stored revision.
public enum RevisionString {
    static let alphabet = Array("-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = Int8(value) }
        return table
    }()

    public static func encode(_ revision: UInt64) -> String {
        guard revision != 0 else { return "-" }
        var characters: [UInt8] = []
        var rest = revision
        while rest != 0 {
            characters.append(alphabet[Int(rest & 63)])
            rest >>= 6
        }
        return String(decoding: characters.reversed(), as: UTF8.self)
    }

    /// The revision `text` names; `nil` when it is not a revision string. A surrounding pair
    /// of double quotes (as in an HTTP entity tag) is allowed.
    public static func decode(_ text: some StringProtocol) -> UInt64? {
        var bytes = Array(text.utf8)
        if bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") {
            bytes = Array(bytes.dropFirst().dropLast())
        }
        // 11 characters carry 66 bits; more cannot be a 64-bit value.
        guard !bytes.isEmpty, bytes.count <= 11 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte < 128, case let digit = values[Int(byte)], digit >= 0 else { return nil }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 64)
            guard !overflow else { return nil }
            value = shifted | UInt64(digit)
        }
        return value
    }
}
