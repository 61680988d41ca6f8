import Testing
import VelocyPack
@testable import AgencyStore

/// VelocyPack bytes for a JSON text.
func vpack(_ json: String) -> [UInt8] { try! JSONParser.parse(json).bytes }

/// The JSON text of VelocyPack bytes (object keys in sorted order).
func json(_ bytes: [UInt8]) -> String { try! JSONDumper.dumpString(Slice(trustedBytes: bytes)) }

let startTime: Int64 = 1_700_000_000_000

extension AgencyStore {
    /// Validates a `transact` body given as JSON, as the leader does, and applies it as the
    /// next log entry stamped with `time`.
    @discardableResult
    mutating func transact(_ body: String, time: Int64 = startTime) throws -> AgencyApplyOutcome {
        let bytes = vpack(body)
        _ = try AgencyEnvelope(validating: bytes, as: .transact)
        return apply(index: index + 1, payload: AgencyLogEntry.payload(timeMilliseconds: time, envelope: Slice(trustedBytes: bytes)))
    }

    /// Applies a write body (`[transaction, …]`) and returns the write answer as JSON.
    @discardableResult
    mutating func write(_ body: String, time: Int64 = startTime) throws -> String {
        let bytes = vpack(body)
        _ = try AgencyEnvelope(validating: bytes, as: .write)
        let outcome = apply(index: index + 1, payload: AgencyLogEntry.payload(timeMilliseconds: time, envelope: Slice(trustedBytes: bytes)))
        return json(outcome.writeAnswer())
    }

    /// The answer to a read body given as JSON, as JSON.
    func read(_ body: String) throws -> String {
        json(try readAnswer(request: vpack(body)))
    }

    /// The whole tree (`[["/"]]`, dot-keys hidden) as JSON.
    var treeJSON: String { json(readQuery([.root])) }

    /// The JSON of the value at `path`, or "absent".
    func valueJSON(_ path: String) -> String {
        (try? AgencyPath(path)).flatMap { value(at: $0) }.map { json($0.copiedBytes) } ?? "absent"
    }
}

/// A store with `json` written at the root by entry 1.
func store(_ json: String) throws -> AgencyStore {
    var store = AgencyStore()
    try store.write(#"[[{"/": \#(json)}]]"#)
    return store
}
