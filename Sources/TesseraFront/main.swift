#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VPackTool

// `tessera`: the command users type. It runs the plain forms of `tessera vpack …` itself and
// hands every other command line to `tessera-server`, the program beside it, by `execv` (same
// process id, same arguments), the way `git` hands subcommands to its helpers.
//
// Why two programs: the vpack tools are often run once per file from scripts, and a process
// of the whole server program (43 MB, Foundation, the argument parser, the cluster and
// storage code) takes about 9 ms to start before it reads a byte; this one links only
// VelocyPack and starts in about a third of that. `--help`, mistakes and every other command
// go to `tessera-server`, whose argument-parser declarations are the reference (see
// `VPackArguments`). Server commands lose nothing that matters: one `execv` before a process
// that runs for minutes or days.

/// The path of `tessera-server` beside this program (found through `/proc/self/exe`, so a
/// symbolic link to `tessera` elsewhere still finds the real directory).
func serverProgramPath() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let ownPath = count > 0 ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        : CommandLine.arguments[0]
    let directory = ownPath.lastIndex(of: "/").map { String(ownPath[..<$0]) } ?? "."
    return directory + "/tessera-server"
}

let arguments = CommandLine.arguments
if arguments.count > 1 && arguments[1] == "vpack", let job = VPackArguments.parse(Array(arguments.dropFirst(2))) {
    exit(job.run())
}
let server = serverProgramPath()
var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
argv.append(nil)
execv(server, argv)
let message = "tessera: cannot start \(server): \(String(cString: strerror(errno))) (it is built with `swift build`, next to `tessera`)\n"
_ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
exit(127)
