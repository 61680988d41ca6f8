package import ArangoAPI
package import VelocyPack

/// Builds the common answer shape `{…, "error": false, "code": N}`.
package func answer(_ status: Int, meta: [String: String] = [:], _ fill: (inout Builder) -> Void) -> ServerResponse {
    var builder = Builder()
    builder.openObject()
    fill(&builder)
    builder.add(key: "error", false)
    builder.add(key: "code", status)
    builder.closeTrusted()
    return ServerResponse(status: status, meta: meta, body: builder.bytes)
}

/// A response whose body is `slice`'s value.
package func answer(_ status: Int, meta: [String: String] = [:], body slice: Slice) -> ServerResponse {
    ServerResponse(status: status, meta: meta, body: Array(slice.bytes))
}

/// Runs `work` and turns a thrown error into its response (for offloaded work, which must
/// return a response).
package func responding(_ work: () throws(ArangoError) -> ServerResponse) -> ServerResponse {
    do { return try work() } catch { return ServerResponse(error) }
}
