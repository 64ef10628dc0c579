import Klife
import Testing

/// A fresh Tansu topic holding records "r0"… on partition 0 (written by librdkafka), and a fresh group id: the
/// set-up of the group administration, seek and committed-offset tests.
struct GroupTopicFixture {
    let bootstrap: String
    let topic: String
    let group: String
    /// Partition 0, which holds the records.
    var partition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: 0) }

    init(_ name: String, partitions: Int = 1, records: Int = 5) async throws {
        bootstrap = try TestBrokers.tansuBootstrap
        topic = TestBrokers.uniqueName(name)
        group = TestBrokers.uniqueName("g-\(name)")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: partitions)
        try await RdKafkaTool.produce(
            bootstrap: bootstrap, topic: topic, records: (0..<records).map { (key: nil, value: "r\($0)") }, partition: 0)
    }

    /// Waits until the group's committed offset of `partition` (read as `committedOffsets(group:)` reads all of
    /// them) is `offset`, recording an issue after 30 s: a member commits after its handler returns.
    func waitForCommittedOffset(_ offset: Int64, of partition: KafkaTopicPartition? = nil, client: KafkaClient) async throws {
        let partition = partition ?? self.partition
        let deadline = ContinuousClock.now + .seconds(30)
        while try await client.committedOffsets(group: group)[partition]?.offset != offset {
            guard ContinuousClock.now < deadline else {
                Issue.record("offset \(offset) of \(partition) was not committed within 30 s")
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
