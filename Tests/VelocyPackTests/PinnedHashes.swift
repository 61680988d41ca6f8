/// Normalized hash values recorded when the hash was defined. Shard placement depends on
/// them: changing one is a protocol change and says so in Protocol/VelocyPack.md.
enum PinnedHashes {
    static let values: [String: UInt64] = [
        "null": 0x6b50_af7e_f8cb_2814,
        "\"k1\"": 0x9472_6f62_bd59_d6aa,
        "[1,\"a\"]": 0x410b_474b_cada_0cff,
        "{\"a\":1}": 0x38e0_0d9b_4ea2_1d16,
    ]
}
