import KafkaProtocol
import NIOCore
import Testing
@testable import Klife

/// The requests the transactional producer builds, encoded at the versions it sends, against bytes worked out
/// by hand from the Kafka protocol message definitions (flexible versions: compact strings/arrays are
/// length+1 as an unsigned varint, each struct ends with an empty tagged-field section 0x00).
@Suite struct TransactionRequestGoldenTests {
    static func machine() -> TransactionStateMachine {
        var machine = TransactionStateMachine(transactionalID: "tx_0", transactionTimeoutMs: 90_000)
        _ = machine.initialise()
        _ = machine.initCompleted(errorCode: 0, producerID: 7, producerEpoch: 2)
        try! machine.begin()
        return machine
    }

    static func bytes<R: KafkaRequestMessage>(_ request: R, version: Int16) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try request.encode(into: &buffer, version: version)
        return Array(buffer.readableBytesView)
    }

    static let txID: [UInt8] = [0x05, 0x74, 0x78, 0x5F, 0x30]  // compact string "tx_0"
    static let pid7: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 7]
    static let epoch2: [UInt8] = [0, 2]

    @Test func initProducerIdV4() throws {
        var machine = TransactionStateMachine(transactionalID: "tx_0", transactionTimeoutMs: 90_000)
        let request = machine.initialise()
        let expected: [UInt8] = Self.txID
            + [0x00, 0x01, 0x5F, 0x90]  // transaction_timeout_ms 90000
            + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]  // producer_id -1
            + [0xFF, 0xFF]  // producer_epoch -1
            + [0x00]  // tagged fields
        #expect(try Self.bytes(request, version: 4) == expected)
    }

    @Test func addPartitionsToTxnV3() throws {
        let machine = Self.machine()
        let request = machine.addPartitionsRequest([
            KafkaTopicPartition(topic: "b", partition: 1), KafkaTopicPartition(topic: "a", partition: 2), KafkaTopicPartition(topic: "a", partition: 0),
        ])
        let expected: [UInt8] = Self.txID + Self.pid7 + Self.epoch2
            + [0x03]  // 2 topics
            + [0x02, 0x61, 0x03, 0, 0, 0, 0, 0, 0, 0, 2, 0x00]  // "a" [0, 2]
            + [0x02, 0x62, 0x02, 0, 0, 0, 1, 0x00]  // "b" [1]
            + [0x00]
        #expect(try Self.bytes(request, version: 3) == expected)
    }

    @Test func addPartitionsToTxnV0IsTheSameFieldsUncompact() throws {
        let machine = Self.machine()
        let request = machine.addPartitionsRequest([KafkaTopicPartition(topic: "a", partition: 0)])
        let expected: [UInt8] = [0x00, 0x04, 0x74, 0x78, 0x5F, 0x30] + Self.pid7 + Self.epoch2
            + [0, 0, 0, 1]  // 1 topic
            + [0x00, 0x01, 0x61, 0, 0, 0, 1, 0, 0, 0, 0]  // "a" [0]
        #expect(try Self.bytes(request, version: 0) == expected)
    }

    @Test func endTxnV3CommitAndAbort() throws {
        var machine = Self.machine()
        _ = machine.addPartitionsCompleted([(KafkaTopicPartition(topic: "a", partition: 0), 0)])
        guard case .send(let commit) = machine.commit() else { Issue.record("commit"); return }
        #expect(try Self.bytes(commit, version: 3) == Self.txID + Self.pid7 + Self.epoch2 + [0x01, 0x00])
        _ = machine.endCompleted(errorCode: 0)
        try machine.begin()
        _ = machine.addPartitionsCompleted([(KafkaTopicPartition(topic: "a", partition: 0), 0)])
        guard case .send(let abort) = machine.abort() else { Issue.record("abort"); return }
        #expect(try Self.bytes(abort, version: 3) == Self.txID + Self.pid7 + Self.epoch2 + [0x00, 0x00])
    }

    @Test func addOffsetsToTxnV3() throws {
        let request = Self.machine().addOffsetsRequest(groupID: "g")
        #expect(try Self.bytes(request, version: 3) == Self.txID + Self.pid7 + Self.epoch2 + [0x02, 0x67, 0x00])
    }

    @Test func txnOffsetCommitV3() throws {
        let request = Self.machine().txnOffsetCommitRequest(
            [KafkaTopicPartition(topic: "a", partition: 0): KafkaCommittedOffset(offset: 42, leaderEpoch: 3)],
            group: KafkaConsumerGroupMetadata(groupID: "g", generationID: 5, memberID: "m"), version: 3)
        let expected: [UInt8] = Self.txID
            + [0x02, 0x67]  // group "g"
            + Self.pid7 + Self.epoch2
            + [0, 0, 0, 5]  // generation_id
            + [0x02, 0x6D]  // member_id "m"
            + [0x00]  // group_instance_id null
            + [0x02, 0x02, 0x61]  // 1 topic, "a"
            + [0x02, 0, 0, 0, 0]  // 1 partition, index 0
            + [0, 0, 0, 0, 0, 0, 0, 42]  // committed_offset
            + [0, 0, 0, 3]  // committed_leader_epoch
            + [0x01]  // committed_metadata ""
            + [0x00, 0x00, 0x00]  // partition, topic, request tagged fields
        #expect(try Self.bytes(request, version: 3) == expected)
    }

    @Test func produceRequestCarriesTheTransactionalBatch() throws {
        let a0 = KafkaTopicPartition(topic: "a", partition: 0)
        let b1 = KafkaTopicPartition(topic: "b", partition: 1)
        let request = try TransactionalProducer.produceRequest(
            transactionalID: "tx_0", producerID: 7, producerEpoch: 2,
            batches: [
                (a0, 5, [KafkaRecord(topic: "a", value: "x", timestamp: 1000), KafkaRecord(topic: "a", key: "k", value: "y", timestamp: 1001)]),
                (b1, 0, [KafkaRecord(topic: "b", value: "z", timestamp: 1002)]),
            ],
            compression: .none, timeoutMs: 30_000)
        #expect(request.transactionalId == "tx_0" && request.acks == -1 && request.timeoutMs == 30_000)
        #expect(request.topicData.map(\.name) == ["a", "b"])
        let batchBytes = try #require(request.topicData[0].partitionData[0].records)
        // Record batch v2 header (implementation.html): baseOffset 8, batchLength 4, partitionLeaderEpoch 4,
        // magic 1, crc 4, attributes 2, lastOffsetDelta 4, baseTimestamp 8, maxTimestamp 8, producerId 8,
        // producerEpoch 2, baseSequence 4, records count 4.
        #expect(batchBytes.getInteger(at: batchBytes.readerIndex + 16, as: UInt8.self) == 2)  // magic
        #expect(batchBytes.getInteger(at: batchBytes.readerIndex + 21, as: Int16.self) == 0x10)  // transactional bit, no codec
        #expect(batchBytes.getInteger(at: batchBytes.readerIndex + 23, as: Int32.self) == 1)  // lastOffsetDelta
        #expect(batchBytes.getInteger(at: batchBytes.readerIndex + 43, as: Int64.self) == 7)  // producerId
        #expect(batchBytes.getInteger(at: batchBytes.readerIndex + 51, as: Int16.self) == 2)  // producerEpoch
        #expect(batchBytes.getInteger(at: batchBytes.readerIndex + 53, as: Int32.self) == 5)  // baseSequence
        #expect(batchBytes.getInteger(at: batchBytes.readerIndex + 57, as: Int32.self) == 2)  // records
        var reader = RecordBatchReader(records: batchBytes)  // checks the CRC
        let batch = try #require(try reader.next())
        #expect(batch.isTransactional && batch.producerId == 7 && batch.baseSequence == 5 && batch.recordCount == 2)
        #expect(try reader.next() == nil)
        let second = try #require(request.topicData[1].partitionData.first)
        #expect(second.index == 1)
        var secondReader = RecordBatchReader(records: try #require(second.records))
        let secondBatch = try #require(try secondReader.next())
        #expect(secondBatch.isTransactional && secondBatch.baseSequence == 0 && secondBatch.recordCount == 1)
        // Encodes at the versions the producer may negotiate.
        for version: Int16 in [3, 9, 11] { #expect(try Self.bytes(request, version: version).count > 100) }
    }
}
