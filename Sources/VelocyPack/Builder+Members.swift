extension Builder {
    /// Appends to the open object every key/value pair of `object` except the one named
    /// `skipping` (by its name: a string key, or an integer key that translates to it), byte
    /// for byte. `object` must be a trusted object; other values add nothing.
    ///
    /// An indexed object (`0b`–`0e`) whose skipped pair, if any, is the first one stored
    /// — a stored document with `_key` in front — is copied in one piece: its pairs lie in
    /// one run after the head, and its index table gives their offsets, so nothing is
    /// decoded pair by pair. Any other layout is copied pair by pair.
    public mutating func addMembers(of object: Slice, skipping skippedKey: String? = nil) {
        makeUnique()
        guard let top = stack.last, top.isObject, !awaitingValue else {
            preconditionFailure("Builder: members are added to an open object, not after a key")
        }
        let skipped = Array((skippedKey ?? "").utf8)
        let copied = skipped.withUnsafeBufferPointer { skippedName in
            object.read { pointer in
                appendMembersInOnePiece(pointer, skipping: skippedKey == nil ? nil : skippedName, compoundStart: top.start)
            }
        }
        if copied { return }
        for member in object.objectMembers {
            if skippedKey != nil, member.key.keyName.map({ $0.utf8.elementsEqual(skipped) }) == true { continue }
            add(key: member.key)
            add(member.value)
        }
    }

    /// The one-piece copy of ``addMembers(of:skipping:)``; false (nothing written) when the
    /// layout does not allow it.
    private mutating func appendMembersInOnePiece(_ pointer: UnsafePointer<UInt8>, skipping skippedName: UnsafeBufferPointer<UInt8>?,
                                                  compoundStart: Int) -> Bool {
        let head = pointer[0]
        guard (0x0b...0x0e).contains(head) else { return false }
        let count = Raw.count(pointer)
        let width = Raw.compoundWidth(head)
        let table = Raw.indexTableOffset(pointer, count: count)
        let first = Raw.firstMemberOffset(pointer)
        @inline(__always) func offset(_ index: Int) -> Int {
            Int(truncatingIfNeeded: Raw.readUInt(pointer + table + index * width, width: width))
        }
        // Where the copy starts: after the first pair when it is the skipped one.
        var start = first
        if let skippedName, Raw.withKeyName(pointer + first, { Raw.compare($0, skippedName) }) == 0 {
            let keySize = Raw.byteSize(pointer + first)
            start = first + keySize + Raw.byteSize(pointer + first + keySize)
        }
        // Every other pair must lie in the run, and the skipped name must not appear there.
        for index in 0..<count {
            let at = offset(index)
            if at == first && start != first { continue }
            guard at >= start, at < table else { return false }
            if let skippedName, Raw.withKeyName(pointer + at, { Raw.compare($0, skippedName) }) == 0 { return false }
        }
        let delta = store.count - compoundStart - start
        store.append(contentsOf: UnsafeRawBufferPointer(start: pointer + start, count: table - start))
        for index in 0..<count {
            let at = offset(index)
            if at == first && start != first { continue }
            memberOffsets.append(at + delta)
        }
        return true
    }
}
