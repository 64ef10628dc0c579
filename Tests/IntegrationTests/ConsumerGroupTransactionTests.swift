import Foundation
import Klife
import Synchronization
import Testing

/// Consume-transform-produce, exactly once: a group member reads topic A, and in one transaction produces
/// the transformed records to topic B and commits the offsets with the batch's group metadata (Tansu).
@Suite("Consumer groups with transactions (Tansu)", .serialized)
struct ConsumerGroupTransactionTests {
    /// What the handler saw.
    final class Seen: Sendable {
        let offsets = Mutex<[Int64]>([])
        let metadata = Mutex<[KafkaConsumerGroupMetadata]>([])
        var count: Int { offsets.withLock { $0.count } }
    }

    /// Produces "B:<value>" to `output` for every record of `batch` and commits the batch's offsets, in one
    /// transaction; `ofBatch`: with ``KafkaTransaction/sendOffsets(of:)`` (the leader epoch goes too).
    static func transform(_ batch: KafkaConsumerBatch, to output: String, _ client: KafkaClient, ofBatch: Bool = false) async throws {
        try await client.withTransaction { txn in
            for record in batch.records {
                _ = try await txn.produce(KafkaRecord(topic: output, partition: 0, value: "B:" + (record.valueString ?? "")))
            }
            if ofBatch {
                try await txn.sendOffsets(of: batch)
            } else {
                try await txn.sendOffsets(batch.offsetsToCommit, groupMetadata: batch.groupMetadata)
            }
        }
    }

    static func groupConfiguration(_ group: String, _ topic: String) -> KafkaConsumerGroupConfiguration {
        var configuration = ConsumerGroupTests.groupConfiguration(group, topic)
        configuration.defaultTopicOptions.fetchInterval = .milliseconds(200)
        configuration.defaultTopicOptions.isolationLevel = .readCommitted
        return configuration
    }

    @Test("a handler commits offsets in its transaction; after a restart the group resumes after them; B holds each record once")
    func consumeTransformProduceExactlyOnce() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let input = TestBrokers.uniqueName("eos-in")
        let output = TestBrokers.uniqueName("eos-out")
        let group = TestBrokers.uniqueName("eos-g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: input, partitions: 1)
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: output, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: input, records: (0..<5).map { (key: nil, value: "r\($0)") }, partition: 0)
        let configuration = try TransactionTansuTests.configuration(base: TestBrokers.uniqueName("eos-tx"), poolSize: 1)

        // First member: handler API.
        let first = Seen()
        let firstMetadata = try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let member = try client.startConsumerGroup(Self.groupConfiguration(group, input)) { batch in
                try await Self.transform(batch, to: output, client)
                first.offsets.withLock { $0 += batch.records.compactMap(\.offset) }
                first.metadata.withLock { $0.append(batch.groupMetadata) }
                return .committedInTransaction
            }
            try await ConsumerGroupTests.waitUntil("the first 5 records were transformed") { first.count >= 5 }
            await member.stop()
            let committed = try await TransactionTansuTests.committedOffset(client, group: group, KafkaTopicPartition(topic: input, partition: 0))
            #expect(committed == 5)
            return first.metadata.withLock { $0 }
        }
        #expect(first.offsets.withLock { $0 } == [0, 1, 2, 3, 4])
        let zombie = try #require(firstMetadata.first)
        #expect(zombie.groupID == group)
        #expect(zombie.generationID >= 0)
        #expect(!zombie.memberID.isEmpty)

        // Second member: manual batches; it must start after the transactionally committed offset.
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: input, records: (5..<8).map { (key: nil, value: "r\($0)") }, partition: 0)
        let second = try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let member = try client.startConsumerGroup(Self.groupConfiguration(group, input))
            var offsets: [Int64] = []
            var metadata: [KafkaConsumerGroupMetadata] = []
            for try await batch in member.batches {
                // sendOffsets(of:): the batch's position with its leader epoch (Tansu keeps no committed epochs;
                // TransactionMockClusterTests/sendOffsetsOfABatchCarriesItsLeaderEpoch shows the epoch goes out).
                try await Self.transform(batch.batch, to: output, client, ofBatch: true)
                offsets += batch.records.compactMap(\.offset)
                metadata.append(batch.groupMetadata)
                try batch.committedInTransaction()
                if offsets.count >= 3 { break }
            }
            await member.stop()
            let committed = try await TransactionTansuTests.committedOffset(client, group: group, KafkaTopicPartition(topic: input, partition: 0))
            #expect(committed == 8)
            return (offsets, metadata)
        }
        #expect(second.0 == [5, 6, 7])
        let secondMetadata = try #require(second.1.first)
        #expect(secondMetadata.groupID == group && !secondMetadata.memberID.isEmpty && secondMetadata.generationID >= 0)
        // The metadata is the member's own: the first member's (now a zombie's) differs. (Tansu does not check
        // TxnOffsetCommit's generation or member id, so a zombie's commit is not refused here.)
        #expect(secondMetadata.memberID != zombie.memberID || secondMetadata.generationID != zombie.generationID)

        let consumed = try await RdKafkaTool.consume(bootstrap: bootstrap, topic: output, isolation: .readCommitted, count: 8)
        #expect(consumed.compactMap(\.valueString) == (0..<8).map { "B:r\($0)" })
    }
}

extension ConsumerGroupTransactionTests {
    @Test("committedInTransaction moves past the batch without an OffsetCommit of the member's own")
    func committedInTransactionSendsNoOffsetCommit() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let input = TestBrokers.uniqueName("eos-noc")
        let group = TestBrokers.uniqueName("eos-g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: input, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: input, records: (0..<3).map { (key: nil, value: "r\($0)") }, partition: 0)
        let seen = Seen()
        try await FetchTests.withClient(bootstrap) { client in
            // Claims the transaction committed the offsets, but none did: the coordinator must have none.
            let member = try client.startConsumerGroup(Self.groupConfiguration(group, input)) { batch in
                seen.offsets.withLock { $0 += batch.records.compactMap(\.offset) }
                return .committedInTransaction
            }
            try await ConsumerGroupTests.waitUntil("the records were handled") { seen.count >= 3 }
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: input, records: [(key: nil, value: "r3")], partition: 0)
            try await ConsumerGroupTests.waitUntil("the next record was handled, not the old ones again") { seen.count >= 4 }
            await member.stop()
            let committed = try await TransactionTansuTests.committedOffset(client, group: group, KafkaTopicPartition(topic: input, partition: 0))
            #expect(committed == -1)
        }
        #expect(seen.offsets.withLock { $0 } == [0, 1, 2, 3])
    }
}
