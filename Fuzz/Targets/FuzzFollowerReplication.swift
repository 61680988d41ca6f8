// libFuzzer target: the follower's fencing core (`FollowerReplication`), driven by a program
// of events as its driver would send them — a resync begins under some leader and epoch,
// following starts at a position, the session ends, and batches from various leaders,
// epochs and positions are checked (and applied when the core says so) under the leader
// Plan names at that moment. Each batch is built, encoded and decoded with
// `ApplyBatch(decoding:)` first, as it arrives from the network.
//
// Input: the program. Each event takes a byte (its kind and choices) and a few more.
//
// Properties beyond "does not crash", checked against a model of `Protocol/Replication.md` §2:
//
// - Every decision, refusal and state change is the model's (the model is the table of §2,
//   checked in its order).
// - A batch is `.apply` only when its leader is Plan's and the session's, its epoch the
//   session's and `previous` the position.
// - Within a session the position only moves forward.
// - An older epoch never ends the session; a newer epoch or a gap always does, and names
//   why in `lastEnd` (the new epoch, or the `previous` that does not follow). Any other
//   refusal changes nothing, `lastEnd` included.
//
// Build and run with `Fuzz/run.sh` (compiled with Sources/VelocyPack and Sources/Replication
// in one module).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    FollowerReplicationFuzz.run(input)
    return 0
}

/// Stops the run with a message that names the property; libFuzzer saves the input.
func violated(_ message: String, _ input: [UInt8]) -> Never {
    let shown = input.count <= 256 ? Hex.encode(input) : Hex.encode(input.prefix(256)) + "..."
    fatalError("FuzzFollowerReplication property violated: \(message)\n  input (\(input.count) bytes): \(shown)")
}

enum FollowerReplicationFuzz {
    static let leaders = ["PRMR-a", "PRMR-b", "PRMR-c"]
    static let eventCountMax = 256

    /// The follower as §2 describes it.
    enum Model: Equatable {
        case idle
        case resyncing(leader: String, epoch: UInt64)
        case following(leader: String, epoch: UInt64, position: UInt64)
    }

    /// What the model expects of one check.
    enum Expected: Equatable {
        case apply, alreadyApplied(UInt64), notTheLeader, noSession(endsSession: Bool), gap(expected: UInt64, got: UInt64)
    }

    static func run(_ program: [UInt8]) {
        var reader = ProgramReader(bytes: program)
        var core = FollowerReplication()
        var model = Model.idle
        var events = 0
        while reader.hasMore, events < eventCountMax {
            events += 1
            let event = reader.byte()
            switch event % 8 {
            case 0:
                let stream = identity(leader: leaders[Int(reader.byte()) % leaders.count], epoch: UInt64(reader.byte() % 4 + 1))
                core.beginResync(stream)
                model = .resyncing(leader: stream.leader, epoch: stream.epoch)
            case 1:
                let after = UInt64(reader.byte() % 16)
                core.startFollowing(after: after)
                switch model {
                case .idle: break
                case .resyncing(let leader, let epoch), .following(let leader, let epoch, _):
                    model = .following(leader: leader, epoch: epoch, position: after)
                }
            case 2:
                core.end("the driver ended it")
                model = .idle
            default:
                checkBatch(&core, &model, &reader, program)
            }
            if state(of: core) != model { violated("after event \(events): core is \(core.state), model \(model)", program) }
        }
    }

    static func identity(leader: String, epoch: UInt64) -> StreamIdentity {
        StreamIdentity(database: "_system", shard: "s101", leader: leader, epoch: epoch)
    }

    static func state(of core: FollowerReplication) -> Model {
        switch core.state {
        case .idle: .idle
        case .resyncing(let stream): .resyncing(leader: stream.leader, epoch: stream.epoch)
        case .following(let stream, let position): .following(leader: stream.leader, epoch: stream.epoch, position: position)
        }
    }

    /// A batch near the model's position, from a leader and epoch near the session's, checked
    /// under a Plan leader; applied when the core says so.
    static func checkBatch(_ core: inout FollowerReplication, _ model: inout Model, _ reader: inout ProgramReader, _ program: [UInt8]) {
        let choices = reader.byte()
        let planLeader: String? = choices % 4 == 3 ? nil : leaders[Int(choices % 4)]
        let leader = leaders[Int((choices >> 2) % 3)]
        let epoch = UInt64(reader.byte() % 4 + 1)
        let position: UInt64 = if case .following(_, _, let position) = model { position } else { 0 }
        // previous lands before, at or after the position, a little more often at it.
        let offset = Int(reader.byte() % 8) - 3
        let previous = offset < 0 ? position - min(position, UInt64(-offset)) : position + UInt64(max(0, offset - 1))
        var operations: [ReplicatedOperation] = []
        var sequence = previous
        for _ in 0..<(reader.byte() % 4) {
            sequence += UInt64(reader.byte() % 3 + 1)
            operations.append(ReplicatedOperation(kind: .removal, sequence: sequence, revision: sequence, key: Array("k".utf8)))
        }
        let built = ApplyBatch(stream: identity(leader: leader, epoch: epoch), previous: previous, waitForSync: false, operations: operations)
        let batch: ApplyBatch
        do { batch = try ApplyBatch(decoding: Slice(validating: built.vpack, options: .strict)) } catch {
            violated("a built batch is refused: \(error)", program)
        }
        if batch != built { violated("a built batch decodes differently", program) }

        let expected = expectation(batch, planLeader: planLeader, model)
        let endsBefore = core.lastEnd
        var ended = false
        let decision = Result(catching: { () throws(ReplicationError) in try core.check(batch, planLeader: planLeader) })
        switch (decision, expected) {
        case (.success(.apply), .apply):
            if batch.stream.leader != planLeader || previous != position { violated("applied off the position or from the wrong leader", program) }
            core.applied(through: batch.last)
            if case .following(let leader, let epoch, _) = model {
                model = .following(leader: leader, epoch: epoch, position: max(position, batch.last))
            }
        case (.success(.alreadyApplied(let answered)), .alreadyApplied(let position)) where answered == position:
            break
        case (.failure(.notTheLeader), .notTheLeader):
            break
        case (.failure(.noSession), .noSession(let endsSession)):
            if endsSession {
                model = .idle
                ended = true
                if core.lastEnd?.contains("\(batch.stream.epoch)") != true { violated("a newer epoch ended the session without naming it", program) }
            }
        case (.failure(.gap(let expectedPosition, let got)), .gap(let position, let previous)) where expectedPosition == position && got == previous:
            model = .idle
            ended = true
            if core.lastEnd?.contains("\(previous)") != true { violated("a gap ended the session without naming it", program) }
        default:
            violated("batch \(batch.stream.leader)@\(batch.stream.epoch) previous \(previous) last \(batch.last) under Plan \(planLeader ?? "none") "
                     + "in \(model): core says \(decision), model \(expected)", program)
        }
        if !ended, core.lastEnd != endsBefore { violated("a batch that keeps the session changed lastEnd", program) }
        if case .following = model, case .following(_, _, let after) = state(of: core), after < position {
            violated("the position moved back from \(position) to \(after)", program)
        }
    }

    /// §2's table, in its order.
    static func expectation(_ batch: ApplyBatch, planLeader: String?, _ model: Model) -> Expected {
        guard batch.stream.leader == planLeader else { return .notTheLeader }
        guard case let .following(leader, epoch, position) = model else { return .noSession(endsSession: false) }
        guard batch.stream.leader == leader, batch.stream.epoch >= epoch else { return .notTheLeader }
        if batch.stream.epoch > epoch { return .noSession(endsSession: true) }
        if batch.previous == position { return .apply }
        if batch.last <= position { return .alreadyApplied(position) }
        return .gap(expected: position, got: batch.previous)
    }
}

/// Hands out the bytes of a program; zeros once it runs out.
struct ProgramReader {
    let bytes: [UInt8]
    var position = 0

    var hasMore: Bool { position < bytes.count }

    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        position += 1
        return bytes[position - 1]
    }
}
