/// Splits import input into records — one JSON value each — without parsing them, so that a
/// file of any size streams through a small buffer and every record keeps the line it began on.
///
/// The format is decided by the first byte that is not white space: `[` opens one JSON array
/// whose elements are the records; anything else is JSON lines (one value per line, blank lines
/// skipped). Documents are objects, so a JSON-lines file never starts with `[`.
///
/// Array elements are found by counting brackets outside strings; a malformed element is still
/// cut at the next top-level comma and handed on, so the JSON parser can name its fault and the
/// elements after it are imported.
///
/// Feed bytes with ``append(_:)``, take complete records with ``forEachRecord(atEnd:_:)``.
/// Pure: no I/O.
struct RecordScanner {
    enum Format: Sendable, Equatable { case lines, array }

    /// A fault in the array's structure (not inside a record), with the line it was found on.
    struct StructureError: Error, Equatable, CustomStringConvertible {
        let line: Int
        let message: String
        var description: String { "line \(line): \(message)" }
    }

    private(set) var format: Format?
    /// Bytes not yet consumed: the record being scanned and what follows it.
    private var buffer: [UInt8] = []
    /// Where scanning resumes in `buffer`.
    private var position = 0
    /// The line of `buffer[position]` (1-based).
    private var line = 1
    /// Start offset and line of the record being scanned, once its first non-blank byte is seen.
    private var recordStart: Int?
    private var recordLine = 0
    // Array mode: nesting below the element level, and string state (which may span chunks).
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var arrayOpened = false
    private var arrayClosed = false

    /// Adds input bytes.
    mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// Calls `body` with each complete record (its bytes and the line it starts on) and drops
    /// the consumed bytes. With `atEnd`, the input is over: a last line without a newline is a
    /// record, and an array that is not closed is a ``StructureError``.
    mutating func forEachRecord(atEnd: Bool, _ body: (ArraySlice<UInt8>, Int) -> Void) throws(StructureError) {
        if format == nil, let first = firstNonBlank() {
            format = buffer[first] == UInt8(ascii: "[") ? .array : .lines
        }
        switch format {
        case .lines: scanLines(atEnd: atEnd, body)
        case .array: try scanArray(atEnd: atEnd, body)
        case nil: break  // only white space so far
        }
        compact()
    }

    private func firstNonBlank() -> Int? {
        buffer[position...].firstIndex { !Self.isBlank($0) }
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0a || byte == 0x0d || byte == 0x09
    }

    /// Drops consumed bytes, keeping the record in progress (a memmove of at most one record).
    private mutating func compact() {
        let keep = recordStart ?? position
        guard keep > 0 else { return }
        buffer.removeSubrange(0..<keep)
        position -= keep
        if recordStart != nil { recordStart = 0 }
    }

    // MARK: JSON lines

    private mutating func scanLines(atEnd: Bool, _ body: (ArraySlice<UInt8>, Int) -> Void) {
        buffer.withUnsafeBufferPointer { bytes in
            var index = position
            while index < bytes.count {
                let byte = bytes[index]
                if byte == 0x0a {
                    if let start = recordStart {
                        body(buffer[start..<index], recordLine)
                        recordStart = nil
                    }
                    line += 1
                } else if recordStart == nil && !Self.isBlank(byte) {
                    recordStart = index
                    recordLine = line
                }
                index += 1
            }
            position = index
        }
        if atEnd, let start = recordStart {
            body(buffer[start...], recordLine)
            recordStart = nil
            position = buffer.count
        }
    }

    // MARK: JSON array

    private mutating func scanArray(atEnd: Bool, _ body: (ArraySlice<UInt8>, Int) -> Void) throws(StructureError) {
        var index = position
        var fault: StructureError?
        let count = buffer.count
        scan: while index < count {
            let byte = buffer[index]
            defer {
                if byte == 0x0a { line += 1 }
                index += 1
            }
            if arrayClosed {
                // Only white space may follow the array.
                if !Self.isBlank(byte) {
                    fault = StructureError(line: line, message: "unexpected text after the closing ] of the array")
                    index = count - 1  // the rest is not imported
                    break scan
                }
                continue
            }
            if !arrayOpened {
                if byte == UInt8(ascii: "[") { arrayOpened = true }
                continue  // the format check guarantees only white space before `[`
            }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                startRecordIfNeeded(at: index)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                startRecordIfNeeded(at: index)
            case UInt8(ascii: "}") where depth > 0, UInt8(ascii: "]") where depth > 0:
                depth -= 1
            case UInt8(ascii: ","), UInt8(ascii: "]"):
                guard depth == 0 else { continue }
                // The end of an element. An empty one (`[1,,2]`, `[1,]`) still goes to the
                // parser, which reports it: the user sees the line rather than a silent skip.
                let isClose = byte == UInt8(ascii: "]")
                if let start = recordStart {
                    body(buffer[start..<index], recordLine)
                } else if !(isClose && !sawElementSeparator) {
                    body(buffer[index..<index], line)
                }
                recordStart = nil
                sawElementSeparator = !isClose
                if isClose { arrayClosed = true }
            default:
                if !Self.isBlank(byte) { startRecordIfNeeded(at: index) }
            }
        }
        position = index
        if let fault { throw fault }
        if atEnd && !arrayClosed {
            if let start = recordStart {
                body(buffer[start...], recordLine)
                recordStart = nil
            }
            position = buffer.count
            throw StructureError(line: line, message: "the input ends inside the JSON array (no closing ])")
        }
    }

    /// Whether the last element ended with a comma (so `]` right after it closes an empty element).
    private var sawElementSeparator = false

    private mutating func startRecordIfNeeded(at index: Int) {
        if recordStart == nil {
            recordStart = index
            recordLine = line
        }
    }
}
