import Foundation
import Klife
import Testing

/// The README's code example, compiled and run against Tansu so the README cannot drift from the API.
@Suite struct ReadmeExampleTests {
    @Test func readmeExampleRuns() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = "readme-\(UUID().uuidString.prefix(8))"
        let servers = try KafkaConnectionConfiguration.BrokerAddress.parseList(bootstrap)

        // --- README example (keep in sync with README.md) ---
        let configuration = KafkaClient.Configuration(bootstrapServers: servers)
        let stored = try await KafkaClient.withRunningClient(configuration: configuration) { client in
            try await client.createTopic(topic, partitions: 3)
            let sent = try await client.produce(KafkaRecord(topic: topic, key: "customer-1", value: #"{"total": 42}"#))
            let records = try await client.fetch(topic: topic, partition: sent.partition!, offset: sent.offset!)
            try await client.deleteTopic(topic)
            return records
        }
        // --- end of README example ---

        #expect(stored.count == 1)
        #expect(stored.first?.valueString == #"{"total": 42}"#)
        #expect(stored.first?.keyString == "customer-1")
    }
}
