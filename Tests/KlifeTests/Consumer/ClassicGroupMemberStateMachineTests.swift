import Testing
@testable import Klife

@Suite struct ClassicGroupMemberStateMachineTests {
    typealias TP = KafkaTopicPartition
    static let p = (0..<4).map { TP("t", Int32($0)) }

    /// Runs a member through coordinator lookup, MEMBER_ID_REQUIRED, join and sync as a follower.
    static func joined(cooperative: Bool, assignment: [TP]) -> ClassicGroupMemberStateMachine {
        var m = ClassicGroupMemberStateMachine(groupID: "g", isCooperative: cooperative)
        _ = m.start()
        _ = m.coordinatorFound()
        _ = m.joinGroupResponse(errorCode: 79, generation: -1, protocolName: nil, leader: "", memberID: "me", members: [])
        _ = m.joinGroupResponse(errorCode: 0, generation: 1, protocolName: "range", leader: "other", memberID: "me", members: [])
        _ = m.syncGroupResponse(errorCode: 0, assignment: assignment)
        _ = m.partitionsStarted()
        return m
    }

    /// A cooperative member owning p0 that rejoined and was assigned p0 and p1 in generation 2: p1's start is out.
    static func startingSecondPartition() -> ClassicGroupMemberStateMachine {
        var m = Self.joined(cooperative: true, assignment: [Self.p[0]])
        _ = m.heartbeatResponse(errorCode: 27)
        _ = m.joinGroupResponse(errorCode: 0, generation: 2, protocolName: "cooperative-sticky", leader: "x", memberID: "me", members: [])
        #expect(m.syncGroupResponse(errorCode: 0, assignment: [Self.p[0], Self.p[1]]) == [.start([Self.p[1]])])
        return m
    }

    @Test func changedSubscribedPartitionsRejoinKeepingWhatTheProtocolKeeps() {
        var eager = Self.joined(cooperative: false, assignment: [Self.p[0], Self.p[1]])
        #expect(eager.subscribedPartitionsChanged() == [
            .revoke([Self.p[0], Self.p[1]], reason: .revoked), .sendJoinGroup(memberID: "me", ownedPartitions: []),
        ])
        #expect(eager.state == .joining)
        // Only a stable member rejoins: one already joining is not asked twice.
        #expect(eager.subscribedPartitionsChanged() == [])
        var cooperative = Self.joined(cooperative: true, assignment: [Self.p[0], Self.p[1]])
        #expect(cooperative.subscribedPartitionsChanged() == [.sendJoinGroup(memberID: "me", ownedPartitions: [Self.p[0], Self.p[1]])])
    }

    @Test func aChangedSubscriptionRejoinsAndACooperativeMemberFirstGivesBackTheTopicsItDropped() {
        let u = TP("u", 0)
        var cooperative = Self.joined(cooperative: true, assignment: [Self.p[0], Self.p[1], u])
        #expect(cooperative.subscriptionChanged(to: ["t", "v"]) == [
            .revoke([u], reason: .revoked), .sendJoinGroup(memberID: "me", ownedPartitions: [Self.p[0], Self.p[1]]),
        ])
        #expect(cooperative.owned == [Self.p[0], Self.p[1]])
        // A topic added only: everything is kept.
        var growing = Self.joined(cooperative: true, assignment: [Self.p[0]])
        #expect(growing.subscriptionChanged(to: ["t", "v"]) == [.sendJoinGroup(memberID: "me", ownedPartitions: [Self.p[0]])])
        var eager = Self.joined(cooperative: false, assignment: [Self.p[0], u])
        #expect(eager.subscriptionChanged(to: ["t"]) == [
            .revoke([Self.p[0], u], reason: .revoked), .sendJoinGroup(memberID: "me", ownedPartitions: []),
        ])
        #expect(eager.subscriptionChanged(to: []) == [])
    }

    @Test func theLeaderRejoinsWhenATopicGrowsOrAppears() {
        typealias Runner = ConsumerGroupRunner
        #expect(!Runner.subscribedPartitionsChanged(assigned: ["a": 2, "b": 3], now: ["a": 2, "b": 3]))
        #expect(Runner.subscribedPartitionsChanged(assigned: ["a": 2, "b": 3], now: ["a": 4, "b": 3]))
        #expect(Runner.subscribedPartitionsChanged(assigned: ["a": 2], now: ["a": 2, "b": 1]))
        // Missing from a refresh, or fewer partitions: left to the next rebalance.
        #expect(!Runner.subscribedPartitionsChanged(assigned: ["a": 2, "b": 3], now: ["a": 2]))
        #expect(!Runner.subscribedPartitionsChanged(assigned: ["a": 2], now: ["a": 1]))
    }

    @Test func newMemberJoinsWithTheIDTheBrokerRequires() {
        var m = ClassicGroupMemberStateMachine(groupID: "g", isCooperative: false)
        #expect(m.start() == [.findCoordinator])
        #expect(m.coordinatorFound() == [.sendJoinGroup(memberID: "", ownedPartitions: [])])
        #expect(m.joinGroupResponse(errorCode: 79, generation: -1, protocolName: nil, leader: "", memberID: "m-1", members: [])
            == [.sendJoinGroup(memberID: "m-1", ownedPartitions: [])])
        #expect(m.memberID == "m-1")
    }

    @Test func leaderRunsTheAssignorFollowerJustSyncs() {
        let members = [ConsumerGroupMember(memberID: "m-1", topics: ["t"])]
        var leader = ClassicGroupMemberStateMachine(groupID: "g", isCooperative: false)
        _ = leader.start(); _ = leader.coordinatorFound()
        #expect(leader.joinGroupResponse(errorCode: 0, generation: 3, protocolName: "range", leader: "m-1", memberID: "m-1", members: members)
            == [.assignAndSync(generation: 3, protocol: "range", members: members)])
        var follower = ClassicGroupMemberStateMachine(groupID: "g", isCooperative: false)
        _ = follower.start(); _ = follower.coordinatorFound()
        #expect(follower.joinGroupResponse(errorCode: 0, generation: 3, protocolName: "range", leader: "m-1", memberID: "m-2", members: [])
            == [.sendSyncGroup(generation: 3)])
        #expect(follower.state == .syncing(generation: 3))
    }

    @Test func syncStartsTheAssignedPartitionsAndHeartbeats() {
        let m = Self.joined(cooperative: false, assignment: [Self.p[1], Self.p[0]])
        #expect(m.state == .stable(generation: 1))
        #expect(m.owned == [Self.p[0], Self.p[1]])
        var again = ClassicGroupMemberStateMachine(groupID: "g", isCooperative: false)
        _ = again.start(); _ = again.coordinatorFound()
        _ = again.joinGroupResponse(errorCode: 0, generation: 1, protocolName: "range", leader: "x", memberID: "me", members: [])
        #expect(again.syncGroupResponse(errorCode: 0, assignment: [Self.p[1], Self.p[0]]) == [.start([Self.p[0], Self.p[1]])])
        // The member heartbeats once its partitions started, not before.
        #expect(again.heartbeatDue() == [])
        #expect(again.partitionsStarted() == [.sendHeartbeat(generation: 1, memberID: "me")])
        #expect(again.partitionsStarted() == [])
        #expect(again.heartbeatDue() == [.sendHeartbeat(generation: 1, memberID: "me")])
    }

    @Test func aCooperativeMemberThatGaveUpPartitionsRejoinsOnceTheNewOnesStarted() {
        var m = Self.joined(cooperative: true, assignment: [Self.p[0], Self.p[1], Self.p[2]])
        _ = m.heartbeatResponse(errorCode: 27)
        _ = m.joinGroupResponse(errorCode: 0, generation: 2, protocolName: "cooperative-sticky", leader: "x", memberID: "me", members: [])
        #expect(m.syncGroupResponse(errorCode: 0, assignment: [Self.p[0], Self.p[3]]) == [
            .revoke([Self.p[1], Self.p[2]], reason: .revoked), .start([Self.p[3]]),
        ])
        #expect(m.partitionsStarted() == [.sendJoinGroup(memberID: "me", ownedPartitions: [Self.p[0], Self.p[3]])])
    }

    @Test func aStartEndedByARebalanceLeavesItsPartitionsUnclaimedAndRejoins() {
        // Eager: everything was given back before the join, so the whole assignment is new and dropped.
        var eager = ClassicGroupMemberStateMachine(groupID: "g", isCooperative: false)
        _ = eager.start(); _ = eager.coordinatorFound()
        _ = eager.joinGroupResponse(errorCode: 0, generation: 1, protocolName: "range", leader: "x", memberID: "me", members: [])
        _ = eager.syncGroupResponse(errorCode: 0, assignment: [Self.p[0], Self.p[1]])
        #expect(eager.startAbandoned([Self.p[0], Self.p[1]], heartbeatErrorCode: 27) == [.sendJoinGroup(memberID: "me", ownedPartitions: [])])
        #expect(eager.owned == [])
        #expect(eager.state == .joining)
        // Cooperative: p0 runs on and is claimed; p1 never started, so it is neither revoked nor claimed.
        var cooperative = Self.startingSecondPartition()
        #expect(cooperative.startAbandoned([Self.p[1]], heartbeatErrorCode: 27) == [.sendJoinGroup(memberID: "me", ownedPartitions: [Self.p[0]])])
        #expect(cooperative.owned == [Self.p[0]])
        // A late report changes nothing.
        #expect(cooperative.partitionsStarted() == [])
        #expect(cooperative.startAbandoned([Self.p[0]], heartbeatErrorCode: 27) == [])
    }

    @Test func aStartEndedByALostMembershipRevokesOnlyWhatStarted() {
        var m = Self.startingSecondPartition()
        #expect(m.startAbandoned([Self.p[1]], heartbeatErrorCode: 25) == [
            .revoke([Self.p[0]], reason: .lost), .sendJoinGroup(memberID: "", ownedPartitions: []),
        ])
        var fenced = Self.startingSecondPartition()
        #expect(fenced.startAbandoned([Self.p[1]], heartbeatErrorCode: 82) == [.revoke([Self.p[0]], reason: .lost), .fail(kafkaCode: 82)])
        // A stop while the start is out gives back everything assigned, started or not, and leaves.
        var leaving = Self.startingSecondPartition()
        #expect(leaving.leave() == [.revoke([Self.p[0], Self.p[1]], reason: .shutdown), .sendLeaveGroup(memberID: "me")])
        #expect(leaving.partitionsStarted() == [])
        // A coordinator that moved would resume the generation that counts the dropped partition as ours: rejoin.
        var moved = Self.startingSecondPartition()
        #expect(moved.startAbandoned([Self.p[1]], heartbeatErrorCode: 16) == [.sendJoinGroup(memberID: "me", ownedPartitions: [Self.p[0]])])
    }

    @Test func eagerRebalanceRevokesEverythingBeforeRejoining() {
        var m = Self.joined(cooperative: false, assignment: [Self.p[0], Self.p[1]])
        #expect(m.heartbeatResponse(errorCode: 27) == [
            .revoke([Self.p[0], Self.p[1]], reason: .revoked), .sendJoinGroup(memberID: "me", ownedPartitions: []),
        ])
        _ = m.joinGroupResponse(errorCode: 0, generation: 2, protocolName: "range", leader: "x", memberID: "me", members: [])
        #expect(m.syncGroupResponse(errorCode: 0, assignment: [Self.p[1]]) == [.start([Self.p[1]])])
        #expect(m.partitionsStarted() == [.sendHeartbeat(generation: 2, memberID: "me")])
    }

    @Test func cooperativeRebalanceKeepsPartitionsAndRevokesOnlyThoseThatMove() {
        var m = Self.joined(cooperative: true, assignment: [Self.p[0], Self.p[1], Self.p[2]])
        // Rejoin advertises what we own and revokes nothing yet.
        #expect(m.heartbeatResponse(errorCode: 27) == [
            .sendJoinGroup(memberID: "me", ownedPartitions: [Self.p[0], Self.p[1], Self.p[2]]),
        ])
        _ = m.joinGroupResponse(errorCode: 0, generation: 2, protocolName: "cooperative-sticky", leader: "x", memberID: "me", members: [])
        // p2 goes elsewhere: revoke it, keep p0/p1 running, and rejoin so p2 can be handed over.
        #expect(m.syncGroupResponse(errorCode: 0, assignment: [Self.p[0], Self.p[1]]) == [
            .revoke([Self.p[2]], reason: .revoked),
            .sendJoinGroup(memberID: "me", ownedPartitions: [Self.p[0], Self.p[1]]),
        ])
        _ = m.joinGroupResponse(errorCode: 0, generation: 3, protocolName: "cooperative-sticky", leader: "x", memberID: "me", members: [])
        #expect(m.syncGroupResponse(errorCode: 0, assignment: [Self.p[0], Self.p[1]]) == [.sendHeartbeat(generation: 3, memberID: "me")])
    }

    @Test func fencedMemberLosesItsPartitionsAndRejoinsAsNew() {
        var m = Self.joined(cooperative: true, assignment: [Self.p[3]])
        #expect(m.heartbeatResponse(errorCode: 25) == [
            .revoke([Self.p[3]], reason: .lost), .sendJoinGroup(memberID: "", ownedPartitions: []),
        ])
        #expect(m.memberID == "")
    }

    @Test func illegalGenerationKeepsTheMemberID() {
        var m = Self.joined(cooperative: false, assignment: [Self.p[0]])
        #expect(m.heartbeatResponse(errorCode: 22) == [
            .revoke([Self.p[0]], reason: .lost), .sendJoinGroup(memberID: "me", ownedPartitions: []),
        ])
    }

    @Test func coordinatorMoveFindsItAgainAndKeepsPartitions() {
        var m = Self.joined(cooperative: false, assignment: [Self.p[0]])
        #expect(m.heartbeatResponse(errorCode: 16) == [.findCoordinator])
        #expect(m.owned == [Self.p[0]])
        #expect(m.coordinatorFound() == [.sendHeartbeat(generation: 1, memberID: "me")])
        #expect(m.state == .stable(generation: 1))
        // A coordinator lost mid-join means joining again at the new one.
        _ = m.heartbeatResponse(errorCode: 27)
        #expect(m.coordinatorUnreachable() == [.findCoordinator])
        #expect(m.coordinatorFound() == [.sendJoinGroup(memberID: "me", ownedPartitions: [])])
    }

    @Test func unrecoverableErrorFailsAfterReleasingPartitions() {
        var m = Self.joined(cooperative: false, assignment: [Self.p[0]])
        #expect(m.heartbeatResponse(errorCode: 30) == [.revoke([Self.p[0]], reason: .lost), .fail(kafkaCode: 30)])
        #expect(m.state == .stopped)
        #expect(m.heartbeatDue() == [])
    }

    @Test func gracefulLeaveRevokesThenLeaves() {
        var m = Self.joined(cooperative: false, assignment: [Self.p[0], Self.p[2]])
        #expect(m.heartbeatDue() == [.sendHeartbeat(generation: 1, memberID: "me")])
        #expect(m.leave() == [.revoke([Self.p[0], Self.p[2]], reason: .shutdown), .sendLeaveGroup(memberID: "me")])
        #expect(m.state == .leaving)
        #expect(m.heartbeatDue() == [])
        _ = m.leaveGroupResponse()
        #expect(m.state == .stopped)
    }

    @Test func staleResponsesAreIgnored() {
        var m = Self.joined(cooperative: false, assignment: [Self.p[0]])
        #expect(m.syncGroupResponse(errorCode: 0, assignment: [Self.p[1]]) == [])
        #expect(m.joinGroupResponse(errorCode: 0, generation: 9, protocolName: "range", leader: "me", memberID: "me", members: []) == [])
    }
}
