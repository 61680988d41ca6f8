import TesseraPlatform

/// What a collection needs from synchronous replication: a DBServer installs it on each shard
/// that has copies elsewhere (``DocumentCollection/setReplication(_:)``).
///
/// - On a leader it admits a write only while enough copies are in sync (`writeConcern`), and
///   holds the write's acknowledgement until every in-sync follower has applied it.
/// - On a follower it refuses every client write (the leader's writes arrive by replication,
///   straight into the shard engine).
public protocol WriteReplication: AnyObject, Sendable {
    /// nil when a client write may be made now; otherwise the error to answer with
    /// (1004 read-only, 1490 a follower). Called on any thread; must not block.
    func refusal() -> DocumentError?

    /// Calls `completion` once every in-sync follower has applied the shard's log up to
    /// `sequence` (durably when `durable`), with nil, or with the error to answer with
    /// instead. Called on any thread; `completion` may run on any thread.
    func replicate(upTo sequence: UInt64, durable: Bool, _ completion: @escaping @Sendable (DocumentError?) -> Void)
}

extension DocumentCollection {
    /// Installs (or with nil removes) the shard's replication.
    public func setReplication(_ replication: (any WriteReplication)?) {
        replicationHook.withLock { $0 = replication }
    }

    /// The installed replication, if any.
    public var replication: (any WriteReplication)? { replicationHook.withLock { $0 } }

    /// Whether writes wait for followers: their answers must go through
    /// ``acknowledge(sequence:waitForSync:_:)``, not leave at the end of a loop turn.
    public var isReplicated: Bool { replication != nil }

    /// Throws the replication's refusal of client writes, if any.
    func admitWrite() throws(DocumentError) {
        if let refusal = replication?.refusal() { throw refusal }
    }
}

/// Calls a completion once after `count` parts finished; the first error wins.
final class CompletionJoin: Sendable {
    let state: Locked<(left: Int, error: DocumentError?)>
    let completion: @Sendable (DocumentError?) -> Void

    init(count: Int, _ completion: @escaping @Sendable (DocumentError?) -> Void) {
        state = Locked((count, nil))
        self.completion = completion
    }

    func finished(_ error: DocumentError?) {
        let done: (Bool, DocumentError?) = state.withLock { state in
            if state.error == nil { state.error = error }
            state.left -= 1
            return (state.left == 0, state.error)
        }
        if done.0 { completion(done.1) }
    }
}
