import ArgumentParser
import Client
import VelocyPack
import VelocyStream
import VPackTool

/// One request to a server with the client options (`--endpoint`, `--password`, …), over
/// VelocyStream or HTTP/1.1 as `tessera call` does.
func coordinatorRequest(_ client: ClientOptions, _ method: RequestMethod, _ path: String,
                        parameters: [String: [String]] = [:], meta: [String: String] = [:],
                        body: [UInt8] = []) async throws(ClientError) -> ClientResponse {
    if client.usesHTTP {
        let http = HTTPClient(endpoint: client.parsedEndpoint, credentials: client.credentials, database: client.database)
        do {
            let response = try await http.request(method, path, parameters: parameters, meta: meta, body: body,
                                                  timeoutSeconds: client.timeout)
            await http.shutdown()
            return response
        } catch {
            await http.shutdown()
            throw error
        }
    }
    let vst = VSTClient(configuration: client.clientConfiguration())
    do {
        let response = try await vst.request(method, path, parameters: parameters, meta: meta, body: body)
        await vst.shutdown()
        return response
    } catch {
        await vst.shutdown()
        throw error
    }
}

/// The answer's body for a status below 400; otherwise the error is printed and the command
/// exits 1 (2 when no answer came).
func coordinatorAnswer(_ client: ClientOptions, method: RequestMethod = .get, _ path: String,
                       parameters: [String: [String]] = [:], body: [UInt8] = [], command: String) async throws -> Slice {
    let response: ClientResponse
    do {
        response = try await coordinatorRequest(client, method, path, parameters: parameters, body: body)
    } catch {
        InputOutput.writeStandardError("tessera \(command): \(client.endpoint) did not answer: \(error)")
        throw ExitCode(2)
    }
    guard response.status < 400, let answer = response.body else {
        let message = response.error.map { "\($0.message) (error \($0.number))" } ?? "status \(response.status)"
        InputOutput.writeStandardError("tessera \(command): \(message)")
        throw ExitCode(1)
    }
    return answer
}

/// Rows as a table: each column as wide as its widest cell, two spaces between columns.
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
    for row in all {
        var line = ""
        for (column, cell) in row.enumerated() {
            line += column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count + 2)
        }
        print(line)
    }
}

/// `tessera cluster health`: with `--plan`, whether each planned process runs and answers;
/// otherwise a coordinator's `/_admin/cluster/health` as a table (or `--json`).
struct ClusterHealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Show every agent, DBServer and coordinator with its health; exit 1 when one is not GOOD.",
        discussion: """
            Asks the coordinator at --endpoint for /_admin/cluster/health: agents with their \
            leader, DBServers and coordinators with supervision's status (GOOD, BAD, FAILED) and \
            when supervision last saw their heartbeat. With --plan FILE it checks the processes \
            of a plan instead (whether each runs and answers).
            """)

    @Option(help: "A cluster plan (as `tessera cluster plan` writes it): check its processes instead of asking a coordinator.")
    var plan: String?
    @Flag(help: "Print the coordinator's answer as JSON.")
    var json = false
    @OptionGroup var client: ClientOptions

    func run() async throws {
        if let plan {
            let launcher = ClusterLauncher(plan: try PlanFileOption.load(plan), rootPassword: nil, planPath: plan)
            let rows = await launcher.health()
            for row in rows {
                print("\(row.member.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(row.member.endpoint)  \(row.healthy ? "GOOD" : "BAD ")  \(row.detail)")
            }
            if rows.contains(where: { !$0.healthy }) { throw ExitCode(1) }
            return
        }
        let body = try await coordinatorAnswer(client, "/_admin/cluster/health", command: "cluster health")
        if json {
            printJSON(body)
        } else {
            print("cluster \(body["ClusterId"]?.stringValue ?? "?")")
            printTable(["ROLE", "ID", "NAME", "ENDPOINT", "STATUS", "LAST HEARTBEAT ACKED"], Self.rows(body))
        }
        let health = body["Health"]
        let statuses = health.map { $0.objectMembers.map { $0.value["Status"]?.stringValue ?? "" } } ?? []
        if statuses.contains(where: { $0 != "GOOD" }) { throw ExitCode(1) }
    }

    /// Agents, then DBServers, then coordinators, each sorted by short name (agents by id).
    static func rows(_ body: Slice) -> [[String]] {
        var rows: [(order: Int, name: String, row: [String])] = []
        for member in body["Health"]?.objectMembers ?? Slice(trustedBytes: [0x0a]).objectMembers {
            let id = member.key.keyName ?? "?", entry = member.value
            let role = entry["Role"]?.stringValue ?? "?"
            let order = role == "Agent" ? 0 : role == "DBServer" ? 1 : 2
            let name = role == "Agent" ? (entry["Leading"]?.boolValue == true ? "(leader)" : "") : entry["ShortName"]?.stringValue ?? ""
            rows.append((order, role == "Agent" ? id : name, [
                role, id, name, entry["Endpoint"]?.stringValue ?? "", entry["Status"]?.stringValue ?? "?",
                entry["LastHeartbeatAcked"]?.stringValue ?? "",
            ]))
        }
        return rows.sorted { ($0.order, $0.name) < ($1.order, $1.name) }.map(\.row)
    }
}

/// `tessera cluster jobs`: supervision's jobs from a coordinator, newest first; `--id N` shows
/// one job (`/_admin/cluster/queryAgencyJob`).
struct ClusterJobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List supervision's jobs (ToDo, Pending, Finished, Failed), newest first, or show one.",
        discussion: """
            Asks the coordinator at --endpoint (/_admin/cluster/jobs, Tessera's route; with --id, \
            ArangoDB's /_admin/cluster/queryAgencyJob). Each line: id, stage, type, shard or \
            server, from → to, when it was created and finished, and why it ended as it did.
            """)

    @Option(help: "Show only the job with this id.")
    var id: String?
    @Option(help: "At most this many jobs (the newest).")
    var limit: Int?
    @Flag(help: "Print the coordinator's answer as JSON.")
    var json = false
    @OptionGroup var client: ClientOptions

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        if let id {
            let body = try await coordinatorAnswer(client, "/_admin/cluster/queryAgencyJob", parameters: ["id": [id]],
                                                   command: "cluster jobs")
            if json { return printJSON(body) }
            let job = body["job"] ?? Slice(trustedBytes: [0x0a])
            print("job \(body["id"]?.stringValue ?? id): \(body["status"]?.stringValue ?? "?")")
            for member in job.objectMembers {
                guard let key = member.key.keyName else { continue }
                let value = member.value.stringValue ?? ((try? JSONDumper.dumpString(member.value)) ?? "?")
                print("  \(key): \(value)")
            }
            return
        }
        let body = try await coordinatorAnswer(client, "/_admin/cluster/jobs", parameters: limit.map { ["limit": [String($0)]] } ?? [:],
                                               command: "cluster jobs")
        if json { return printJSON(body) }
        let rows = (body["jobs"]?.arrayElements.map { $0 } ?? []).map(Self.row)
        if rows.isEmpty {
            print("no jobs")
            return
        }
        printTable(["ID", "STATUS", "TYPE", "SHARD/SERVER", "FROM → TO", "CREATED", "FINISHED", "REASON"], rows)
        if let count = body["count"]?.intValue, count > rows.count { print("(\(rows.count) of \(count) jobs; --limit shows more)") }
    }

    static func row(_ entry: Slice) -> [String] {
        let job = entry["job"] ?? Slice(trustedBytes: [0x0a])
        func text(_ key: String) -> String { job[key]?.stringValue ?? "" }
        let target = job["shard"]?.stringValue.map { shard in job["database"]?.stringValue.map { "\($0)/\(shard)" } ?? shard } ?? text("server")
        var movement = ""
        switch (job["fromServer"]?.stringValue, job["toServer"]?.stringValue) {
        case let (from?, to?): movement = from + " → " + to
        case let (from?, nil): movement = "− " + from
        case let (nil, to?): movement = "→ " + to
        case (nil, nil): break
        }
        if movement.isEmpty, let added = job["newFollowers"], added.isArray {
            movement = "+ " + added.arrayElements.compactMap(\.stringValue).joined(separator: ",")
        }
        return [entry["id"]?.stringValue ?? "?", entry["status"]?.stringValue ?? "?", text("type"), target, movement,
                text("timeCreated"), text("timeFinished"), text("reason")]
    }
}
