/// The errors every layer answers with, in ArangoDB's words.
extension ArangoError {
    public static func badParameter(_ message: String) -> ArangoError {
        ArangoError(status: 400, .badParameter, message)
    }
    public static func collectionNotFound(_ name: String) -> ArangoError {
        ArangoError(status: 404, .dataSourceNotFound, "collection or view not found: \(name)")
    }
    public static func documentNotFound(_ id: String) -> ArangoError {
        ArangoError(status: 404, .documentNotFound, "document not found: \(id)")
    }
    public static func forbidden(_ message: String) -> ArangoError {
        ArangoError(status: 403, .forbidden, message)
    }
    public static func internalError(_ message: String) -> ArangoError {
        ArangoError(status: 500, .internalError, message)
    }
}
