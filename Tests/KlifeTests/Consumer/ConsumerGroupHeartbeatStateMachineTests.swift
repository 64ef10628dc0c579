import Testing
@testable import Klife

@Suite struct ConsumerGroupHeartbeatStateMachineTests {
    typealias TP = KafkaTopicPartition
    typealias Machine = ConsumerGroupHeartbeatStateMachine
    static let p = (0..<6).map { TP("t", Int32($0)) }

    static func joined(_ assignment: [TP], instance: String? = nil) -> Machine {
        var m = Machine(groupID: "g", memberID: "m1", instanceID: instance, topics: ["t"], rebalanceTimeoutMs: 30_000)
        _ = m.start()
        _ = m.coordinatorFound()
        _ = m.heartbeatResponse(errorCode: 0, memberID: "m1", memberEpoch: 1, heartbeatIntervalMs: 500, assignment: assignment)
        return m
    }

    @Test func joinSendsEpochZeroWithTheSubscription() {
        var m = Machine(groupID: "g", memberID: "m1", instanceID: nil, topics: ["t"], rebalanceTimeoutMs: 30_000)
        #expect(m.start() == [.findCoordinator])
        #expect(m.coordinatorFound() == [.sendHeartbeat(.init(
            memberID: "m1", memberEpoch: 0, instanceID: nil, subscribedTopics: ["t"], rebalanceTimeoutMs: 30_000, ownedPartitions: []))])
    }

    @Test func assignmentStartsPartitionsAndReportsThemSoon() {
        var m = Machine(groupID: "g", memberID: "m1", instanceID: nil, topics: ["t"], rebalanceTimeoutMs: 30_000)
        _ = m.start(); _ = m.coordinatorFound()
        #expect(m.heartbeatResponse(errorCode: 0, memberID: "m1", memberEpoch: 3, heartbeatIntervalMs: 500, assignment: [Self.p[1], Self.p[0]])
            == [.start([Self.p[0], Self.p[1]]), .scheduleHeartbeat(afterMs: 0)])
        // The next heartbeat carries the owned partitions.
        #expect(m.heartbeatDue() == [.sendHeartbeat(.init(
            memberID: "m1", memberEpoch: 3, instanceID: nil, subscribedTopics: ["t"], rebalanceTimeoutMs: 30_000,
            ownedPartitions: [Self.p[0], Self.p[1]]))])
        // Unchanged assignment: a light heartbeat at the broker's interval.
        #expect(m.heartbeatResponse(errorCode: 0, memberID: nil, memberEpoch: 3, heartbeatIntervalMs: 500, assignment: nil)
            == [.scheduleHeartbeat(afterMs: 500)])
        #expect(m.heartbeatDue() == [.sendHeartbeat(.init(
            memberID: "m1", memberEpoch: 3, instanceID: nil, subscribedTopics: nil, rebalanceTimeoutMs: -1, ownedPartitions: nil))])
    }

    @Test func aChangedSubscriptionGoesOutInTheNextHeartbeat() {
        var m = Self.joined([Self.p[0]])
        _ = m.heartbeatDue()
        _ = m.heartbeatResponse(errorCode: 0, memberID: nil, memberEpoch: 1, heartbeatIntervalMs: 500, assignment: nil)
        // The same topics: a light heartbeat.
        m.subscriptionChanged(to: ["t"])
        #expect(m.heartbeatDue() == [.sendHeartbeat(.init(
            memberID: "m1", memberEpoch: 1, instanceID: nil, subscribedTopics: nil, rebalanceTimeoutMs: -1, ownedPartitions: nil))])
        _ = m.heartbeatResponse(errorCode: 0, memberID: nil, memberEpoch: 1, heartbeatIntervalMs: 500, assignment: nil)
        // A topic matching the member's pattern appeared: the full subscription, once.
        m.subscriptionChanged(to: ["t", "u"])
        #expect(m.heartbeatDue() == [.sendHeartbeat(.init(
            memberID: "m1", memberEpoch: 1, instanceID: nil, subscribedTopics: ["t", "u"], rebalanceTimeoutMs: 30_000,
            ownedPartitions: [Self.p[0]]))])
        _ = m.heartbeatResponse(errorCode: 0, memberID: nil, memberEpoch: 1, heartbeatIntervalMs: 500, assignment: nil)
        #expect(m.heartbeatDue() == [.sendHeartbeat(.init(
            memberID: "m1", memberEpoch: 1, instanceID: nil, subscribedTopics: nil, rebalanceTimeoutMs: -1, ownedPartitions: nil))])
    }

    @Test func anAssignmentWithUnknownTopicIDsIsAskedForAgain() {
        var m = Self.joined([Self.p[0]])
        _ = m.heartbeatDue()
        // The coordinator added a partition of a topic the metadata does not know yet: what is known is
        // unchanged, so nothing starts, but the next heartbeat is a full one (the coordinator answers it with
        // the assignment again).
        #expect(m.heartbeatResponse(
            errorCode: 0, memberID: nil, memberEpoch: 2, heartbeatIntervalMs: 500, assignment: [Self.p[0]], assignmentIncomplete: true)
            == [.scheduleHeartbeat(afterMs: 500)])
        #expect(m.heartbeatDue() == [.sendHeartbeat(.init(
            memberID: "m1", memberEpoch: 2, instanceID: nil, subscribedTopics: ["t"], rebalanceTimeoutMs: 30_000,
            ownedPartitions: [Self.p[0]]))])
        // Complete now: the new partition starts.
        #expect(m.heartbeatResponse(errorCode: 0, memberID: nil, memberEpoch: 2, heartbeatIntervalMs: 500, assignment: [Self.p[0], Self.p[1]])
            == [.start([Self.p[1]]), .scheduleHeartbeat(afterMs: 0)])
    }

    @Test func shrinkingAssignmentRevokesTheMissingPartitions() {
        var m = Self.joined([Self.p[0], Self.p[1], Self.p[2]])
        _ = m.heartbeatDue()
        #expect(m.heartbeatResponse(errorCode: 0, memberID: nil, memberEpoch: 2, heartbeatIntervalMs: 500, assignment: [Self.p[0]])
            == [.revoke([Self.p[1], Self.p[2]], reason: .revoked), .scheduleHeartbeat(afterMs: 0)])
        #expect(m.owned == [Self.p[0]])
    }

    @Test func fencedMemberLosesPartitionsAndRejoinsAtEpochZero() {
        var m = Self.joined([Self.p[4]])
        _ = m.heartbeatDue()
        #expect(m.heartbeatResponse(errorCode: 110, memberID: nil, memberEpoch: 0, heartbeatIntervalMs: 0, assignment: nil) == [
            .revoke([Self.p[4]], reason: .lost),
            .sendHeartbeat(.init(memberID: "m1", memberEpoch: 0, instanceID: nil, subscribedTopics: ["t"], rebalanceTimeoutMs: 30_000, ownedPartitions: [])),
        ])
    }

    @Test func coordinatorMoveLooksItUpAgainAndResendsFullState() {
        var m = Self.joined([Self.p[0]])
        _ = m.heartbeatDue()
        #expect(m.heartbeatResponse(errorCode: 16, memberID: nil, memberEpoch: 0, heartbeatIntervalMs: 0, assignment: nil) == [.findCoordinator])
        #expect(m.owned == [Self.p[0]])
        #expect(m.coordinatorFound() == [.sendHeartbeat(.init(
            memberID: "m1", memberEpoch: 1, instanceID: nil, subscribedTopics: ["t"], rebalanceTimeoutMs: 30_000, ownedPartitions: [Self.p[0]]))])
    }

    @Test func leaveRevokesAndSendsTheLeaveEpoch() {
        var dynamic = Self.joined([Self.p[0]])
        #expect(dynamic.leave() == [
            .revoke([Self.p[0]], reason: .shutdown),
            .sendHeartbeat(.init(memberID: "m1", memberEpoch: -1, instanceID: nil, subscribedTopics: nil, rebalanceTimeoutMs: -1, ownedPartitions: nil)),
        ])
        var staticMember = Self.joined([], instance: "i1")
        #expect(staticMember.leave() == [
            .sendHeartbeat(.init(memberID: "m1", memberEpoch: -2, instanceID: "i1", subscribedTopics: nil, rebalanceTimeoutMs: -1, ownedPartitions: nil)),
        ])
        #expect(staticMember.heartbeatResponse(errorCode: 0, memberID: nil, memberEpoch: -2, heartbeatIntervalMs: 0, assignment: nil) == [])
        #expect(staticMember.state == .stopped)
    }

    @Test func unknownErrorFails() {
        var m = Self.joined([Self.p[0]])
        _ = m.heartbeatDue()
        #expect(m.heartbeatResponse(errorCode: 24, memberID: nil, memberEpoch: 0, heartbeatIntervalMs: 0, assignment: nil)
            == [.revoke([Self.p[0]], reason: .lost), .fail(kafkaCode: 24)])
        #expect(m.state == .stopped)
    }
}
