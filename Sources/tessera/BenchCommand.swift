import ArgumentParser

/// `tessera bench …`: throughput measurements. Figures go into BENCHMARKS.md.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark and print its figures.",
        subcommands: [VersionBench.self, InsertBench.self, ReadBench.self, UpdateBench.self, MixedBench.self,
                      AgencyWriteBench.self, AgencyReadBench.self, StorageBench.self, VPackBench.self]
    )
}
