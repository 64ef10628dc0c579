import Klife
import Testing

/// `deleteRecords` against Tansu.
@Suite struct DeleteRecordsTests {
    /// Deleting before an offset moves the partition's log start there; the records from it on are still read;
    /// deleting everything moves it to the end. An unknown partition fails alone.
    @Test func theLogStartMovesToTheOffset() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("delete-records")
        try await FetchTests.withClient(bootstrap) { client in
            try await client.createTopic(topic, partitions: 1)
            // One record per produce call: one batch each, so an offset inside the log is a batch boundary.
            for index in 0..<5 { _ = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "r\(index)")) }
            let partition = KafkaTopicPartition(topic: topic, partition: 0)
            let missing = KafkaTopicPartition(topic: topic, partition: 4)
            let results = try await client.deleteRecords(before: [partition: 3, missing: 0])
            #expect(try results[partition]?.get() == 3, "\(results)")
            #expect(throws: KafkaError.self) { try results[missing]?.get() }
            #expect(try await client.listOffsets(topic: topic, at: .earliest)[0]?.offset == 3)
            let records = try await client.fetch(topic: topic, partition: 0, offset: 3)
            #expect(records.map(\.valueString) == ["r3", "r4"])

            let all = try await client.deleteRecords(before: [partition: KafkaClient.deleteAllRecords])
            #expect(try all[partition]?.get() == 5, "\(all)")
            try await client.deleteTopic(topic)
        }
    }
}
