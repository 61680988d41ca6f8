import Client
import Foundation
import Testing
import VelocyPack
import VelocyStream

/// Users, grants and authentication of a real `tessera single` process.
@Suite("Users and authentication", .serialized)
struct UserAPITests {
    static func client(_ server: ServerProcess, _ credentials: Authentication?) -> API {
        API(client: makeClient(server, poolSize: 1, credentials: credentials))
    }

    @Test("root's password, 401 without credentials, users with per-database grants")
    func usersAndGrants() async throws {
        let directory = ServerProcess.temporaryDirectory() + "/data"
        var server = try ServerProcess(dataDirectory: directory, environment: ["TESSERA_ROOT_PASSWORD": "s3cret"])
        #expect(!server.output.contains("empty password"))
        let root = Self.client(server, .plain(user: "root", password: "s3cret"))

        let anonymous = Self.client(server, nil)
        try await anonymous.expectError(401, 11, .get, "/_api/collection")
        let wrong = Self.client(server, .plain(user: "root", password: "guess"))
        await #expect(throws: ClientError.self) { try await wrong.call(.get, "/_api/version") }

        try await root.expect(201, .post, "/_api/database", #"{"name": "shop"}"#)
        try await root.expect(200, .post, "/_api/collection", #"{"name": "items"}"#, database: "shop")
        try await root.expect(202, .post, "/_api/document/items", #"{"_key": "a"}"#, database: "shop")
        let created = try await root.expect(201, .post, "/_api/user", #"{"user": "bob", "passwd": "pw", "extra": {"team": 1}}"#)
        #expect(created["extra"]?["team"]?.intValue == 1)
        try await root.expectError(409, 1702, .post, "/_api/user", #"{"user": "bob", "passwd": "x"}"#)
        try await root.expectError(400, 1700, .post, "/_api/user", #"{"user": "no spaces", "passwd": "x"}"#)
        try await root.expectError(400, 1701, .post, "/_api/user", #"{"user": "eve", "passwd": 5}"#)
        let names = try await root.expect(200, .get, "/_api/user")["result"]?.arrayElements.compactMap { $0["user"]?.stringValue }
        #expect(names == ["bob", "root"])

        // No grant: nothing. Read-only: reads only. Read-write: writes too.
        let bob = Self.client(server, .plain(user: "bob", password: "pw"))
        try await bob.expectError(403, 11, .get, "/_api/document/items/a", database: "shop")
        try await root.expect(200, .put, "/_api/user/bob/database/shop", #"{"grant": "ro"}"#)
        try await bob.expect(200, .get, "/_api/document/items/a", database: "shop")
        try await bob.expect(201, .post, "/_api/cursor", #"{"query": "FOR d IN items RETURN d"}"#, database: "shop")
        try await bob.expectError(403, 11, .post, "/_api/document/items", "{}", database: "shop")
        try await bob.expectError(403, 11, .post, "/_api/collection", #"{"name": "mine"}"#, database: "shop")
        try await bob.expectError(403, 11, .get, "/_api/collection")  // no grant in _system
        try await root.expect(200, .put, "/_api/user/bob/database/shop", #"{"grant": "rw"}"#)
        try await bob.expect(202, .post, "/_api/document/items", "{}", database: "shop")
        let grants = try await bob.expect(200, .get, "/_api/user/bob/database")
        #expect(grants["result"]?["shop"]?.stringValue == "rw")
        #expect(try await bob.expect(200, .get, "/_api/user/bob/database/shop")["result"]?.stringValue == "rw")
        try await root.expectError(400, 10, .put, "/_api/user/bob/database/shop", #"{"grant": "all"}"#)
        try await root.expectError(404, 1228, .put, "/_api/user/bob/database/nowhere", #"{"grant": "ro"}"#)
        try await root.expectError(404, 1703, .put, "/_api/user/nobody/database/shop", #"{"grant": "ro"}"#)

        // Users manage themselves only.
        try await bob.expectError(403, 11, .post, "/_api/user", #"{"user": "mallory", "passwd": "x"}"#)
        try await bob.expectError(403, 11, .get, "/_api/user/root")
        try await bob.expectError(403, 11, .put, "/_api/user/bob/database/_system", #"{"grant": "rw"}"#)
        #expect(try await bob.expect(200, .get, "/_api/user")["result"]?.count == 1)
        try await bob.expect(200, .patch, "/_api/user/bob", #"{"passwd": "new-pw"}"#)
        let oldPassword = Self.client(server, .plain(user: "bob", password: "pw"))
        await #expect(throws: ClientError.self) { try await oldPassword.call(.get, "/_api/version") }
        let newPassword = Self.client(server, .plain(user: "bob", password: "new-pw"))
        try await newPassword.expect(200, .get, "/_api/document/items/a", database: "shop")

        // Passwords are stored as salted hashes only.
        let records = try await root.query("FOR u IN _users SORT u.user RETURN u")
        #expect(records.count == 2)
        for record in records {
            #expect(record["passwd"]?["method"]?.stringValue == "pbkdf2-sha256")
            #expect(record["passwd"]?["hash"]?.stringValue?.count == 64)
            #expect(!record.json.contains("s3cret") && !record.json.contains("new-pw"))
        }
        try await root.expectError(403, 11, .delete, "/_api/user/root")

        // Users and grants survive a restart; root's password stays without the variable.
        for api in [root, anonymous, wrong, bob, oldPassword, newPassword] { await api.client.shutdown() }
        #expect(server.stop() == 0)
        server = try ServerProcess(dataDirectory: directory)
        #expect(!server.output.contains("empty password"))
        let rootAgain = Self.client(server, .plain(user: "root", password: "s3cret"))
        let bobAgain = Self.client(server, .plain(user: "bob", password: "new-pw"))
        try await bobAgain.expect(202, .post, "/_api/document/items", "{}", database: "shop")
        try await rootAgain.expect(202, .delete, "/_api/user/bob")
        try await rootAgain.expectError(404, 1703, .get, "/_api/user/bob")
        let gone = Self.client(server, .plain(user: "bob", password: "new-pw"))
        await #expect(throws: ClientError.self) { try await gone.call(.get, "/_api/version") }
        // Dropping a database forgets its grants.
        try await rootAgain.expect(201, .post, "/_api/user", #"{"user": "carol", "passwd": ""}"#)
        try await rootAgain.expect(200, .put, "/_api/user/carol/database/shop", #"{"grant": "ro"}"#)
        try await rootAgain.expect(200, .delete, "/_api/database/shop")
        #expect(try await rootAgain.expect(200, .get, "/_api/user/carol/database")["result"]?.count == 0)
        for api in [rootAgain, bobAgain, gone] { await api.client.shutdown() }
        #expect(server.stop() == 0)
    }

    @Test("POST /_open/auth hands out a JWT that authenticates a VST connection")
    func tokens() async throws {
        let server = try ServerProcess()
        #expect(server.output.contains("empty password"))
        let anonymous = Self.client(server, nil)
        let token = try await anonymous.expect(200, .post, "/_open/auth", #"{"username": "root", "password": ""}"#)["jwt"]?.stringValue ?? ""
        #expect(token.split(separator: ".").count == 3)
        try await anonymous.expectError(401, 401, .post, "/_open/auth", #"{"username": "root", "password": "no"}"#)
        try await anonymous.expectError(401, 401, .post, "/_open/auth", #"{"username": "ghost", "password": ""}"#)
        try await anonymous.expectError(400, 10, .post, "/_open/auth", #"{"user": "root"}"#)

        let viaToken = Self.client(server, .jwt(token: token))
        try await viaToken.expect(200, .post, "/_api/collection", #"{"name": "c"}"#)
        var forged = token
        forged.removeLast()
        forged.append(token.last == "A" ? "B" : "A")
        let forgedClient = Self.client(server, .jwt(token: forged))
        await #expect(throws: ClientError.self) { try await forgedClient.call(.get, "/_api/version") }
        let garbage = Self.client(server, .jwt(token: "not-a-token"))
        await #expect(throws: ClientError.self) { try await garbage.call(.get, "/_api/version") }
        for api in [anonymous, viaToken, forgedClient, garbage] { await api.client.shutdown() }
        #expect(server.stop() == 0)
    }
}
