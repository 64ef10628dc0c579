import Testing

@testable import Klife

@Suite struct PreferredReadReplicasTests {
    static let p0 = KafkaTopicPartition("t", 0)
    static let p1 = KafkaTopicPartition("t", 1)
    static let metadata = KafkaClusterMetadata(
        brokers: [1, 2].map { KafkaBroker(nodeID: $0, host: "127.0.0.1", port: 9090 + Int($0)) }, controllerID: 1,
        topics: [KafkaTopicMetadata(name: "t", partitions: (0..<2).map { KafkaPartitionMetadata(partition: $0, leaderID: 1, leaderEpoch: 4) })])

    @Test func aReplicaLastsItsLifetimeOrUntilCleared() {
        let t0 = ContinuousClock.now
        var replicas = PreferredReadReplicas()
        #expect(replicas.isEmpty)
        replicas.set(Self.p0, to: 2, at: t0)
        replicas.set(Self.p1, to: 3, at: t0)
        #expect(replicas.replica(for: Self.p0, at: t0 + .seconds(299)) == 2)
        // Expired: the leader is asked again.
        #expect(replicas.replica(for: Self.p0, at: t0 + PreferredReadReplicas.lifetime) == nil)
        replicas.clear([Self.p1])
        #expect(replicas.replica(for: Self.p1, at: t0) == nil)
        #expect(replicas.replica(for: Self.p0, at: t0) == 2)
    }

    @Test func aFetchGoesToTheNamedReplicaWithTheLeadersEpoch() {
        #expect(FetchRoute(metadata: Self.metadata, topic: "t", partition: 0) == .leader(brokerID: 1, topicID: .zero, leaderEpoch: 4))
        #expect(FetchRoute(metadata: Self.metadata, topic: "t", partition: 0, preferredReplica: 2)
            == .leader(brokerID: 2, topicID: .zero, leaderEpoch: 4))
        // A replica the metadata does not know (yet): the leader.
        #expect(FetchRoute(metadata: Self.metadata, topic: "t", partition: 0, preferredReplica: 7)
            == .leader(brokerID: 1, topicID: .zero, leaderEpoch: 4))
    }
}
