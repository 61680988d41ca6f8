public import VelocyPack

/// The outcome of ``AgencyTransactions/reserveShortName(serverId:role:)``.
public enum ShortNameReservation: Sendable, Equatable {
    /// The server had a short name already (a restart): keep it.
    case existing(String)
    /// A new number was drawn: store this name with
    /// ``AgencyTransactions/registerServer(_:shortNameIsNew:clientId:)``.
    case allocated(String)

    /// The short name either way.
    public var name: String {
        switch self {
        case .existing(let name), .allocated(let name): name
        }
    }

    /// Whether the name still has to be stored.
    public var isNew: Bool { if case .allocated = self { true } else { false } }
}

extension AgencyTransactions {
    /// The short name from the answer to ``reserveShortName(serverId:role:)``:
    /// `[index or current values, read]`.
    ///
    /// - Throws: ``ClusterError/Code/agencyDataInvalid`` when the answer has another shape.
    public static func shortName(fromAnswer answer: Slice, serverId: String, role: ServerRole) throws(ClusterError) -> ShortNameReservation {
        let (result, read) = try writeThenRead(answer, context: "short name reservation")
        if result.isNumber {
            let counterPath = AgencyLayout.targetLatestShortId(role: role)
            guard let counter = AgencyLayout.value(at: counterPath, inReadAnswer: read).flatMap({ AgencyFieldReader.integer($0) }),
                  counter >= 1 else {
                throw ClusterError(.agencyDataInvalid, "\(counterPath) is not a positive integer after its increment")
            }
            return .allocated(role.shortName(number: UInt64(counter)))
        }
        // The precondition failed: the server has an entry; its name is in the read.
        let entryPath = AgencyLayout.targetShortName(serverId)
        guard let entry = AgencyLayout.value(at: entryPath, inReadAnswer: read) else {
            throw ClusterError(.agencyDataInvalid, "\(entryPath) is absent though the reservation found it taken")
        }
        return .existing(try AgencyFieldReader(entry, context: entryPath).string("ShortName"))
    }

    /// The ids reserved by ``reserveIds(count:)``, from its answer `[index, {…LatestID…}]`:
    /// the `count` ids ending at the value read back.
    ///
    /// - Throws: ``ClusterError/Code/agencyDataInvalid`` when the answer has another shape or
    ///   the counter is smaller than `count`.
    public static func reservedIds(fromAnswer answer: Slice, count: UInt64) throws(ClusterError) -> ClosedRange<UInt64> {
        let (result, read) = try writeThenRead(answer, context: "id reservation")
        guard result.isNumber else { throw ClusterError(.agencyDataInvalid, "id reservation: the increment did not apply") }
        guard let latest = AgencyLayout.value(at: AgencyLayout.syncLatestID, inReadAnswer: read)?.uintValue,
              latest >= count else {
            throw ClusterError(.agencyDataInvalid, "id reservation: Sync/LatestID is missing or below \(count)")
        }
        return (latest - count + 1)...latest
    }

    /// The error to report when ``createCollection(_:database:clientId:)`` did not apply,
    /// from the current values its answer carries for the failed preconditions: ArangoDB's
    /// 1207 (duplicate name), 1453 (collection id exists) or 1228 (database not found), as
    /// `(errorNum, message)`.
    /// `nil` when the answer says the write applied.
    public static func createCollectionFailure(answer: Slice, database: String, name: String) -> (errorNum: Int, message: String)? {
        guard answer.isArray, let result = answer[0]?.untagged, !result.isNumber else { return nil }
        // The answer holds the current values at the paths whose preconditions failed: a
        // taken name or id shows its value; a missing database shows nothing.
        if AgencyLayout.value(at: AgencyLayout.planCollectionName(database: database, name: name), inReadAnswer: result) != nil {
            return (1207, "duplicate name: \(name)")
        }
        if let collections = AgencyLayout.value(at: AgencyLayout.planCollections(database), inReadAnswer: result),
           collections.isObject, collections.count > 0 {
            // The ids come from Sync/LatestID, so a taken id means an id was reused.
            return (1453, "collection id already exists")
        }
        return (1228, "database not found: \(database)")
    }

    static func writeThenRead(_ answer: Slice, context: String) throws(ClusterError) -> (Slice, Slice) {
        guard answer.isArray, answer.count == 2, let result = answer[0]?.untagged, let read = answer[1]?.untagged,
              result.isNumber || result.isObject, read.isObject else {
            throw ClusterError(.agencyDataInvalid, "\(context): the answer is not [result, read]")
        }
        return (result, read)
    }
}
