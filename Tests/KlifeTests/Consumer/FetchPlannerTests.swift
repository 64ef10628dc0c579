import KafkaProtocol
import Testing
@testable import Klife

@Suite struct FetchPlannerTests {
    static let settings = FetchPlanner.Settings(
        maxBytesPerRequest: 1_000, maxWaitMs: 50, minBytes: 1, isolationLevel: .readCommitted)
    static let idA = KafkaUUID(high: 1, low: 1)
    static let idB = KafkaUUID(high: 2, low: 2)

    /// Topic "a" has partitions 0..2 led by brokers 1, 2, 1; topic "b" partition 0 led by 2; "c" leaderless.
    static func route(_ topic: String, _ partition: Int32) -> FetchRoute {
        switch (topic, partition) {
        case ("a", 0), ("a", 2): return .leader(brokerID: 1, topicID: idA, leaderEpoch: 4)
        case ("a", 1): return .leader(brokerID: 2, topicID: idA, leaderEpoch: 5)
        case ("a", _): return .unknownPartition
        case ("b", 0): return .leader(brokerID: 2, topicID: idB, leaderEpoch: 0)
        case ("c", _): return .noLeader
        default: return .unknownTopic
        }
    }

    static func item(_ topic: String, _ partition: Int32, _ offset: Int64 = 0, bytes: Int32 = 100) -> FetchPlanner.Item {
        .init(position: KafkaFetchPosition(topic: topic, partition: partition, offset: offset), maxBytes: bytes)
    }

    @Test func oneRequestPerLeaderBroker() {
        var planner = FetchPlanner(settings: Self.settings)
        let plan = planner.plan(
            [Self.item("a", 0, 10), Self.item("a", 1, 11), Self.item("a", 2, 12), Self.item("b", 0, 13)],
            route: Self.route)
        #expect(plan.unroutable.isEmpty)
        #expect(plan.requests.count == 2)
        let toBroker1 = plan.requests[0]
        #expect(toBroker1.brokerID == 1)
        #expect(toBroker1.topics == [
            .init(name: "a", topicID: Self.idA, partitions: [
                .init(partition: 0, fetchOffset: 10, partitionMaxBytes: 100, currentLeaderEpoch: 4),
                .init(partition: 2, fetchOffset: 12, partitionMaxBytes: 100, currentLeaderEpoch: 4),
            ])
        ])
        #expect(toBroker1.maxBytes == 1_000 && toBroker1.maxWaitMs == 50 && toBroker1.minBytes == 1)
        #expect(toBroker1.isolationLevel == .readCommitted)
        let toBroker2 = plan.requests[1]
        #expect(toBroker2.brokerID == 2)
        #expect(toBroker2.topics.map(\.name) == ["a", "b"])
        #expect(toBroker2.positions == [
            KafkaFetchPosition(topic: "a", partition: 1, offset: 11), KafkaFetchPosition(topic: "b", partition: 0, offset: 13),
        ])
        #expect(toBroker1.id != toBroker2.id)
    }

    @Test func splitsWhenPartitionBytesExceedTheRequestLimit() {
        var planner = FetchPlanner(settings: Self.settings)
        let plan = planner.plan([Self.item("a", 0, bytes: 600), Self.item("a", 2, bytes: 600)], route: Self.route)
        #expect(plan.requests.count == 2)
        #expect(plan.requests.allSatisfy { $0.brokerID == 1 && $0.partitionCount == 1 })
    }

    @Test func oversizedSinglePartitionStillGetsARequest() {
        var planner = FetchPlanner(settings: Self.settings)
        let plan = planner.plan([Self.item("a", 0, bytes: 5_000)], route: Self.route)
        #expect(plan.requests.count == 1)
        #expect(plan.requests[0].topics[0].partitions[0].partitionMaxBytes == 5_000)
    }

    @Test func samePartitionTwiceGoesToSeparateRequests() {
        var planner = FetchPlanner(settings: Self.settings)
        let plan = planner.plan([Self.item("a", 0, 1), Self.item("a", 0, 50)], route: Self.route)
        #expect(plan.requests.count == 2)
        #expect(plan.requests.map(\.positions) == [
            [KafkaFetchPosition(topic: "a", partition: 0, offset: 1)], [KafkaFetchPosition(topic: "a", partition: 0, offset: 50)],
        ])
    }

    @Test func unroutablePositionsAreReportedWithTheirRoute() {
        var planner = FetchPlanner(settings: Self.settings)
        let plan = planner.plan([Self.item("c", 0), Self.item("zzz", 0), Self.item("a", 9), Self.item("a", 0)], route: Self.route)
        #expect(plan.requests.count == 1)
        #expect(plan.unroutable.map(\.route) == [.noLeader, .unknownTopic, .unknownPartition])
    }

    @Test func responsePartitionsMapBackToPositions() {
        var planner = FetchPlanner(settings: Self.settings)
        let request = planner.plan([Self.item("a", 0, 10), Self.item("a", 2, 12)], route: Self.route).requests[0]
        #expect(request.position(topicID: Self.idA, partition: 2) == KafkaFetchPosition(topic: "a", partition: 2, offset: 12))
        #expect(request.position(topic: "a", partition: 0) == KafkaFetchPosition(topic: "a", partition: 0, offset: 10))
        #expect(request.position(topicID: Self.idB, partition: 0) == nil)
        #expect(request.position(topic: "a", partition: 1) == nil)
    }
}
