// libFuzzer target: the agency store's decoders of foreign bytes — request envelopes
// (`AgencyEnvelope(validating:as:)`), log entry payloads (`AgencyStore.apply`, which must be
// total) and snapshots (`AgencyStore(restoring:)`).
//
// Input: a mode byte, then the bytes. Mode bits 0–1 pick the decoder: 0 a log entry payload,
// 1 a transact request envelope (validated as the leader does, then logged and applied), 2 a
// snapshot, 3 a read request. Mode bit 2 set: the bytes are JSON text, parsed to VelocyPack
// first (so the seeds can be written by hand).
//
// Properties beyond "does not crash":
//
// - Apply is total and deterministic: any payload advances the index; two copies of a store
//   that apply the same payload give byte-identical snapshots and equal notifications; an
//   undecodable payload changes nothing but the index.
// - Validation and apply agree: an envelope the leader accepts is never answered `invalid`
//   by apply, and has one result per element.
// - The snapshot after any apply restores, and re-snapshots to exactly the same bytes; an
//   accepted foreign snapshot reaches that fixed point after one round.
// - Refusals carry a reason.
//
// Build and run with `Fuzz/run.sh` (compiled with Sources/AgencyStore).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    AgencyStoreFuzz.check(input)
    return 0
}

func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzAgencyStore property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum AgencyStoreFuzz {
    /// A small store with values, a TTL, a client id and an observer, for entries to act on.
    static let base: AgencyStore = {
        var store = AgencyStore()
        let body = #"[[{"/a": {"b": [1, 2, "x"], "c": {"d": 1}}, "/n": 5, "/t": {"op": "set", "new": 1, "ttl": 1}, "/a/c": {"op": "observe", "url": "http://o"}}, {}, "seed"]]"#
        let envelope = try! JSONParser.parse(body).slice
        _ = store.apply(index: 1, payload: AgencyLogEntry.payload(timeMilliseconds: 1_000, envelope: envelope))
        return store
    }()

    static func check(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        var bytes = Array(input.dropFirst())
        if mode & 4 == 4 {
            guard let parsed = try? JSONParser.parse(bytes) else { return }
            bytes = parsed.bytes
        }
        switch mode & 3 {
        case 0: checkEntry(bytes, input: input)
        case 1: checkEnvelope(bytes, input: input)
        case 2: checkSnapshot(bytes, input: input)
        default: checkRead(bytes, input: input)
        }
    }

    /// Applies `payload` to two copies of the base store and checks totality and determinism.
    @discardableResult
    static func applyTwice(_ payload: [UInt8], input: [UInt8]) -> AgencyApplyOutcome {
        var first = base, second = base
        let outcome = first.apply(index: 2, payload: payload)
        let again = second.apply(index: 2, payload: payload)
        if first.index != 2 { violated("index did not advance", input) }
        let snapshot = first.snapshot()
        if snapshot != second.snapshot() { violated("same entry, different snapshots", input) }
        if outcome.notifications != again.notifications || outcome.results != again.results {
            violated("same entry, different answers", input)
        }
        if let error = outcome.error {
            if error.detail.isEmpty { violated("refusal without reason", input) }
            var unchanged = base
            unchanged.index = 2
            if unchanged.snapshot() != snapshot { violated("undecodable entry changed the store", input) }
        }
        do {
            let restored = try AgencyStore(restoring: snapshot)
            if restored.snapshot() != snapshot { violated("snapshot does not round-trip", input) }
        } catch {
            violated("own snapshot refused: \(error)", input)
        }
        _ = outcome.writeAnswer()
        _ = outcome.transactAnswer()
        for notification in outcome.notifications { _ = notification.body(term: 1) }
        _ = first.poll(from: 2).encoded()
        return outcome
    }

    static func checkEntry(_ payload: [UInt8], input: [UInt8]) {
        applyTwice(payload, input: input)
    }

    static func checkEnvelope(_ bytes: [UInt8], input: [UInt8]) {
        let envelope: AgencyEnvelope
        do {
            envelope = try AgencyEnvelope(validating: bytes, as: .transact)
        } catch {
            if error.detail.isEmpty { violated("refusal without reason", input) }
            return
        }
        let payload = AgencyLogEntry.payload(timeMilliseconds: 2_000, envelope: Slice(trustedBytes: bytes))
        let outcome = applyTwice(payload, input: input)
        if outcome.error != nil { violated("validated envelope undecodable: \(outcome.error!)", input) }
        if outcome.results.count != envelope.elements.count { violated("result count differs from element count", input) }
        for result in outcome.results {
            if case .invalid(let error) = result { violated("validated element refused at apply: \(error)", input) }
        }
    }

    static func checkSnapshot(_ bytes: [UInt8], input: [UInt8]) {
        let store: AgencyStore
        do {
            store = try AgencyStore(restoring: bytes)
        } catch {
            if error.detail.isEmpty { violated("refusal without reason", input) }
            return
        }
        let snapshot = store.snapshot()
        do {
            let again = try AgencyStore(restoring: snapshot)
            if again.snapshot() != snapshot { violated("re-snapshot differs", input) }
            if again.index != store.index { violated("index changed in the round trip", input) }
        } catch {
            violated("own snapshot refused: \(error)", input)
        }
    }

    static func checkRead(_ bytes: [UInt8], input: [UInt8]) {
        do {
            let answer = try base.readAnswer(request: bytes)
            guard let slice = try? Slice(validating: answer), slice.isArray else { violated("read answer invalid", input) }
        } catch {
            if error.detail.isEmpty { violated("refusal without reason", input) }
        }
    }
}
