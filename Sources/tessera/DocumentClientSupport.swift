import Client
import VelocyPack
import ArangoAPI
import VelocyStream

/// Why a client tool gives up before its work is done (bad input file, missing collection,
/// no server): printed as one line, exit status 2.
struct ToolFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Collection chores shared by `import`, `export` and the document benchmarks.
extension VSTClient {
    /// Makes sure collection `name` exists, creating it (a document collection, default
    /// settings) when `create` is set.
    /// - Throws: ``ToolFailure`` when it is missing and `create` is off, or the server refuses.
    func ensureCollection(_ name: String, create: Bool, properties: [String: Int] = [:]) async throws {
        let probe = try await request(.get, "/_api/collection/\(Self.pathEscaped(name))")
        if probe.status == 200 { return }
        guard probe.error?.code == .dataSourceNotFound else {
            throw ToolFailure("cannot look up collection '\(name)': \(Self.describe(probe))")
        }
        guard create else {
            throw ToolFailure("collection '\(name)' not found (--create-collection creates it)")
        }
        var body = Builder()
        body.openObject()
        body.add(key: "name", name)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) { body.add(key: key, value) }
        body.closeTrusted()
        let created = try await request(.post, "/_api/collection", body: body.bytes)
        // A duplicate name: another client created it meanwhile, which is just as good.
        guard created.status < 400 || created.error?.code == .duplicateName else {
            throw ToolFailure("cannot create collection '\(name)': \(Self.describe(created))")
        }
    }

    /// Drops collection `name`.
    func dropCollection(_ name: String) async throws {
        let dropped = try await request(.delete, "/_api/collection/\(Self.pathEscaped(name))")
        guard dropped.status < 400 else {
            throw ToolFailure("cannot drop collection '\(name)': \(Self.describe(dropped))")
        }
    }

    /// "status 404, errorNum 1203: collection or view not found: c".
    static func describe(_ response: ClientResponse) -> String {
        guard let error = response.error else { return "status \(response.status)" }
        return "status \(error.status), errorNum \(error.number): \(error.message)"
    }

    /// A name as a path segment: bytes outside ArangoDB's name alphabet percent-escaped (the
    /// server decodes escapes in path segments).
    static func pathEscaped(_ segment: String) -> String {
        var text = ""
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                text.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF".utf8)
                text += "%" + String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]], as: UTF8.self)
            }
        }
        return text
    }
}

/// Reads the monotonic clock in seconds (elapsed time for tools' figures and progress).
func monotonicSeconds() -> Double {
    Double(BenchRunner.monotonicMicroseconds()) / 1_000_000
}
