import AgencyCore
import AgencyStore
import Raft
import Testing
import VelocyPack

@Suite("Agency node core")
struct AgencyNodeCoreTests {
    @Test("a write is answered only after its entry is durable and committed")
    func writeIsAnsweredAfterCommit() {
        var cluster = CoreCluster(size: 3)
        let leader = cluster.electLeader()
        let id = cluster.requestID()
        cluster.cores[leader].write(id, envelope: CoreCluster.bytes(#"[[{"/a": 1}]]"#), timeMilliseconds: 5)
        // The first batch ends with the persist action; nothing is answered before it.
        let first = cluster.cores[leader].nextActions()
        guard case .persist(_, let logWrite, _, let sync)? = first.last else {
            Issue.record("expected a persist action last, got \(first)")
            return
        }
        #expect(sync && logWrite?.entries.count == 1)
        #expect(!first.contains { if case .answer = $0 { true } else { false } })
        cluster.cores[leader].persisted()
        cluster.drain(leader)
        // Durable on the leader alone is not committed: no answer until a follower acknowledges.
        #expect(cluster.answers[id] == nil)
        cluster.deliverAll()
        guard case .applied(let outcome)? = cluster.answers[id] else {
            Issue.record("no applied answer: \(String(describing: cluster.answers[id]))")
            return
        }
        #expect(outcome.results == [.applied(index: outcome.index)])
        #expect(cluster.value("/a", on: leader)?.intValue == 1)
    }

    @Test("a follower refuses writes and reads, naming the leader")
    func followerRedirects() {
        var cluster = CoreCluster(size: 3)
        let leader = cluster.electLeader()
        let follower = (leader + 1) % 3
        let write = cluster.write(#"[[{"/a": 1}]]"#, to: follower)
        let read = cluster.read(#"[["/a"]]"#, at: follower)
        let expected = AgencyRefusal.notLeader(cluster.cores[leader].id)
        guard case .refused(let writeRefusal)? = cluster.answers[write], case .refused(let readRefusal)? = cluster.answers[read] else {
            Issue.record("expected refusals")
            return
        }
        #expect(writeRefusal == expected && readRefusal == expected)
    }

    @Test("a read waits for a majority to confirm the leader, then sees every acknowledged write")
    func readsAreLinearizable() {
        var cluster = CoreCluster(size: 3)
        let leader = cluster.electLeader()
        let write = cluster.write(#"[[{"/v": 42}]]"#, to: leader)
        cluster.deliverAll()
        #expect(cluster.answers[write] != nil)
        let read = cluster.read(#"[["/v"]]"#, at: leader)
        #expect(cluster.answers[read] == nil, "answered before the heartbeat round")
        cluster.deliverAll()
        guard case .served(let body)? = cluster.answers[read] else {
            Issue.record("read not served: \(String(describing: cluster.answers[read]))")
            return
        }
        #expect(Slice(trustedBytes: body)[0]?["v"]?.intValue == 42)
    }

    @Test("a leader cut off from the majority never serves a read")
    func isolatedLeaderDoesNotServeReads() {
        var cluster = CoreCluster(size: 3)
        let leader = cluster.electLeader()
        cluster.isolated = [leader]
        let read = cluster.read(#"[["/v"]]"#, at: leader)
        cluster.tick(20)
        if case .served? = cluster.answers[read] { Issue.record("an isolated leader served a read") }
    }

    @Test("TTL keys expire by the time passed in, through a log entry")
    func ttlExpiresWithTimePassedIn() {
        var cluster = CoreCluster(size: 1)
        let leader = cluster.electLeader()
        let write = cluster.write(#"[[{"/lease": {"op": "set", "new": 1, "ttl": 2}}]]"#, to: leader)
        cluster.tick()
        #expect(cluster.answers[write] != nil)
        cluster.tick(20)  // 1 s of wall clock: not yet
        #expect(cluster.value("/lease", on: leader) != nil)
        cluster.tick(30)  // 2.5 s: a TTL sweep (every 10 ticks) has proposed the expiry
        #expect(cluster.value("/lease", on: leader) == nil)
    }

    @Test("observers hear of a change from the leader, with its term")
    func observersAreNotified() {
        var cluster = CoreCluster(size: 3)
        let leader = cluster.electLeader()
        _ = cluster.write(#"[[{"/arango/Plan": {"op": "observe", "url": "tcp://127.0.0.1:1/cb"}}]]"#, to: leader)
        cluster.deliverAll()
        #expect(cluster.notifications.isEmpty)
        _ = cluster.write(#"[[{"/arango/Plan/Version": {"op": "increment"}}]]"#, to: leader)
        cluster.deliverAll()
        #expect(cluster.notifications.count == 1)
        if let (notification, term) = cluster.notifications.first {
            #expect(notification.url == "tcp://127.0.0.1:1/cb")
            #expect(term == cluster.cores[leader].term)
            #expect(notification.observed.map(\.path.description) == ["/arango/Plan"])
        }
    }

    @Test("a poll beyond the store waits for the next entry, or answers at its timeout")
    func pollWaitsOrTimesOut() {
        var cluster = CoreCluster(size: 1)
        let leader = cluster.electLeader()
        let next = cluster.cores[leader].store.index + 1
        let waiting = cluster.requestID()
        cluster.cores[leader].poll(waiting, from: next, timeoutMilliseconds: 10_000)
        cluster.drain(leader)
        #expect(cluster.answers[waiting] == nil)
        _ = cluster.write(#"[[{"/x": 1}]]"#, to: leader)
        cluster.tick()
        guard case .served(let body)? = cluster.answers[waiting] else {
            Issue.record("poll not answered after the write")
            return
        }
        // The first entry with a change (index 1 is the leader's no-op).
        #expect((Slice(trustedBytes: body)["log"]?[0]?["index"]?.uintValue ?? 0) >= next)
        let timing = cluster.requestID()
        cluster.cores[leader].poll(timing, from: next + 10, timeoutMilliseconds: 120)
        cluster.drain(leader)
        cluster.tick(2)
        #expect(cluster.answers[timing] == nil)
        cluster.tick(2)
        #expect(cluster.answers[timing] != nil)
    }

    @Test("a write with a client id that is sent again applies once")
    func exactlyOnce() {
        var cluster = CoreCluster(size: 3)
        let leader = cluster.electLeader()
        let body = #"[[{"/n": {"op": "increment"}}, {}, "client-1"]]"#
        let first = cluster.write(body, to: leader)
        cluster.deliverAll()
        let second = cluster.write(body, to: leader)
        cluster.deliverAll()
        guard case .applied(let one)? = cluster.answers[first], case .applied(let two)? = cluster.answers[second] else {
            Issue.record("both sends must be answered")
            return
        }
        #expect(one.results == two.results)
        #expect(cluster.value("/n", on: leader)?.intValue == 1)
    }

    @Test("writes still waiting when leadership is lost are refused as unknown")
    func leadershipLossRefusesWaitingWrites() {
        var cluster = CoreCluster(size: 3)
        let leader = cluster.electLeader()
        cluster.isolated = [leader]
        let write = cluster.write(#"[[{"/a": 1}]]"#, to: leader)
        cluster.tick(30)  // check-quorum: the isolated leader steps down
        guard case .refused(.unknownOutcome)? = cluster.answers[write] else {
            Issue.record("expected unknownOutcome, got \(String(describing: cluster.answers[write]))")
            return
        }
    }

    @Test("every snapshotEveryEntries applied entries the log is compacted behind a store snapshot")
    func snapshotPolicy() {
        var options = AgencyNodeCore.Options()
        options.snapshotEveryEntries = 5
        var cluster = CoreCluster(size: 1, options: options)
        let leader = cluster.electLeader()
        for value in 0..<6 { _ = cluster.write("[[{\"/k\": \(value)}]]", to: leader) }
        cluster.tick()
        let snapshots = cluster.persisted[leader].compactMap(\.snapshot)
        #expect(snapshots.count == 1)
        if let snapshot = snapshots.first {
            #expect(snapshot.index >= 5)
            // The last entry before the snapshot is a write, so the store restored from it is at its index.
            #expect((try? AgencyStore(restoring: snapshot.data))?.index == snapshot.index)
        }
        #expect(cluster.cores[leader].node.log.snapshotIndex >= 5)
    }

    @Test("a restarted member rebuilds the same store from its disk")
    func restartRebuildsTheStore() {
        var options = AgencyNodeCore.Options()
        options.snapshotEveryEntries = 3
        var cluster = CoreCluster(size: 3, options: options)
        let leader = cluster.electLeader()
        for value in 0..<7 { _ = cluster.write("[[{\"/k/\(value)\": \(value)}]]", to: leader) }
        cluster.tick(3)
        let follower = (leader + 1) % 3
        let before = cluster.cores[follower].store.snapshot()
        cluster.restart(follower)
        #expect(cluster.cores[follower].store.snapshot() == before)
    }

    @Test("after stop every waiting request is refused and inputs are ignored")
    func stopRefusesWaitingRequests() {
        var cluster = CoreCluster(size: 3)
        let leader = cluster.electLeader()
        cluster.isolated = [leader]
        let write = cluster.write(#"[[{"/a": 1}]]"#, to: leader)
        cluster.cores[leader].stop()
        cluster.drain(leader)
        #expect(cluster.answers[write].map { if case .refused(.failed) = $0 { true } else { false } } == true)
        let late = cluster.write(#"[[{"/a": 2}]]"#, to: leader)
        #expect(cluster.answers[late].map { if case .refused(.failed) = $0 { true } else { false } } == true)
    }

    @Test("a failed persist stops the member and refuses what waits")
    func persistenceFailureStopsTheMember() {
        var cluster = CoreCluster(size: 1)
        let leader = cluster.electLeader()
        let id = cluster.requestID()
        cluster.cores[leader].write(id, envelope: CoreCluster.bytes(#"[[{"/a": 1}]]"#), timeMilliseconds: 5)
        _ = cluster.cores[leader].nextActions()
        cluster.cores[leader].persistenceFailed("disk full")
        cluster.drain(leader)
        #expect(cluster.cores[leader].failure == "persisting Raft state failed: disk full")
        #expect(cluster.answers[id].map { if case .refused(.failed) = $0 { true } else { false } } == true)
    }

    /// The supervision slot is stepped on the leader only, and what it returns is proposed.
    struct CountingSupervision: AgencySupervision {
        func step(store: AgencyStore, term: Term, nowMilliseconds: Int64) -> [[UInt8]] {
            store.value(at: AgencyPath(components: ["supervised"])) == nil ? [CoreCluster.bytes(#"[[{"/supervised": true}]]"#)] : []
        }
    }

    @Test("the supervision slot runs on the leader and its writes go through the log")
    func supervisionSlot() {
        var cluster = CoreCluster(size: 3)
        for index in cluster.cores.indices { cluster.cores[index].supervision = CountingSupervision() }
        let leader = cluster.electLeader()
        cluster.tick(3)
        for member in 0..<3 { #expect(cluster.value("/supervised", on: member)?.boolValue == true, "member \(member) of leader \(leader)") }
    }
}
