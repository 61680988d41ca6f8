import VPackTool
/// Progress of an import on standard error: a bar redrawn in place on a terminal, a plain line
/// every few seconds otherwise (logs and pipes must not fill with carriage returns).
struct ImportProgress {
    let terminal: Bool
    /// The input's size when known (a regular file), for the bar's percentage.
    let byteCountTotal: Int?
    var lastDrawSeconds = 0.0
    /// Whether a bar is on screen (an error line must clear it first).
    var barShown = false

    static let terminalIntervalSeconds = 0.2
    static let plainIntervalSeconds = 5.0
    static let barWidth = 30

    init(terminal: Bool, byteCountTotal: Int?) {
        self.terminal = terminal
        self.byteCountTotal = byteCountTotal
        lastDrawSeconds = monotonicSeconds()
    }

    /// Writes one error or warning line.
    mutating func report(_ line: String) {
        clearBar()
        InputOutput.writeStandardError(line)
    }

    /// Redraws the bar or prints a line when its interval has passed.
    mutating func update(_ tally: DocumentImporter.Tally, bytesRead: Int) {
        let now = monotonicSeconds()
        guard now - lastDrawSeconds >= (terminal ? Self.terminalIntervalSeconds : Self.plainIntervalSeconds) else { return }
        lastDrawSeconds = now
        let counts = "\(tally.imported) imported, \(tally.failed) failed, \(DocumentImporter.Tally.format(tally.documentsPerSecond, digits: 0)) documents/s"
        guard terminal else {
            InputOutput.writeStandardError("progress: \(counts)")
            return
        }
        var bar = ""
        if let total = byteCountTotal, total > 0 {
            let fraction = min(1, Double(bytesRead) / Double(total))
            let filled = Int(fraction * Double(Self.barWidth))
            bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: Self.barWidth - filled) + "] "
            bar += "\(Int(fraction * 100))%  "
        }
        // \r and "erase line" (ESC [K) redraw in place.
        writeRaw("\r\u{1b}[K" + bar + counts)
        barShown = true
    }

    /// Clears the bar before the summary.
    mutating func finish(_ tally: DocumentImporter.Tally) {
        clearBar()
    }

    private mutating func clearBar() {
        guard barShown else { return }
        writeRaw("\r\u{1b}[K")
        barShown = false
    }

    private func writeRaw(_ text: String) {
        try? InputOutput.writeAll(Array(text.utf8), to: 2)  // progress is best effort: a closed stderr stops nothing
    }
}
