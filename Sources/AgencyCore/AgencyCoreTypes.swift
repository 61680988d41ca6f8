public import AgencyStore
public import Raft

/// The driver's name for one client request to an ``AgencyNodeCore``; the core hands it back
/// with the request's answer. The driver chooses the values (unique among its open requests).
public struct AgencyRequestID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    /// Wraps a driver-chosen number.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Shorthand for ``init(rawValue:)``.
    public init(_ rawValue: UInt64) { self.init(rawValue: rawValue) }

    public static func < (lhs: AgencyRequestID, rhs: AgencyRequestID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "r\(rawValue)" }
}

/// A linearizable read the core serves from its store once the read index is applied.
public enum AgencyReadRequest: Sendable, Equatable {
    /// `POST /_api/agency/read`: the body, already validated with
    /// `AgencyEnvelope(validating:as: .read)`; answered with ``AgencyStore/readAnswer(request:)``.
    case read(body: [UInt8])
    /// `POST /_api/agency/inquire`: the client ids; answered with `AgencyInquiry.answer`.
    case inquire(clientIds: [String])
}

/// Why the core did not serve a request.
public enum AgencyRefusal: Error, Sendable, Equatable {
    /// Another agent leads (its id, if known): the client should go there.
    case notLeader(NodeID?)
    /// The entry was lost in a leadership change, or no answer came in time: the outcome is
    /// unknown; a client with a client id asks `inquire` or resends.
    case unknownOutcome(String)
    /// The agent cannot serve at all (its disk failed, or it is shutting down).
    case failed(String)
    /// The read body could not be answered (it did not parse when served).
    case invalid(AgencyError)
}

/// The answer to one client request.
public enum AgencyAnswer: Sendable {
    /// A `write` or `transact`: its log entry applied; the outcome holds one result per element.
    case applied(AgencyApplyOutcome)
    /// A `read`, `inquire` or `poll`: the answer body (VelocyPack), served with status 200.
    case served([UInt8])
    /// Not served.
    case refused(AgencyRefusal)
}

/// One thing the driver must do, in the order ``AgencyNodeCore/nextActions()`` lists them.
public enum AgencyAction: Sendable {
    /// Make this part of a Raft Ready durable (`RaftPersistence.persist`), fsyncing when `sync`
    /// is true, then call ``AgencyNodeCore/persisted()`` (or
    /// ``AgencyNodeCore/persistenceFailed(_:)``). Always the last action of a batch: nothing
    /// after it may happen before the state is durable.
    case persist(snapshot: RaftSnapshot?, logWrite: RaftReady.LogWrite?, hardState: HardState?, sync: Bool)
    /// Send a Raft message to its `to` (may be lost; Raft retries).
    case send(RaftMessage)
    /// Answer the request `id`.
    case answer(AgencyRequestID, AgencyAnswer)
    /// POST `notification.body(term: term)` to `notification.url` (observers; best effort).
    case notify(AgencyNotification, term: Term)
}

/// The slot for the agency's *supervision* (health checks and jobs, `DESIGN.md`): the core
/// calls ``step(store:term:nowMilliseconds:)`` on the leader once per tick, after the TTL
/// sweep, and proposes every envelope it returns. It must be deterministic: its inputs are the
/// committed store, the term and the time passed in.
public protocol AgencySupervision: Sendable {
    /// Decides what the leader writes now.
    ///
    /// - Parameters:
    ///   - store: the store as applied on the leader.
    ///   - term: the leader's term.
    ///   - nowMilliseconds: the wall clock passed to ``AgencyNodeCore/tick(wallMilliseconds:)``.
    /// - Returns: write envelopes (VelocyPack arrays of transactions that pass
    ///   `AgencyEnvelope(validating:as: .write)`) to propose, in order.
    mutating func step(store: AgencyStore, term: Term, nowMilliseconds: Int64) -> [[UInt8]]

    /// What the steps since the last call decided and why, for the driver's log.
    mutating func takeNotes() -> [String]
}

extension AgencySupervision {
    public mutating func takeNotes() -> [String] { [] }
}

/// Supervision that does nothing (the agency has none yet).
public struct NoSupervision: AgencySupervision {
    public init() {}
    public func step(store: AgencyStore, term: Term, nowMilliseconds: Int64) -> [[UInt8]] { [] }
}
