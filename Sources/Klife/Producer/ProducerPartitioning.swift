/// Which partitioner a record of a topic gets: the call's, else the topic's, else the client's default
/// (the rule of ``KafkaClient/Configuration/partitioner(forTopic:override:)``).
///
/// Built once per producer from the client configuration, so the router made for every produce call holds
/// one reference instead of copies of the configuration's collections.
final class ProducerPartitioning: Sendable {
    /// Partitioner names of the topics that name one (the first configuration of a topic wins, as in
    /// ``KafkaClient/Configuration/topic(named:)``).
    private let topicPartitioners: [String: String]
    private let partitioners: [String: any KafkaPartitioner]
    private let defaultPartitioner: any KafkaPartitioner
    let enableUnknownTopics: Bool
    /// With unknown topics disabled, the topics records may go to (``KafkaClient/Configuration/acceptsRecords(forTopic:)``
    /// as a set, for the per-record check). nil: any topic.
    private let producibleTopics: Set<String>?

    init(_ configuration: KafkaClient.Configuration) {
        var topicPartitioners: [String: String] = [:]
        var seen: Set<String> = []
        for topic in configuration.topics where seen.insert(topic.name).inserted {
            if let partitioner = topic.partitioner { topicPartitioners[topic.name] = partitioner }
        }
        self.topicPartitioners = topicPartitioners
        self.partitioners = configuration.partitioners
        self.defaultPartitioner = configuration.defaultPartitioner
        self.enableUnknownTopics = configuration.enableUnknownTopics
        self.producibleTopics = configuration.enableUnknownTopics ? nil : Set(configuration.topics.map(\.name))
    }

    /// Whether records may go to `topic` (see ``KafkaClient/Configuration/enableUnknownTopics``).
    func accepts(topic: String) -> Bool {
        producibleTopics?.contains(topic) ?? true
    }

    /// The error of a record for a topic that ``accepts(topic:)`` refuses.
    static func notConfiguredError(_ topic: String) -> KafkaError {
        KafkaError(
            .unknownTopicOrPartition,
            "topic \(topic) is not configured and unknown topics are disabled (configure it under topics or set enableUnknownTopics)",
            kafkaCode: ProducerErrorCodes.unknownTopicOrPartition)
    }

    /// nil when a named partitioner (the call's or the topic's) is not configured.
    func partitioner(forTopic topic: String, override name: String?) -> (any KafkaPartitioner)? {
        if let name { return partitioners[name] }
        if !topicPartitioners.isEmpty, let topicName = topicPartitioners[topic] { return partitioners[topicName] }
        return defaultPartitioner
    }
}
