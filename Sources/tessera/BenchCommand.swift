import ArgumentParser

/// `tessera bench …`: throughput measurements. Figures go into BENCHMARKS.md.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark and print its figures.",
        subcommands: [VPackBench.self, StorageBench.self]
    )
}
