import Foundation
import AgentRole
import Testing
import ClusterMember

@Suite("Server identity")
struct ServerIdentityTests {
    @Test func madeOnceKeptAfterAndRoleChecked() throws {
        let directory = ServerProcess.temporaryDirectory()
        let first = try ServerIdentity.loadOrCreate(in: directory, role: .dbserver)
        #expect(first.id.hasPrefix("PRMR-") && first.id.count == 41)
        #expect(try ServerIdentity.loadOrCreate(in: directory, role: .dbserver) == first)
        #expect(throws: StartupError.self) { try ServerIdentity.loadOrCreate(in: directory, role: .coordinator) }
        try "garbage".write(toFile: directory + "/SERVER", atomically: true, encoding: .utf8)
        #expect(throws: StartupError.self) { try ServerIdentity.loadOrCreate(in: directory, role: .dbserver) }
        let other = ServerProcess.temporaryDirectory()
        #expect(try ServerIdentity.loadOrCreate(in: other, role: .coordinator).id.hasPrefix("CRDN-"))
        #expect(try ServerIdentity.loadOrCreate(in: other, role: .coordinator).id != first.id)
    }
}
