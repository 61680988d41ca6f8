import Testing
@testable import VelocyPack

/// `Builder.addMembers(of:skipping:)` against adding the pairs one by one.
@Suite("Builder: adding an object's members")
struct AddMembersTests {
    /// `{"__outer": "new", <the pairs of object but the skipped one>}` built both ways.
    static func both(_ object: Slice, skipping: String?) -> (copied: Slice, oneByOne: Slice) {
        var copied = Builder()
        copied.openObject()
        copied.add(key: "__outer", "new")
        copied.addMembers(of: object, skipping: skipping)
        copied.closeTrusted()
        var oneByOne = Builder()
        oneByOne.openObject()
        oneByOne.add(key: "__outer", "new")
        for member in object.objectMembers where member.key.keyName != skipping {
            oneByOne.add(key: member.key)
            oneByOne.add(member.value)
        }
        oneByOne.closeTrusted()
        return (copied.slice, oneByOne.slice)
    }

    @Test("the same object as pair by pair, for stored documents and any other layout; the skipped name never survives")
    func matchesPairByPair() throws {
        var generator = SeededGenerator(seed: 20_261_206)
        var checked = 0
        for round in 0..<400 {
            // A stored document: `_key` first, then pairs whose names sort before and after it.
            var builder = Builder(options: .init(buildUnindexedObjects: round % 7 == 6))
            builder.openObject()
            if round % 5 != 4 { builder.add(key: "_key", "k\(round)") }
            let names = ["0", "B", "Name", "_from", "a", "zz", "_rev", "long-" + String(repeating: "n", count: 130)]
            for name in names where generator.next() % 3 != 0 {
                builder.add(key: name)
                Model.random(&generator).build(into: &builder)
            }
            if round % 5 == 4 && generator.next() % 2 == 0 { builder.add(key: "_key", "late") }
            builder.closeTrusted()
            let object = builder.slice
            for skipping in ["_key", nil, "Name"] as [String?] {
                let (copied, oneByOne) = Self.both(object, skipping: skipping)
                let strict = try Slice(validating: Array(copied.bytes), options: .strict)
                #expect(try JSONDumper.dumpString(strict) == JSONDumper.dumpString(oneByOne), "round \(round), skipping \(String(describing: skipping))")
                #expect(copied.count == oneByOne.count)
                if let skipping { #expect(copied[skipping] == nil) }
                #expect(copied["__outer"]?.stringValue == "new")
                checked += 1
            }
        }
        #expect(checked == 1_200)
    }
}
