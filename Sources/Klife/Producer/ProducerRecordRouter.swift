/// Picks the partition and leader of each record of a produce call (Klife's `add_partition`), from one
/// metadata snapshot.
///
/// An explicit partition is checked against the topic's partition count (Klife does not check and crashes
/// later); otherwise the call's partitioner, else the topic's, else the client's default chooses one.
///
/// It holds the partitioner choice as one shared object (not a copy of the client configuration): one
/// router is built per produce call.
struct ProducerRecordRouter {
    let metadata: KafkaClusterMetadata
    let partitionerOverride: String?
    let partitioning: ProducerPartitioning
    var enableUnknownTopics: Bool { partitioning.enableUnknownTopics }

    init(metadata: KafkaClusterMetadata, partitioning: ProducerPartitioning, partitionerOverride: String?) {
        self.metadata = metadata
        self.partitioning = partitioning
        self.partitionerOverride = partitionerOverride
    }

    init(metadata: KafkaClusterMetadata, clientConfiguration: KafkaClient.Configuration, partitionerOverride: String?) {
        self.init(metadata: metadata, partitioning: ProducerPartitioning(clientConfiguration), partitionerOverride: partitionerOverride)
    }

    struct Route {
        var topicPartition: ProducerTopicPartition
        /// nil when the partition has no leader right now (the record waits for one).
        var leader: Int32?
    }

    /// The partitioner for a record of `topic` (see ``ProducerPartitioning``). nil when a named one is not
    /// configured.
    func partitioner(forTopic topic: String) -> (any KafkaPartitioner)? {
        partitioning.partitioner(forTopic: topic, override: partitionerOverride)
    }

    /// Where the record goes: its explicit partition, else the partitioner's choice, with the leader. The
    /// record is only read (no copy of it).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/unknownTopicOrPartition`` (topic not in the
    ///   metadata), ``KafkaError/Code/invalidPartition`` (explicit or partitioner-chosen partition out of
    ///   range), ``KafkaError/Code/invalidArgument`` (unknown partitioner name, illegal topic name).
    func route(_ record: KafkaRecord) throws -> Route {
        // One lookup of the topic serves the count and the leader.
        guard let topic = metadata.topics[record.topic], topic.partitionCount > 0 else {
            // Checked only off the hot path: a topic in the metadata has a legal name.
            try KafkaTopicConfiguration.validateTopicName(record.topic)
            throw KafkaError(
                .unknownTopicOrPartition,
                "topic \(record.topic) is not in the cluster metadata"
                    + (enableUnknownTopics ? "" : " (unknown topics are disabled: configure it under topics or set enableUnknownTopics)"),
                kafkaCode: ProducerErrorCodes.unknownTopicOrPartition)
        }
        guard partitioning.accepts(topic: record.topic) else { throw ProducerPartitioning.notConfiguredError(record.topic) }
        let count = topic.partitionCount
        let partition: Int32
        if let explicit = record.partition {
            guard explicit >= 0 && explicit < count else {
                throw KafkaError(
                    .invalidPartition,
                    "partition \(explicit) of topic \(record.topic) does not exist (the topic has \(count) partitions)")
            }
            partition = explicit
        } else {
            guard let partitioner = partitioner(forTopic: record.topic) else {
                throw KafkaError(
                    .invalidArgument,
                    "no partitioner named \(partitionerOverride ?? "?") is configured (KafkaProduceOptions.partitioner, record for topic \(record.topic))")
            }
            let chosen = partitioner.partition(for: record, partitionCount: count)
            guard chosen >= 0 && chosen < count else {
                throw KafkaError(
                    .invalidPartition,
                    "the partitioner chose partition \(chosen) of topic \(record.topic), which has \(count) partitions")
            }
            partition = Self.avoidingLeaderless(chosen, record: record, partitioner: partitioner, topic: topic)
        }
        let leader = topic.partition(partition).flatMap { $0.hasLeader ? $0.leaderID : nil }
        return Route(topicPartition: ProducerTopicPartition(record.topic, partition), leader: leader)
    }

    /// `partition`, or for a keyless record of the default partitioner whose choice has no leader, a partition
    /// that has one (see ``KafkaDefaultPartitioner``). Records with a key keep their partition: the key decides.
    static func avoidingLeaderless(
        _ partition: Int32, record: KafkaRecord, partitioner: any KafkaPartitioner, topic: KafkaTopicMetadata
    ) -> Int32 {
        guard record.key == nil, topic.partition(partition)?.hasLeader != true,
              let defaultPartitioner = partitioner as? KafkaDefaultPartitioner
        else { return partition }
        return defaultPartitioner.partitionWithLeader(instead: partition, topic: topic)
    }
}
