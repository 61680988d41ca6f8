import ArgumentParser
import Client
import VelocyPack
import VelocyStream
import VPackTool

/// `tessera call METHOD PATH`: one request, the answer printed as JSON (a curl for VST).
struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Send one request and print the answer as JSON.",
        discussion: """
            Exits 0 when the status is below 400, 1 otherwise (the error body is still printed). \
            Example: tessera call GET /_api/version
            """)

    @Argument(help: "GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.")
    var method: String

    @Argument(help: "The path, with an optional ?query (for example /_admin/sleep?duration=1).")
    var path: String

    @Option(help: "The request body as JSON (sent as VelocyPack).")
    var body: String?

    @Option(name: .customLong("header"), help: "A meta entry NAME:VALUE (repeatable).")
    var headers: [String] = []

    @Flag(help: "Print the status and meta before the body.")
    var include = false

    @Flag(help: "Print JSON on one line.")
    var compact = false

    @OptionGroup var client: ClientOptions

    func run() async throws {
        guard let requestMethod = RequestMethod(name: method) else {
            throw ValidationError("unknown method '\(method)'")
        }
        guard path.hasPrefix("/") else { throw ValidationError("the path must start with /") }
        var requestBody: [UInt8] = []
        if let body {
            do {
                requestBody = try JSONParser.parse(body).bytes
            } catch {
                throw ValidationError("--body is not valid JSON: \(error)")
            }
        }
        var meta: [String: String] = [:]
        for header in headers {
            guard let colon = header.firstIndex(of: ":") else { throw ValidationError("--header must be NAME:VALUE") }
            meta[header[..<colon].lowercased()] = String(header[header.index(after: colon)...]).trimmingSpaces()
        }
        let (plainPath, parameters) = Self.splitQuery(path)

        let response: ClientResponse
        do {
            response = try await send(requestMethod, plainPath, parameters: parameters, meta: meta, body: requestBody)
        } catch {
            InputOutput.writeStandardError("tessera call: \(error)")
            throw ExitCode(2)
        }

        var output: [UInt8] = []
        if include {
            output.append(contentsOf: "status \(response.status)\n".utf8)
            for (key, value) in response.meta.sorted(by: { $0.key < $1.key }) {
                output.append(contentsOf: "\(key): \(value)\n".utf8)
            }
        }
        if let answer = response.body {
            var options = JSONDumper.Options(unsupportedTypeBehavior: .string)
            if !compact { options.indent = 2 }
            output.append(contentsOf: try JSONDumper.dump(answer, options: options))
            output.append(0x0a)
        }
        try InputOutput.writeStandardOutput(output)
        if response.status >= 400 { throw ExitCode(1) }
    }

    /// One request over VelocyStream, or over HTTP/1.1 with `--http` or an `http://` endpoint.
    func send(_ method: RequestMethod, _ path: String, parameters: [String: [String]], meta: [String: String],
              body: [UInt8]) async throws(ClientError) -> ClientResponse {
        try await coordinatorRequest(client, method, path, parameters: parameters, meta: meta, body: body)
    }

    /// `/a?x=1&y=2&y=3` → (`/a`, x: [1], y: [2, 3]); `%XX` and `+` are decoded in values.
    static func splitQuery(_ path: String) -> (String, [String: [String]]) {
        guard let mark = path.firstIndex(of: "?") else { return (path, [:]) }
        var parameters: [String: [String]] = [:]
        for pair in path[path.index(after: mark)...].split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecoded(parts[0])
            parameters[name, default: []].append(parts.count > 1 ? percentDecoded(parts[1]) : "")
        }
        return (String(path[..<mark]), parameters)
    }

    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next() {
                if let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                    bytes.append(value)
                } else {
                    bytes.append(contentsOf: [byte, high, low])  // not an escape: kept as written
                }
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
