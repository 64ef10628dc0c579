import KafkaProtocol

/// A snapshot of the cluster: brokers, controller, topics, partitions, leaders and leader epochs.
///
/// A value type: the client keeps the current one behind a lock and hands out copies. It changes only by
/// ``apply(_:requestedTopics:)`` with a decoded Metadata response, which reports what changed.
public struct KafkaClusterMetadata: Sendable, Hashable {
    /// Brokers by node id.
    public internal(set) var brokers: [Int32: KafkaBroker]
    /// Node id of the controller; -1 when unknown.
    public internal(set) var controllerID: Int32
    /// The cluster id, when the broker reports one.
    public internal(set) var clusterID: String?
    /// Topics by name.
    public internal(set) var topics: [String: KafkaTopicMetadata]
    /// Topic names by topic id.
    public internal(set) var topicNamesByID: [KafkaUUID: String]

    public init(brokers: [KafkaBroker] = [], controllerID: Int32 = -1, clusterID: String? = nil, topics: [KafkaTopicMetadata] = []) {
        self.brokers = Dictionary(brokers.map { ($0.nodeID, $0) }, uniquingKeysWith: { _, last in last })
        self.controllerID = controllerID
        self.clusterID = clusterID
        self.topics = Dictionary(topics.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.topicNamesByID = [:]
        for topic in topics { if let id = topic.topicID { topicNamesByID[id] = topic.name } }
    }

    /// Brokers sorted by node id.
    public var sortedBrokers: [KafkaBroker] { brokers.values.sorted { $0.nodeID < $1.nodeID } }

    /// The broker with `nodeID`, nil when unknown.
    public func broker(_ nodeID: Int32) -> KafkaBroker? { brokers[nodeID] }

    /// The controller broker, when known.
    public var controller: KafkaBroker? { brokers[controllerID] }

    /// The metadata of `topic`, nil when unknown.
    public func topic(_ name: String) -> KafkaTopicMetadata? { topics[name] }

    /// The partition count of `topic`, nil when unknown.
    public func partitionCount(of topic: String) -> Int32? { topics[topic]?.partitionCount }

    /// The metadata of one partition, nil when unknown.
    public func partition(_ topicPartition: KafkaTopicPartition) -> KafkaPartitionMetadata? {
        topics[topicPartition.topic]?.partition(topicPartition.partition)
    }

    /// The leader broker of a partition; nil when the partition is unknown, has no leader, or its leader is
    /// not among the known brokers.
    public func leader(of topicPartition: KafkaTopicPartition) -> KafkaBroker? {
        guard let partition = partition(topicPartition), partition.hasLeader else { return nil }
        return brokers[partition.leaderID]
    }

    /// Partitions grouped by their leader's node id (partitions without a known leader are left out).
    public func partitionsByLeader(topics names: some Sequence<String>) -> [Int32: [KafkaTopicPartition]] {
        var result: [Int32: [KafkaTopicPartition]] = [:]
        for name in names {
            guard let topic = topics[name] else { continue }
            for partition in topic.partitions where partition.hasLeader && brokers[partition.leaderID] != nil {
                result[partition.leaderID, default: []].append(KafkaTopicPartition(topic: name, partition: partition.partition))
            }
        }
        return result
    }
}
