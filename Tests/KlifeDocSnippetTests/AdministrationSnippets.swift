import Klife

/// The code of the Administration article (compiled, never run).
enum AdministrationSnippets {
    static func topics(client: KafkaClient) async throws {
        // snippet.begin admin-topics
        try await client.createTopic("orders", partitions: 6, configs: ["retention.ms": "604800000"])
        try await client.alterTopicConfigs("orders", [.set("retention.ms", "86400000"), .delete("cleanup.policy")])
        for entry in try await client.describeTopicConfigs("orders", keys: ["retention.ms"]) {
            print(entry.name, entry.value ?? "-", entry.source)
        }
        // snippet.end
    }

    static func lag(client: KafkaClient) async throws {
        // snippet.begin admin-lag
        let committed = try await client.committedOffsets(group: "billing")
        let ends = try await client.listOffsets(committed.mapValues { _ in .latest })
        for (partition, position) in committed.sorted(by: { $0.key < $1.key }) {
            guard let end = ends[partition]?.offset else { continue }
            print("\(partition): lag \(max(0, end - position.offset))")
        }
        // snippet.end
    }

    static func rewind(client: KafkaClient) async throws {
        // snippet.begin admin-rewind
        let group = try await client.describeConsumerGroup("billing")
        guard group.members.isEmpty else { return }  // stop the group's consumers first
        let starts = try await client.listOffsets(topic: "orders", at: .earliest)
        let offsets = Dictionary(uniqueKeysWithValues: starts.map {
            (KafkaTopicPartition(topic: "orders", partition: $0.key), KafkaCommittedOffset(offset: $0.value.offset))
        })
        for (partition, error) in try await client.alterConsumerGroupOffsets(group: "billing", offsets: offsets) {
            if let error { print("\(partition): \(error)") }
        }
        // snippet.end
    }
}
