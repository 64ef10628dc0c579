import KafkaProtocol

/// Where the cluster metadata says a partition can be fetched from.
enum FetchRoute: Equatable {
    /// The partition's leader, with the topic id (for Fetch v13+) and the leader epoch we know.
    case leader(brokerID: Int32, topicID: KafkaUUID, leaderEpoch: Int32)
    /// The partition exists but has no leader right now (election in progress).
    case noLeader
    /// The metadata has no such topic.
    case unknownTopic
    /// The topic exists but has no such partition.
    case unknownPartition
}
