import Foundation
import Testing

@testable import Klife

/// A classic group follows changes to its subscribed topics' partitions: the leader watches the metadata and
/// rejoins, so partitions that appear are assigned (librdkafka mock cluster, which can create topics).
@Suite("Consumer groups: subscribed partitions that appear are assigned", .serialized)
struct ConsumerGroupMetadataChangeTests {
    @Test(arguments: [
        [KafkaConsumerGroupConfiguration.Assignor.range], [.cooperativeSticky],
    ])
    func aTopicCreatedAfterTheGroupFormedIsConsumed(assignors: [KafkaConsumerGroupConfiguration.Assignor]) async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        try await FaultInjectionTests.prepareForGroups(cluster)
        let existing = TestBrokers.uniqueName("present")
        let later = TestBrokers.uniqueName("later")
        try await cluster.createTopic(existing, partitions: 2, replicationFactor: 1)
        var configuration = try ClientTestSupport.configuration(bootstrap: cluster.bootstrap)
        configuration.metadataRefreshInterval = .milliseconds(500)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let seen = LockedBox<[String]>([])
            let member = try client.startConsumerGroup(
                KafkaConsumerGroupConfiguration(
                    groupID: TestBrokers.uniqueName("g"), topics: [existing, later], groupProtocol: .classic,
                    sessionTimeout: .seconds(6), heartbeatInterval: .milliseconds(200), assignors: assignors,
                    offsetResetPolicy: .earliest)
            ) { batch in
                seen.withLock { $0 += batch.records.compactMap(\.valueString) }
                return .commit
            }
            try await ClientTestSupport.eventuallyOrFail("the member owns the existing topic's partitions", timeout: .seconds(30)) {
                member.assignedPartitions.count == 2
            }
            // The second subscribed topic comes into being, and gets records.
            try await cluster.createTopic(later, partitions: 3, replicationFactor: 1)
            let produced = await client.produceBatch((0..<3).map { KafkaRecord(topic: later, partition: Int32($0), value: "late-\($0)") })
            #expect(produced.allSatisfy { (try? $0.get()) != nil }, "\(produced)")
            try await ClientTestSupport.eventuallyOrFail("the new topic's partitions are assigned and read", timeout: .seconds(30)) {
                member.assignedPartitions.count == 5 && Set(seen.withLock { $0 }) == ["late-0", "late-1", "late-2"]
            }
            #expect(member.failure == nil)
            await member.stop()
        }
    }
}
