/// The small `tessera` program's reading of `vpack encode|decode|validate` arguments, without
/// the argument parser library (which, with the Foundation it loads, is most of a vpack run's
/// start-up).
///
/// It reads only the plain forms: the subcommand, at most one input path, and the options as
/// `--name`, `--name value`, `--name=value` or `-o value`, each at most once. Anything else —
/// `--help`, an unknown or repeated option, a missing or odd value, a second path, a value out
/// of range — gives nil, and the caller hands the whole command line to `tessera-server`,
/// whose argument-parser commands are the reference: they print the help or the exact error.
/// So this reader can make a run faster but never changes what a command line means.
public enum VPackArguments {
    /// The job `arguments` (what follows `vpack`) describe, or nil when they are not a plain form.
    public static func parse(_ arguments: [String]) -> VPackJob? {
        guard let first = arguments.first, let tool = VPackJob.Tool(rawValue: first) else { return nil }
        var job = VPackJob(tool: tool)
        var seen = Set<String>()
        var index = 1
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("-") && argument != "-" else {
                guard job.file == nil else { return nil }
                job.file = argument
                continue
            }
            var name = argument
            var attached: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                attached = String(argument[argument.index(after: equals)...])
            }
            if name == "-o" { name = "--output" }
            guard seen.insert(name).inserted else { return nil }
            // The value of an option: attached after `=`, else the next argument.
            func value() -> String? {
                if let attached { return attached.isEmpty ? nil : attached }
                guard index < arguments.count, !arguments[index].hasPrefix("-") else { return nil }
                index += 1
                return arguments[index - 1]
            }
            // A flag takes no value: `--hex=yes` is not a plain form.
            let isBare = attached == nil
            switch (tool, name) {
            case (.encode, "--output"), (.decode, "--output"):
                guard let path = value() else { return nil }
                job.output = path
            case (_, "--max-depth"):
                guard let text = value(), let depth = Int(text) else { return nil }
                job.maxDepth = depth
            case (.decode, "--unsupported"):
                guard let text = value(), let choice = VPackJob.Unsupported(rawValue: text) else { return nil }
                job.unsupported = choice
            default:
                guard let setting = Self.flag(name, of: tool), isBare else { return nil }
                job[keyPath: setting] = true
            }
        }
        return job.invalidity == nil ? job : nil
    }

    /// The setting a flag (an option without a value) turns on, for `tool`.
    static func flag(_ name: String, of tool: VPackJob.Tool) -> WritableKeyPath<VPackJob, Bool>? {
        switch (tool, name) {
        case (_, "--hex"): \.hex
        case (.encode, "--compact"): \.compact
        case (.encode, "--validate-utf8"), (.decode, "--validate-utf8"): \.validateUTF8
        case (.encode, "--reject-duplicate-keys"): \.rejectDuplicateKeys
        case (.encode, "--lines"): \.lines
        case (.decode, "--pretty"): \.pretty
        case (.decode, "--unique-keys"): \.uniqueKeys
        case (.validate, "--strict"): \.strict
        default: nil
        }
    }
}
