public import Client
public import ClusterLogic
import TesseraPlatform
public import Transport

/// What every DBServer and coordinator does in the agency: register under its id (with a
/// short name drawn once and kept), then heartbeat for as long as it runs.
public enum ClusterMembership {
    /// The agency connection of a server: its cluster token, a client presenting it, and the
    /// cache of the agency tree that client keeps current (not started yet).
    public static func connect(_ identity: ServerIdentity, secret: [UInt8],
                        agencyEndpoints: [Endpoint]) -> (token: String, agency: AgencyClient, cache: AgencyCache) {
        let token = ClusterAuthenticator.token(serverID: identity.id, secret: secret, now: WallClock.seconds())
        var configuration = AgencyClient.Configuration(endpoints: agencyEndpoints, credentials: .jwt(token: token))
        configuration.deadlineSeconds = 30
        let agency = AgencyClient(configuration: configuration)
        return (token, agency, AgencyCache(client: agency, pollSeconds: 5))
    }

    /// Registers `identity` at `endpoint` (idempotent: a restart keeps its short name).
    public static func register(_ identity: ServerIdentity, role: ServerRole, endpoint: Endpoint, version: String,
                         agency: AgencyClient) async throws(StartupError) {
        do {
            let reservation = try await agency.transact(AgencyTransactions.reserveShortName(serverId: identity.id, role: role))
            let shortName = try AgencyTransactions.shortName(fromAnswer: reservation.body, serverId: identity.id, role: role)
            let isNew = if case .allocated = shortName { true } else { false }
            let registration = ServerRegistration(id: identity.id, shortName: shortName.name, endpoint: endpoint.description,
                                                  role: role, version: version)
            _ = try await agency.write(envelope: AgencyTransactions.registerServer(registration, shortNameIsNew: isNew), clientID: nil)
        } catch {
            throw StartupError("cannot register in the agency: \(error)")
        }
    }

    /// How often DBServers and coordinators heartbeat by default. Supervision's thresholds
    /// (`HealthThresholds.tesseraDefault`: BAD after 750 ms, FAILED after 1 250 ms) count
    /// missed beats of this interval.
    public static let heartbeatIntervalMilliseconds = 250

    /// A task that writes a heartbeat every `milliseconds` until cancelled. A missed beat is
    /// simply the next one's to make; the first miss and the recovery are logged (supervision
    /// judges a server by these beats, so an operator must see when they stop).
    public static func heartbeats(_ identity: ServerIdentity, every milliseconds: Int, agency: AgencyClient) -> Task<Void, Never> {
        Task {
            let log = ProcessLog.logger("heartbeat")
            var missed = 0
            while !Task.isCancelled {
                do {
                    _ = try await agency.write(envelope: AgencyTransactions.heartbeat(serverId: identity.id, timeMilliseconds: WallClock.milliseconds()),
                                               clientID: nil)
                    if missed > 0 { log.notice("heartbeats reach the agency again after \(missed) missed") }
                    missed = 0
                } catch {
                    missed += 1
                    if missed == 1 || missed % 30 == 0 {
                        log.warning("heartbeat to the agency failed (\(missed) in a row): \(error)")
                    }
                }
                try? await Task.sleep(for: .milliseconds(milliseconds))  // cancelled: the loop ends
            }
        }
    }
}
