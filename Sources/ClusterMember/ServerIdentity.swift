import TesseraPlatform

/// A cluster server's id: made at its first start, kept in `DATA/SERVER` and the same after
/// every restart, so the agency knows it as the same server. ArangoDB's prefixes tell the
/// role: `PRMR-` DBServers, `CRDN-` coordinators, followed by a random UUID.
public struct ServerIdentity: Sendable, Equatable {
    public enum Role: String, Sendable {
        case dbserver = "PRMR"
        case coordinator = "CRDN"
    }

    public let id: String
    public let role: Role

    static let fileName = "SERVER"

    /// Loads the id from `directory`, or makes and durably stores a new one.
    ///
    /// - Throws: when the file exists but names another role or is not an id (a data
    ///   directory must not change role: its shards or its registration would be orphaned).
    public static func loadOrCreate(in directory: String, role: Role) throws(StartupError) -> ServerIdentity {
        let path = directory + "/" + fileName
        do {
            if FileIO.fileExists(path) {
                let bytes = try FileIO.readWholeFile(path, byteCountMax: 256)
                let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(whereSeparator: { $0 == "\n" || $0 == " " })
                guard text.hasPrefix(role.rawValue + "-"), text.utf8.count == role.rawValue.utf8.count + 37 else {
                    throw StartupError("\(path) holds '\(text)', not the id of a \(role == .dbserver ? "DBServer" : "coordinator")")
                }
                return ServerIdentity(id: text, role: role)
            }
            var generator = SystemRandomNumberGenerator()
            let identity = ServerIdentity(id: role.rawValue + "-" + RandomUUID.string(using: &generator), role: role)
            try FileIO.writeAtomically(Array((identity.id + "\n").utf8), to: path, directory: directory)
            return identity
        } catch let error as FileError {
            throw StartupError("cannot read or write \(path): \(error)")
        } catch let error as StartupError {
            throw error
        } catch {
            throw StartupError("\(error)")
        }
    }
}

/// A start-up fault with a message for the operator.
public struct StartupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

private extension String {
    func trimmingCharacters(whereSeparator isTrimmed: (Character) -> Bool) -> String {
        String(drop(while: isTrimmed).reversed().drop(while: isTrimmed).reversed())
    }
}
