import Klife
import Testing

@testable import Klife

/// KIP-392 on librdkafka's mock cluster: a leader that names a preferred read replica answers with no records,
/// so a client that ignored the replica would read nothing at all.
@Suite("Fetching from the replica the leader prefers (KIP-392, mock cluster)", .serialized)
struct FollowerFetchTests {
    @Test func aPartitionIsReadFromTheReplicaItsLeaderNamesAndFromTheLeaderAgainWhenThatReplicaRefuses() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("follower-fetch")
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        try await cluster.createTopic(topic, partitions: 1, replicationFactor: 3)
        try await cluster.setLeader(topic: topic, partition: 0, broker: 1)
        var configuration = try ClientTestSupport.configuration(bootstrap: cluster.bootstrap)
        configuration.connection.clientRack = "rack-2"
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            func produce(_ values: [String]) async {
                let results = await client.produceBatch(values.map { KafkaRecord(topic: topic, partition: 0, value: $0) })
                #expect(results.allSatisfy { (try? $0.get()) != nil }, "\(results)")
            }
            await produce((0..<5).map { "f\($0)" })
            try await cluster.setFollower(topic: topic, partition: 0, broker: 2)

            let consumer = try client.partitionConsumer([KafkaFetchPosition(topic: topic, partition: 0, offset: 0)], maxIdleWait: .milliseconds(50))
            let seen = LockedBox<[String]>([])
            let reader = Task {
                for try await batch in consumer { seen.withLock { $0 += batch.records.compactMap(\.valueString) } }
            }
            defer { reader.cancel() }
            try await ClientTestSupport.eventuallyOrFail("the records are read from the follower", timeout: .seconds(20)) {
                seen.withLock { $0 } == (0..<5).map { "f\($0)" }
            }
            #expect(client.cluster.preferredReadReplicas.withLock { $0.replica(for: partition) } == 2)

            // Broker 2 is no longer the follower to read from: it refuses (NOT_LEADER_OR_FOLLOWER), the client
            // forgets it and reads on from the leader.
            try await cluster.setFollower(topic: topic, partition: 0, broker: -1)
            await produce((5..<8).map { "f\($0)" })
            try await ClientTestSupport.eventuallyOrFail("the later records are read from the leader", timeout: .seconds(20)) {
                seen.withLock { $0 } == (0..<8).map { "f\($0)" }
            }
            #expect(client.cluster.preferredReadReplicas.withLock { $0.replica(for: partition) } == nil)
        }
    }
}
