public import VelocyPack

/// The role a registered server plays. Agents are not registered: they are the agency.
public enum ServerRole: String, Sendable, CaseIterable {
    case dbServer = "DBSERVER"
    case coordinator = "COORDINATOR"

    /// The prefix of the server's unique id, ArangoDB's: `PRMR-…` (primary) or `CRDN-…`.
    public var idPrefix: String { self == .dbServer ? "PRMR" : "CRDN" }

    /// The key under `Plan`: `DBServers` or `Coordinators`.
    var planKey: String { self == .dbServer ? "DBServers" : "Coordinators" }

    /// The counter under `Target` whose increments number the short names.
    var shortIdCounterKey: String { self == .dbServer ? "LatestDBServerId" : "LatestCoordinatorId" }

    /// ArangoDB's short name for the `number`th server of this role: `DBServer0001`,
    /// `Coordinator0002` (four digits at least, more when the number needs them).
    public func shortName(number: UInt64) -> String {
        let digits = String(number)
        let name = self == .dbServer ? "DBServer" : "Coordinator"
        return name + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// A new unique server id from 128 random bits, chosen once at first start and kept on
    /// disk: the role prefix and a version-4 UUID, `PRMR-1b4e28ba-2fa1-41d2-883f-0016d3cca427`.
    /// The caller draws the bits (no randomness in this module).
    public func newServerId(randomHigh: UInt64, randomLow: UInt64) -> String {
        // RFC 4122 §4.4: version 4 in the high nibble of byte 6, variant 10 in byte 8.
        let high = (randomHigh & ~0xf000) | 0x4000
        let low = (randomLow & ~(0xc000_0000_0000_0000 as UInt64)) | 0x8000_0000_0000_0000
        func hex(_ value: UInt64, _ digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: digits - text.count) + text
        }
        return idPrefix + "-" + hex(high >> 32, 8) + "-" + hex((high >> 16) & 0xffff, 4) + "-"
            + hex(high & 0xffff, 4) + "-" + hex(low >> 48, 4) + "-" + hex(low & 0xffff_ffff_ffff, 12)
    }
}

/// A server's entry in `Current/ServersRegistered/<id>`.
public struct ServerRegistration: Sendable, Equatable {
    /// The unique id (`PRMR-…`, `CRDN-…`), stable across restarts.
    public var id: String
    /// The short name (`DBServer0001`), from `Target/MapUniqueToShortID`.
    public var shortName: String
    /// Where the server listens, `tcp://host:port`.
    public var endpoint: String
    public var role: ServerRole
    /// The server's version string.
    public var version: String

    public init(id: String, shortName: String, endpoint: String, role: ServerRole, version: String) {
        self.id = id
        self.shortName = shortName
        self.endpoint = endpoint
        self.role = role
        self.version = version
    }

    /// The VelocyPack of the entry: `{endpoint, role, shortName, versionString}`.
    public var vpack: [UInt8] {
        vpackBytes { builder in
            builder.openObject()
            builder.add(key: "endpoint", endpoint)
            builder.add(key: "role", role.rawValue)
            builder.add(key: "shortName", shortName)
            builder.add(key: "versionString", version)
            builder.closeTrusted()
        }
    }

    /// Decodes the entry of server `id`.
    /// - Throws: ``ClusterError/Code/agencyDataInvalid`` naming the bad field.
    public init(id: String, decoding slice: Slice) throws(ClusterError) {
        let fields = try AgencyFieldReader(slice, context: "Current/ServersRegistered/\(id)")
        let roleName = try fields.string("role")
        guard let role = ServerRole(rawValue: roleName) else { throw fields.invalid("role", "is unknown: \(roleName)") }
        self.init(id: id, shortName: try fields.string("shortName"), endpoint: try fields.string("endpoint"),
                  role: role, version: try fields.string("versionString"))
    }
}

/// A server's health as supervision classifies it (`reference §2.2`).
public enum ServerHealth: String, Sendable, CaseIterable {
    case good = "GOOD"
    case bad = "BAD"
    case failed = "FAILED"
}

/// Supervision's record in `Supervision/Health/<id>`: `{ShortName, Endpoint, Status, LastAckedTime}`.
public struct HealthRecord: Sendable, Equatable {
    public var shortName: String
    public var endpoint: String
    public var status: ServerHealth
    /// The agent's clock, in milliseconds, when it last saw a new heartbeat.
    public var lastAckedMilliseconds: Int64

    public init(shortName: String, endpoint: String, status: ServerHealth, lastAckedMilliseconds: Int64) {
        self.shortName = shortName
        self.endpoint = endpoint
        self.status = status
        self.lastAckedMilliseconds = lastAckedMilliseconds
    }

    /// The record's VelocyPack.
    public var vpack: [UInt8] {
        vpackBytes { builder in
            builder.openObject()
            builder.add(key: "Endpoint", endpoint)
            builder.add(key: "LastAckedTime", lastAckedMilliseconds)
            builder.add(key: "ShortName", shortName)
            builder.add(key: "Status", status.rawValue)
            builder.closeTrusted()
        }
    }

    /// Decodes the record of server `id`.
    /// - Throws: ``ClusterError/Code/agencyDataInvalid`` naming the bad field.
    public init(id: String, decoding slice: Slice) throws(ClusterError) {
        let fields = try AgencyFieldReader(slice, context: "Supervision/Health/\(id)")
        let statusName = try fields.string("Status")
        guard let status = ServerHealth(rawValue: statusName) else { throw fields.invalid("Status", "is unknown: \(statusName)") }
        self.init(shortName: try fields.string("ShortName"), endpoint: try fields.string("Endpoint"), status: status,
                  lastAckedMilliseconds: Int64(try fields.int("LastAckedTime", in: 0...Int.max)))
    }
}
