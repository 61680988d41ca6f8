import Testing
import VelocyPack
import ArangoAPI
import VelocyStream
import TesseraPlatform
@testable import Server

@Suite("HTTP mapping")
struct HTTPMappingTests {
    @Test("targets split into database, path and parameters", arguments: [
        ("/_api/version", "_system", "/_api/version", [String: [String]]()),
        ("/_db/shop/_api/document/c/k", "shop", "/_api/document/c/k", [:]),
        ("/_db/caf%C3%A9", "café", "/", [:]),
        ("/_db/x?a=1", "x", "/", ["a": ["1"]]),
        ("/_api/document/c%2Fk?a=1&b=x+y&a=%41&flag", "_system", "/_api/document/c%2Fk", ["a": ["1", "A"], "b": ["x y"], "flag": [""]]),
        ("http://127.0.0.1:8529/_db/d/_api/x?q=%zz", "d", "/_api/x", ["q": ["%zz"]]),
        ("HTTP://host", "_system", "/", [:]),
    ])
    func targets(raw: String, database: String, path: String, parameters: [String: [String]]) throws {
        let target = try HTTPMapping.target(raw)
        #expect(target.database == database)
        #expect(target.path == path)
        #expect(target.parameters == parameters)
    }

    @Test func targetsThatAreNoPathAreRefused() {
        for raw in ["*", "ftp://host/x", "relative/path", ""] {
            #expect(throws: ArangoError.self, "\(raw)") { _ = try HTTPMapping.target(raw) }
        }
    }

    @Test func credentialsFromAuthorization() {
        #expect(HTTPMapping.credentials("Basic cm9vdDpzM2NyZXQ=") == .plain(user: "root", password: "s3cret"))
        #expect(HTTPMapping.credentials("basic dTo6Og==") == .plain(user: "u", password: "::"))
        #expect(HTTPMapping.credentials("bearer abc.def.ghi") == .jwt(token: "abc.def.ghi"))
        #expect(HTTPMapping.credentials("Bearer   abc") == .jwt(token: "abc"))
        #expect(HTTPMapping.credentials("Basic !!!") == nil)
        #expect(HTTPMapping.credentials("Basic dXNlcg==") == nil, "no colon")
        #expect(HTTPMapping.credentials("Digest x") == nil)
        #expect(HTTPMapping.credentials("bearer") == nil)
    }

    @Test func metaLeavesOutFramingAndCredentials() {
        var head = HTTPHead()
        head.fields = [HTTPField(name: "authorization", value: "Basic x"), HTTPField(name: "x-arango-trx", value: "1"),
                       HTTPField(name: "content-length", value: "3"), HTTPField(name: "accept", value: "a"),
                       HTTPField(name: "accept", value: "b")]
        #expect(HTTPMapping.meta(head) == ["x-arango-trx": "1", "accept": "a, b"])
    }

    static func text(_ response: ServerResponse, head: Bool = false, velocyPack: Bool = false, keepAlive: Bool = true) -> String {
        var output: [UInt8] = []
        HTTPMapping.encode(response, head: head, velocyPack: velocyPack, keepAlive: keepAlive, into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    @Test func answersAreJSONOrVelocyPackWithTheirLength() throws {
        let body = try JSONParser.parse(#"{"a":[1,"x"]}"#).bytes
        let json = Self.text(ServerResponse(status: 201, meta: ["etag": "\"_r\""], body: body))
        #expect(json == "HTTP/1.1 201 Created\r\nServer: tessera\r\nConnection: Keep-Alive\r\nX-Content-Type-Options: nosniff\r\n"
                + "Content-Type: application/json; charset=utf-8\r\nContent-Length: 13\r\netag: \"_r\"\r\n\r\n{\"a\":[1,\"x\"]}")
        var packed: [UInt8] = []
        HTTPMapping.encode(ServerResponse(status: 200, body: body), head: false, velocyPack: true, keepAlive: false, into: &packed)
        #expect(Array(packed.suffix(body.count)) == body)
        #expect(String(decoding: packed, as: UTF8.self).contains("Content-Type: application/x-velocypack\r\nContent-Length: \(body.count)\r\n"))
        #expect(String(decoding: packed, as: UTF8.self).contains("Connection: Close\r\n"))
        // HEAD keeps the length and drops the body; 204 and 304 have neither.
        #expect(Self.text(ServerResponse(status: 200, body: body), head: true).hasSuffix("Content-Length: 13\r\n\r\n"))
        #expect(!Self.text(ServerResponse(status: 304, meta: ["etag": "e"])).contains("Content-Length"))
        // A raw body goes out as it is, with its own type.
        let metrics = Self.text(ServerResponse(status: 200, text: "a 1\n", contentType: MetricsRoutes.contentType))
        #expect(metrics.hasSuffix("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 4\r\n\r\na 1\n"))
    }

    @Test func decimalLengthsForEveryPowerOfTen() {
        var value = 1
        for _ in 0..<18 {
            for candidate in [value - 1, value, value + 7] {
                var output: [UInt8] = []
                HTTPMapping.appendDecimal(candidate, to: &output)
                #expect(String(decoding: output, as: UTF8.self) == String(candidate))
            }
            value *= 10
        }
    }
}
