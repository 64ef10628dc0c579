/// Picks the partition and leader of each record of a produce call (Klife's `add_partition`), from one
/// metadata snapshot.
///
/// An explicit partition is checked against the topic's partition count (Klife does not check and crashes
/// later); otherwise the call's partitioner, else the topic's, else the client's default chooses one.
struct ProducerRecordRouter {
    let metadata: KafkaClusterMetadata
    let clientConfiguration: KafkaClient.Configuration
    let partitionerOverride: String?

    struct Route {
        var topicPartition: ProducerTopicPartition
        /// nil when the partition has no leader right now (the record waits for one).
        var leader: Int32?
    }

    /// Sets `record.partition` and returns where the record goes.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/unknownTopicOrPartition`` (topic not in the
    ///   metadata), ``KafkaError/Code/invalidPartition`` (explicit or partitioner-chosen partition out of
    ///   range), ``KafkaError/Code/invalidArgument`` (unknown partitioner name, illegal topic name).
    func route(_ record: inout KafkaRecord) throws -> Route {
        guard let count = metadata.partitionCount(of: record.topic), count > 0 else {
            // Checked only off the hot path: a topic in the metadata has a legal name.
            try KafkaTopicConfiguration.validateTopicName(record.topic)
            throw KafkaError(
                .unknownTopicOrPartition,
                "topic \(record.topic) is not in the cluster metadata"
                    + (clientConfiguration.enableUnknownTopics ? "" : " (unknown topics are disabled: configure it under topics or set enableUnknownTopics)"),
                kafkaCode: ProducerErrorCodes.unknownTopicOrPartition)
        }
        let partition: Int32
        if let explicit = record.partition {
            guard explicit >= 0 && explicit < count else {
                throw KafkaError(
                    .invalidPartition,
                    "partition \(explicit) of topic \(record.topic) does not exist (the topic has \(count) partitions)")
            }
            partition = explicit
        } else {
            guard let partitioner = clientConfiguration.partitioner(forTopic: record.topic, override: partitionerOverride) else {
                throw KafkaError(.invalidArgument, "no partitioner named \(partitionerOverride ?? "?") is configured")
            }
            partition = partitioner.partition(for: record, partitionCount: count)
            guard partition >= 0 && partition < count else {
                throw KafkaError(
                    .invalidPartition,
                    "the partitioner chose partition \(partition) of topic \(record.topic), which has \(count) partitions")
            }
            record.partition = partition
        }
        let topicPartition = ProducerTopicPartition(record.topic, partition)
        let leader = metadata.partition(topicPartition).flatMap { $0.hasLeader ? $0.leaderID : nil }
        return Route(topicPartition: topicPartition, leader: leader)
    }
}
