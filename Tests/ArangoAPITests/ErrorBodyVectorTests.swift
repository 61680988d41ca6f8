import Testing
import VectorFileSupport
import VelocyPack
import ArangoAPI

// errors.jsonl  {"name", "status", "errorNum", "errorMessage", "hex"}
//   ArangoError(status, errorNum, errorMessage).body() writes exactly `hex`, and reading `hex`
//   back gives the same error.

@Suite("error body golden vectors")
struct ErrorBodyVectorTests {
    @Test func everyVectorEncodesAndDecodes() throws {
        let directory = String(#filePath.split(separator: "/").dropLast(3).joined(separator: "/"))
        let lines = try #require(VectorFiles.lines(of: "errors.jsonl", in: "/" + directory + "/Protocol/vectors/vst"))
        #expect(lines.count >= 8)
        for line in lines {
            let vector = try JSONParser.parse(line.bytes).slice
            let status = try #require(vector["status"]?.intValue)
            let number = try #require(vector["errorNum"]?.intValue)
            let message = try #require(vector["errorMessage"]?.stringValue)
            let hex = try #require(vector["hex"]?.stringValue)
            let bytes = try Hex.decode(hex)
            let error = ArangoError(status: Int(status), ErrorNumber(rawValue: Int(number)), message)
            #expect(error.body() == bytes, "\(line.location): body bytes differ")
            #expect(ArangoError(status: 0, body: Slice(trustedBytes: bytes)) == error, "\(line.location): reads back differently")
        }
    }
}
