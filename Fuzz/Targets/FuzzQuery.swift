// libFuzzer target: the query parser and binder, which take untrusted query text and bind
// parameters from `/_api/cursor`.
//
// Input: the query text (bytes decoded as UTF-8, invalid sequences replaced).
//
// Properties beyond "does not crash":
// - Parsing is deterministic, and a refusal carries one of the documented error kinds with a
//   message.
// - Binding an accepted query with no parameters either succeeds or fails only with a bind
//   parameter error.
// - Index safety: for every bound query and every one of a fixed set of documents that
//   passes the FILTERs, every condition `indexConditions` reports holds for that document
//   (an index may only narrow the candidates, never drop a match).
// - Evaluation of the projection and the SORT order never crashes, and the order is
//   irreflexive.
//
// Build and run with `Fuzz/run.sh` (compiled together with Sources/VelocyPack and
// Sources/Query in one module).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    QueryFuzz.check(input)
    return 0
}

func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = String(decoding: input.prefix(300), as: UTF8.self)
    fatalError("FuzzQuery property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum QueryFuzz {
    /// Documents of varied shapes the filters run over.
    static let documents: [Slice] = [
        #"{"_key": "a", "n": 1, "s": "x", "b": true, "o": {"v": 2}, "l": [1, 2]}"#,
        #"{"_key": "b", "n": 2.5, "s": "y", "b": false, "o": {"v": null}}"#,
        #"{"_key": "c", "n": null, "l": []}"#,
        #"{"_key": "d", "n": -7, "s": "", "o": 5}"#,
        "{}",
    ].map { try! JSONParser.parse($0).slice }

    static func check(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        let first = Result { () throws(QueryError) in try QueryParser.parse(text) }
        let second = Result { () throws(QueryError) in try QueryParser.parse(text) }
        switch (first, second) {
        case let (.success(a), .success(b)):
            if a != b { violated("two parses of the same text differ", input) }
            checkAccepted(a, input)
        case let (.failure(a), .failure(b)):
            if a != b { violated("two parses refuse differently: \(a) / \(b)", input) }
            if a.message.isEmpty { violated("refusal without a message", input) }
        default:
            violated("two parses of the same text disagree", input)
        }
    }

    static func checkAccepted(_ query: Query, _ input: [UInt8]) {
        let bound: BoundQuery
        do throws(QueryError) {
            bound = try BoundQuery(query, parameters: nil)
        } catch {
            switch error.kind {
            case .bindParameterMissing, .bindParameterType, .bindParameterUndeclared: return
            default: violated("binding without parameters failed with \(error)", input)
            }
        }
        let conditions = bound.indexConditions
        for document in documents {
            var builder = Builder()
            bound.project(document, into: &builder)
            if bound.sortsBefore(document, document) { violated("SORT order is not irreflexive", input) }
            guard bound.matches(document) else { continue }
            for condition in conditions {
                var value = document
                var found = true
                for name in condition.path {
                    guard value.isObject, let member = value[name] else { found = false; break }
                    value = member
                }
                let actual = found ? value : Slice(trustedBytes: [0x18])
                let holds: Bool
                if condition.values.isEmpty {
                    holds = condition.op.holds(forOrder: AQLOrder.compare(actual, Slice(trustedBytes: condition.value)))
                } else {
                    holds = condition.values.contains { AQLOrder.compare(actual, Slice(trustedBytes: $0)) == 0 }
                }
                if !holds {
                    violated("document \(try! JSONDumper.dumpString(document)) passes the filters but not the index condition \(condition)", input)
                }
            }
        }
    }
}
