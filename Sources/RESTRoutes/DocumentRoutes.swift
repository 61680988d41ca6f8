package import Documents
package import Server
package import VelocyPack
package import ArangoAPI
package import VelocyStream

/// `/_api/document/{collection}[/{key}]`: single documents and arrays of them.
extension DocumentAPI {
    func registerDocuments(in router: inout Router) {
        let api = self
        router.add(.get, "/_api/document/:collection/:key") { request throws(ArangoError) in
            try api.read(request, head: false)
        }
        router.add(.head, "/_api/document/:collection/:key") { request throws(ArangoError) in
            try api.read(request, head: true)
        }
        router.addDeferrable(.post, "/_api/document/:collection") { request throws(ArangoError) in
            try api.write(.insert, request, key: nil)
        }
        router.addDeferrable(.put, "/_api/document/:collection") { request throws(ArangoError) in
            if try request.flag("onlyget") == true { return try api.readMany(request) }
            return try api.write(.replace, request, key: nil)
        }
        router.addDeferrable(.patch, "/_api/document/:collection") { request throws(ArangoError) in
            try api.write(.update, request, key: nil)
        }
        router.addDeferrable(.delete, "/_api/document/:collection") { request throws(ArangoError) in
            try api.write(.remove, request, key: nil)
        }
        router.addDeferrable(.put, "/_api/document/:collection/:key") { request throws(ArangoError) in
            try api.write(.replace, request, key: request.pathSegment("key"))
        }
        router.addDeferrable(.patch, "/_api/document/:collection/:key") { request throws(ArangoError) in
            try api.write(.update, request, key: request.pathSegment("key"))
        }
        router.addDeferrable(.delete, "/_api/document/:collection/:key") { request throws(ArangoError) in
            try api.write(.remove, request, key: request.pathSegment("key"))
        }
    }

    enum Operation: Sendable {
        case insert, replace, update, remove
    }

    // MARK: Reads

    func read(_ request: ServerRequest, head: Bool) throws(ArangoError) -> ServerResponse {
        try access.require(.readOnly, request)
        let collection = try self.collection(request, parameter: "collection")
        let key = request.pathSegment("key")
        guard let (document, revision) = try collection.document(key) else {
            throw ArangoError.documentNotFound("\(collection.idName)/\(key)")
        }
        let etag = "\"\(RevisionString.encode(revision))\""
        if let ifNoneMatch = request.header.meta["if-none-match"], RevisionString.decode(ifNoneMatch) == revision {
            return ServerResponse(status: 304, meta: ["etag": etag])
        }
        if let ifMatch = request.header.meta["if-match"], RevisionString.decode(ifMatch) != revision {
            throw ArangoError(status: 412, .conflict, "conflict, _rev values do not match")
        }
        if head { return ServerResponse(status: 200, meta: ["etag": etag]) }
        return answer(200, meta: ["etag": etag], body: document)
    }

    /// `PUT /_api/document/{collection}?onlyget=true`: the documents for an array of keys or
    /// of objects with `_key`, with an error entry for each one missing.
    func readMany(_ request: ServerRequest) throws(ArangoError) -> Reply {
        try access.require(.readOnly, request)
        let collection = try self.collection(request, parameter: "collection")
        let body = try request.requireBody()
        guard body.isArray else { throw ArangoError.badParameter("onlyget expects an array of keys or documents") }
        let work: @Sendable () -> ServerResponse = {
            var builder = Builder()
            var errorCounts = ErrorCodeCounts()
            builder.openArray()
            for element in body.arrayElements {
                let key = element.stringValue ?? element["_key"]?.stringValue
                do throws(ArangoError) {
                    guard let key else { throw DocumentCollection.badKeyError }
                    guard let (document, _) = try collection.document(key) else {
                        throw ArangoError.documentNotFound("\(collection.idName)/\(key)")
                    }
                    builder.add(document)
                } catch {
                    errorCounts.count(error.number)
                    error.addBatchEntry(to: &builder)
                }
            }
            builder.closeTrusted()
            return ServerResponse(status: 200, meta: errorCounts.meta, body: builder.bytes)
        }
        return body.count > Self.inlineArrayCountMax ? .offload(work) : .now(work())
    }

    // MARK: Writes

    func write(_ operation: Operation, _ request: ServerRequest, key: String?) throws(ArangoError) -> Reply {
        try access.require(.readWrite, request)
        let collection = try self.collection(request, parameter: "collection")
        var options = try Self.documentOptions(request)
        let silent = try request.flag("silent") ?? false
        let body = request.body
        let sync = options.waitForSync ?? collection.info.waitForSync
        let status = operation == .remove ? (sync ? 200 : 202) : (sync ? 201 : 202)

        if key == nil, let body, body.isArray {
            // An array: one result per element, in order; failures are entries, not the answer.
            // The elements are written without waiting and handed to the operating system
            // together; the batch is answered once its last write is acknowledged (one
            // `pwrite`, and one sync when asked for).
            options.ifMatch = nil
            options.waitForSync = false
            options.defersFileWrite = true
            let work: @Sendable () -> ServerResponse = { [options] in
                var builder = Builder()
                var errorCounts = ErrorCodeCounts()
                var lastSequence: UInt64 = 0
                builder.openArray()
                for element in body.arrayElements {
                    do throws(ArangoError) {
                        let outcome = try Self.apply(operation, element, key: nil, collection: collection, options: options)
                        lastSequence = max(lastSequence, outcome.sequence)
                        if !silent { Self.writeOutcome(outcome, collection: collection.idName, into: &builder) }
                    } catch {
                        errorCounts.count(error.number)
                        error.addBatchEntry(to: &builder)
                    }
                }
                builder.closeTrusted()
                do throws(ArangoError) {
                    try collection.acknowledged(sequence: lastSequence, waitForSync: sync)
                } catch {
                    return ServerResponse(error)
                }
                return ServerResponse(status: status, meta: errorCounts.meta, body: builder.bytes)
            }
            // A replicated shard's acknowledgement waits for answers that arrive on the event
            // loop, so its batches never block the loop.
            return sync || collection.isReplicated || body.count > Self.inlineArrayCountMax ? .offload(work) : .now(work())
        }

        let document: Slice
        if operation == .remove {
            document = body ?? Slice(trustedBytes: [0x0a])
        } else {
            guard let body else { throw ArangoError.badBody("request body is missing") }
            guard body.isObject else {
                throw ArangoError(status: 400, .documentTypeInvalid, "invalid document type: expecting an object or an array")
            }
            document = body
        }
        // A durable write is made here like any other, then answered when its group commit
        // has synced it (`DocumentCollection.acknowledge`): no thread waits meanwhile, and one sync
        // answers every writer queued behind it.
        var inline = options
        inline.waitForSync = false
        // A durable write is handed to the operating system by its group commit, together
        // with the others it syncs; the acknowledgement below waits for that. A write that
        // is not synced is handed over at the end of the loop turn, together with the others
        // answered in it, before any of their answers leaves.
        let gate = request.answerGate
        inline.defersFileWrite = sync || gate != nil
        let outcome = try Self.apply(operation, document, key: key, collection: collection, options: inline)
        let etag = ["etag": "\"\(RevisionString.encode(outcome.revision))\""]
        let response: ServerResponse
        if silent {
            response = ServerResponse(status: status, meta: etag, body: [0x0a])
        } else {
            var builder = Builder()
            Self.writeOutcome(outcome, collection: collection.idName, into: &builder)
            response = ServerResponse(status: status, meta: etag, body: builder.bytes)
        }
        if !sync, outcome.sequence > 0, let gate, let replication = collection.replication {
            // Replicated, not synced: the record goes to the operating system with the turn's
            // others (one `pwrite`), and the answer waits for the in-sync followers.
            let sequence = outcome.sequence
            gate.beforeAnswerLeaves { collection.writtenOut(upTo: sequence) }
            return .later { respond in
                replication.replicate(upTo: sequence, durable: false) { failure in
                    respond(failure.map { ServerResponse($0) } ?? response)
                }
            }
        }
        guard sync || collection.isReplicated, outcome.sequence > 0 else {
            if let gate {
                let sequence = outcome.sequence
                gate.beforeAnswerLeaves { collection.writtenOut(upTo: sequence) }
                return .now(response)
            }
            // Without a gate the engine wrote the record out already; the acknowledgement
            // rule still decides, so the answer never comes from a buffer.
            do throws(ArangoError) { try collection.acknowledged(sequence: outcome.sequence, waitForSync: false) } catch {
                return .now(ServerResponse(error))
            }
            return .now(response)
        }
        return .later { respond in
            collection.acknowledge(sequence: outcome.sequence, waitForSync: sync) { failure in
                respond(failure.map { ServerResponse($0) } ?? response)
            }
        }
    }

    /// One element's write. Without a key in the path, the key comes from the element
    /// (`_key`, or for remove a plain string).
    static func apply(_ operation: Operation, _ element: Slice, key: String?, collection: DocumentCollection,
                      options: DocumentOptions) throws(ArangoError) -> DocumentOutcome {
        if operation == .insert {
            return try collection.insert(element, options: options)
        }
        let resolved: String
        if let key {
            resolved = key
        } else if operation == .remove, let text = element.stringValue {
            resolved = try Self.key(fromKeyOrID: text, collection: collection.idName)
        } else if element.isObject, let text = element["_key"]?.stringValue {
            resolved = text
        } else if element.isObject, let text = element["_id"]?.stringValue {
            resolved = try Self.key(fromKeyOrID: text, collection: collection.idName)
        } else if element.isObject || operation == .remove {
            throw DocumentCollection.badKeyError
        } else {
            throw ArangoError(status: 400, .documentTypeInvalid, "invalid document type: expecting an object")
        }
        switch operation {
        case .insert: preconditionFailure("handled above")
        case .replace: return try collection.replace(resolved, with: element, options: options)
        case .update: return try collection.update(resolved, with: element, options: options)
        case .remove: return try collection.remove(resolved, options: options, body: element.isObject ? element : nil)
        }
    }

    /// The key in `text`: a key, or a document id `collection/key` of this collection.
    static func key(fromKeyOrID text: String, collection: String) throws(ArangoError) -> String {
        guard let slash = text.firstIndex(of: "/") else { return text }
        guard text[..<slash] == collection else {
            throw ArangoError(status: 400, .crossCollectionRequest, "cross collection request not allowed: '\(text)' is not in \(collection)")
        }
        return String(text[text.index(after: slash)...])
    }

    static func documentOptions(_ request: ServerRequest) throws(ArangoError) -> DocumentOptions {
        var options = DocumentOptions()
        options.waitForSync = try request.flag("waitForSync")
        options.ignoreRevs = try request.flag("ignoreRevs") ?? true
        options.returnNew = try request.flag("returnNew") ?? false
        options.returnOld = try request.flag("returnOld") ?? false
        options.keepNull = try request.flag("keepNull") ?? true
        options.mergeObjects = try request.flag("mergeObjects") ?? true
        if let mode = request.parameter("overwriteMode") {
            guard let parsed = OverwriteMode(rawValue: mode) else {
                throw ArangoError.badParameter("overwriteMode must be one of \(OverwriteMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            options.overwriteMode = parsed
        } else if try request.flag("overwrite") == true {
            options.overwriteMode = .replace
        }
        if let ifMatch = request.header.meta["if-match"] {
            guard let revision = RevisionString.decode(ifMatch) else {
                throw ArangoError(status: 412, .conflict, "conflict: If-Match does not name a revision")
            }
            options.ifMatch = revision
        }
        return options
    }

    static func writeOutcome(_ outcome: DocumentOutcome, collection: String, into builder: inout Builder) {
        builder.openObject()
        builder.add(key: "_id", collection + "/" + outcome.key)
        builder.add(key: "_key", outcome.key)
        builder.add(key: "_rev", RevisionString.encode(outcome.revision))
        if let old = outcome.oldRevision { builder.add(key: "_oldRev", RevisionString.encode(old)) }
        if let new = outcome.new { builder.add(key: "new", new) }
        if let old = outcome.old { builder.add(key: "old", old) }
        builder.closeTrusted()
    }
}

extension DocumentCollection {
    static let badKeyError = ArangoError(status: 400, .documentKeyBad, "illegal document key: missing or not a string")
}
