import AgencyStore
import Testing
import VelocyPack
@testable import ClusterLogic

/// A VelocyPack value for a JSON text.
func vpack(_ json: String) -> Slice { Slice(trustedBytes: try! JSONParser.parse(json).bytes) }

/// The JSON text of VelocyPack bytes.
func json(_ bytes: [UInt8]) -> String { try! JSONDumper.dumpString(Slice(trustedBytes: bytes)) }

/// A real agency store that the bodies under test are applied to, as the agency leader
/// would: validated first (a body the leader would refuse fails the test), then applied as
/// the next log entry.
struct TestAgency {
    var store = AgencyStore()
    var time: Int64 = 1_700_000_000_000

    /// Applies a `write` body; one log index per transaction, 0 where a precondition failed.
    mutating func write(_ body: [UInt8]) throws -> [UInt64] {
        let outcome = try apply(body, as: .write)
        return outcome.results.map { result in
            if case .applied(let index) = result { return index }
            return 0
        }
    }

    /// Applies a `transact` body and returns its answer.
    mutating func transact(_ body: [UInt8]) throws -> Slice {
        Slice(trustedBytes: try apply(body, as: .transact).transactAnswer())
    }

    private mutating func apply(_ body: [UInt8], as kind: AgencyEnvelope.Kind) throws -> AgencyApplyOutcome {
        _ = try AgencyEnvelope(validating: body, as: kind)
        time += 1
        let outcome = store.apply(index: store.index + 1,
                                  payload: AgencyLogEntry.payload(timeMilliseconds: time, envelope: Slice(trustedBytes: body)))
        if let error = outcome.error { throw error }
        for result in outcome.results { if case .invalid(let error) = result { throw error } }
        return outcome
    }

    func value(_ path: String) -> Slice? { store.value(at: try! AgencyPath(path)) }

    func json(_ path: String) -> String { value(path).map { ClusterLogicTests.json($0.copiedBytes) } ?? "absent" }

    func plan() throws -> ClusterPlan { try ClusterPlan(decoding: value(AgencyLayout.plan)!) }

    func current() throws -> ClusterCurrent { try ClusterCurrent(decoding: value(AgencyLayout.current)!) }

    /// An agency with the layout initialized.
    static func initialized() throws -> TestAgency {
        var agency = TestAgency()
        let results = try agency.write(AgencyTransactions.initializeLayout(clusterId: "cluster-1"))
        #expect(results.allSatisfy { $0 != 0 })
        return agency
    }
}

/// A collection planned on `shards` (name → servers).
func collection(id: String = "100", name: String = "users", shardKeys: [String] = ["_key"],
                indexes: [PlannedIndex] = [.primary], shards: [String: [String]]) -> PlanCollection {
    PlanCollection(id: id, name: name, numberOfShards: shards.count, shardKeys: shardKeys, indexes: indexes, shards: shards)
}
