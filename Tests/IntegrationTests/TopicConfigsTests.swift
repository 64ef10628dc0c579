import Klife
import Testing

/// `describeTopicConfigs` and `alterTopicConfigs` against Tansu, which reports only the entries set on a topic,
/// each with source "default" (so sources are not checked here; see KafkaConfigEntryTests), applies a
/// validate-only change, and describes a topic that does not exist as one without entries (Kafka answers
/// UNKNOWN_TOPIC_OR_PARTITION): neither is checked here.
@Suite struct TopicConfigsTests {
    /// A value set at creation is reported; a change replaces it, and a deletion takes the topic's own value away.
    @Test func aTopicsConfigurationIsDescribedAndChanged() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("configs")
        try await FetchTests.withClient(bootstrap) { client in
            try await client.createTopic(topic, partitions: 1, configs: ["retention.ms": "3600000"])
            let all = try await client.describeTopicConfigs(topic)
            let retention = try #require(all.first { $0.name == "retention.ms" }, "\(all)")
            #expect(retention.value == "3600000")
            #expect(all.map(\.name) == all.map(\.name).sorted())

            try await client.alterTopicConfigs(topic, [.set("retention.ms", "7200000"), .set("cleanup.policy", "compact")])
            var changed = try await client.describeTopicConfigs(topic, keys: ["retention.ms", "cleanup.policy"])
            #expect(changed.map(\.name) == ["cleanup.policy", "retention.ms"], "\(changed)")
            #expect(changed.map(\.value) == ["compact", "7200000"], "\(changed)")

            try await client.alterTopicConfigs(topic, [.delete("cleanup.policy")])
            changed = try await client.describeTopicConfigs(topic, keys: ["retention.ms", "cleanup.policy"])
            #expect(changed.first { $0.name == "retention.ms" }?.value == "7200000", "\(changed)")
            #expect(changed.first { $0.name == "cleanup.policy" }?.value != "compact", "\(changed)")
            try await client.deleteTopic(topic)
        }
    }
}
