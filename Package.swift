// swift-tools-version: 6.1
// Tessera: a sharded, replicated document database. The targets follow the layers of
// ../shared/DESIGN.md; arrows point down only, and everything below `TesseraPlatform` is pure.
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tessera", targets: ["tessera"]),
        .executable(name: "tessera-server", targets: ["tessera-server"]),
        .library(name: "VelocyPack", targets: ["VelocyPack"]),
        .library(name: "VelocyStream", targets: ["VelocyStream"]),
        .library(name: "ArangoAPI", targets: ["ArangoAPI"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "Auth", targets: ["Auth"]),
        .library(name: "AgencyStore", targets: ["AgencyStore"]),
        .library(name: "ClusterLogic", targets: ["ClusterLogic"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // System libraries, found through pkg-config. `scripts/install-deps` installs them.
        .systemLibrary(
            name: "CLibUV", path: "Sources/CLibUV", pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(
            name: "CSnappy", path: "Sources/CSnappy", pkgConfig: "snappy",
            providers: [.apt(["libsnappy-dev"])]),
        // Debian's HTTP/1.1 parser (libhttp-parser-dev ships no pkg-config file; the module map
        // links it by name).
        .systemLibrary(
            name: "CHTTPParser", path: "Sources/CHTTPParser",
            providers: [.apt(["libhttp-parser-dev"])]),

        // Pure layer: VelocyPack values, builder, parser, dumper, validator, hashing, Codable.
        .target(name: "VelocyPack", dependencies: ["CTextScan"], swiftSettings: strictSwift),
        // The JSON parser's vector byte scan, in C for SSE2 (header-only, inlined into Swift).
        .target(name: "CTextScan"),

        // Pure layer: little-endian integers for the on-disk and wire formats (records,
        // checkpoints, the Merkle tree, the Raft disk).
        .target(name: "BinaryFormat", swiftSettings: strictSwift),

        // Pure layer: what keeps shard copies in step: the Merkle revision tree now; the sync
        // replication and resync state machines next (DESIGN.md "Replication").
        .target(name: "Replication", dependencies: ["BinaryFormat", "VelocyPack", "ArangoAPI"], swiftSettings: strictSwift),
        // One shard's replication (leader, followers, agency, network) under seeded faults.
        .target(name: "ReplicationSimulation", dependencies: ["Replication", "RaftSimulation", "Raft"], swiftSettings: strictSwift),

        // Pure layer: VelocyStream framing and ArangoDB's message headers.
        .target(name: "VelocyStream", dependencies: ["VelocyPack"], swiftSettings: strictSwift),

        // Pure layer: ArangoDB's API vocabulary: the error catalogue (`ArangoErrorCode`, every
        // number explicit and ArangoDB's), `ArangoError` and its body `{error, errorNum,
        // errorMessage, code}`, and the error entries and `x-arango-error-codes` header of batch
        // answers. It sits beside VelocyStream, not above or below it: the framing never needs
        // an error body (a broken stream is a `VSTError`; the server turns it into an
        // `ArangoError`), and an error body is VelocyPack, whatever carries it.
        .target(name: "ArangoAPI", dependencies: ["VelocyPack"], swiftSettings: strictSwift),

        // The seam to the operating system and the C libraries the impure layers build on:
        // libuv, Snappy, the HTTP/1.1 parser, file I/O (`FileIO`), CRC32C, locks (`Locked`,
        // `Monitor`), clocks.
        .target(
            name: "TesseraPlatform", dependencies: ["CLibUV", "CSnappy", "CHTTPParser", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift),

        // Pure layer: the agency's configuration tree as a Raft state machine (transactions,
        // preconditions, TTL, client ids, poll history, observers, snapshots).
        .target(name: "AgencyStore", dependencies: ["VelocyPack"], swiftSettings: strictSwift),

        // Pure layer: the decisions the cluster roles call: the agency layout and transaction
        // bodies, the Plan/Current model, shard placement and routing, the Maintenance diff and
        // health classification (`Protocol/Cluster.md`).
        .target(name: "ClusterLogic", dependencies: ["ArangoAPI", "VelocyPack"], swiftSettings: strictSwift),

        // Pure layer: the agency's supervision: server health from heartbeats and the jobs
        // that repair failures (FailedServer, FailedLeader, FailedFollower, AddFollower,
        // RemoveFollower), run by the agency leader's node core.
        .target(
            name: "Supervision", dependencies: ["AgencyCore", "AgencyStore", "ClusterLogic", "Raft", "VelocyPack"],
            swiftSettings: strictSwift),

        // Pure layer: Raft consensus as a state machine (messages and ticks in, actions out) and
        // the VelocyPack encoding of its messages.
        .target(name: "Raft", dependencies: ["VelocyPack"], swiftSettings: strictSwift),

        // Pure layer: one agency member as a state machine: Raft node, agency store, waiting
        // writes, reads and polls, TTL expiry, observers, snapshot policy, supervision slot.
        .target(
            name: "AgencyCore", dependencies: ["Raft", "AgencyStore", "VelocyPack"],
            swiftSettings: strictSwift),

        // An agent's durable Raft state: checksummed log segments, the hard state and the
        // snapshot, with crash recovery (`Protocol/AgentStorage.md`).
        .target(
            name: "AgentStorage", dependencies: ["Raft", "BinaryFormat", "TesseraPlatform"],
            swiftSettings: strictSwift),

        // Test support: a deterministic simulator that runs a Raft group in one thread with a
        // simulated network, disks, crashes and clients, all from one seed, and checks safety
        // and liveness after every step. Used by RaftTests and by `raft-simulate`.
        .target(name: "RaftSimulation", dependencies: ["Raft"], swiftSettings: strictSwift),

        // Test support: the whole-agency simulator: agency node cores (Raft, store, TTL,
        // observers, snapshots) with clients, faults and checkers, all from one seed. Used by
        // AgencyCoreTests and by `raft-simulate --mode agency`.
        .target(
            name: "AgencySimulation", dependencies: ["AgencyCore", "AgencyStore", "ClusterLogic", "Supervision", "Raft", "RaftSimulation", "VelocyPack"],
            swiftSettings: strictSwift),

        // Runs the Raft or the agency simulator over random seeds for as long as asked.
        .executableTarget(
            name: "raft-simulate",
            dependencies: ["RaftSimulation", "AgencySimulation", "ReplicationSimulation", "Raft", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/RaftSimulate",
            swiftSettings: strictSwift),

        // The libuv event loop: loop thread, timers, TCP, and an executor for Swift concurrency.
        .target(name: "Transport", dependencies: ["CLibUV", "TesseraPlatform"], swiftSettings: strictSwift),

        // Pure layer: the supported subset of AQL (parse, bind, evaluate over documents).
        .target(name: "Query", dependencies: ["ArangoAPI", "VelocyPack"], swiftSettings: strictSwift),

        // The VelocyStream request server: connections, authentication, routing; answers
        // with `ArangoAPI`'s error bodies.
        .target(
            name: "Server", dependencies: ["Transport", "TesseraPlatform", "ArangoAPI", "VelocyStream", "VelocyPack", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift),

        // The Swift client driver: multiplexed connections, a small pool, async/await.
        .target(
            name: "Client", dependencies: ["Transport", "TesseraPlatform", "ArangoAPI", "VelocyStream", "VelocyPack"],
            swiftSettings: strictSwift),

        // Databases, collections and documents with ArangoDB's semantics over shard engines;
        // query execution and cursors. Shared by every role that stores documents.
        .target(
            name: "Documents", dependencies: ["Storage", "Query", "ArangoAPI", "VelocyPack", "TesseraPlatform", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift),

        // The document REST API (databases, collections, documents, indexes, cursors) and the
        // admin routes every server has; the single server and DBServers serve it.
        .target(
            name: "RESTRoutes", dependencies: ["Users", "Documents", "Storage", "Server", "ArangoAPI", "TesseraPlatform", "VelocyStream", "VelocyPack"],
            swiftSettings: strictSwift),

        // User accounts, grants and tokens, and `/_api/user`, over a store the role supplies
        // (the single server's `_users` collection, the coordinators' agency).
        .target(
            name: "Users", dependencies: ["Auth", "Server", "ArangoAPI", "TesseraPlatform", "VelocyStream", "VelocyPack"],
            swiftSettings: strictSwift),

        // What every cluster member shares: its identity, the agency cache, registration and
        // heartbeats, and the authenticator for cluster tokens.
        .target(
            name: "ClusterMember", dependencies: ["ClusterLogic", "AgencyStore", "Auth", "Client", "Server", "Transport", "TesseraPlatform", "VelocyStream", "VelocyPack"],
            swiftSettings: strictSwift),

        // The DBServer role: holds shards, runs Maintenance against Plan, reports to Current.
        .target(
            name: "DBServerRole", dependencies: ["ClusterMember", "RESTRoutes", "ClusterLogic", "Documents", "Storage", "Replication", "Client", "Server", "Transport", "TesseraPlatform", "ArangoAPI", "VelocyStream", "VelocyPack"],
            swiftSettings: strictSwift),

        // The coordinator role: routes documents to shards, gathers queries, keeps databases,
        // collections, indexes and users in the agency.
        .target(
            name: "CoordinatorRole", dependencies: ["ClusterMember", "RESTRoutes", "Users", "ClusterLogic", "Supervision", "Documents", "Query", "Auth", "Client", "Server", "Transport", "TesseraPlatform", "ArangoAPI", "VelocyStream", "VelocyPack"],
            swiftSettings: strictSwift),

        // The single server: the document REST API and users over one local store.
        .target(
            name: "SingleServerRole", dependencies: ["RESTRoutes", "Users", "Documents", "Storage", "Auth", "Server", "Transport", "TesseraPlatform", "ArangoAPI", "VelocyStream", "VelocyPack"],
            swiftSettings: strictSwift),

        // The agent role: one agency member, a thin driver (loop, timers, disk, peers) of the
        // pure AgencyCore.
        .target(
            name: "AgentRole", dependencies: ["AgencyCore", "ClusterMember", "AgencyStore", "Raft", "Server", "Client", "Transport", "TesseraPlatform", "ArangoAPI", "VelocyStream", "VelocyPack"],
            swiftSettings: strictSwift),

        // The shard engine: append-only Snappy-compressed log segments, primary and persistent
        // indexes, the shard's Merkle revision tree (kept in step with every write), group
        // commit, checkpoints, recovery and compaction.
        .target(
            name: "Storage", dependencies: ["ArangoAPI", "VelocyPack", "BinaryFormat", "Replication", "TesseraPlatform", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift),

        // Passwords (salted PBKDF2 hashes and a cache of verified logins), HS256 JSON Web Tokens
        // for clients and for cluster-internal traffic, and the cluster's shared secret file.
        .target(
            name: "Auth",
            dependencies: [
                "VelocyPack", "TesseraPlatform",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSwift),

        // The one executable.
        // The offline VelocyPack tools' work (`tessera vpack`) and file input and output, shared
        // by both programs below; no argument parser, so the small one starts fast.
        .target(name: "VPackTool", dependencies: ["VelocyPack"], swiftSettings: strictSwift),

        // `tessera`: the command users type; runs `vpack` itself (small, starts fast) and
        // hands every other command to `tessera-server` beside it.
        .executableTarget(
            name: "tessera",
            dependencies: ["VPackTool"],
            path: "Sources/TesseraFront",
            swiftSettings: strictSwift),

        // `tessera-server`: every role and command (`tessera single|start|agent|…`).
        .executableTarget(
            name: "tessera-server",
            dependencies: [
                "VPackTool", "VelocyPack", "VelocyStream", "ArangoAPI", "TesseraPlatform", "Transport", "Server", "Client", "AgentRole", "ClusterMember", "RESTRoutes", "Users", "DBServerRole", "CoordinatorRole", "SingleServerRole", "Storage", "CSnappy",
                "Auth", "AgentStorage", "Raft", "Supervision",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/tessera",
            swiftSettings: strictSwift),

        // A seeded random generator shared by the test suites.
        .target(name: "TestRandomness", path: "Tests/TestRandomness", swiftSettings: strictSwift),
        // Reads the golden-vector files for the suites that walk them.
        .target(name: "VectorFileSupport", path: "Tests/VectorFileSupport", swiftSettings: strictSwift),
        // Finds the built `tessera` and runs it for the suites that need a real process.
        .target(name: "TesseraProcessSupport", path: "Tests/TesseraProcessSupport", swiftSettings: strictSwift),
        .testTarget(
            name: "VelocyPackTests", dependencies: ["VelocyPack", "CTextScan", "VectorFileSupport"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "VelocyStreamTests", dependencies: ["VelocyStream", "VelocyPack", "VectorFileSupport"],
            swiftSettings: strictSwift),
        // The error catalogue against ArangoDB's list, error bodies against the golden vectors.
        .testTarget(
            name: "ArangoAPITests", dependencies: ["ArangoAPI", "VelocyPack", "VectorFileSupport"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "TransportTests", dependencies: ["Transport", "TesseraPlatform"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "TesseraPlatformTests", dependencies: ["TesseraPlatform"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "AuthTests",
            dependencies: ["Auth", "VelocyPack", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSwift),
        .testTarget(
            name: "AgencyStoreTests", dependencies: ["AgencyStore", "VelocyPack"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "ClusterLogicTests", dependencies: ["ArangoAPI", "ClusterLogic", "AgencyStore", "VelocyPack"],
            swiftSettings: strictSwift),
        .testTarget(name: "QueryTests", dependencies: ["Query", "VelocyPack"], swiftSettings: strictSwift),
        .testTarget(
            name: "ServerTests", dependencies: ["Server", "Client", "Transport", "TesseraPlatform", "ArangoAPI", "VelocyStream", "VelocyPack"],
            swiftSettings: strictSwift),
        // Starts real `tessera single` processes on loopback and drives them with the client
        // driver and with raw sockets (depends on the executable for build order).
        .testTarget(
            name: "ServerIntegrationTests", dependencies: ["tessera", "tessera-server", "TesseraProcessSupport", "TestRandomness", "Auth", "Replication", "DBServerRole", "Documents", "Client", "Server", "AgentRole", "ClusterMember", "ClusterLogic", "Transport", "TesseraPlatform", "ArangoAPI", "VelocyStream", "VelocyPack"],
            swiftSettings: strictSwift),
        // The storage suite also runs `tessera debug storage-writer` as a real process for the
        // crash tests (depends on it for build order).
        .testTarget(
            name: "StorageTests", dependencies: ["ArangoAPI", "TesseraProcessSupport", "TestRandomness", "Storage", "Replication", "VelocyPack", "TesseraPlatform", "tessera", "tessera-server"],
            swiftSettings: strictSwift),
        // Checks the layering on the sources: pure targets import only what is beneath them.
        .testTarget(name: "ArchitectureTests", swiftSettings: strictSwift),
        // The documents layer without a server: collections, keys, revisions, acknowledgement.
        .testTarget(
            name: "DocumentsTests", dependencies: ["Documents", "Storage", "VelocyPack"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "ReplicationTests", dependencies: ["Replication", "ReplicationSimulation", "Raft", "TestRandomness", "VectorFileSupport", "VelocyPack"],
            swiftSettings: strictSwift),
        // The agency node core's claims, and the agency simulator over a fixed list of seeds.
        .testTarget(
            name: "AgencyCoreTests", dependencies: ["RaftSimulation", "AgencyCore", "AgencySimulation", "AgencyStore", "Raft", "VelocyPack", "Supervision"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "SupervisionTests", dependencies: ["Supervision", "AgencyCore", "AgencyStore", "ClusterLogic", "Raft", "VelocyPack"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "RaftTests", dependencies: ["Raft", "RaftSimulation", "VelocyPack"],
            swiftSettings: strictSwift),
        // Also runs `tessera debug raft-disk-writer` as a real process for the crash test
        // (depends on it for build order).
        .testTarget(
            name: "AgentStorageTests", dependencies: ["TesseraProcessSupport", "AgentStorage", "Raft", "tessera", "tessera-server"],
            swiftSettings: strictSwift),
        // Runs the built `tessera` executable as a user would (depends on it for build order).
        .testTarget(
            name: "TesseraCLITests", dependencies: ["TesseraProcessSupport", "tessera", "tessera-server"],
            swiftSettings: strictSwift),
    ],
    swiftLanguageModes: [.v6]
)
