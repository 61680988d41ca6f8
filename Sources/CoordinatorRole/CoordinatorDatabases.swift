package import Client
package import ClusterLogic
package import Documents
package import Server
import TesseraPlatform
package import VelocyPack
package import ArangoAPI
package import VelocyStream
public import ClusterMember
public import RESTRoutes
public import Users

/// `/_api/database` on a coordinator: databases live in Plan; a new one is ready when every
/// DBServer reports it in Current.
extension Coordinator {
    func registerDatabases(in router: inout Router) {
        let coordinator = self
        router.add(.get, "/_api/database") { request throws(ArangoError) in
            guard request.database == "_system" else {
                throw ArangoError(status: 403, .useSystemDatabase, "operation only allowed in the _system database")
            }
            try coordinator.users.require(.readOnly, request)
            return DocumentAPI.namesAnswer(try coordinator.plan().databases.keys.sorted())
        }
        router.add(.get, "/_api/database/user") { request throws(ArangoError) in
            DocumentAPI.namesAnswer(try coordinator.plan().databases.keys.sorted().filter {
                coordinator.users.level(of: request.user, in: $0) > .none
            })
        }
        router.add(.get, "/_api/database/current") { request throws(ArangoError) in
            try coordinator.users.require(.readOnly, request)
            guard let database = try coordinator.plan().databases[request.database] else { throw ArangoError.databaseNotFound(request.database) }
            return answer(200) { builder in
                builder.add(key: "result")
                builder.openObject()
                builder.add(key: "name", database.name)
                builder.add(key: "id", database.id)
                builder.add(key: "isSystem", database.name == "_system")
                builder.closeTrusted()
            }
        }
        router.addAsync(.post, "/_api/database") { request throws(ArangoError) in
            guard request.database == "_system" else {
                throw ArangoError(status: 403, .useSystemDatabase, "operation only allowed in the _system database")
            }
            try coordinator.users.require(.readWrite, request)
            let body = try request.requireBody()
            guard body.isObject, let name = body["name"]?.stringValue else {
                throw ArangoError(status: 400, .databaseNameInvalid, "database name invalid: 'name' must be a string")
            }
            let users = try DatabaseUser.parse(body["users"])
            if let fault = Names.databaseFault(name) { throw ArangoError(status: 400, .databaseNameInvalid, "database name invalid: \(fault)") }
            let id = try await coordinator.newIds(1).lowerBound
            let result: AgencyClient.WriteResult
            do {
                result = try await coordinator.agency.write(envelope: AgencyTransactions.createDatabase(PlanDatabase(id: String(id), name: name)),
                                                            clientID: nil)
            } catch {
                throw ArangoError(status: 503, .clusterTimeout, "the agency did not take the database: \(error)")
            }
            guard result.applied else { throw ArangoError(status: 409, .duplicateName, "duplicate database name '\(name)'") }
            // Ready when every DBServer holds it (bounded).
            let servers = Set(coordinator.dbservers().keys)
            let deadline = MonotonicClock.seconds() + coordinator.options.creationTimeoutSeconds
            while !servers.isSubset(of: coordinator.current().databases[name] ?? []), MonotonicClock.seconds() < deadline {
                _ = await coordinator.cache.waitFor(index: coordinator.cache.index + 1, timeoutSeconds: 1)
            }
            try await coordinator.users.grantNewDatabase(name, creator: request.user, requested: users)
            return answer(201) { $0.add(key: "result", true) }
        }
        router.addAsync(.delete, "/_api/database/:name") { request throws(ArangoError) in
            guard request.database == "_system" else {
                throw ArangoError(status: 403, .useSystemDatabase, "operation only allowed in the _system database")
            }
            try coordinator.users.require(.readWrite, request)
            let name = request.pathSegment("name")
            guard name != "_system" else { throw ArangoError(status: 403, .forbidden, "the _system database cannot be dropped") }
            let result: AgencyClient.WriteResult
            do {
                result = try await coordinator.agency.write(envelope: AgencyTransactions.dropDatabase(name), clientID: nil)
            } catch {
                throw ArangoError(status: 503, .clusterTimeout, "the agency did not take the drop: \(error)")
            }
            guard result.applied else { throw ArangoError.databaseNotFound(name) }
            _ = await coordinator.cache.waitFor(index: result.index, timeoutSeconds: 10)
            await coordinator.clearCurrent(AgencyTransactions.clearDatabaseFromCurrent(name)) { $0.databases[name]?.count ?? 0 }
            await coordinator.users.forgetDatabase(name)
            return answer(200) { $0.add(key: "result", true) }
        }
    }
}
