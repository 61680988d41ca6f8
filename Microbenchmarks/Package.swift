// swift-tools-version: 6.3
// Microbenchmarks of Tessera's hot paths with ordo-one/benchmark (package-benchmark), kept in
// their own package so that the product and its tests do not build the benchmark library.
// Run: scripts/bench-micro (or `swift package benchmark` in this directory).
import PackageDescription

let package = Package(
    name: "TesseraMicrobenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "tessera", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "VelocyPack", package: "tessera"),
                .product(name: "VelocyStream", package: "tessera"),
                .product(name: "Storage", package: "tessera"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
