/// Where a driver keeps what a ``RaftNode`` needs across restarts: the hard state, the latest
/// snapshot and the log after it (`Protocol/Raft.md` §4).
///
/// The contract is the first step of a ``RaftReady``: ``persist(snapshot:logWrite:hardState:sync:)``
/// writes, in this order, the snapshot (then drops durable entries at or below its index), the
/// log change (truncate, then append) and the hard state, and when `sync` is true makes all of
/// it durable before it returns. ``load()`` reads back exactly what earlier calls made durable,
/// stopping at the first incomplete or corrupt record of an unsynced tail.
///
/// The agent's `RaftDisk` (target `AgentStorage`) conforms; a simulator may keep its disk in
/// memory. Implementations are called from one thread (the driver's) at a time.
public protocol RaftPersistence: AnyObject {
    /// The durable state to restart a node from (``RaftNode/init(configuration:restoring:)``).
    ///
    /// - Throws: when the stored state cannot be read or is corrupt beyond a torn tail.
    func load() throws -> RaftDurableState

    /// Makes the persistence part of a ``RaftReady`` durable, in the contract's order.
    ///
    /// - Parameters:
    ///   - snapshot: ``RaftReady/snapshot``, written first.
    ///   - logWrite: ``RaftReady/logWrite``, written second.
    ///   - hardState: ``RaftReady/hardState``, written last.
    ///   - sync: ``RaftReady/mustSync``: fsync everything before returning.
    /// - Throws: when writing or syncing fails; the node must then stop taking part (it must
    ///   not vote or acknowledge on state that may not be durable).
    func persist(snapshot: RaftSnapshot?, logWrite: RaftReady.LogWrite?, hardState: HardState?, sync: Bool) throws
}
