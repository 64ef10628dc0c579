import Klife
import Testing

/// `deleteRecords` against the bad-input broker answering DeleteRecords as Kafka does: neither real test broker
/// serves it (Tansu 0.6's memory storage panics with "not yet implemented", the librdkafka mock lacks the API).
@Suite struct DeleteRecordsTests {
    /// The new log start comes back per partition; deleting everything goes to the high watermark; an offset past
    /// it is OFFSET_OUT_OF_RANGE for that partition alone; a partition that does not exist fails at once; a moved
    /// leader is asked again after a metadata refresh.
    @Test func theLogStartMovesToTheOffset() async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        let configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let partition = KafkaTopicPartition(topic: BadInputBroker.topic, partition: 0)
            for index in 0..<5 { _ = try await client.produce(KafkaRecord(topic: partition.topic, partition: 0, value: "r\(index)")) }
            #expect(try await client.deleteRecords(before: [partition: 3])[partition]?.get() == 3)

            let missing = KafkaTopicPartition(topic: BadInputBroker.topic, partition: 4)
            let started = ContinuousClock.now
            let mixed = try await client.deleteRecords(before: [partition: 9, missing: 0])
            #expect(ContinuousClock.now - started < .seconds(5), "an unknown partition waited for the timeout")
            #expect(throws: KafkaError.self) { try mixed[partition]?.get() }
            if case .failure(let error)? = mixed[partition] { #expect(error.kafkaCode == 1, "\(error)") }
            if case .failure(let error)? = mixed[missing] { #expect(error.code == .unknownTopicOrPartition, "\(error)") } else { Issue.record("\(mixed)") }

            broker.injectDeleteRecordsErrors([6])  // NOT_LEADER_OR_FOLLOWER, once
            #expect(try await client.deleteRecords(before: [partition: KafkaClient.deleteAllRecords])[partition]?.get() == 5)
            #expect(broker.queuedDeleteRecordsErrors == 0, "the injected error was not used")
        }
    }
}
