import TesseraPlatform
extension ShardEngine {
    /// Writes a checkpoint of the current state. Writers wait only while the pending bytes
    /// are flushed and the state is copied (copy-on-write: the first write after it pays for
    /// copying the index); the sync and the file writing run without the lock.
    public func checkpoint() throws(StorageError) {
        try maintenance.withLock { (_: inout Void) throws(StorageError) in
            let (image, keyOrder) = try state.withLock { (state: inout ShardState) throws(StorageError) in
                try state.checkWritable()
                try state.flushPending()
                state.operationsSinceCheckpoint = 0
                let segments = state.segmentOrders.map { order in
                    let segment = state.segments[order]!
                    return Checkpoint.SegmentEntry(order: order, generation: segment.segment.generation,
                                                   byteCount: segment.byteCount)
                }
                let image = Checkpoint(lastSequence: state.lastSequence, lastRevision: state.clock.lastRevision,
                                       feedFloor: state.feedFloor, segments: segments, documents: [], tree: state.tree)
                return ((image, state.documents), state.keyOrder)
            }
            // Everything the checkpoint points at must be on disk before the checkpoint is.
            try groupCommit.waitDurable(image.0.lastSequence, countsAsSyncedWrite: false)
            var checkpoint = image.0
            let documents = image.1
            checkpoint.documents.reserveCapacity(documents.count)
            for chunk in keyOrder.chunks {
                for key in chunk { checkpoint.documents.append((key, documents[key]!)) }
            }
            try io(FileIO.writeAtomically(checkpoint.encoded(), to: directory + "/" + Checkpoint.fileName, directory: directory))
            state.withLock { $0.checkpointCount += 1 }
        }
    }
}
