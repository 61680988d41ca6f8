public import ArgumentParser
public import Logging
import TesseraPlatform

/// `--log-level` for every server command; the process log itself is `ProcessLog`.
struct LoggingOptions: ParsableArguments {
    @Option(help: "The least severe messages logged: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    /// Starts the process log for `role` and returns its main logger.
    func start(role: String) -> Logger {
        ProcessLog.bootstrap(role: role, level: logLevel)
        return ProcessLog.logger(role)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
