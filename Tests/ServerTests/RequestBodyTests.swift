import Testing
import VelocyPack
import ArangoAPI
import VelocyStream
@testable import Server

/// Request bodies from the network keep their nesting limit, whatever the offline tools allow.
@Suite("request bodies")
struct RequestBodyTests {
    /// `[[…[0]…]]` nested `depth` levels.
    static func nested(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + "0" + String(repeating: "]", count: depth)
    }

    @Test(arguments: [true, false])
    func bodiesNestedPastTheLimitAreRefused(json: Bool) throws {
        var limits = VSTLimits.default
        #expect(limits.bodyNestingMax == 256)
        limits.bodyNestingMax = 5
        func body(_ depth: Int) throws -> [UInt8] {
            json ? Array(Self.nested(depth).utf8)
                : try JSONParser.parse(Self.nested(depth), options: .init(nestingLimit: 300)).bytes
        }
        /// The body as the server hands it over: bytes held elsewhere.
        func decode(_ bytes: [UInt8], _ limits: VSTLimits) throws(ArangoError) -> Slice? {
            let decoded: Result<Slice?, ArangoError> = bytes.withUnsafeBytes { raw in
                do throws(ArangoError) { return .success(try RequestBody.decode(raw, json: json, limits: limits)) } catch {
                    return .failure(error)
                }
            }
            return try decoded.get()
        }
        #expect(try decode(body(5), limits) != nil)
        #expect(throws: ArangoError.self) { try decode(body(6), limits) }
        // The default limit: 256 levels pass, 257 do not.
        #expect(try decode(body(256), .default) != nil)
        #expect(throws: ArangoError.self) { try decode(body(257), .default) }
    }
}
