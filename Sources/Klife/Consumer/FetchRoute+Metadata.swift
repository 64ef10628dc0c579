import KafkaProtocol

extension FetchRoute {
    /// The route of `topic`/`partition` in `metadata`: its leader, or `preferredReplica` (KIP-392: the replica
    /// the leader named) when the metadata knows that broker. The leader epoch is the leader's either way: a
    /// follower checks it too.
    init(metadata: KafkaClusterMetadata, topic: String, partition: Int32, preferredReplica: Int32? = nil) {
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
        let broker = preferredReplica.flatMap { metadata.broker($0) != nil ? $0 : nil } ?? p.leaderID
        self = .leader(brokerID: broker, topicID: t.topicID ?? .zero, leaderEpoch: p.leaderEpoch)
    }
}
