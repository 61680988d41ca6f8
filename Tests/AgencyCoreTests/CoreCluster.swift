import AgencyCore
import AgencyStore
import Raft
import RaftSimulation
import VelocyPack

/// A few agency node cores on a perfect, synchronous network, each over a simulated disk:
/// enough to check the core's claims one step at a time.
struct CoreCluster {
    var cores: [AgencyNodeCore]
    var disks: [SimulatedDisk]
    var inbox: [RaftMessage] = []
    var answers: [AgencyRequestID: AgencyAnswer] = [:]
    var notifications: [(AgencyNotification, Term)] = []
    /// Persist actions seen, by member (for the snapshot policy).
    var persisted: [[(snapshot: RaftSnapshot?, sync: Bool)]]
    var wallMilliseconds: Int64 = 1_700_000_000_000
    /// Members cut off from everybody.
    var isolated: Set<Int> = []
    let options: AgencyNodeCore.Options
    var nextRequest: UInt64 = 1

    init(size: Int, options: AgencyNodeCore.Options = AgencyNodeCore.Options()) {
        self.options = options
        disks = Array(repeating: SimulatedDisk(), count: size)
        persisted = Array(repeating: [], count: size)
        cores = []
        for index in 0..<size { cores.append(Self.core(index, size: size, durable: RaftDurableState(), options: options)) }
    }

    static func core(_ index: Int, size: Int, durable: RaftDurableState, options: AgencyNodeCore.Options) -> AgencyNodeCore {
        let members = (1...size).map { NodeID(UInt64($0)) }
        // Member 1 times out first, so it leads in the tests.
        let configuration = RaftConfiguration(
            id: members[index], members: members,
            electionTimeoutTicksMin: 3 + 3 * index, electionTimeoutTicksMax: 4 + 3 * index,
            heartbeatIntervalTicks: 1, seed: UInt64(index + 1))
        return AgencyNodeCore(configuration: configuration, restoring: durable, options: options)
    }

    /// Carries out member `index`'s actions until it has none.
    mutating func drain(_ index: Int) {
        while true {
            let actions = cores[index].nextActions()
            if actions.isEmpty { return }
            for action in actions {
                switch action {
                case let .persist(snapshot, logWrite, hardState, sync):
                    disks[index].write(snapshot: snapshot, logWrite: logWrite, hardState: hardState)
                    if sync { disks[index].sync() }
                    persisted[index].append((snapshot, sync))
                    cores[index].persisted()
                case .send(let message):
                    inbox.append(message)
                case let .answer(id, answer):
                    answers[id] = answer
                case let .notify(notification, term):
                    notifications.append((notification, term))
                }
            }
        }
    }

    /// Delivers every message in flight (and the ones they cause), except to or from isolated members.
    mutating func deliverAll() {
        var steps = 0
        while !inbox.isEmpty {
            steps += 1
            precondition(steps < 100_000, "the test cluster does not settle")
            let message = inbox.removeFirst()
            let to = Int(message.to.rawValue) - 1, from = Int(message.from.rawValue) - 1
            guard !isolated.contains(to), !isolated.contains(from) else { continue }
            cores[to].receive(message)
            drain(to)
        }
    }

    /// Every member ticks `count` times (50 ms of wall clock each), with the network settling in between.
    mutating func tick(_ count: Int = 1) {
        for _ in 0..<count {
            wallMilliseconds += 50
            for index in cores.indices {
                cores[index].tick(wallMilliseconds: wallMilliseconds)
                drain(index)
            }
            deliverAll()
        }
    }

    /// Ticks until a leader has committed an entry of its term; returns its index.
    mutating func electLeader() -> Int {
        for _ in 0..<200 {
            tick()
            if let leader = cores.indices.first(where: { cores[$0].role == .leader && !isolated.contains($0) }),
               cores[leader].node.log.term(at: cores[leader].commitIndex) == cores[leader].term {
                return leader
            }
        }
        preconditionFailure("no leader after 200 ticks")
    }

    mutating func requestID() -> AgencyRequestID {
        defer { nextRequest += 1 }
        return AgencyRequestID(nextRequest)
    }

    /// Sends a write to `member` and drives it (not the network); returns the request id.
    mutating func write(_ json: String, to member: Int) -> AgencyRequestID {
        let id = requestID()
        cores[member].write(id, envelope: Self.bytes(json), timeMilliseconds: wallMilliseconds)
        drain(member)
        return id
    }

    mutating func read(_ json: String, at member: Int) -> AgencyRequestID {
        let id = requestID()
        cores[member].read(id, .read(body: Self.bytes(json)))
        drain(member)
        return id
    }

    /// Restarts `member` from what its disk holds.
    mutating func restart(_ member: Int) {
        let durable = disks[member].recover()
        cores[member] = Self.core(member, size: cores.count, durable: durable, options: options)
        drain(member)
    }

    static func bytes(_ json: String) -> [UInt8] {
        do { return try JSONParser.parse(json).bytes } catch { preconditionFailure("bad JSON in a test: \(json)") }
    }

    func value(_ path: String, on member: Int) -> Slice? {
        cores[member].store.value(at: AgencyPath(components: path.split(separator: "/").map(String.init)))
    }
}
