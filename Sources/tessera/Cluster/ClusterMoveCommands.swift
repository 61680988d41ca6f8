import ArgumentParser
import Client
import ClusterLogic
import Foundation
import VelocyPack
import VelocyStream
import VPackTool

/// What every moving command shares: wait for the jobs with a progress bar, or not.
struct JobWaitOptions: ParsableArguments {
    @Flag(help: "Return once the job is created instead of waiting for it.")
    var noWait = false
    @Option(help: "Give up waiting after this many seconds (the job goes on).")
    var waitTimeout: Double = 3600
}

/// Sends a POST/PUT with a VelocyPack body and returns the answer's body (status < 400);
/// prints the error and exits otherwise.
func coordinatorCall(_ client: ClientOptions, _ method: RequestMethod, _ path: String, command: String,
                     body: (inout Builder) -> Void) async throws -> Slice {
    try await coordinatorAnswer(client, method: method, path, body: vpackBytes(body), command: command)
}

/// Follows jobs to their end (`/_admin/cluster/jobProgress`), drawing one progress line:
/// moves done, documents and bytes copied, the copy rate, and an estimate of the time left.
/// Exits 1 when a job failed, 3 when the wait timed out (the jobs go on).
func followJobs(_ ids: [String], client: ClientOptions, wait: JobWaitOptions, command: String) async throws {
    guard !ids.isEmpty else { return }
    let started = Date()
    let terminal = InputOutput.standardErrorIsTerminal
    var lastPrinted = Date.distantPast
    var bytesSeen: UInt64 = 0, documentsSeen: UInt64 = 0
    var finished: [String: (status: String, reason: String?, failedMoves: [String])] = [:]
    // Each job's last figures; a job that ended is not asked again.
    var figures: [String: (movesDone: Int, movesTotal: Int, documents: UInt64, bytes: UInt64, toCopy: UInt64)] = [:]
    while Date().timeIntervalSince(started) < wait.waitTimeout {
        for id in ids where finished[id] == nil {
            let body = try await coordinatorAnswer(client, "/_admin/cluster/jobProgress", parameters: ["id": [id]], command: command)
            let moves = body["moves"]
            figures[id] = (movesDone: Int((moves?["Finished"]?.intValue ?? 0) + (moves?["Failed"]?.intValue ?? 0)),
                           movesTotal: Int(moves?["total"]?.intValue ?? 0),
                           documents: body["documentsCopied"]?.uintValue ?? 0, bytes: body["bytesCopied"]?.uintValue ?? 0,
                           toCopy: body["documentsToCopy"]?.uintValue ?? 0)
            if let status = body["status"]?.stringValue, status == "Finished" || status == "Failed" {
                finished[id] = (status, body["reason"]?.stringValue, body["failedMoves"]?.arrayElements.compactMap(\.stringValue) ?? [])
            }
        }
        let all = figures.values
        let movesDone = all.reduce(0) { $0 + $1.movesDone }, movesTotal = all.reduce(0) { $0 + $1.movesTotal }
        let documents = all.reduce(0) { $0 + $1.documents }, bytes = all.reduce(0) { $0 + $1.bytes }
        let toCopy = all.reduce(0) { $0 + $1.toCopy }
        // A finished copy's resync leaves the status when its target leads; keep the highest seen.
        bytesSeen = max(bytesSeen, bytes)
        documentsSeen = max(documentsSeen, documents)
        let elapsed = max(0.001, Date().timeIntervalSince(started))
        let rate = Double(bytesSeen) / elapsed
        var eta = "?"
        if toCopy > documentsSeen, documentsSeen > 0 {
            eta = "\(Int((Double(toCopy - documentsSeen) / (Double(documentsSeen) / elapsed)).rounded())) s"
        } else if movesDone > 0, movesTotal > movesDone {
            eta = "\(Int((elapsed / Double(movesDone) * Double(movesTotal - movesDone)).rounded())) s"
        } else if movesTotal > 0, movesDone == movesTotal {
            eta = "0 s"
        }
        let width = 24
        let filled = movesTotal == 0 ? 0 : width * movesDone / movesTotal
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = "[\(bar)] \(movesDone)/\(movesTotal) moves  \(documentsSeen) documents  \(megabytes(bytesSeen)) copied  \(megabytes(UInt64(rate)))/s  ETA \(eta)"
        let done = finished.count == ids.count
        if terminal {
            // \r and "erase line" (ESC [K): a shorter line leaves nothing of the last one.
            try? InputOutput.writeAll(Array(("\r\u{1b}[K" + line + (done ? "\n" : "")).utf8), to: STDERR_FILENO)
        } else if done || Date().timeIntervalSince(lastPrinted) >= 2 {
            InputOutput.writeStandardError(line)
            lastPrinted = Date()
        }
        if done {
            var failed = false
            for id in ids {
                guard let result = finished[id] else { continue }
                print("job \(id): \(result.status)\(result.reason.map { " (\($0))" } ?? "")")
                for move in result.failedMoves { print("  failed move: \(move)") }
                if result.status == "Failed" { failed = true }
            }
            if failed { throw ExitCode(1) }
            return
        }
        try? await Task.sleep(for: .milliseconds(500))
    }
    InputOutput.writeStandardError("\ntessera \(command): still running after \(Int(wait.waitTimeout)) s; `tessera cluster jobs` shows them")
    throw ExitCode(3)
}

func megabytes(_ bytes: UInt64) -> String {
    String(format: "%.1f MB", Double(bytes) / 1_000_000)
}

/// `tessera cluster move-shard`: one MoveShard job.
struct ClusterMoveShardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move-shard",
        abstract: "Move a copy of a shard to another DBServer (the leader's: with a hand-over), and wait for it.",
        discussion: """
            Creates a MoveShard job (POST /_admin/cluster/moveShard). Moving the leader to a \
            server that already holds an in-sync copy switches leadership and keeps the old \
            leader as follower; to any other server the new copy is resynced first, then the \
            leadership is handed over (writes pause for well under a second) and the old copy \
            dropped. Servers may be given by id or short name.
            """)

    @Option(help: "The database.") var database = "_system"
    @Option(help: "The collection (name or id).") var collection: String
    @Option(help: "The shard (s<id>).") var shard: String
    @Option(help: "The DBServer the copy leaves.") var from: String
    @Option(help: "The DBServer the copy goes to.") var to: String
    @Option(help: "After a leader move, keep the old leader as a follower (true/false; default: only when --to already held a copy).")
    var remainsFollower: Bool?
    @OptionGroup var wait: JobWaitOptions
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let body = try await coordinatorCall(client, .post, "/_admin/cluster/moveShard", command: "cluster move-shard") { builder in
            builder.openObject()
            builder.add(key: "database", database)
            builder.add(key: "collection", collection)
            builder.add(key: "shard", shard)
            builder.add(key: "fromServer", from)
            builder.add(key: "toServer", to)
            if let remainsFollower { builder.add(key: "remainsFollower", remainsFollower) }
            builder.closeTrusted()
        }
        let id = body["id"]?.stringValue ?? "?"
        print("job \(id) created: \(shard) \(from) → \(to)")
        if !wait.noWait { try await followJobs([id], client: client, wait: wait, command: "cluster move-shard") }
    }
}

/// `tessera cluster clean-out` and `tessera cluster resign`: a job for a whole server.
struct ClusterServerJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean-out",
        abstract: "Move every copy off a DBServer (it then gets no new copies), and wait for it.",
        discussion: """
            Creates a CleanOutServer job (POST /_admin/cluster/cleanOutServer): one move per \
            copy the server holds, each to the usable DBServer with the fewest copies. When it \
            finished, the server holds nothing; stop it, and once supervision sees it FAILED, \
            `POST /_admin/cluster/removeServer` forgets it.
            """)

    @Argument(help: "The DBServer (id or short name).") var server: String
    @OptionGroup var wait: JobWaitOptions
    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await Self.run(path: "/_admin/cluster/cleanOutServer", server: server, wait: wait, client: client, command: "cluster clean-out")
    }

    static func run(path: String, server: String, wait: JobWaitOptions, client: ClientOptions, command: String) async throws {
        let body = try await coordinatorCall(client, .post, path, command: command) { builder in
            builder.openObject()
            builder.add(key: "server", server)
            builder.closeTrusted()
        }
        let id = body["id"]?.stringValue ?? "?"
        print("job \(id) created for \(server)")
        if !wait.noWait { try await followJobs([id], client: client, wait: wait, command: command) }
    }
}

struct ClusterResignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resign",
        abstract: "Hand every leadership of a DBServer to in-sync followers (before a maintenance restart), and wait.",
        discussion: """
            Creates a ResignLeadership job (POST /_admin/cluster/resignLeadership): each shard \
            the server leads is handed to a GOOD in-sync follower; the server stays a follower. \
            Shards with no in-sync follower are left as they are (the job's log says which).
            """)

    @Argument(help: "The DBServer (id or short name).") var server: String
    @OptionGroup var wait: JobWaitOptions
    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await ClusterServerJobCommand.run(path: "/_admin/cluster/resignLeadership", server: server, wait: wait, client: client,
                                              command: "cluster resign")
    }
}

/// `tessera cluster rebalance`: shows the planner's moves; with `--execute` carries out
/// exactly those moves and waits for them.
struct ClusterRebalanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebalance",
        abstract: "Show how shards and leaders would be evened out over the DBServers; --execute carries it out.",
        discussion: """
            Asks the coordinator for a rebalance plan (POST /_admin/cluster/rebalance): moves \
            that even out copies (by count, then bytes) and leaders, never two copies of a shard \
            on one server, at most --max-moves. Prints the moves and the spread before and after. \
            With --execute the same moves become MoveShard jobs (POST \
            /_admin/cluster/rebalance/execute) and the command waits for them.
            """)

    @Option(help: "At most this many moves.") var maxMoves = 50
    @Flag(help: "Carry the plan out.") var execute = false
    @Flag(help: "Print the plan as JSON.") var json = false
    @OptionGroup var wait: JobWaitOptions
    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard (1...1000).contains(maxMoves) else { throw ValidationError("--max-moves must be in 1...1000") }
    }

    func run() async throws {
        let plan = try await coordinatorCall(client, .post, "/_admin/cluster/rebalance", command: "cluster rebalance") { builder in
            builder.openObject()
            builder.add(key: "maximumNumberOfMoves", maxMoves)
            builder.closeTrusted()
        }
        if json { printJSON(plan) } else { Self.show(plan) }
        let moves = plan["moves"]?.arrayElements.map { $0 } ?? []
        guard execute, !moves.isEmpty else {
            if !execute && !moves.isEmpty { print("(run again with --execute to carry out these \(moves.count) moves)") }
            return
        }
        let answer = try await coordinatorCall(client, .post, "/_admin/cluster/rebalance/execute", command: "cluster rebalance") { builder in
            builder.openObject()
            builder.add(key: "moves")
            builder.openArray()
            for move in moves { builder.add(move) }
            builder.closeTrusted()
            builder.closeTrusted()
        }
        let ids = answer["jobs"]?.arrayElements.compactMap(\.stringValue) ?? []
        print("jobs \(ids.joined(separator: ", ")) created")
        if !wait.noWait { try await followJobs(ids, client: client, wait: wait, command: "cluster rebalance") }
    }

    static func show(_ plan: Slice) {
        let moves = plan["moves"]?.arrayElements.map { $0 } ?? []
        if moves.isEmpty {
            print("balanced: no move would even out copies or leaders further")
        } else {
            printTable(["SHARD", "COLLECTION", "KIND", "FROM → TO"], moves.map { move in
                [move["shard"]?.stringValue ?? "?", "\(move["database"]?.stringValue ?? "?")/\(move["collection"]?.stringValue ?? "?")",
                 move["kind"]?.stringValue == "switchLeader" ? "leadership" : move["isLeader"]?.boolValue == true ? "leader copy" : "follower copy",
                 "\(move["from"]?.stringValue ?? "?") → \(move["to"]?.stringValue ?? "?")"]
            })
        }
        for side in ["before", "after"] {
            guard let spread = plan[side], let servers = spread["servers"] else { continue }
            print("\(side): mean \(String(format: "%.2f", spread["meanCopies"]?.doubleValue ?? 0)) copies, \(String(format: "%.2f", spread["meanLeaders"]?.doubleValue ?? 0)) leaders per server")
            printTable(["  SERVER", "COPIES", "LEADERS", "BYTES"], servers.objectMembers.map { member in
                ["  " + (member.key.keyName ?? "?"), "\(member.value["copies"]?.intValue ?? 0)", "\(member.value["leaders"]?.intValue ?? 0)",
                 megabytes(member.value["bytes"]?.uintValue ?? 0)]
            })
        }
    }
}
