import KafkaProtocol

extension FetchRoute {
    /// The route of `topic`/`partition` in `metadata`.
    init(metadata: KafkaClusterMetadata, topic: String, partition: Int32) {
        guard let t = metadata.topic(topic), t.errorCode == 0 || !t.partitions.isEmpty else {
            self = .unknownTopic
            return
        }
        guard let p = t.partition(partition) else {
            self = .unknownPartition
            return
        }
        guard p.hasLeader, metadata.broker(p.leaderID) != nil else {
            self = .noLeader
            return
        }
        self = .leader(brokerID: p.leaderID, topicID: t.topicID ?? .zero, leaderEpoch: p.leaderEpoch)
    }
}
