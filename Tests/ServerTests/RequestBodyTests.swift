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
        func body(_ depth: Int) throws -> ArraySlice<UInt8> {
            json ? ArraySlice(Self.nested(depth).utf8)
                : ArraySlice(try JSONParser.parse(Self.nested(depth), options: .init(nestingLimit: 300)).bytes)
        }
        #expect(try RequestBody.decode(body(5), json: json, limits: limits) != nil)
        #expect(throws: ArangoError.self) { try RequestBody.decode(body(6), json: json, limits: limits) }
        // The default limit: 256 levels pass, 257 do not.
        #expect(try RequestBody.decode(body(256), json: json, limits: .default) != nil)
        #expect(throws: ArangoError.self) { try RequestBody.decode(body(257), json: json, limits: .default) }
    }
}
