import Foundation
import Testing
@testable import Auth

/// A fresh directory under the system's temporary directory, removed after `body`.
func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    let path = NSTemporaryDirectory() + "tessera-auth-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: path) }
    try body(path)
}

func write(_ text: String, to path: String, mode: Int) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
}

@Suite("Cluster secret")
struct ClusterSecretTests {
    @Test func generatedSecretIsPrivateAndLoadsBack() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/secret"
            let secret = try ClusterSecret.generate(path: path)
            #expect(secret.bytes.count == 128)
            #expect(secret.bytes.allSatisfy { Array("0123456789abcdef".utf8).contains($0) })
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == String(decoding: secret.bytes, as: UTF8.self) + "\n")
            let loaded = try ClusterSecret.load(path: path)
            #expect(loaded == .init(secret: secret, isReadableByOthers: false))
            // No temporary file is left behind.
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["secret"])
        }
    }

    @Test func generatingAgainReplacesTheSecret() throws {
        try withTemporaryDirectory { directory in
            let first = try ClusterSecret.generate(path: directory + "/secret")
            let second = try ClusterSecret.generate(path: directory + "/secret")
            #expect(first != second)
            #expect(try ClusterSecret.load(path: directory + "/secret").secret == second)
        }
    }

    @Test(arguments: [
        ("0123456789abcdef0123456789abcdef\n", 32), ("0123456789abcdef0123456789abcdef\r\n", 32),
        ("0123456789abcdef0123456789abcdef", 32), (" 123456789abcdef0123456789abcdef \n\n", 34),
    ])
    func onlyOneTrailingNewlineIsTrimmed(contents: String, byteCount: Int) throws {
        try withTemporaryDirectory { directory in
            try write(contents, to: directory + "/secret", mode: 0o600)
            #expect(try ClusterSecret.load(path: directory + "/secret").secret.bytes.count == byteCount)
        }
    }

    @Test(arguments: [
        ("", ClusterSecretError.empty), ("\n", .empty), ("short\n", .tooShort(byteCount: 5)),
        (String(repeating: "a", count: 31) + "\n", .tooShort(byteCount: 31)),
    ])
    func emptyOrShortSecretIsRefused(contents: String, expected: ClusterSecretError) throws {
        try withTemporaryDirectory { directory in
            try write(contents, to: directory + "/secret", mode: 0o600)
            #expect(throws: expected) { try ClusterSecret.load(path: directory + "/secret") }
        }
    }

    @Test func oversizedFileIsRefused() throws {
        try withTemporaryDirectory { directory in
            try write(String(repeating: "a", count: ClusterSecret.fileByteCountMax + 1), to: directory + "/secret", mode: 0o600)
            #expect(throws: ClusterSecretError.fileTooLarge(path: directory + "/secret")) {
                try ClusterSecret.load(path: directory + "/secret")
            }
        }
    }

    @Test(arguments: [(0o600, false), (0o400, false), (0o640, true), (0o604, true), (0o644, true)])
    func readableByOthersIsFlagged(mode: Int, flagged: Bool) throws {
        try withTemporaryDirectory { directory in
            try write(String(repeating: "s", count: 40), to: directory + "/secret", mode: mode)
            #expect(try ClusterSecret.load(path: directory + "/secret").isReadableByOthers == flagged)
        }
    }

    @Test func missingFileNamesTheCallAndPath() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/absent"
            #expect(throws: ClusterSecretError.systemCall("open", path: path, errno: ENOENT)) {
                try ClusterSecret.load(path: path)
            }
            #expect(ClusterSecretError.systemCall("open", path: path, errno: ENOENT).description
                == "open \(path): No such file or directory")
        }
    }

    @Test func generateIntoMissingDirectoryFails() {
        let path = "/nonexistent-tessera-directory/secret"
        #expect(throws: ClusterSecretError.self) { try ClusterSecret.generate(path: path) }
    }

    @Test func loadedSecretSignsTokens() throws {
        try withTemporaryDirectory { directory in
            let secret = try ClusterSecret.generate(path: directory + "/secret")
            let token = JSONWebToken.superuserToken(serverID: "CRDN-1", secret: secret.bytes, now: 100)
            let loaded = try ClusterSecret.load(path: directory + "/secret").secret
            let claims = try JSONWebToken.verify(token, secret: loaded.bytes, nowSeconds: 200)
            #expect(claims["server_id"]?.stringValue == "CRDN-1")
        }
    }
}
