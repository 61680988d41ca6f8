/// Deterministic generated JSON corpora for the VelocyPack benchmark: four shapes, each a
/// list of JSON documents (one per line when written to a file).
struct Corpus {
    /// The document shapes the benchmark measures.
    enum Shape: String, CaseIterable {
        /// 100k flat documents of scalars (about 15 MB).
        case flat
        /// Deeply nested objects and arrays (about 6 MB).
        case nested
        /// Arrays of integers and doubles (about 8 MB).
        case numbers
        /// Documents of long Unicode strings with escapes (about 9 MB).
        case strings
        /// Documents nested ``Corpus/deepDepth`` levels, past the server's limit for network
        /// input, as real files sometimes are (about 6 MB).
        case deep
    }

    /// How deep the `deep` shape nests: the depth of a real file the reference tools convert
    /// and `tessera vpack` once refused.
    static let deepDepth = 403

    let shape: Shape
    /// The JSON text of each document.
    let documents: [[UInt8]]
    var byteCount: Int { documents.reduce(0) { $0 + $1.count } }

    /// SplitMix64: a small seeded generator, so every run measures the same bytes.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var mixed = state
            mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
            return mixed ^ (mixed >> 31)
        }
    }

    /// Generates the corpus of `shape`, scaled by `scale` (1.0 = the sizes above).
    init(shape: Shape, scale: Double = 1.0, seed: UInt64 = 42) {
        self.shape = shape
        var random = Generator(state: seed &+ UInt64(Shape.allCases.firstIndex(of: shape)!))
        var documents: [[UInt8]] = []
        var text = JSONText()
        switch shape {
        case .flat:
            let count = max(1, Int(100_000 * scale))
            for i in 0..<count {
                Self.flatDocument(i, &random, &text)
                documents.append(text.take())
            }
        case .nested:
            let count = max(1, Int(450 * scale))
            for _ in 0..<count {
                Self.nestedValue(depth: 0, &random, &text)
                documents.append(text.take())
            }
        case .numbers:
            let count = max(1, Int(7_000 * scale))
            for _ in 0..<count {
                Self.numberArray(&random, &text)
                documents.append(text.take())
            }
        case .strings:
            let count = max(1, Int(11_500 * scale))
            for _ in 0..<count {
                Self.stringDocument(&random, &text)
                documents.append(text.take())
            }
        case .deep:
            let count = max(1, Int(750 * scale))
            for _ in 0..<count {
                Self.deepValue(level: 0, &random, &text)
                documents.append(text.take())
            }
        }
        self.documents = documents
    }

    static let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
                        "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]
    static let cities = ["Köln", "Zürich", "São Paulo", "Kraków", "Århus", "Reykjavík", "Łódź", "Málaga"]

    static func flatDocument(_ i: Int, _ random: inout Generator, _ text: inout JSONText) {
        text.raw("{\"_key\":\"k\(i)\",\"name\":")
        text.string(words[Int(random.next() % 16)] + " " + words[Int(random.next() % 16)])
        text.raw(",\"email\":\"user\(random.next() % 100_000)@example.com\"")
        text.raw(",\"age\":\(random.next() % 90 + 10)")
        text.raw(",\"score\":\(Double(random.next() % 1_000_000) / 1000)")
        text.raw(",\"active\":\(random.next() % 2 == 0 ? "true" : "false")")
        text.raw(",\"city\":")
        text.string(cities[Int(random.next() % 8)])
        text.raw(",\"balance\":\(Int64(random.next() % 2_000_000) - 1_000_000)")
        text.raw(",\"note\":null}")
    }

    static func nestedValue(depth: Int, _ random: inout Generator, _ text: inout JSONText) {
        if depth >= 9 {
            text.raw(random.next() % 2 == 0 ? "\(random.next() % 1000)" : "\"leaf\(random.next() % 100)\"")
            return
        }
        if depth % 2 == 0 {
            text.raw("{")
            let members = depth < 3 ? 3 : 2
            for m in 0..<members {
                if m > 0 { text.raw(",") }
                text.raw("\"\(words[(depth + m) % 16])\":")
                nestedValue(depth: depth + 1, &random, &text)
            }
            text.raw("}")
        } else {
            text.raw("[")
            let members = depth < 4 ? 2 : 1 + Int(random.next() % 2)
            for m in 0..<members {
                if m > 0 { text.raw(",") }
                nestedValue(depth: depth + 1, &random, &text)
            }
            text.raw("]")
        }
    }

    /// One level of a `deep` document: an object `{"level":…,"name":…,"next":…}` or an array
    /// `[number, next]`, alternating, down to ``deepDepth`` levels.
    static func deepValue(level: Int, _ random: inout Generator, _ text: inout JSONText) {
        if level == deepDepth - 1 {
            text.raw("{\"level\":\(level),\"name\":")
            text.string(words[Int(random.next() % 16)])
            text.raw("}")
        } else if level % 2 == 0 {
            text.raw("{\"level\":\(level),\"name\":")
            text.string(words[Int(random.next() % 16)])
            text.raw(",\"next\":")
            deepValue(level: level + 1, &random, &text)
            text.raw("}")
        } else {
            text.raw("[\(random.next() % 100_000),")
            deepValue(level: level + 1, &random, &text)
            text.raw("]")
        }
    }

    static func numberArray(_ random: inout Generator, _ text: inout JSONText) {
        text.raw("[")
        for m in 0..<100 {
            if m > 0 { text.raw(",") }
            switch random.next() % 4 {
            case 0: text.raw("\(random.next() % 1000)")
            case 1: text.raw("\(Int64(bitPattern: random.next()) >> Int64(random.next() % 40))")
            case 2: text.raw("\(Double(Int64(random.next() % 10_000_000) - 5_000_000) / 1000)")
            default: text.raw("\(Double(bitPattern: 0x3ff0_0000_0000_0000 | (random.next() >> 12)) * 1e3)")
            }
        }
        text.raw("]")
    }

    static let unicodeSamples = ["Grüße aus Köln", "日本語のテキスト", "Ελληνικά γράμματα", "emoji 😀🎉👍",
                                 "tab\there \"quoted\"", "русский текст", "العربية", "line\nbreak ✓"]

    static func stringDocument(_ random: inout Generator, _ text: inout JSONText) {
        text.raw("{\"title\":")
        text.string(unicodeSamples[Int(random.next() % 8)])
        text.raw(",\"body\":")
        var body = ""
        for _ in 0..<(20 + Int(random.next() % 20)) {
            body += unicodeSamples[Int(random.next() % 8)] + " "
        }
        text.string(body)
        text.raw(",\"tags\":[")
        for t in 0..<4 {
            if t > 0 { text.raw(",") }
            text.string(unicodeSamples[Int(random.next() % 8)])
        }
        text.raw("]}")
    }
}

/// A small JSON text writer for the generator.
struct JSONText {
    var bytes: [UInt8] = []

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// Appends a JSON string literal, escaping quotes, backslashes and control characters.
    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0a: raw("\\n")
            case 0x09: raw("\\t")
            case 0..<0x20: raw("\\u00" + (byte < 16 ? "0" : "") + String(byte, radix: 16))
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func take() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }
}
