import AgencyCore
import AgencyStore
import Raft
import VelocyPack

// The clients of the simulated agency. Each runs one operation at a time against the agent
// it believes leads, follows redirects, and resends after a timeout or an unknown outcome:
// writes and transactions carry client ids, so a resend must never apply twice.

/// What a client is doing.
enum ClientOperation {
    /// Sets `/data/<id>` and increments `/seq` and `/count/<id>`, with client id `w<id>`.
    case write(id: UInt64)
    /// A transact: reads `/cas`, sets it to `expected + 1` if it still is `expected` (or
    /// absent when nil), reads it again; client id `c<id>`.
    case compareAndSwap(id: UInt64, expected: Int64?)
    /// Reads `/seq`, which must count at least the writes acknowledged before the read began.
    case read(minimumSequence: Int64)
    /// Sets `/ttl/<id>` with a TTL.
    case ttl(id: UInt64, milliseconds: Int)
    /// Polls from an index.
    case poll(from: UInt64)
    /// Registers an observer URL for `/data`.
    case observe(id: UInt64)
}

struct SimulatedClient {
    /// The agent the client believes leads.
    var leaderGuess = 0
    var operation: ClientOperation?
    /// The request id of the operation's latest attempt.
    var attempt: AgencyRequestID?
    /// The last `/cas` value the client saw (nil: absent or unknown).
    var knownSwapValue: Int64?
    /// The next index to poll from.
    var pollIndex: UInt64 = 1
}

/// One attempt of an operation, for its answer (which may come after the client gave up).
struct Attempt {
    let client: Int
    let operation: ClientOperation
}

extension AgencySimulation {
    /// The client starts its next operation, or resends the current one.
    func step(client: Int) throws {
        if clients[client].operation == nil {
            // After the faults, clients only finish what they started.
            guard faultsActive else { return }
            clients[client].operation = nextOperation(for: client)
        }
        send(client: client)
    }

    func nextOperation(for client: Int) -> ClientOperation {
        let id = nextOperationID
        nextOperationID += 1
        let choice = draw(0...99)
        switch choice {
        case 0..<45:
            issuedWriteIDs.append(id)
            return .write(id: id)
        case 45..<60:
            issuedSwapIDs.append(id)
            return .compareAndSwap(id: id, expected: clients[client].knownSwapValue)
        case 60..<78:
            return .read(minimumSequence: Int64(acknowledgedWrites.count))
        case 78..<88:
            return .ttl(id: id, milliseconds: draw(50...1500))
        case 88..<97:
            return .poll(from: clients[client].pollIndex)
        default:
            return .observe(id: id)
        }
    }

    /// Sends the client's operation to the agent it believes leads, as a new attempt.
    func send(client: Int) {
        guard let operation = clients[client].operation else { return }
        let id = AgencyRequestID(nextRequestID)
        nextRequestID += 1
        if clients[client].attempt != nil { report.retries += 1 }
        clients[client].attempt = id
        attempts[id] = Attempt(client: client, operation: operation)
        let agent = clients[client].leaderGuess
        record("client \(client) sends \(id) \(operation) to \(members[agent])")
        if faultsActive && random.chance(settings.dropProbability) {
            record("lose request \(id)")
        } else {
            queue.schedule(.request(agent: agent, id, request(for: operation)), at: now + networkDelay())
        }
        queue.schedule(.clientTimeout(client, id), at: now + settings.clientTimeoutMilliseconds)
    }

    func request(for operation: ClientOperation) -> ClientRequest {
        switch operation {
        case .write(let id):
            return .write(envelope { builder in
                builder.openArray()
                builder.openObject()
                builder.add(key: "/count/\(id)")
                addOperation(&builder, "increment")
                builder.add(key: "/data/\(id)", Int64(id))
                builder.add(key: "/seq")
                addOperation(&builder, "increment")
                builder.closeTrusted()
                builder.openObject()
                builder.closeTrusted()
                builder.add("w\(id)")
                builder.closeTrusted()
            })
        case let .compareAndSwap(id, expected):
            return .write(envelope { builder in
                builder.openArray()
                builder.add("/cas")
                builder.closeTrusted()
                builder.openArray()
                builder.openObject()
                builder.add(key: "/cas", (expected ?? 0) + 1)
                builder.closeTrusted()
                builder.openObject()
                builder.add(key: "/cas")
                if let expected {
                    builder.add(expected)
                } else {
                    builder.openObject()
                    builder.add(key: "oldEmpty", true)
                    builder.closeTrusted()
                }
                builder.closeTrusted()
                builder.add("c\(id)")
                builder.closeTrusted()
                builder.openArray()
                builder.add("/cas")
                builder.closeTrusted()
            })
        case .read:
            return .read(.read(body: envelope { builder in
                builder.openArray()
                builder.add("/seq")
                builder.closeTrusted()
            }))
        case let .ttl(id, milliseconds):
            return .write(envelope { builder in
                builder.openArray()
                builder.openObject()
                builder.add(key: "/ttl/\(id)")
                builder.openObject()
                builder.add(key: "op", "set")
                builder.add(key: "new", Int64(id))
                builder.add(key: "ttl", Double(milliseconds) / 1000)
                builder.closeTrusted()
                builder.closeTrusted()
                builder.closeTrusted()
            })
        case .poll(let from):
            return .poll(from: from, timeoutMilliseconds: UInt64(draw(0...500)))
        case .observe(let id):
            return .write(envelope { builder in
                builder.openArray()
                builder.openObject()
                builder.add(key: "/data")
                builder.openObject()
                builder.add(key: "op", "observe")
                builder.add(key: "url", "sim://observer/\(id)")
                builder.closeTrusted()
                builder.closeTrusted()
                builder.closeTrusted()
            })
        }
    }

    /// An answer reaches its client (if the client still waits for that attempt).
    func receiveAnswer(_ answer: AgencyAnswer, for id: AgencyRequestID) throws {
        if try clusterAnswer(answer, for: id) { return }
        guard let attempt = attempts.removeValue(forKey: id) else { return }
        let client = attempt.client
        // An applied write counts even when the client already resent it: it is a fact.
        if case .applied(let outcome) = answer {
            try note(outcome, of: attempt.operation)
            if case .compareAndSwap = attempt.operation { learnSwapValue(from: outcome, client: client) }
        }
        guard clients[client].attempt == id else {
            record("client \(client) ignores late answer to \(id)")
            return
        }
        switch answer {
        case .applied, .served:
            if case .served(let body) = answer { try note(served: body, of: attempt.operation, client: client) }
            record("client \(client) done with \(id)")
            clients[client].operation = nil
            clients[client].attempt = nil
            queue.schedule(.clientStep(client), at: now + draw(1...settings.clientThinkMillisecondsMax))
        case .refused(.notLeader(let hint)):
            clients[client].leaderGuess = hint.map { Int($0.rawValue) - 1 } ?? draw(0...(settings.nodeCount - 1))
            record("client \(client) redirected to \(members[clients[client].leaderGuess])")
            queue.schedule(.clientStep(client), at: now + draw(5...40))
        case .refused(.unknownOutcome(let reason)), .refused(.failed(let reason)):
            record("client \(client) retries \(id): \(reason)")
            if case .refused(.failed) = answer { clients[client].leaderGuess = draw(0...(settings.nodeCount - 1)) }
            queue.schedule(.clientStep(client), at: now + draw(5...100))
        case .refused(.invalid(let error)):
            throw failure("a valid request \(id) was refused as invalid: \(error)")
        }
    }

    /// The client heard nothing: it resends, possibly to another agent.
    func timeOut(client: Int, attempt id: AgencyRequestID) throws {
        guard clients[client].attempt == id else { return }
        record("client \(client) times out on \(id)")
        if random.chance(0.5) { clients[client].leaderGuess = draw(0...(settings.nodeCount - 1)) }
        send(client: client)
    }

    /// Records what an applied write or transaction came to.
    func note(_ outcome: AgencyApplyOutcome, of operation: ClientOperation) throws {
        switch operation {
        case .write(let id):
            guard case .applied(let index)? = outcome.results.first else {
                throw failure("write \(id) answered \(outcome.results) at \(outcome.index)")
            }
            if acknowledgedWrites[id] == nil {
                acknowledgedWrites[id] = index
                report.writesAcknowledged += 1
                record("write \(id) acknowledged at \(index)")
            }
        case .compareAndSwap(let id, _):
            guard outcome.results.count == 3 else { throw failure("transaction \(id) answered \(outcome.results)") }
            if case .applied = outcome.results[1] {
                if acknowledgedSwapIDs.insert(id).inserted { report.compareAndSwapsApplied += 1 }
            } else {
                report.compareAndSwapsRefused += 1
            }
        case .ttl:
            report.ttlKeysWritten += 1
        default:
            break
        }
    }

    /// Checks and records a served read or poll; a transaction's last read updates the
    /// client's view of `/cas`.
    func note(served body: [UInt8], of operation: ClientOperation, client: Int) throws {
        let answer = Slice(trustedBytes: body)
        switch operation {
        case .read(let minimumSequence):
            let sequence = answer[0]?["seq"]?.intValue ?? 0
            // Linearizability: every write acknowledged before the read began incremented /seq.
            guard sequence >= minimumSequence else {
                throw failure("stale read: /seq is \(sequence) but \(minimumSequence) writes were acknowledged before the read")
            }
            guard sequence <= Int64(issuedWriteIDs.count) else {
                throw failure("read /seq \(sequence) exceeds the \(issuedWriteIDs.count) writes ever issued")
            }
            report.readsServed += 1
        case .poll(let from):
            guard let commit = answer["commitIndex"]?.uintValue else { throw failure("poll answer without commitIndex") }
            if let log = answer["log"], log.isArray {
                var previous: UInt64 = 0
                for entry in log.arrayElements {
                    guard let index = entry["index"]?.uintValue, index >= from, index <= commit, index > previous else {
                        throw failure("poll from \(from) answered an entry out of order or range (commit \(commit))")
                    }
                    previous = index
                }
            }
            clients[client].pollIndex = max(clients[client].pollIndex, commit + 1)
            report.pollsServed += 1
        default:
            break
        }
    }

    /// The transaction's answer updates the client's view of `/cas` (its last element).
    func learnSwapValue(from outcome: AgencyApplyOutcome, client: Int) {
        guard outcome.results.count == 3, case .read(let bytes) = outcome.results[2] else { return }
        clients[client].knownSwapValue = Slice(trustedBytes: bytes)["cas"]?.intValue
    }

    /// Answers leave the agent through the network (and may be lost on the way).
    func answerClient(_ id: AgencyRequestID, _ answer: AgencyAnswer, from index: Int) {
        if faultsActive && random.chance(settings.dropProbability) {
            record("lose answer to \(id) from \(members[index])")
            return
        }
        queue.schedule(.answer(id, answer), at: now + networkDelay())
    }

    func envelope(_ build: (inout Builder) -> Void) -> [UInt8] {
        var builder = Builder()
        builder.openArray()
        build(&builder)
        builder.closeTrusted()
        return builder.bytes
    }

    func addOperation(_ builder: inout Builder, _ name: String) {
        builder.openObject()
        builder.add(key: "op", name)
        builder.closeTrusted()
    }
}
