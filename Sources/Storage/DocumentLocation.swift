/// Where the current version of a document lives in the log.
struct DocumentLocation: Sendable, Equatable {
    var segmentOrder: UInt64
    var offset: Int
    var byteCount: Int
    var revision: UInt64
}
