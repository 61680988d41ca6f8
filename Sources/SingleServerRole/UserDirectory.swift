public import Auth
public import Documents
package import Storage
import TesseraPlatform
package import VelocyPack
public import ArangoAPI
package import VelocyStream
public import RESTRoutes
public import Users

/// The users of a single server, kept in the `_users` system collection of `_system` (one
/// document per user, keyed by name, written with `waitForSync`) and mirrored in memory.
public final class UserDirectory: UserAccounts {
    public static let collectionName = "_users"

    let store: DocumentStore
    let collection: DocumentCollection
    public let tokenSecret: [UInt8]
    public let verifiedPasswords = VerifiedPasswordCache()
    let users: Locked<[String: UserRecord]>
    /// Serializes changes, so the disk and the memory copy change in the same order.
    let changes = Locked(())
    let now: @Sendable () -> Double
    public let authenticationEnabled: Bool

    /// Opens (creating when missing) the `_users` collection and loads every user.
    public init(store: DocumentStore, tokenSecret: [UInt8], authenticationEnabled: Bool,
                now: @escaping @Sendable () -> Double) throws(ArangoError) {
        self.authenticationEnabled = authenticationEnabled
        self.store = store
        self.tokenSecret = tokenSecret
        self.now = now
        let collection: DocumentCollection
        do {
            collection = try store.collection(Self.collectionName, in: "_system")
        } catch where error.code == .dataSourceNotFound {
            var settings = DocumentStore.CollectionSettings(name: Self.collectionName)
            settings.allowSystemName = true
            settings.waitForSync = true
            collection = try store.createCollection(settings, in: "_system")
        }
        self.collection = collection
        var loaded: [String: UserRecord] = [:]
        var after: String?
        while true {
            let page: [StoredDocument]
            do { page = try collection.engine.documentsInKeyOrder(after: after, limit: 1024) } catch {
                throw ArangoError(error, collection: Self.collectionName)
            }
            for stored in page {
                let user = try UserRecord(decoding: stored.document)
                loaded[user.name] = user
            }
            guard let last = page.last, page.count == 1024 else { break }
            after = last.key
        }
        users = Locked(loaded)
    }

    public func user(_ name: String) -> UserRecord? { users.withLock { $0[name] } }
    public var all: [UserRecord] { users.withLock { Array($0.values) }.sorted { $0.name < $1.name } }
    public func currentTime() -> Double { now() }
    public func databaseExists(_ database: String) -> Bool { store.databaseExists(database) }

    // The primitives write to disk synchronously (a sync per change): user changes are rare.

    public func insert(_ record: UserRecord) async throws(ArangoError) {
        try changes.withLock { (_) throws(ArangoError) in
            guard user(record.name) == nil else { throw UserRecord.duplicate(record.name) }
            _ = try collection.insert(record.document, options: Self.durable)
            users.withLock { $0[record.name] = record }
        }
    }

    public func update(_ name: String, _ change: @escaping @Sendable (inout UserRecord) throws(ArangoError) -> Void) async throws(ArangoError) {
        try changes.withLock { (_) throws(ArangoError) in
            guard var record = user(name) else { throw UserRecord.notFound(name) }
            try change(&record)
            _ = try collection.replace(name, with: record.document, options: Self.durable)
            users.withLock { $0[name] = record }
        }
    }

    public func delete(_ name: String) async throws(ArangoError) {
        try changes.withLock { (_) throws(ArangoError) in
            guard user(name) != nil else { throw UserRecord.notFound(name) }
            _ = try collection.remove(name, options: Self.durable)
            users.withLock { $0[name] = nil }
        }
    }

    static var durable: DocumentOptions {
        var options = DocumentOptions()
        options.waitForSync = true
        return options
    }
}
