import Foundation
import Testing
import TesseraPlatform
import VelocyPack
import VelocyStream

/// HTTP/1.1 on the VelocyStream port of a real `tessera single`: the same API as over VST,
/// keep-alive, pipelining, chunked and `Expect: 100-continue` uploads, curl as a client, and
/// hostile input that must be answered or closed on time without disturbing anyone else.
@Suite("HTTP front")
struct HTTPFrontTests {
    /// `root:` (the empty password of a fresh test server) as a Basic credential.
    static let rootAuthorization = "Authorization: Basic " + Data("root:".utf8).base64EncodedString() + "\r\n"

    /// One request's bytes; `fields` are whole lines (`Name: value\r\n`).
    static func request(_ method: String, _ target: String, fields: String = rootAuthorization, body: String? = nil) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fields
        if let body { text += "Content-Length: \(body.utf8.count)\r\n\r\n" + body } else { text += "\r\n" }
        return Array(text.utf8)
    }

    static func json(_ message: HTTPMessage) -> Slice? {
        message.body.isEmpty ? nil : try? JSONParser.parse(message.body).slice
    }

    @Test func servesTheVelocyStreamRoutesWithTheirSemantics() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let socket = try RawSocket(port: server.port)
        // A collection and a document over HTTP, in JSON.
        socket.send(Self.request("POST", "/_api/collection", body: #"{"name":"fruit"}"#))
        socket.send(Self.request("POST", "/_db/_system/_api/document/fruit", body: #"{"_key":"apple","price":3}"#))
        let created = try socket.readHTTPResponses(2)
        #expect(created.map(\.head.status) == [200, 202])
        let etag = try #require(created[1].head.value("etag"))
        // The same document read over VelocyStream: one store behind both protocols.
        let client = makeClient(server)
        let viaVST = try await client.request(.get, "/_api/document/fruit/apple")
        #expect(viaVST.body?["price"]?.intValue == 3)
        await client.shutdown()

        // ETag, If-None-Match, If-Match.
        socket.send(Self.request("GET", "/_api/document/fruit/apple"))
        socket.send(Self.request("GET", "/_api/document/fruit/apple", fields: Self.rootAuthorization + "If-None-Match: \(etag)\r\n"))
        socket.send(Self.request("GET", "/_api/document/fruit/apple", fields: Self.rootAuthorization + "If-Match: \"_stale----\"\r\n"))
        socket.send(Self.request("HEAD", "/_api/document/fruit/apple"))
        let reads = try socket.readHTTPResponses(4, headIndexes: [3])
        #expect(reads.map(\.head.status) == [200, 304, 412, 200])
        #expect(reads[0].head.value("etag") == etag)
        #expect(Self.json(reads[0])?["price"]?.intValue == 3)
        #expect(reads[1].body.isEmpty)
        #expect(Self.json(reads[2])?["errorNum"]?.intValue == 1200)
        #expect(reads[3].body.isEmpty && reads[3].head.value("etag") == etag)

        // Query parameters, meta fields and the database prefix, as the handler saw them.
        socket.send(Self.request("GET", "/_db/_system/_admin/echo?name=a+b&other=%41&name=c",
                                 fields: Self.rootAuthorization + "X-Custom: one\r\nX-Custom: two\r\n"))
        let echo = try #require(Self.json(try socket.readHTTPResponses(1)[0]))
        #expect(echo["path"]?.stringValue == "/_admin/echo")
        #expect(echo["database"]?.stringValue == "_system")
        #expect(echo["parameters"]?["name"]?.stringValue == "a b,c")
        #expect(echo["parameters"]?["other"]?.stringValue == "A")
        #expect(echo["headers"]?["x-custom"]?.stringValue == "one, two")
        #expect(echo["headers"]?["authorization"] == nil, "credentials are not passed to handlers")

        // VelocyPack in and out, chosen by Content-Type and Accept.
        let document = vpack(#"{"_key":"pear","price":5}"#)
        var vpackRequest = Array("POST /_api/document/fruit?returnNew=true HTTP/1.1\r\n".utf8) + Array(Self.rootAuthorization.utf8)
        vpackRequest += Array("Content-Type: application/x-velocypack\r\nAccept: application/x-velocypack\r\nContent-Length: \(document.count)\r\n\r\n".utf8)
        socket.send(vpackRequest + document)
        let vpackAnswer = try socket.readHTTPResponses(1)[0]
        #expect(vpackAnswer.head.status == 202)
        #expect(vpackAnswer.head.value("content-type") == "application/x-velocypack")
        #expect(Slice(trustedBytes: vpackAnswer.body)["new"]?["price"]?.intValue == 5)

        // Errors are ArangoDB's bodies; x-arango-async is refused clearly.
        socket.send(Self.request("GET", "/_api/document/fruit/none"))
        socket.send(Self.request("GET", "/_api/version", fields: Self.rootAuthorization + "x-arango-async: store\r\n"))
        socket.send(Self.request("GET", "/_db/nowhere/_api/version"))
        socket.send(Self.request("PROPFIND", "/_api/version"))
        let errors = try socket.readHTTPResponses(4)
        #expect(errors.map(\.head.status) == [404, 501, 404, 405])
        #expect(errors.map { Self.json($0)?["errorNum"]?.intValue } == [1202, 9, 1228, 405])
        #expect(Self.json(errors[1])?["errorMessage"]?.stringValue?.contains("x-arango-async") == true)

        // Authentication: none, a wrong password, and a token from /_open/auth over HTTP.
        let fresh = try RawSocket(port: server.port)
        fresh.send(Self.request("GET", "/_api/version", fields: ""))
        fresh.send(Self.request("GET", "/_api/version", fields: "Authorization: Basic " + Data("root:wrong".utf8).base64EncodedString() + "\r\n"))
        fresh.send(Self.request("POST", "/_open/auth", fields: "", body: #"{"username":"root","password":""}"#))
        let logins = try fresh.readHTTPResponses(3)
        #expect(logins.map(\.head.status) == [401, 401, 200])
        let token = try #require(Self.json(logins[2])?["jwt"]?.stringValue)
        fresh.send(Self.request("GET", "/_api/version", fields: "Authorization: bearer \(token)\r\n"))
        #expect(try fresh.readHTTPResponses(1)[0].head.status == 200)
    }

    @Test func keepAlivePipeliningChunkedAndContinue() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let socket = try RawSocket(port: server.port)
        // Pipelining: five requests in one write, answered in order on the same connection.
        let pipelined = (0..<5).flatMap { number in Self.request("GET", "/_admin/echo?n=\(number)") }
        socket.send(pipelined)
        let answers = try socket.readHTTPResponses(5)
        #expect(answers.map { Self.json($0)?["parameters"]?["n"]?.stringValue } == ["0", "1", "2", "3", "4"])
        #expect(answers.allSatisfy { $0.head.keepAlive })

        // A chunked upload, its chunks sent in separate writes.
        let chunks = [#"{"_key":"#, #""chunked","#, #""size":3}"#]
        var head = "POST /_api/collection HTTP/1.1\r\n" + Self.rootAuthorization + "Transfer-Encoding: chunked\r\n\r\n"
        head += "12\r\n{\"name\":\"uploads\"}\r\n0\r\n\r\n"
        socket.send(Array(head.utf8))
        #expect(try socket.readHTTPResponses(1)[0].head.status == 200)
        socket.send(Array(("POST /_api/document/uploads HTTP/1.1\r\n" + Self.rootAuthorization + "Transfer-Encoding: chunked\r\n\r\n").utf8))
        for chunk in chunks {
            socket.send(Array((String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n").utf8))
            usleep(20_000)
        }
        socket.send(Array("0\r\n\r\n".utf8))
        let chunked = try socket.readHTTPResponses(1)[0]
        #expect(chunked.head.status == 202, "\(String(decoding: chunked.body, as: UTF8.self))")

        // Expect: 100-continue: the interim answer comes before the body is sent.
        let body = #"{"_key":"continued"}"#
        socket.send(Array(("POST /_api/document/uploads HTTP/1.1\r\n" + Self.rootAuthorization
                           + "Expect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n").utf8))
        let interim = try socket.readHTTPResponses(1)[0]
        #expect(interim.head.status == 100)
        socket.send(Array(body.utf8))
        #expect(try socket.readHTTPResponses(1)[0].head.status == 202)

        // Connection: close is honoured after the answer.
        socket.send(Self.request("GET", "/_api/version", fields: Self.rootAuthorization + "Connection: close\r\n"))
        let last = try #require(socket.readUntilClosed())
        #expect(String(decoding: last, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
    }

    /// Each hostile input gets its status (or a close) within the time limits, and the server
    /// goes on serving both protocols.
    @Test func hostileInputIsAnsweredOrClosedOnTime() async throws {
        let server = try ServerProcess(arguments: ["--message-timeout", "1"])
        defer { server.stop() }
        func refusal(_ bytes: [UInt8]) throws -> (status: Int, closed: Bool) {
            let socket = try RawSocket(port: server.port, receiveTimeoutSeconds: 10)
            socket.send(bytes)
            let received = try #require(socket.readUntilClosed(), "the connection was never closed")
            let decoder = HTTPMessageDecoder(kind: .response)
            decoder.append(received)
            let answer = try #require(try decoder.nextMessage(), "no answer in \(received.count) bytes")
            #expect(Self.json(answer)?["error"]?.boolValue == true)
            #expect(answer.head.value("connection") == "Close")
            return (answer.head.status, true)
        }
        #expect(try refusal(Array("GET /_api/version HTTP/1.1 extra\r\n\r\n".utf8)).status == 400)
        #expect(try refusal(Array("\u{01}\u{02} nonsense\r\n\r\n".utf8)).status == 400)
        #expect(try refusal(Array("GET /\(String(repeating: "a", count: 20_000)) HTTP/1.1\r\n\r\n".utf8)).status == 414)
        let manyFields = (0..<150).map { "X-F\($0): v\r\n" }.joined()
        #expect(try refusal(Array("GET /_api/version HTTP/1.1\r\n\(manyFields)\r\n".utf8)).status == 431)
        let hugeField = "X-Big: " + String(repeating: "b", count: 70_000) + "\r\n"
        #expect(try refusal(Array("GET /_api/version HTTP/1.1\r\n\(hugeField)\r\n".utf8)).status == 431)
        #expect(try refusal(Array("POST /_admin/echo HTTP/1.1\r\nContent-Length: 200000000\r\n\r\n".utf8)).status == 413)
        #expect(try refusal(Array("POST /_admin/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8)).status == 400)

        // A body longer than announced: the announced part is the request, the rest is not HTTP.
        let longer = try RawSocket(port: server.port)
        longer.send(Array(("POST /_admin/echo HTTP/1.1\r\n" + Self.rootAuthorization + "Content-Length: 7\r\n\r\n{\"a\":1}garbage-after-the-body\r\n\r\n").utf8))
        let both = try #require(longer.readUntilClosed())
        let decoder = HTTPMessageDecoder(kind: .response)
        decoder.append(both)
        #expect(try decoder.nextMessage()?.head.status == 200)
        #expect(try decoder.nextMessage()?.head.status == 400)

        // A client that stops mid-request, and one that trickles its head byte by byte
        // (slowloris): 408 once the message timeout (1 s) passes, then the close.
        let started = Date()
        #expect(try refusal(Array("POST /_admin/echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"a\":".utf8)).status == 408)
        #expect(Date().timeIntervalSince(started) < 5)
        let trickle = try RawSocket(port: server.port, receiveTimeoutSeconds: 10)
        let trickleStarted = Date()
        let slowHead = Array("GET /_api/version HTTP/1.1\r\nX-Slow: \(String(repeating: "s", count: 100))\r\n\r\n".utf8)
        var index = 0
        while index < slowHead.count, Date().timeIntervalSince(trickleStarted) < 6 {
            trickle.send([slowHead[index]])
            index += 1
            usleep(100_000)
        }
        let trickled = try #require(trickle.readUntilClosed(), "the trickling client was never cut off")
        #expect(String(decoding: trickled, as: UTF8.self).hasPrefix("HTTP/1.1 408"))
        #expect(index < slowHead.count, "the trickle finished its head before the timeout")
        #expect(Date().timeIntervalSince(trickleStarted) < 8)
        // A peer that vanishes mid-request leaves nothing behind.
        do {
            let vanishing = try RawSocket(port: server.port)
            vanishing.send(Array("POST /_admin/echo HTTP/1.1\r\nContent-Length: 50\r\n\r\n{".utf8))
        }

        // Nothing else was disturbed: both protocols still serve.
        try await HostileInputTests.expectServing(server)
        let healthy = try RawSocket(port: server.port)
        healthy.send(Self.request("GET", "/_api/version"))
        #expect(try healthy.readHTTPResponses(1)[0].head.status == 200)
    }

    @Test func metricsInPrometheusText() async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let socket = try RawSocket(port: server.port)
        socket.send(Self.request("POST", "/_api/collection", body: #"{"name":"counted"}"#))
        socket.send(Self.request("POST", "/_api/document/counted", body: #"{"_key":"one"}"#))
        for _ in 0..<3 { socket.send(Self.request("GET", "/_api/version")) }
        socket.send(Self.request("GET", "/_admin/metrics/v2"))
        let answers = try socket.readHTTPResponses(6)
        let metrics = answers[5]
        #expect(metrics.head.status == 200)
        #expect(metrics.head.value("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = String(decoding: metrics.body, as: UTF8.self)
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(lines.contains(#"tessera_requests_total{method="GET",route="/_api/version",status="200"} 3"#), "\(text)")
        #expect(lines.contains(#"tessera_requests_total{method="POST",route="/_api/document/:collection",status="202"} 1"#))
        #expect(lines.contains(#"tessera_request_duration_seconds_count{method="GET",route="/_api/version"} 3"#))
        #expect(lines.contains(#"tessera_request_duration_seconds_bucket{le="+Inf",method="GET",route="/_api/version"} 3"#))
        #expect(lines.contains("arangodb_http_request_statistics_total_requests_total 5"))
        #expect(lines.contains("arangodb_http_request_statistics_http_get_requests_total 3"))
        #expect(lines.contains(#"tessera_connections_open{protocol="http"} 1"#))
        #expect(lines.contains(#"tessera_shard_documents{collection="counted",database="_system"} 1"#))
        #expect(text.contains("# TYPE arangodb_client_connection_statistics_total_time histogram"))
        // Every sample line is `name{labels} number`.
        for line in lines where !line.hasPrefix("#") {
            #expect(Double(line.split(separator: " ").last ?? "") != nil, "not a sample: \(line)")
        }
    }

    @Test func curlAsAClient() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else {
            Issue.record("curl is not installed (apt-get install curl)")
            return
        }
        let server = try ServerProcess(arguments: ["--root-password", "curl-pw"])
        defer { server.stop() }
        let base = "http://127.0.0.1:\(server.port)"
        func curl(_ arguments: [String], input: [UInt8]? = nil) -> (status: Int32, output: String) {
            var arguments = ["-sS", "-u", "root:curl-pw"] + arguments
            var inputPath: String?
            if let input {
                let path = NSTemporaryDirectory() + "tessera-curl-" + UUID().uuidString
                FileManager.default.createFile(atPath: path, contents: Data(input))
                arguments = arguments.map { $0 == "@INPUT" ? "@" + path : $0 }
                inputPath = path
            }
            defer { if let inputPath { try? FileManager.default.removeItem(atPath: inputPath) } }
            return PythonArango.run(URL(fileURLWithPath: "/usr/bin/curl"), arguments, seconds: 30)
        }
        #expect(curl(["-X", "POST", "\(base)/_api/collection", "-d", #"{"name":"curled"}"#]).output.contains(#""name":"curled""#))
        let inserted = curl(["-X", "POST", "\(base)/_api/document/curled", "-H", "Content-Type: application/json", "-d", #"{"_key":"a","v":1}"#])
        #expect(inserted.output.contains(#""_key":"a""#), "\(inserted.output)")
        // VelocyPack in, JSON out.
        let packed = curl(["-X", "POST", "\(base)/_api/document/curled", "-H", "Content-Type: application/x-velocypack",
                           "--data-binary", "@INPUT"], input: vpack(#"{"_key":"b","v":2}"#))
        #expect(packed.output.contains(#""_key":"b""#), "\(packed.output)")
        // Chunked upload of a batch.
        let batch = "[" + (0..<200).map { #"{"_key":"c\#($0)","v":\#($0)}"# }.joined(separator: ",") + "]"
        let chunked = curl(["-X", "POST", "\(base)/_api/document/curled", "-H", "Transfer-Encoding: chunked",
                            "--data-binary", "@INPUT"], input: Array(batch.utf8))
        #expect(chunked.output.components(separatedBy: #""_id""#).count == 201, "\(chunked.output.prefix(300))")
        // Keep-alive: two URLs on one connection.
        let twice = curl(["-v", "\(base)/_api/document/curled/a", "\(base)/_api/document/curled/b"])
        #expect(twice.output.contains("Re-using existing connection") || twice.output.contains("Reusing existing connection"),
                "\(twice.output)")
        #expect(twice.output.contains(#""v":1"#) && twice.output.contains(#""v":2"#))
        // Errors keep their status: --fail makes curl exit 22 on it.
        #expect(curl(["--fail", "\(base)/_api/document/curled/none"]).status == 22)
    }
}

extension RawSocket {
    /// Reads until `count` complete HTTP responses arrived; `headIndexes` are the positions of
    /// answers to HEAD requests (no body whatever their fields say).
    func readHTTPResponses(_ count: Int, headIndexes: Set<Int> = []) throws -> [HTTPMessage] {
        let decoder = HTTPMessageDecoder(kind: .response)
        var responses: [HTTPMessage] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        decoder.nextResponseHasNoBody = headIndexes.contains(0)
        while responses.count < count {
            while responses.count < count, let message = try decoder.nextMessage() {
                responses.append(message)
                decoder.nextResponseHasNoBody = headIndexes.contains(responses.count)
            }
            guard responses.count < count else { break }
            let got = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            guard got > 0 else { throw Failure("connection ended after \(responses.count) of \(count) HTTP responses") }
            decoder.append(buffer[0..<got])
        }
        return responses
    }
}
