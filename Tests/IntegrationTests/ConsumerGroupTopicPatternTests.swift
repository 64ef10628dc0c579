import Foundation
import Klife
import Testing

/// A consumer group member subscribed by topic pattern: it consumes the matching topics that exist when it
/// joins, takes in one created later and lets go of one deleted, and never subscribes a topic that does not
/// match. Classic (eager and cooperative) on Tansu, KIP-848 and classic on librdkafka's mock cluster.
@Suite("Consumer groups: topic pattern subscription", .serialized)
struct ConsumerGroupTopicPatternTests {
    enum Broker: String, CaseIterable, CustomTestStringConvertible {
        case tansuClassic, tansuCooperative, mockKIP848, mockClassic
        var testDescription: String { rawValue }
        var isTansu: Bool { self == .tansuClassic || self == .tansuCooperative }
        var groupProtocol: KafkaConsumerGroupConfiguration.GroupProtocol { self == .mockKIP848 ? .consumer : .classic }
    }

    @Test(arguments: Broker.allCases)
    func matchingTopicsAreConsumedAsTheyComeAndGo(broker: Broker) async throws {
        let mock: MockCluster? = broker.isTansu ? nil : try await MockCluster.create(brokers: 3)
        if let mock { try await FaultInjectionTests.prepareForGroups(mock) }
        let bootstrap = try mock?.bootstrap ?? TestBrokers.tansuBootstrap
        defer { if let mock { Task { try? await mock.destroy() } } }
        @Sendable func createTopic(_ name: String, partitions: Int32) async throws {
            if let mock {
                try await mock.createTopic(name, partitions: Int(partitions))
            } else {
                try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: name, partitions: Int(partitions))
            }
        }
        let prefix = TestBrokers.uniqueName("rx")
        let (first, later, unrelated) = ("\(prefix).orders", "\(prefix).audit", "\(prefix)x.orders")
        try await createTopic(first, partitions: 2)
        try await createTopic(unrelated, partitions: 1)

        var configuration = try ClientTestSupport.configuration(bootstrap: bootstrap)
        // Also how often the member lists the cluster's topics to match its pattern.
        configuration.metadataRefreshInterval = .milliseconds(500)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let seen = LockedBox<[String]>([])
            var group = KafkaConsumerGroupConfiguration(
                groupID: TestBrokers.uniqueName("g-rx"), topicPattern: "\(prefix)\\.[a-z]+", groupProtocol: broker.groupProtocol,
                sessionTimeout: .seconds(6), heartbeatInterval: .milliseconds(200),
                assignors: broker == .tansuCooperative ? [.cooperativeSticky] : [.range], offsetResetPolicy: .earliest)
            group.defaultTopicOptions.fetchInterval = .milliseconds(200)
            let member = try client.startConsumerGroup(group) { batch in
                seen.withLock { $0 += batch.records.compactMap(\.valueString) }
                return .commit
            }
            let toFirst = await client.produceBatch([
                KafkaRecord(topic: first, partition: 0, value: "o-0"), KafkaRecord(topic: first, partition: 1, value: "o-1"),
                KafkaRecord(topic: unrelated, partition: 0, value: "never"),
            ])
            #expect(toFirst.allSatisfy { (try? $0.get()) != nil }, "\(toFirst)")
            try await ClientTestSupport.eventuallyOrFail("the matching topic is subscribed and read", timeout: .seconds(30)) {
                member.subscribedTopics == [first] && Set(seen.withLock { $0 }) == ["o-0", "o-1"]
            }

            // A topic created now that matches joins the subscription, and its records are read.
            try await createTopic(later, partitions: 1)
            let toLater = await client.produceBatch([KafkaRecord(topic: later, partition: 0, value: "a-0")])
            #expect(toLater.allSatisfy { (try? $0.get()) != nil }, "\(toLater)")
            try await ClientTestSupport.eventuallyOrFail("the topic created later is subscribed, assigned and read", timeout: .seconds(30)) {
                member.subscribedTopics == [later, first] && member.assignedPartitions.count == 3 && seen.withLock { $0 }.contains("a-0")
            }

            if mock == nil {
                // Deleted: it leaves the subscription and the assignment (the mock cluster cannot delete topics).
                let deleted = try await client.deleteTopics([later])
                #expect(deleted[later] != nil && deleted[later]?.flatMap { $0 } == nil, "\(deleted)")
                try await ClientTestSupport.eventuallyOrFail("the deleted topic leaves the subscription and the assignment", timeout: .seconds(30)) {
                    member.subscribedTopics == [first] && Set(member.assignedPartitions.map(\.topic)) == [first]
                }
            }
            #expect(!seen.withLock { $0 }.contains("never"))
            #expect(member.failure == nil)
            await member.stop()
        }
    }
}
