import AgencyCore
import AgencyStore
import Raft
public import Server
import VelocyPack
import ArangoAPI
import VelocyStream
import ClusterMember

/// The agency API of one agent (`/_api/agency/*`, ArangoDB's shapes) and the internal Raft
/// endpoint. Handlers run on the loop thread, where the agent lives.
///
/// A follower answers writes and reads with 307 and the leader's endpoint in the `location`
/// meta (the agency client follows it); `config` is served by every agent.
public struct AgentRoutes: Sendable {
    public let agent: Agent

    public init(agent: Agent) { self.agent = agent }

    public func register(in router: inout Router) {
        let agent = self.agent
        for (path, kind) in [("/_api/agency/write", AgencyEnvelope.Kind.write), ("/_api/agency/transact", .transact)] {
            router.addDeferrable(.post, path) { request throws(ArangoError) in
                let body = try Self.envelopeBody(request)
                do throws(AgencyError) {
                    _ = try AgencyEnvelope(validating: body, as: kind)
                } catch {
                    throw ArangoError(status: 400, .badParameter, "invalid agency \(kind == .write ? "write" : "transaction"): \(error)")
                }
                return .later { respond in
                    agent.write(envelope: body) { answer in
                        switch answer {
                        case .applied(let outcome):
                            let status = outcome.allWritesApplied ? 200 : 412
                            respond(ServerResponse(status: status, body: kind == .write ? outcome.writeAnswer() : outcome.transactAnswer()))
                        case .refused(let refusal):
                            respond(Self.response(for: refusal, agent: agent, path: path))
                        case .served:
                            respond(ServerResponse(ArangoError(status: 500, .internalError, "a write was answered like a read")))
                        }
                    }
                }
            }
        }
        router.addDeferrable(.post, "/_api/agency/read") { request throws(ArangoError) in
            let body = try Self.envelopeBody(request)
            do throws(AgencyError) {
                _ = try AgencyEnvelope(validating: body, as: .read)
            } catch {
                throw ArangoError(status: 400, .badParameter, "invalid agency read: \(error)")
            }
            return .later { respond in
                agent.read(.read(body: body)) { answer in
                    respond(Self.response(for: answer, agent: agent, path: "/_api/agency/read", invalid: "invalid agency read"))
                }
            }
        }
        router.addDeferrable(.post, "/_api/agency/inquire") { request throws(ArangoError) in
            let body = try Self.envelopeBody(request)
            let ids: [String]
            do throws(AgencyError) {
                ids = try AgencyInquiry.parseRequest(body)
            } catch {
                throw ArangoError(status: 400, .badParameter, "invalid inquire: \(error)")
            }
            return .later { respond in
                agent.read(.inquire(clientIds: ids)) { answer in
                    respond(Self.response(for: answer, agent: agent, path: "/_api/agency/inquire", invalid: "invalid inquire"))
                }
            }
        }
        router.addDeferrable(.get, "/_api/agency/poll") { request throws(ArangoError) in
            guard agent.role == .leader else {
                return .now(Self.response(for: .notLeader(agent.leaderID), agent: agent, path: "/_api/agency/poll"))
            }
            let index = UInt64(request.parameter("index") ?? "0") ?? 0
            let timeout = min(max(Double(request.parameter("timeout") ?? "30") ?? 30, 0), 300)
            return .later { respond in
                agent.poll(from: index, timeoutMilliseconds: UInt64(timeout * 1000)) { answer in
                    respond(Self.response(for: answer, agent: agent, path: "/_api/agency/poll", invalid: "invalid poll"))
                }
            }
        }
        router.add(.get, "/_api/agency/config") { _ in
            var builder = Builder()
            builder.openObject()
            builder.add(key: "term", agent.term)
            builder.add(key: "leaderId")
            if let leader = agent.leaderID { builder.add(String(leader.rawValue)) } else { builder.addNull() }
            builder.add(key: "role", agent.role.rawValue)
            builder.add(key: "commitIndex", agent.commitIndex)
            builder.add(key: "appliedIndex", agent.appliedIndex)
            builder.add(key: "configuration")
            builder.openObject()
            builder.add(key: "id", String(agent.options.id.rawValue))
            builder.add(key: "pool")
            builder.openObject()
            for member in agent.options.members { builder.add(key: String(member.id.rawValue), member.endpoint.description) }
            builder.closeTrusted()
            builder.add(key: "active")
            builder.openArray()
            for member in agent.options.members { builder.add(String(member.id.rawValue)) }
            builder.closeTrusted()
            builder.closeTrusted()
            if let failure = agent.failure { builder.add(key: "failure", failure) }
            builder.closeTrusted()
            return ServerResponse(status: 200, builder)
        }
        router.add(.post, "/_api/agency_priv/raft") { request throws(ArangoError) in
            guard let body = request.body else { throw ArangoError.badBody("a Raft message is required") }
            let message: RaftMessage
            do throws(RaftCodecError) {
                message = try RaftCodec.decodeMessage(Array(body.bytes))
            } catch {
                throw ArangoError(status: 400, .badParameter, "invalid Raft message: \(error)")
            }
            guard message.to == agent.options.id, agent.options.members.contains(where: { $0.id == message.from }) else {
                throw ArangoError(status: 400, .badParameter, "Raft message from \(message.from) to \(message.to) is not for this agency member")
            }
            agent.receive(message)
            return ServerResponse(status: 202)
        }
    }

    static func envelopeBody(_ request: ServerRequest) throws(ArangoError) -> [UInt8] {
        guard let body = request.body else { throw ArangoError.badBody("the agency expects an array body") }
        return Array(body.bytes)
    }

    /// The response to a served read, inquire or poll, or to a refusal.
    static func response(for answer: AgencyAnswer, agent: Agent, path: String, invalid: String) -> ServerResponse {
        switch answer {
        case .served(let body):
            return ServerResponse(status: 200, body: body)
        case .refused(.invalid(let error)):
            return ServerResponse(ArangoError(status: 400, .badParameter, "\(invalid): \(error)"))
        case .refused(let refusal):
            return response(for: refusal, agent: agent, path: path)
        case .applied:
            return ServerResponse(ArangoError(status: 500, .internalError, "a read was answered like a write"))
        }
    }

    static func response(for refusal: AgencyRefusal, agent: Agent, path: String) -> ServerResponse {
        switch refusal {
        case .notLeader(let hint):
            if let hint, let endpoint = agent.endpoint(of: hint), hint != agent.options.id {
                var response = ServerResponse(ArangoError(status: 307, .clusterNotLeader, "not the agency leader; the leader is \(endpoint)"))
                response.meta["location"] = endpoint.description
                return response
            }
            return ServerResponse(ArangoError(status: 503, .clusterLeadershipChallengeOngoing, "no agency leader is known at the moment; try again"))
        case .unknownOutcome(let reason):
            return ServerResponse(ArangoError(status: 503, .clusterTimeout, "outcome unknown (\(reason)); a write with a client id can be looked up with inquire"))
        case .failed(let reason):
            return ServerResponse(ArangoError(status: 500, .internalError, reason))
        case .invalid(let error):
            return ServerResponse(ArangoError(status: 400, .badParameter, "invalid agency request: \(error)"))
        }
    }
}
