#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs work on a thread whose stack grows with the nesting depth the work may meet.
///
/// The JSON parser, the validator and the dumper recurse once or twice per level of nesting.
/// The server keeps them shallow with a nesting limit on network input; the offline
/// `tessera vpack` tools accept files as deep as the reference tools do, so they run on a
/// thread with a stack sized for `--max-depth`. The stack is reserved address space: pages
/// are only backed by memory as deep values touch them.
enum DeepStackThread {
    /// Stack bytes reserved per level of nesting, for the deepest of the parser, the validator
    /// and the dumper (they run one after another). Measured on 100 000 alternating object and
    /// array levels: under 2.6 KiB a level in release builds, 6.5–7.8 KiB in debug builds
    /// (unoptimized frames); the debug figure is checked by `VPackCommandTests`.
    #if DEBUG
    static let stackByteCountPerLevel = 10 << 10
    #else
    static let stackByteCountPerLevel = 3 << 10
    #endif
    /// Stack bytes for everything but the nesting (argument parsing, I/O, error text).
    static let stackByteCountBase = 8 << 20

    /// The stack reserved for values nested `depth` levels deep.
    static func stackByteCount(depth: Int) -> Int {
        stackByteCountBase + depth * stackByteCountPerLevel
    }

    /// Runs `body` on a new thread with a stack for `depth` levels and waits for it; rethrows
    /// what `body` throws.
    static func run(depth: Int, _ body: @escaping () throws -> Void) throws {
        final class Work {
            let body: () throws -> Void
            var failure: (any Error)?
            init(_ body: @escaping () throws -> Void) { self.body = body }
        }
        let work = Work(body)
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        let sizeStatus = pthread_attr_setstacksize(&attributes, stackByteCount(depth: depth))
        guard sizeStatus == 0 else {
            throw InputOutput.Failure(description: "cannot reserve a stack for --max-depth \(depth): \(String(cString: strerror(sizeStatus)))")
        }
        let argument = Unmanaged.passRetained(work).toOpaque()
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t?
        #endif
        let status = pthread_create(&thread, &attributes, { argument in
            let work = Unmanaged<Work>.fromOpaque(argument!).takeRetainedValue()
            do { try work.body() } catch { work.failure = error }
            return nil
        }, argument)
        guard status == 0 else {
            Unmanaged<Work>.fromOpaque(argument).release()
            throw InputOutput.Failure(description: "cannot start a thread with a stack for --max-depth \(depth): \(String(cString: strerror(status)))")
        }
        #if canImport(Glibc)
        pthread_join(thread, nil)
        #else
        pthread_join(thread!, nil)
        #endif
        // The thread has ended: `work` is ours alone again.
        if let failure = work.failure { throw failure }
    }
}
