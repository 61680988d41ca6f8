public import Server
package import VelocyPack
package import ArangoAPI
package import VelocyStream

/// Routes every role serves: the version, and ArangoDB's `/_admin/echo` and `/_admin/sleep`
/// (drivers and tests use them to see what arrived and to hold a request open).
public enum AdminHandlers {
    /// What `GET /_api/version` reports.
    public struct VersionInfo: Sendable {
        public var server = "tessera"
        public var version: String
        public var license = "Apache-2.0"

        public init(version: String) { self.version = version }
    }

    /// The longest `/_admin/sleep` accepted, so a request cannot hold a connection forever.
    public static let sleepSecondsMax = 300.0

    public static func register(in router: inout Router, version: VersionInfo) {
        // The answer never changes, so it is encoded once.
        var builder = Builder()
        builder.openObject()
        builder.add(key: "server", version.server)
        builder.add(key: "version", version.version)
        builder.add(key: "license", version.license)
        try! builder.close()  // three distinct keys
        let versionBody = builder.bytes
        router.add(.get, "/_api/version") { _ in ServerResponse(status: 200, body: versionBody) }

        for method in [RequestMethod.get, .post, .put, .patch, .delete] {
            router.add(method, "/_admin/echo") { request in ServerResponse(status: 200, echo(request)) }
        }
        router.addAsync(.get, "/_admin/sleep") { request throws(ArangoError) in
            let text = request.parameter("duration") ?? "0"
            guard let seconds = Double(text), seconds >= 0, seconds <= sleepSecondsMax else {
                throw ArangoError(status: 400, .httpBadParameter,
                                  "duration must be a number of seconds in 0...\(Int(sleepSecondsMax))")
            }
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            var builder = Builder()
            builder.openObject()
            builder.add(key: "duration", seconds)
            try! builder.close()  // one key
            return ServerResponse(status: 200, builder)
        }
    }

    /// What the server understood of a request.
    static func echo(_ request: ServerRequest) -> Builder {
        var builder = Builder()
        builder.openObject()
        builder.add(key: "requestType", request.method.description)
        builder.add(key: "database", request.database)
        builder.add(key: "path", request.path)
        if let user = request.user { builder.add(key: "user", user) } else { builder.add(key: "user"); builder.addNull() }
        builder.add(key: "parameters")
        builder.openObject()
        for (name, values) in request.header.parameters.sorted(by: { $0.key < $1.key }) {
            builder.add(key: name, values.joined(separator: ","))
        }
        try! builder.close()  // dictionary keys are distinct
        builder.add(key: "headers")
        builder.openObject()
        for (name, value) in request.header.meta.sorted(by: { $0.key < $1.key }) { builder.add(key: name, value) }
        try! builder.close()  // dictionary keys are distinct
        builder.add(key: "requestBody")
        if let body = request.body { builder.add(body) } else { builder.addNull() }
        try! builder.close()  // the keys above are distinct
        return builder
    }
}
