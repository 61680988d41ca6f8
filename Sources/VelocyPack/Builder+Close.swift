// Closing arrays and objects: the layout choice rules of the reference builder.
// `Protocol/VelocyPack.md` ("How the builder chooses a layout") states them in prose.

extension Builder {
    /// Closes the innermost open array or object, choosing its final layout.
    ///
    /// - Throws: `duplicateKey` when ``Options/checkAttributeUniqueness`` is on and the object
    ///   repeats a key (the builder is then left as it was before the call).
    public mutating func close() throws(VPackError) {
        makeUnique()
        try closeOwned()
    }

    /// ``close()`` for a builder known to own its memory (the parser's).
    mutating func closeOwned() throws(VPackError) {
        guard let top = stack.last else { preconditionFailure("Builder.close() with nothing open") }
        precondition(!awaitingValue, "Builder.close() right after a key")
        let memberCount = memberOffsets.count - top.firstMember
        if top.isObject && options.checkAttributeUniqueness && memberCount > 1 {
            try checkUniqueKeys(top)
        }
        stack.removeLast()
        if memberCount == 0 {
            // VelocyPack: empty array `01`, empty object `0a`.
            store[top.start] = top.isObject ? 0x0a : 0x01
            store.removeLast(8)
        } else if (top.compact || (top.isObject && memberCount == 1)) && closeCompact(top, memberCount) {
            // Compact layout chosen (a single-member object is always compact when it fits).
        } else if top.isObject {
            closeIndexedObject(top, memberCount)
        } else {
            closeArray(top, memberCount)
        }
        memberOffsets.removeLast(memberCount)
    }

    /// Writes `13`/`14`: `head | varint BYTELENGTH | members | reverse varint NRITEMS`.
    /// Returns false (changing nothing) when BYTELENGTH would need more than 8 varint bytes.
    mutating func closeCompact(_ top: OpenCompound, _ memberCount: Int) -> Bool {
        let start = top.start
        let payloadCount = store.count - (start + 9)
        let countLength = Raw.varintLength(UInt64(memberCount))
        var total = 1 + payloadCount + countLength
        var totalLength = Raw.varintLength(UInt64(total))
        total += totalLength
        // Adding the length field may itself push the total over a varint boundary.
        if Raw.varintLength(UInt64(total)) != totalLength {
            total += 1
            totalLength += 1
        }
        guard totalLength < 9 else { return false }
        store[start] = top.isObject ? 0x14 : 0x13
        moveMembers(of: start, to: 1 + totalLength)
        var rest = UInt64(total)
        for position in 0..<totalLength {
            store[start + 1 + position] = UInt8(rest & 0x7f) | (position < totalLength - 1 ? 0x80 : 0)
            rest >>= 7
        }
        // NRITEMS grows backwards from the last byte: the low group is the very last byte,
        // and every group but the highest (the first in memory) says "more follow" with 0x80.
        var count = UInt64(memberCount)
        let countStart = store.count
        store.appendZeros(countLength)
        for group in 0..<countLength {
            store[countStart + countLength - 1 - group] =
                UInt8(count & 0x7f) | (group < countLength - 1 ? 0x80 : 0)
            count >>= 7
        }
        precondition(store.count - start == total, "compact size \(store.count - start) != \(total)")
        return true
    }

    /// Moves the members of the compound at `start` from offset 9 down to `target`.
    @inline(__always)
    mutating func moveMembers(of start: Int, to target: Int) {
        let shift = 9 - target
        guard shift > 0 else { return }
        let payloadCount = store.count - (start + 9)
        if payloadCount > 0 {
            let base = store.base + start
            (base + target).update(from: base + 9, count: payloadCount)
        }
        store.removeLast(shift)
    }

    /// The array layouts `02`–`09`.
    mutating func closeArray(_ top: OpenCompound, _ memberCount: Int) {
        let start = top.start
        let members = top.firstMember..<(top.firstMember + memberCount)
        let used = store.count - start  // header reserve + payload
        // No index table when there is one member or all members have the same byte size.
        var needsIndex = memberCount > 1
        if memberCount > 1 {
            let memberSize = memberOffsets[members.lowerBound + 1] - memberOffsets[members.lowerBound]
            if used - memberOffsets[members.upperBound - 1] == memberSize {
                needsIndex = false
                for i in members.dropLast() where memberOffsets[i + 1] - memberOffsets[i] != memberSize {
                    needsIndex = true
                    break
                }
            }
        }
        let indexEntries = needsIndex ? memberCount : 0
        // Width of BYTELENGTH, NRITEMS and index entries: the 1-byte case counts the header it
        // would shrink to (2 bytes unindexed, 3 indexed); wider cases keep the 9-byte header.
        var width: Int
        if used + indexEntries - (needsIndex ? 6 : 7) <= 0xff {
            width = 1
        } else if used + 2 * indexEntries <= 0xffff {
            width = 2
        } else if used + 4 * indexEntries <= 0xffff_ffff {
            width = 4
        } else {
            width = 8
        }
        if width == 1 {
            // A member that starts with 00 (None) among the first six would be taken for
            // padding if the header shrank, so the reference keeps the padding then.
            let keepPadding = members.prefix(6).contains { store[start + memberOffsets[$0]] == 0x00 }
            if !keepPadding {
                let target = needsIndex ? 3 : 2
                moveMembers(of: start, to: target)
                let shift = 9 - target
                for i in members { memberOffsets[i] -= shift }
            } else if used + indexEntries > 0xff {
                // The reference would overflow its 1-byte length here; take the 2-byte layout.
                width = 2
            }
        }
        if needsIndex {
            for i in members { appendLittleEndian(UInt64(memberOffsets[i]), width: width) }
            if width == 8 { appendLittleEndian(UInt64(memberCount), width: 8) }
        }
        let widthCode = UInt8(width.trailingZeroBitCount)  // 1, 2, 4, 8 -> 0, 1, 2, 3
        store[start] = (needsIndex ? 0x06 : 0x02) + widthCode
        writeLittleEndian(UInt64(store.count - start), at: start + 1, width: width)
        if needsIndex && width < 8 {
            writeLittleEndian(UInt64(memberCount), at: start + 1 + width, width: width)
        }
    }

    /// The object layouts `0b`–`0e`, with the index sorted by key.
    mutating func closeIndexedObject(_ top: OpenCompound, _ memberCount: Int) {
        let start = top.start
        let members = top.firstMember..<(top.firstMember + memberCount)
        let used = store.count - start
        let width: Int
        if used + memberCount - 6 <= 0xff {
            width = 1
        } else if used + 2 * memberCount <= 0xffff {
            width = 2
        } else if used + 4 * memberCount <= 0xffff_ffff {
            width = 4
        } else {
            width = 8
        }
        if width == 1 {
            // Only the 1-byte case shrinks its header (to 3 bytes); wider ones keep padding.
            moveMembers(of: start, to: 3)
            for i in members { memberOffsets[i] -= 6 }
        }
        sortKeys(start: start, members: members)
        for i in members { appendLittleEndian(UInt64(memberOffsets[i]), width: width) }
        if width == 8 { appendLittleEndian(UInt64(memberCount), width: 8) }
        store[start] = 0x0b + UInt8(width.trailingZeroBitCount)
        writeLittleEndian(UInt64(store.count - start), at: start + 1, width: width)
        if width < 8 { writeLittleEndian(UInt64(memberCount), at: start + 1 + width, width: width) }
    }

    /// Sorts the key offsets of an object by key name bytes (translated keys by their name).
    /// Stable, so repeated keys keep their input order. Small objects (the common case) sort
    /// in place by insertion; large ones through a temporary array.
    mutating func sortKeys(start: Int, members: Range<Int>) {
        guard members.count > 1 else { return }
        let insertionSortCountMax = 24
        store.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress! + start
            if members.count <= insertionSortCountMax {
                let offsets = memberOffsets.base
                for i in (members.lowerBound + 1)..<members.upperBound {
                    let moving = offsets[i]
                    var j = i
                    while j > members.lowerBound && Self.keyOrder(base, offsets[j - 1], moving) > 0 {
                        offsets[j] = offsets[j - 1]
                        j -= 1
                    }
                    offsets[j] = moving
                }
                return
            }
            var isSorted = true
            for i in (members.lowerBound + 1)..<members.upperBound
            where Self.keyOrder(base, memberOffsets[i - 1], memberOffsets[i]) > 0 {
                isSorted = false
                break
            }
            if isSorted { return }
            let sorted = offsets(members).enumerated().sorted { lhs, rhs in
                let order = Self.keyOrder(base, lhs.element, rhs.element)
                return order != 0 ? order < 0 : lhs.offset < rhs.offset
            }.map(\.element)
            for (i, offset) in zip(members, sorted) { memberOffsets.base[i] = offset }
        }
    }

    /// The member offsets in `members`, in an array of their own.
    func offsets(_ members: Range<Int>) -> [Int] {
        precondition(members.upperBound <= memberOffsets.count, "member range \(members) outside \(memberOffsets.count)")
        return Array(UnsafeBufferPointer(start: memberOffsets.base + members.lowerBound, count: members.count))
    }

    @inline(__always)
    static func keyOrder(_ base: UnsafePointer<UInt8>, _ lhs: Int, _ rhs: Int) -> Int {
        // Two non-empty short string keys that differ in their first byte: decided there.
        let left = base[lhs], right = base[rhs]
        if left > 0x40 && left < 0xbf && right > 0x40 && right < 0xbf && base[lhs + 1] != base[rhs + 1] {
            return Int(base[lhs + 1]) - Int(base[rhs + 1])
        }
        return Raw.withKeyName(base + lhs) { left in
            Raw.withKeyName(base + rhs) { right in Raw.compare(left, right) } ?? 0
        } ?? 0
    }

    /// Throws `duplicateKey` if two keys of the open object `top` name the same attribute.
    func checkUniqueKeys(_ top: OpenCompound) throws(VPackError) {
        let members = top.firstMember..<memberOffsets.count
        let duplicate: Int? = store.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress! + top.start
            let sorted = offsets(members).sorted { Self.keyOrder(base, $0, $1) < 0 }
            for i in 1..<sorted.count where Self.keyOrder(base, sorted[i - 1], sorted[i]) == 0 {
                return top.start + max(sorted[i - 1], sorted[i])
            }
            return nil
        }
        if let duplicate {
            throw VPackError(.duplicateKey, at: duplicate, "repeated object key")
        }
    }

    @inline(__always)
    mutating func writeLittleEndian(_ value: UInt64, at position: Int, width: Int) {
        var rest = value
        for i in 0..<width {
            store[position + i] = UInt8(truncatingIfNeeded: rest)
            rest >>= 8
        }
    }

    /// Appends `slice` with every integer object key replaced by its name.
    mutating func addUntranslated(_ slice: Slice) throws(VPackError) {
        switch slice.type {
        case .array where slice.containsIntegerKeys:
            openArray()
            for member in slice.arrayElements { try addUntranslated(member) }
            try close()
        case .object where slice.containsIntegerKeys:
            openObject()
            for (key, value) in slice.objectMembers {
                if let raw = key.stringBytes {
                    // String keys are copied byte for byte (they need not be valid UTF-8).
                    Array(raw).withUnsafeBufferPointer { addKey(utf8: $0) }
                } else if let name = key.keyName {
                    add(key: name)
                } else {
                    throw VPackError(.unknownAttributeId, at: key.offset, "integer key without a name")
                }
                try addUntranslated(value)
            }
            try close()
        case .tagged where slice.containsIntegerKeys:
            let inner = slice.sub(slice.head == 0xee ? 2 : 9)
            var innerBuilder = Builder()
            try innerBuilder.addUntranslated(inner)
            add(tag: slice.tag!, innerBuilder.slice)
        default:
            add(slice)
        }
    }
}

extension Builder {
    /// Closes the innermost compound when the caller knows closing cannot fail: without
    /// ``Options/checkAttributeUniqueness`` (the default) `close()` never throws, and with it
    /// the caller vouches that the keys it wrote are distinct.
    public mutating func closeTrusted() {
        do {
            try close()
        } catch {
            preconditionFailure("closing a compound with known-distinct keys failed: \(error)")
        }
    }
}

extension Builder {
    /// `key` with an array of strings as its value (field lists, shard keys, names).
    public mutating func add(key: String, strings: some Sequence<String>) {
        add(key: key)
        openArray()
        for string in strings { add(string) }
        closeTrusted()
    }
}
