import Foundation
import Testing

/// The layering of ARCHITECTURE.md, checked on the sources: every target below the platform
/// line is pure (it imports only the pure targets beneath it and calls nothing that does I/O,
/// reads a clock or draws global randomness), and every target in `Sources/` is classified,
/// so a new one has to say which side of the line it is on.
@Suite("Layering")
struct LayeringTests {
    /// Pure targets and the modules each may import.
    static let pureTargets: [String: Set<String>] = [
        // CTextScan: the parser's SSE2 byte scan in C (header-only, no I/O); listed with the
        // C targets below because it has no Swift files to check.
        "VelocyPack": ["CTextScan"],
        "BinaryFormat": [],
        "Replication": ["BinaryFormat", "VelocyPack", "ArangoAPI"],
        "VelocyStream": ["VelocyPack"],
        "ArangoAPI": ["VelocyPack"],
        "AgencyStore": ["VelocyPack"],
        "ClusterLogic": ["ArangoAPI", "VelocyPack"],
        "Raft": ["VelocyPack"],
        "Query": ["ArangoAPI", "VelocyPack"],
        "RaftSimulation": ["Raft", "VelocyPack"],
        "ReplicationSimulation": ["Replication", "RaftSimulation", "Raft"],
        "AgencyCore": ["Raft", "AgencyStore", "VelocyPack"],
        "Supervision": ["AgencyCore", "AgencyStore", "ClusterLogic", "Raft", "VelocyPack"],
        "AgencySimulation": ["AgencyCore", "AgencyStore", "ClusterLogic", "Supervision", "Raft", "RaftSimulation", "VelocyPack"],
    ]

    /// Targets that drive the pure cores (I/O, the loop, the disk, processes).
    static let driverTargets: Set<String> = [
        "TesseraPlatform", "CLibUV", "CSnappy", "CHTTPParser", "Transport", "Server", "Client", "Storage", "AgentStorage",
        "Auth", "Documents", "AgentRole", "tessera", "RaftSimulate", "RESTRoutes", "Users", "ClusterMember", "DBServerRole",
        "CoordinatorRole", "SingleServerRole", "CTextScan", "VPackTool", "TesseraFront",
    ]

    /// Pure C functions of the C library a pure target may use, by file (no I/O, no clock):
    /// the JSON parser's `strtod` and `memchr`.
    static let libcAllowed: Set<String> = ["VelocyPack/JSONParser.swift", "VelocyPack/JSONParser+Number.swift"]

    /// Calls that do I/O, read a clock, block, or draw randomness no seed decides.
    static let forbiddenCalls = [
        "clock_gettime", "gettimeofday", "Date()", "DispatchQueue", "pthread_", "SystemRandomNumberGenerator",
        "FileManager", "FileHandle", "fopen", "pread", "pwrite", "fsync", "fdatasync", "usleep", "nanosleep",
        "ProcessInfo", "getenv", "randomElement()", "shuffled()",
    ]

    static var sources: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
    }

    static func swiftFiles(in target: String) -> [URL] {
        let directory = sources.appendingPathComponent(target)
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
            .sorted { $0.path < $1.path }
    }

    /// The modules a file imports.
    static func imports(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ").map(String.init)
            guard let position = words.firstIndex(of: "import"), position + 1 < words.count,
                  words[..<position].allSatisfy({ ["public", "package", "internal", "@testable", "@_exported", "@preconcurrency"].contains($0) })
            else { return nil }
            return words[position + 1]
        }
    }

    @Test("every target in Sources is classified as pure or driver")
    func everyTargetClassified() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path).filter { !$0.hasPrefix(".") }
        #expect(!names.isEmpty)
        for name in names.sorted() {
            #expect(Self.pureTargets[name] != nil || Self.driverTargets.contains(name),
                    "Sources/\(name) is neither a pure target nor a driver in LayeringTests: classify it")
        }
    }

    @Test("pure targets import only the pure targets beneath them", arguments: pureTargets.keys.sorted())
    func pureImports(target: String) throws {
        let allowed = Self.pureTargets[target]!
        let files = Self.swiftFiles(in: target)
        #expect(!files.isEmpty, "no sources in \(target)")
        for file in files {
            let relative = target + "/" + file.lastPathComponent
            for module in Self.imports(try String(contentsOf: file, encoding: .utf8)) {
                let libc = (module == "Glibc" || module == "Darwin") && Self.libcAllowed.contains(relative)
                #expect(allowed.contains(module) || libc, "\(relative) imports \(module); \(target) may import only \(allowed.sorted())")
            }
        }
    }

    @Test("pure targets do no I/O, read no clock and draw no unseeded randomness", arguments: pureTargets.keys.sorted())
    func pureCalls(target: String) throws {
        for file in Self.swiftFiles(in: target) {
            let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            for (number, line) in lines.enumerated() {
                let code = line.trimmingCharacters(in: .whitespaces)
                if code.hasPrefix("//") { continue }
                for call in Self.forbiddenCalls where code.contains(call) {
                    Issue.record("\(target)/\(file.lastPathComponent):\(number + 1) uses \(call)")
                }
                // `Int.random(in:)` and friends only with a generator passed in.
                if code.contains(".random(in:") && !code.contains("using:") {
                    Issue.record("\(target)/\(file.lastPathComponent):\(number + 1) draws randomness without `using:`")
                }
            }
        }
    }
}
