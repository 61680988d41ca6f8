import Testing
import VelocyPack
@testable import Query

func doc(_ json: String) -> Slice { try! JSONParser.parse(json).slice }

/// Runs a query over in-memory documents the way the server will: filter, sort, offset,
/// limit, project.
func run(_ text: String, _ documents: [String], parameters: String? = nil) throws -> String {
    let bound = try BoundQuery(try QueryParser.parse(text), parameters: parameters.map(doc))
    var selected = documents.map(doc).filter(bound.matches)
    selected.sort(by: bound.sortsBefore)
    let limit = bound.query.limit ?? selected.count
    let window = selected.dropFirst(bound.query.offset).prefix(limit)
    var builder = Builder()
    builder.openArray()
    for document in window { bound.project(document, into: &builder) }
    try builder.close()
    return try JSONDumper.dumpString(builder.slice)
}

/// Runs the query and compares its JSON answer, naming the query when they differ.
func check(_ text: String, _ documents: [String], parameters: String? = nil, _ expected: String,
           sourceLocation: SourceLocation = #_sourceLocation) throws {
    let answer = try run(text, documents, parameters: parameters)
    #expect(answer == expected, "\(text)", sourceLocation: sourceLocation)
}

@Suite("query subset")
struct QueryTests {
    static let people = [
        #"{"_key":"a","name":"Ada","age":36,"langs":["en","fr"],"city":{"name":"London"}}"#,
        #"{"_key":"b","name":"Bob","age":25,"langs":["de"]}"#,
        #"{"_key":"c","name":"Cy","age":null}"#,
        #"{"_key":"d","name":"Dee","age":41.5,"city":{"name":"Paris"}}"#,
    ]

    @Test func filtersSortLimitAndProjection() throws {
        try check("FOR d IN people FILTER d.age > 30 SORT d.age DESC RETURN d.name", Self.people, #"["Dee","Ada"]"#)
        try check("for d in people filter d.age >= 25 && d.age < 40 sort d.name return d._key", Self.people, #"["a","b"]"#)
        try check("FOR d IN people FILTER d.city.name == 'Paris' OR d.name == \"Bob\" SORT d._key RETURN d._key", Self.people, #"["b","d"]"#)
        try check("FOR d IN people FILTER NOT (d.age > 30) SORT d._key RETURN d._key", Self.people, #"["b","c"]"#)
        try check("FOR d IN people FILTER d.name IN ['Bob', 'Cy'] SORT d._key DESC RETURN d._key", Self.people, #"["c","b"]"#)
        try check("FOR d IN people FILTER d.name NOT IN ['Bob', 'Cy'] SORT d._key RETURN d._key", Self.people, #"["a","d"]"#)
        try check("FOR d IN people FILTER d.langs[0] == 'en' RETURN {n: d.name, c: d['city'].name}", Self.people, #"[{"c":"London","n":"Ada"}]"#)
        try check("FOR d IN people SORT d._key LIMIT 1, 2 RETURN d._key", Self.people, #"["b","c"]"#)
        try check("FOR d IN people SORT d._key LIMIT 0 RETURN d", Self.people, "[]")
        // Missing and null attributes sort first and compare as null.
        try check("FOR d IN people SORT d.age, d._key RETURN d._key", Self.people, #"["c","b","a","d"]"#)
        try check("FOR d IN people FILTER d.city == null SORT d._key RETURN d._key", Self.people, #"["b","c"]"#)
        // Several FILTERs all apply.
        try check("FOR d IN people FILTER d.age > 20 FILTER d.name != 'Ada' SORT d._key RETURN d._key", Self.people, #"["b","d"]"#)
        try check("FOR d IN people /* comment */ FILTER d.name == 'nobody' // none\n RETURN d", Self.people, "[]")
    }

    @Test func bindParameters() throws {
        #expect(try run("FOR d IN @@c FILTER d.age > @min SORT d._key RETURN d._key", Self.people,
                        parameters: #"{"@c":"people","min":30}"#) == #"["a","d"]"#)
        #expect(try run("FOR d IN people FILTER d._key IN @keys SORT d._key RETURN d.name", Self.people,
                        parameters: #"{"keys":["a","d"]}"#) == #"["Ada","Dee"]"#)
        let query = try QueryParser.parse("FOR d IN @@c FILTER d.a == @x RETURN d")
        #expect(try BoundQuery(query, parameters: doc(#"{"@c":"users","x":1}"#)).collection == "users")
        #expect(throws: QueryError(.bindParameterMissing, "no value specified for bind parameter 'x'")) {
            try BoundQuery(query, parameters: doc(#"{"@c":"users"}"#))
        }
        #expect(throws: QueryError.self) { try BoundQuery(query, parameters: doc(#"{"@c":"users","x":1,"y":2}"#)) }
        #expect(throws: QueryError.self) { try BoundQuery(query, parameters: doc(#"{"@c":5,"x":1}"#)) }
    }

    @Test func errorsAreParseOrNotSupportedNeverWrongAnswers() {
        func kind(_ text: String) -> QueryError.Kind? {
            do {
                _ = try QueryParser.parse(text)
                return nil
            } catch {
                return error.kind
            }
        }
        #expect(kind("") == .empty)
        #expect(kind("FOR d IN") == .parse)
        #expect(kind("FOR d IN c FILTER d.a = 1 RETURN d") == .parse)
        #expect(kind("FOR d IN c RETURN x") == .parse)  // undeclared variable
        #expect(kind("FOR d IN c RETURN d extra") == .parse)
        #expect(kind("FOR d IN c FILTER 'open RETURN d") == .parse)
        #expect(kind("SELECT * FROM c") == .parse)
        #expect(kind("FOR d IN c RETURN {a: 1, a: 2}") == .parse)
        #expect(kind("LET x = 1 RETURN x") == .notSupported)
        #expect(kind("FOR d IN c COLLECT g = d.a RETURN g") == .notSupported)
        #expect(kind("FOR d IN c RETURN LENGTH(d)") == .notSupported)
        #expect(kind("FOR d IN c FILTER d.a + 1 > 2 RETURN d") == .notSupported)
        #expect(kind("FOR d IN c RETURN DISTINCT d.a") == .notSupported)
        #expect(kind("FOR d IN c FOR e IN f RETURN e") == .notSupported)
        #expect(kind("FOR v IN 1..2 OUTBOUND 'a/b' edges RETURN v") == .notSupported)
        #expect(kind("INSERT {} INTO c") == .notSupported)
        #expect(kind("FOR d IN c FILTER d.a LIKE 'x%' RETURN d") == .notSupported)
        #expect(kind("FOR d IN c RETURN d.a[*]") == .notSupported)
        #expect(kind("FOR d IN c LIMIT @n RETURN d") == .notSupported)
        // Deep nesting is refused, not a stack overflow.
        #expect(kind("FOR d IN c FILTER " + String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000) + " RETURN d") == .parse)
        #expect(kind("FOR d IN c FILTER " + String(repeating: "NOT ", count: 10_000) + "true RETURN d") == .parse)
    }

    @Test func orderOfValuesFollowsAQL() {
        let ascending = ["null", "false", "true", "-1.5", "0", "2", "10", "\"\"", "\"a\"", "\"b\"", "[]", "[0]", "[0,1]", "[1]", "{}", "{\"a\":1}", "{\"a\":2}", "{\"b\":0}"]
        for (i, a) in ascending.enumerated() {
            for (j, b) in ascending.enumerated() {
                let order = AQLOrder.compare(doc(a), doc(b))
                #expect(order.signum() == (i < j ? -1 : (i == j ? 0 : 1)), "\(a) vs \(b)")
            }
        }
        // Numbers compare by value whatever their encoding.
        #expect(AQLOrder.compare(doc("1"), doc("1.0")) == 0)
        #expect(AQLOrder.compare(doc("18446744073709551615"), doc("9223372036854775807")) == 1)
        #expect(AQLOrder.compare(doc("-1"), doc("18446744073709551615")) == -1)
        #expect(AQLOrder.isTrue(doc("0")) == false && AQLOrder.isTrue(doc("\"\"")) == false && AQLOrder.isTrue(doc("[]")))
    }

    @Test func indexConditionsComeFromTopLevelConjuncts() throws {
        let bound = try BoundQuery(QueryParser.parse(
            "FOR d IN c FILTER d.a == 1 AND 5 < d.b.c FILTER d.x IN [1, 2] AND (d.y == 1 OR d.z == 2) FILTER d.n != 3 RETURN d"),
            parameters: nil)
        let conditions = bound.indexConditions
        #expect(conditions.map(\.path) == [["a"], ["b", "c"], ["x"]])
        #expect(conditions.map(\.op) == [.equal, .greater, .equal])
        #expect(conditions[2].values.count == 2)
    }
}
