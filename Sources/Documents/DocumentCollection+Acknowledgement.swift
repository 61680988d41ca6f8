public import Storage
import TesseraPlatform

extension DocumentCollection {
    /// The one place that decides when a write to this collection may be answered.
    ///
    /// A write is acknowledged only after
    /// 1. it is applied (the caller made it; `sequence` is its ``DocumentOutcome/sequence``, or
    ///    the largest of a batch),
    /// 2. its record is in the operating system (`pwrite` done), so a crash of this process
    ///    cannot lose it — also without `waitForSync`,
    /// 3. it is durable (`fdatasync` done) when the write asked for `waitForSync`, so a crash
    ///    of the machine cannot lose it either.
    ///
    /// 4. every in-sync follower has applied it (durably when `waitForSync`), when the shard
    ///    is replicated (``WriteReplication``). The local steps and the followers' run side
    ///    by side; the answer waits for both, and either's error is the answer.
    ///
    /// Never blocks: `completion` runs at once on the caller's thread when no sync is needed,
    /// otherwise on the engine's syncing thread once the group commit covers `sequence`. It
    /// gets nil for "answer now", or the error to answer with instead.
    ///
    /// - Parameters:
    ///   - sequence: the last engine sequence the answer covers (0 when nothing was written).
    ///   - waitForSync: the write's effective `waitForSync` (the request's, else the collection's).
    public func acknowledge(sequence: UInt64, waitForSync: Bool,
                            _ completion: @escaping @Sendable (DocumentError?) -> Void) {
        guard sequence > 0 else { return completion(nil) }
        if let replication {
            let join = CompletionJoin(count: 2, completion)
            replication.replicate(upTo: sequence, durable: waitForSync) { join.finished($0) }
            acknowledgeLocally(sequence: sequence, waitForSync: waitForSync) { join.finished($0) }
            return
        }
        acknowledgeLocally(sequence: sequence, waitForSync: waitForSync, completion)
    }

    func acknowledgeLocally(sequence: UInt64, waitForSync: Bool, _ completion: @escaping @Sendable (DocumentError?) -> Void) {
        let name = self.name
        guard waitForSync else {
            do { try engine.writeOut() } catch { return completion(DocumentError(error, collection: name)) }
            return completion(nil)
        }
        // The group commit writes out every buffered record before its `fdatasync`, so the
        // writers it syncs together also share one `pwrite`.
        engine.whenDurable(sequence) { failure in
            completion(failure.map { DocumentError($0, collection: name) })
        }
    }
}

extension DocumentCollection {
    /// The last step of a not-synced acknowledgement for a caller whose answers leave
    /// together at the end of an event-loop turn (`AnswerGate`): the write was made with
    /// ``DocumentOptions/defersFileWrite``, its answer is queued, and this runs before the
    /// answer leaves. The first call of a turn hands every buffered record to the operating
    /// system with one `pwrite`; the others find nothing left to write.
    ///
    /// - Returns: false when the records could not be written (the engine is then failed,
    ///   and logged): the answer must not leave.
    public func writtenOut(upTo sequence: UInt64) -> Bool {
        guard sequence > 0 else { return true }
        do {
            try engine.writeOut()
            return true
        } catch {
            DocumentStore.log.critical("cannot hand the writes of \(name) to the operating system; their answers are withheld: \(error)")
            return false
        }
    }

    /// ``acknowledge(sequence:waitForSync:_:)`` for a caller that may block (a thread-pool
    /// thread answering a batch): returns when the write may be answered. Never call it on
    /// an event loop's thread for a replicated collection: the followers' answers arrive
    /// there.
    ///
    /// - Throws: the error to answer with instead (the engine failed or closed).
    public func acknowledged(sequence: UInt64, waitForSync: Bool) throws(DocumentError) {
        guard sequence > 0 else { return }
        if let replication {
            // Wait for the followers on this thread (the caller may block; the replication
            // answers from the event loop).
            let done = Monitor<(finished: Bool, error: DocumentError?)>((false, nil))
            replication.replicate(upTo: sequence, durable: waitForSync) { error in
                done.lock()
                done.access { $0 = (true, error) }
                done.broadcast()
                done.unlock()
            }
            let local: DocumentError?
            do {
                if waitForSync { try engine.waitDurable(upTo: sequence) } else { try engine.writeOut() }
                local = nil
            } catch {
                local = DocumentError(error, collection: name)
            }
            done.lock()
            while !done.access({ $0.finished }) { done.wait() }
            let remote = done.access { $0.error }
            done.unlock()
            if let failure = local ?? remote { throw failure }
            return
        }
        do {
            if waitForSync { try engine.waitDurable(upTo: sequence) } else { try engine.writeOut() }
        } catch {
            throw DocumentError(error, collection: name)
        }
    }
}
