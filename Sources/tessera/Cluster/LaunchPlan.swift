import Foundation
import VelocyPack

/// Which processes make a cluster: role, number, port, data directory and machine. `tessera
/// cluster plan` writes one, `tessera start` makes one for the local machine, and every
/// launcher command acts on one. Stored as JSON (`cluster.json`), with the pids of the
/// running processes once launched.
struct LaunchPlan: Equatable {
    enum Role: String, CaseIterable {
        case agent, dbserver, coordinator
    }

    struct Member: Equatable {
        var role: Role
        /// 1, 2, … within the role (agents: the Raft member number).
        var number: Int
        var host: String
        var port: Int
        var dataDirectory: String
        /// The server id once known (DBServers and coordinators make theirs at first start).
        var id: String?
        /// The process, while launched.
        var pid: Int32?

        var endpoint: String { "tcp://\(host):\(port)" }
        var name: String { "\(role.rawValue)\(number)" }
    }

    var directory: String
    var secretFile: String
    var members: [Member]

    func members(_ role: Role) -> [Member] { members.filter { $0.role == role } }
    var agencyEndpoints: String { members(.agent).map(\.endpoint).joined(separator: ",") }

    /// The local layout: coordinators from `portBase` (8529, 8530, …), then agents, then
    /// DBServers on the following ports, each with its data in `directory/<role><n>`.
    static func local(directory: String, portBase: Int, agents: Int, dbservers: Int, coordinators: Int) -> LaunchPlan {
        var members: [Member] = []
        var port = portBase
        for (role, count) in [(Role.coordinator, coordinators), (.agent, agents), (.dbserver, dbservers)] {
            for number in stride(from: 1, through: count, by: 1) {
                members.append(localMember(role: role, number: number, port: port, directory: directory))
                port += 1
            }
        }
        return LaunchPlan(directory: directory, secretFile: directory + "/secret", members: members)
    }

    /// A process of a local cluster: on loopback, its data in `directory/<role><number>`.
    static func localMember(role: Role, number: Int, port: Int, directory: String) -> Member {
        Member(role: role, number: number, host: "127.0.0.1", port: port, dataDirectory: directory + "/\(role.rawValue)\(number)")
    }

    /// The arguments of `tessera` that run `member`.
    func arguments(for member: Member) -> [String] {
        var arguments = [member.role.rawValue, "--endpoint", member.endpoint, "--data", member.dataDirectory,
                         "--secret-file", secretFile, "--agency-endpoints", agencyEndpoints]
        if member.role == .agent { arguments += ["--id", String(member.number)] }
        return arguments
    }

    // MARK: JSON

    func encoded() -> [UInt8] {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "directory", directory)
        builder.add(key: "secretFile", secretFile)
        builder.add(key: "processes")
        builder.openArray()
        for member in members {
            builder.openObject()
            builder.add(key: "role", member.role.rawValue)
            builder.add(key: "number", member.number)
            builder.add(key: "machine", member.host)
            builder.add(key: "endpoint", member.endpoint)
            builder.add(key: "port", member.port)
            builder.add(key: "data", member.dataDirectory)
            if let id = member.id { builder.add(key: "id", id) }
            if let pid = member.pid { builder.add(key: "pid", Int(pid)) }
            builder.closeTrusted()
        }
        builder.closeTrusted()
        builder.closeTrusted()
        var options = JSONDumper.Options()
        options.indent = 2
        return ((try? JSONDumper.dump(builder.slice, options: options)) ?? []) + [0x0a]
    }

    struct Invalid: Error, CustomStringConvertible { let description: String }

    init(directory: String, secretFile: String, members: [Member]) {
        self.directory = directory
        self.secretFile = secretFile
        self.members = members
    }

    init(json bytes: [UInt8], path: String) throws {
        let root: Slice
        do { root = try JSONParser.parse(bytes).slice } catch { throw Invalid(description: "\(path) is not JSON: \(error)") }
        guard let directory = root["directory"]?.stringValue, let secret = root["secretFile"]?.stringValue,
              let processes = root["processes"], processes.isArray else {
            throw Invalid(description: "\(path) needs 'directory', 'secretFile' and 'processes'")
        }
        var members: [Member] = []
        for process in processes.arrayElements {
            guard let roleName = process["role"]?.stringValue, let role = Role(rawValue: roleName),
                  let number = process["number"]?.intValue, let host = process["machine"]?.stringValue,
                  let port = process["port"]?.intValue, (1...65535).contains(port), let data = process["data"]?.stringValue else {
                throw Invalid(description: "\(path): every process needs role (agent, dbserver, coordinator), number, machine, port and data")
            }
            members.append(Member(role: role, number: Int(number), host: host, port: Int(port), dataDirectory: data,
                                  id: process["id"]?.stringValue, pid: process["pid"]?.intValue.map { Int32($0) }))
        }
        guard !members.filter({ $0.role == .agent }).isEmpty, members.filter({ $0.role == .agent }).count % 2 == 1 else {
            throw Invalid(description: "\(path): a cluster needs an odd number of agents")
        }
        self.init(directory: directory, secretFile: secret, members: members)
    }

    static func load(_ path: String) throws -> LaunchPlan {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid(description: "cannot read \(path)")
        }
        return try LaunchPlan(json: Array(data), path: path)
    }

    func save(_ path: String) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(encoded())) else {
            throw Invalid(description: "cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            throw Invalid(description: "cannot replace \(path): errno \(errno)")
        }
    }
}
