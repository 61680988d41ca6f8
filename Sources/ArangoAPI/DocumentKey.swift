/// ArangoDB's rules for a document key (`_key`): 1 to 254 bytes, each one of `a-z A-Z 0-9`
/// or `_ - : . @ ( ) + , = ; $ ! * ' %`.
public enum DocumentKey {
    public static let byteCountMax = 254

    /// The 128-entry table of allowed ASCII bytes.
    static let allowed: [Bool] = {
        var table = [Bool](repeating: false, count: 128)
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for byte in "_-:.@()+,=;$!*'%".utf8 { table[Int(byte)] = true }
        return table
    }()

    /// Why `key` breaks the rules, or `nil` when it is a valid key.
    public static func fault(_ key: some Collection<UInt8>) -> String? {
        if key.isEmpty { return "key is empty" }
        if key.count > byteCountMax { return "key has \(key.count) bytes, more than \(byteCountMax)" }
        for byte in key where byte >= 128 || !allowed[Int(byte)] {
            return "key contains the byte 0x\(String(byte, radix: 16)), not allowed in a key"
        }
        return nil
    }

    /// Whether `key` is a valid document key.
    public static func isValid(_ key: String) -> Bool { fault(key.utf8) == nil }
}
