import Foundation
import Klife
import Testing

extension TransactionMockClusterTests {
    /// `sendOffsets(of:)` commits a batch's position with the leader epoch of its last record. The mock
    /// cluster holds that epoch against the partition's current one (Kafka stores it unchecked) and refuses a
    /// TxnOffsetCommit whose epoch a leader change left behind with FENCED_LEADER_EPOCH, which shows the epoch
    /// is on the wire; the offsets are then sent again without epochs, and the transaction commits.
    @Test("sendOffsets(of:) sends the batch's leader epoch; refused as stale after a leader change, the offsets go again without it")
    func sendOffsetsOfABatchCarriesItsLeaderEpoch() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        let topic = TestBrokers.uniqueName("txn-epoch")
        try await cluster.createTopic(topic, partitions: 1, replicationFactor: 3)
        try await cluster.setLeader(topic: topic, partition: 0, broker: 1)
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(cluster), logger: ClientTestSupport.logger) { client in
            let produced = await client.produceBatch((0..<3).map { KafkaRecord(topic: topic, partition: 0, value: "in-\($0)") })
            #expect(produced.allSatisfy { (try? $0.get()) != nil })
            let records = try await client.fetch(topic: topic, partition: 0, offset: 0)
            #expect(records.last?.leaderEpoch != nil)
            let batch = KafkaConsumerBatch(
                topic: topic, partition: 0, records: records, groupMetadata: KafkaConsumerGroupMetadata(groupID: TestBrokers.uniqueName("g")))
            // Under the current leader epoch the offsets are taken as they are.
            try await client.withTransaction { txn in
                _ = try await txn.produce(KafkaRecord(topic: topic, partition: 0, value: "out-1"))
                try await txn.sendOffsets(of: batch)
            }
            // A new leader moves the partition's epoch past the batch's.
            try await cluster.setLeader(topic: topic, partition: 0, broker: 2)
            let start = ContinuousClock.now
            try await client.withTransaction { txn in
                _ = try await txn.produce(KafkaRecord(topic: topic, partition: 0, value: "out-2"))
                try await txn.sendOffsets(of: batch)
            }
            // Well within the delivery timeout (20 s) a stale epoch retried as it is would run into.
            #expect(ContinuousClock.now - start < .seconds(10))
        }
        try await cluster.destroy()
    }
}
