import Testing
@testable import Raft

@Suite("Raft elections")
struct ElectionTests {
    @Test func oneLeaderIsElectedAndTheOthersFollowIt() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        #expect(cluster.nodes.filter { $0.role == .leader }.count == 1)
        for node in cluster.nodes {
            #expect(node.term == cluster.nodes[leader].term)
            #expect(node.leaderID == cluster.nodes[leader].id)
        }
        // The new leader's no-op is committed and applied everywhere.
        cluster.tick(times: 3)
        for index in cluster.nodes.indices {
            #expect(cluster.applied[index].map(\.kind) == [.noop])
        }
    }

    @Test func aSingleNodeGroupLeadsAndCommitsAlone() throws {
        var cluster = TestCluster(count: 1)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        #expect(cluster.nodes[leader].propose([7]) == .accepted(index: 2, term: 1))
        cluster.processAll()
        #expect(cluster.applied[0].map(\.payload) == [[], [7]])
    }

    @Test func aNodeVotesOnlyOncePerTerm() {
        var node = RaftNode(configuration: RaftConfiguration(id: NodeID(1), members: [NodeID(1), NodeID(2), NodeID(3)]))
        node.step(RaftMessage(from: NodeID(2), to: NodeID(1), term: 5, body: .requestVote(lastLogIndex: 0, lastLogTerm: 0)))
        node.step(RaftMessage(from: NodeID(3), to: NodeID(1), term: 5, body: .requestVote(lastLogIndex: 0, lastLogTerm: 0)))
        let answers = node.ready().messages.map(\.body)
        #expect(answers == [.requestVoteResponse(granted: true), .requestVoteResponse(granted: false)])
        #expect(node.votedFor == NodeID(2))
    }

    @Test func aVoteRequiresAnUpToDateLog() {
        let durable = RaftDurableState(hardState: HardState(term: 2), entries: [LogEntry(term: 2, index: 1)])
        var node = RaftNode(configuration: RaftConfiguration(id: NodeID(1), members: [NodeID(1), NodeID(2), NodeID(3)]),
                            restoring: durable)
        // Longer log of an older term: refused (Raft §5.4.1).
        node.step(RaftMessage(from: NodeID(2), to: NodeID(1), term: 3, body: .requestVote(lastLogIndex: 5, lastLogTerm: 1)))
        // Same last term, same length: granted.
        node.step(RaftMessage(from: NodeID(3), to: NodeID(1), term: 4, body: .requestVote(lastLogIndex: 1, lastLogTerm: 2)))
        let answers = node.ready().messages.map(\.body)
        #expect(answers == [.requestVoteResponse(granted: false), .requestVoteResponse(granted: true)])
    }

    @Test func preVoteKeepsAPartitionedNodeFromDisruptingTheLeader() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        let term = cluster.nodes[leader].term
        let outsider = (leader + 1) % 3
        cluster.isolated = [cluster.nodes[outsider].id]
        cluster.tick(times: 100)
        // Alone, it only ever pre-votes: its term does not grow.
        #expect(cluster.nodes[outsider].term == term)
        #expect(cluster.nodes[outsider].role == .preCandidate)
        cluster.isolated = []
        cluster.tick(times: 20)
        #expect(cluster.nodes[leader].role == .leader)
        #expect(cluster.nodes.allSatisfy { $0.term == term })
        #expect(cluster.nodes[outsider].leaderID == cluster.nodes[leader].id)
    }

    @Test func followersInTheLeaderLeaseIgnoreVoteRequests() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        let follower = (leader + 1) % 3
        let other = (leader + 2) % 3
        let term = cluster.nodes[follower].term
        cluster.nodes[follower].step(RaftMessage(
            from: cluster.nodes[other].id, to: cluster.nodes[follower].id, term: term + 5,
            body: .requestVote(lastLogIndex: 100, lastLogTerm: term)))
        #expect(cluster.nodes[follower].term == term)
        #expect(!cluster.nodes[follower].ready().messages.contains { $0.to == cluster.nodes[other].id })
    }

    @Test func aLeaderCutOffFromTheMajorityStepsDown() throws {
        var cluster = TestCluster(count: 5)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        let leaderID = cluster.nodes[leader].id
        cluster.isolated = [leaderID]
        let period = cluster.nodes[leader].configuration.electionTimeoutTicksMin
        cluster.tick([leader], times: 2 * period)
        #expect(cluster.nodes[leader].role == .follower)
        // The rest elect a new leader in a later term.
        cluster.isolated = []
        cluster.nodes[leader] = cluster.nodes[leader]  // keep it, now a follower
        cluster.isolated = [leaderID]
        let nextElected = cluster.electLeader()
        let next = try #require(nextElected)
        #expect(next != leader)
        #expect(cluster.nodes[next].term > cluster.nodes[leader].term)
    }

    @Test func aDeposedLeaderLearnsTheNewTermFromAnyFollower() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        let old = cluster.nodes[leader]
        let follower = (leader + 1) % 3
        // A heartbeat from an older term is answered with the newer term.
        cluster.nodes[follower].step(RaftMessage(from: old.id, to: cluster.nodes[follower].id, term: old.term + 1,
                                                 body: .heartbeat(commitIndex: 0, readContext: 0)))
        _ = cluster.nodes[follower].ready()
        cluster.nodes[follower].step(RaftMessage(from: old.id, to: cluster.nodes[follower].id, term: old.term,
                                                 body: .heartbeat(commitIndex: 0, readContext: 0)))
        let answer = try #require(cluster.nodes[follower].ready().messages.first)
        #expect(answer.term == old.term + 1)
        cluster.nodes[leader].step(answer)
        #expect(cluster.nodes[leader].role == .follower)
    }
}

@Suite("Raft replication")
struct ReplicationTests {
    @Test func proposalsAreCommittedAndAppliedInOrderEverywhere() throws {
        var cluster = TestCluster(count: 5)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        for value in 1...20 { _ = cluster.nodes[leader].propose([UInt8(value)]) }
        cluster.tick(times: 3)
        for index in cluster.nodes.indices {
            #expect(cluster.applied[index].filter { $0.kind == .command }.map(\.payload) == (1...20).map { [UInt8($0)] })
        }
    }

    @Test func aFollowerNotLeaderRefusesProposalsWithAHint() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        let follower = (leader + 1) % 3
        #expect(cluster.nodes[follower].propose([1]) == .notLeader(leaderHint: cluster.nodes[leader].id))
    }

    @Test func conflictingFollowerEntriesAreReplaced() throws {
        // The follower holds uncommitted entries of term 2 the new leader never saw.
        let members = [NodeID(1), NodeID(2), NodeID(3)]
        let shared = [LogEntry(term: 1, index: 1, payload: [1])]
        var cluster = TestCluster(count: 3)
        cluster.durable[0] = RaftDurableState(hardState: HardState(term: 3), entries: shared + [
            LogEntry(term: 3, index: 2, payload: [30]),
        ])
        cluster.durable[1] = RaftDurableState(hardState: HardState(term: 3), entries: shared)
        cluster.durable[2] = RaftDurableState(hardState: HardState(term: 3), entries: shared + [
            LogEntry(term: 2, index: 2, payload: [20]), LogEntry(term: 2, index: 3, payload: [21]),
            LogEntry(term: 2, index: 4, payload: [22]),
        ])
        for index in 0..<3 {
            // Node 1 times out first: shortest election timeout.
            let configuration = RaftConfiguration(id: members[index], members: members,
                                                  electionTimeoutTicksMin: index == 0 ? 3 : 20,
                                                  electionTimeoutTicksMax: index == 0 ? 4 : 30, heartbeatIntervalTicks: 1)
            cluster.nodes[index] = RaftNode(configuration: configuration, restoring: cluster.durable[index])
        }
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        #expect(leader == 0)
        cluster.tick(times: 5)
        let expected = cluster.nodes[0].log.entries
        #expect(cluster.nodes[2].log.entries == expected)
        #expect(cluster.durable[2].entries == expected)
        #expect(!expected.contains { $0.term == 2 })
    }

    /// Raft Figure 8: an entry of an earlier term on a majority is not committed by counting;
    /// it is committed only with an entry of the leader's own term.
    @Test func onlyEntriesOfTheCurrentTermCommitByCounting() throws {
        let members = [NodeID(1), NodeID(2), NodeID(3)]
        let log = [LogEntry(term: 1, index: 1), LogEntry(term: 2, index: 2, payload: [2])]
        var leader = RaftNode(configuration: RaftConfiguration(id: NodeID(1), members: members),
                              restoring: RaftDurableState(hardState: HardState(term: 3), entries: log))
        // Win an election in term 4 (pre-vote, then vote).
        for _ in 0..<12 { leader.tick() }
        #expect(leader.role == .preCandidate)
        leader.step(RaftMessage(from: NodeID(2), to: NodeID(1), term: 4, body: .preVoteResponse(granted: true)))
        #expect(leader.role == .candidate)
        leader.step(RaftMessage(from: NodeID(2), to: NodeID(1), term: 4, body: .requestVoteResponse(granted: true)))
        #expect(leader.role == .leader && leader.term == 4)
        _ = leader.ready()
        // Node 2 acknowledges index 2 (term 2): a majority holds it, yet it must not commit.
        leader.step(RaftMessage(from: NodeID(2), to: NodeID(1), term: 4,
                                body: .appendEntriesResponse(success: true, matchIndex: 2, rejectedIndex: 0, hintIndex: 0)))
        #expect(leader.commitIndex == 0)
        // Once the no-op of term 4 (index 3) is on a majority, everything up to it commits.
        leader.step(RaftMessage(from: NodeID(2), to: NodeID(1), term: 4,
                                body: .appendEntriesResponse(success: true, matchIndex: 3, rejectedIndex: 0, hintIndex: 0)))
        #expect(leader.commitIndex == 3)
        #expect(leader.ready().committedEntries.map(\.index) == [1, 2, 3])
    }

    @Test func aFollowerAcknowledgesOnlyWhatTheMessageProved() {
        let members = [NodeID(1), NodeID(2), NodeID(3)]
        // The follower has extra stale entries beyond what the leader sends.
        let durable = RaftDurableState(hardState: HardState(term: 2), entries: [
            LogEntry(term: 1, index: 1), LogEntry(term: 1, index: 2), LogEntry(term: 1, index: 3),
        ])
        var follower = RaftNode(configuration: RaftConfiguration(id: NodeID(2), members: members), restoring: durable)
        follower.step(RaftMessage(from: NodeID(1), to: NodeID(2), term: 2, body: .appendEntries(
            previousLogIndex: 1, previousLogTerm: 1, entries: [], leaderCommit: 3)))
        let ready = follower.ready()
        #expect(ready.messages.map(\.body) == [.appendEntriesResponse(success: true, matchIndex: 1, rejectedIndex: 0, hintIndex: 0)])
        #expect(follower.commitIndex == 1)
    }

    @Test func aRejectionHintsTheEndOfTheEntriesBeforeTheConflictingTerm() {
        let members = [NodeID(1), NodeID(2), NodeID(3)]
        let durable = RaftDurableState(hardState: HardState(term: 5), entries: [
            LogEntry(term: 1, index: 1), LogEntry(term: 3, index: 2), LogEntry(term: 3, index: 3), LogEntry(term: 3, index: 4),
        ])
        var follower = RaftNode(configuration: RaftConfiguration(id: NodeID(2), members: members), restoring: durable)
        follower.step(RaftMessage(from: NodeID(1), to: NodeID(2), term: 5, body: .appendEntries(
            previousLogIndex: 4, previousLogTerm: 4, entries: [], leaderCommit: 0)))
        follower.step(RaftMessage(from: NodeID(1), to: NodeID(2), term: 5, body: .appendEntries(
            previousLogIndex: 9, previousLogTerm: 4, entries: [], leaderCommit: 0)))
        #expect(follower.ready().messages.map(\.body) == [
            .appendEntriesResponse(success: false, matchIndex: 0, rejectedIndex: 4, hintIndex: 1),
            .appendEntriesResponse(success: false, matchIndex: 0, rejectedIndex: 9, hintIndex: 4),
        ])
    }

    @Test func pipeliningStopsAtTheInFlightLimit() throws {
        var cluster = TestCluster(count: 3) { configuration in
            configuration.appendEntryCountMax = 1
            configuration.inFlightAppendCountMax = 2
        }
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        cluster.tick(times: 2)
        let follower = cluster.nodes[(leader + 1) % 3].id
        #expect(cluster.nodes[leader].progress[follower]?.state == .replicate)
        cluster.sent = []
        for value in 0..<10 { _ = cluster.nodes[leader].propose([UInt8(value)]) }
        cluster.process(leader)
        let appends = cluster.sent.filter {
            if case .appendEntries = $0.body { $0.to == follower } else { false }
        }
        #expect(appends.count == 2)
        // As answers come back, the rest follows, and everything commits.
        cluster.deliverAll()
        #expect(cluster.nodes[leader].commitIndex == cluster.nodes[leader].log.lastIndex)
    }

    /// Found by the simulator: every pipelined append to a follower was lost, the window was
    /// not full, and nothing was left to send, so replication stalled for good.
    @Test func aPipelineWhoseAppendsWereAllLostRecovers() throws {
        var cluster = TestCluster(count: 3) { $0.inFlightAppendCountMax = 3 }
        let elected = cluster.electLeader()
        let leader = try #require(elected)
        cluster.tick(times: 2)
        let follower = cluster.nodes[(leader + 1) % 3].id
        for value in 0..<2 { _ = cluster.nodes[leader].propose([UInt8(value)]) }
        cluster.process(leader)
        cluster.inFlight.removeAll { $0.to == follower }
        cluster.tick(times: 6)
        #expect(cluster.nodes[TestCluster.position(follower)].log.lastIndex == cluster.nodes[leader].log.lastIndex)
        #expect(cluster.nodes[TestCluster.position(follower)].commitIndex == cluster.nodes[leader].commitIndex)
    }

    @Test func batchedProposalsTravelInOneAppend() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        cluster.tick(times: 2)
        cluster.sent = []
        for value in 0..<10 { _ = cluster.nodes[leader].propose([UInt8(value)]) }
        cluster.process(leader)
        let sizes = cluster.sent.compactMap { message -> Int? in
            if case .appendEntries(_, _, let entries, _) = message.body { entries.count } else { nil }
        }
        #expect(sizes == [10, 10])
    }

    @Test func aRestartedNodeRecoversItsStateAndReappliesCommittedEntries() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        for value in 1...5 { _ = cluster.nodes[leader].propose([UInt8(value)]) }
        cluster.tick(times: 3)
        let follower = (leader + 1) % 3
        let before = cluster.nodes[follower]
        cluster.restart(follower)
        #expect(cluster.nodes[follower].term == before.term)
        #expect(cluster.nodes[follower].votedFor == before.votedFor)
        #expect(cluster.nodes[follower].log == before.log)
        cluster.process(follower)
        #expect(cluster.applied[follower].filter { $0.kind == .command }.map(\.payload) == (1...5).map { [UInt8($0)] })
    }

    @Test func aVoteIsPersistedAndSyncedBeforeItIsSent() {
        var node = RaftNode(configuration: RaftConfiguration(id: NodeID(1), members: [NodeID(1), NodeID(2), NodeID(3)]))
        node.step(RaftMessage(from: NodeID(2), to: NodeID(1), term: 1, body: .requestVote(lastLogIndex: 0, lastLogTerm: 0)))
        let ready = node.ready()
        #expect(ready.hardState == HardState(term: 1, votedFor: NodeID(2), commitIndex: 0))
        #expect(ready.mustSync)
        #expect(ready.messages.count == 1)
    }
}

@Suite("Raft read-index")
struct ReadIndexTests {
    @Test func aReadIsAnsweredOnlyAfterAMajorityConfirmsLeadership() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        _ = cluster.nodes[leader].propose([1])
        cluster.tick(times: 2)
        let commit = cluster.nodes[leader].commitIndex
        cluster.nodes[leader].readIndex(requestID: 42)
        cluster.process(leader)
        #expect(cluster.readResults[leader].isEmpty)
        cluster.deliverAll()
        #expect(cluster.readResults[leader] == [.init(requestID: 42, outcome: .ready(index: commit))])
    }

    @Test func anIsolatedLeaderNeverAnswersAReadAndFailsItOnStepDown() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        cluster.tick(times: 2)
        cluster.isolated = [cluster.nodes[leader].id]
        cluster.nodes[leader].readIndex(requestID: 7)
        cluster.tick([leader], times: 3 * cluster.nodes[leader].configuration.electionTimeoutTicksMin)
        #expect(cluster.nodes[leader].role == .follower)
        #expect(cluster.readResults[leader] == [.init(requestID: 7, outcome: .notLeader(leaderHint: nil))])
    }

    @Test func aReadOnAFollowerIsRefusedWithAHint() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        let follower = (leader + 1) % 3
        cluster.nodes[follower].readIndex(requestID: 1)
        cluster.process(follower)
        #expect(cluster.readResults[follower] == [.init(requestID: 1, outcome: .notLeader(leaderHint: cluster.nodes[leader].id))])
    }

    @Test func aNewLeaderHoldsReadsUntilItsNoopCommits() throws {
        var cluster = TestCluster(count: 3)
        var leaderIndex: Int?
        // Tick until a candidate wins, but take over before its no-op is acknowledged.
        for _ in 0..<200 where leaderIndex == nil {
            for index in cluster.nodes.indices { cluster.nodes[index].tick() }
            cluster.processAll()
            while leaderIndex == nil && !cluster.inFlight.isEmpty {
                let message = cluster.inFlight.removeFirst()
                let index = TestCluster.position(message.to)
                cluster.nodes[index].step(message)
                cluster.process(index)
                if cluster.nodes[index].role == .leader { leaderIndex = index }
            }
        }
        let leader = try #require(leaderIndex)
        #expect(cluster.nodes[leader].commitIndex < cluster.nodes[leader].log.lastIndex)
        cluster.nodes[leader].readIndex(requestID: 9)
        cluster.process(leader)
        #expect(cluster.readResults[leader].isEmpty)
        cluster.deliverAll()
        #expect(cluster.readResults[leader] == [.init(requestID: 9, outcome: .ready(index: cluster.nodes[leader].log.lastIndex))])
    }
}

@Suite("Raft snapshots")
struct SnapshotTests {
    @Test func aLaggingFollowerIsSentTheSnapshotAndKeepsUp() throws {
        var cluster = TestCluster(count: 3)
        let leaderElected = cluster.electLeader()
        let leader = try #require(leaderElected)
        let lagging = (leader + 1) % 3
        cluster.isolated = [cluster.nodes[lagging].id]
        for value in 1...10 { _ = cluster.nodes[leader].propose([UInt8(value)]) }
        cluster.tick([leader, (leader + 2) % 3], times: 3)
        let applied = cluster.nodes[leader].appliedIndex
        cluster.nodes[leader].compact(upTo: applied, snapshot: [0xAB])
        cluster.process(leader)
        #expect(cluster.durable[leader].snapshot?.index == applied)
        #expect(!cluster.durable[leader].entries.contains { $0.index <= applied })
        cluster.isolated = []
        _ = cluster.nodes[leader].propose([99])
        cluster.tick(times: 4)
        #expect(cluster.sent.contains { if case .installSnapshot = $0.body { $0.to == cluster.nodes[lagging].id } else { false } })
        #expect(cluster.restoredSnapshots[lagging].map(\.index) == [applied])
        #expect(cluster.restoredSnapshots[lagging].first?.data == [0xAB])
        #expect(cluster.nodes[lagging].log.lastIndex == cluster.nodes[leader].log.lastIndex)
        #expect(cluster.applied[lagging].last?.payload == [99])
        // Restarting from durable state gives the same log back.
        let before = cluster.nodes[lagging].log
        cluster.restart(lagging)
        #expect(cluster.nodes[lagging].log == before)
    }

    @Test func aRestartRestoresTheSnapshotFirst() {
        let snapshot = RaftSnapshot(index: 4, term: 2, data: [1, 2])
        let durable = RaftDurableState(hardState: HardState(term: 2, commitIndex: 5), snapshot: snapshot,
                                       entries: [LogEntry(term: 2, index: 4), LogEntry(term: 2, index: 5, payload: [5])])
        var node = RaftNode(configuration: RaftConfiguration(id: NodeID(1), members: [NodeID(1), NodeID(2), NodeID(3)]),
                            restoring: durable)
        let ready = node.ready()
        #expect(ready.snapshotToApply == snapshot)
        #expect(ready.committedEntries.map(\.index) == [5])
        #expect(node.log.firstIndex == 5)
    }

    @Test func aDurableCommitIndexBeyondTheLogIsClamped() {
        let durable = RaftDurableState(hardState: HardState(term: 2, commitIndex: 9), entries: [LogEntry(term: 1, index: 1)])
        let node = RaftNode(configuration: RaftConfiguration(id: NodeID(1), members: [NodeID(1), NodeID(2), NodeID(3)]),
                            restoring: durable)
        #expect(node.commitIndex == 1)
    }
}
