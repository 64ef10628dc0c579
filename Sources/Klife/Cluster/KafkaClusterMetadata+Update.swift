import KafkaProtocol

/// What one metadata update changed; the client reacts to it (connect new brokers, drop removed ones, move
/// produce and fetch work to new leaders).
public struct KafkaMetadataChanges: Sendable, Hashable {
    /// Brokers that are new, or whose address changed.
    public var addedBrokers: [KafkaBroker] = []
    /// Brokers that are gone, or whose address changed (the old entry).
    public var removedBrokers: [KafkaBroker] = []
    /// Topics that appeared.
    public var addedTopics: [String] = []
    /// Topics that disappeared (deleted, or reported unknown).
    public var removedTopics: [String] = []
    /// Topics whose partition count or topic id changed.
    public var changedTopics: [String] = []
    /// Partitions whose leader or leader epoch changed.
    public var changedLeaders: [KafkaTopicPartition] = []
    /// Topics or partitions the response reported with an error (leader not available, …); a refresh soon is advised.
    public var incompleteTopics: [String] = []

    public init() {}

    /// Whether anything routing depends on changed.
    public var hasChanges: Bool {
        !(addedBrokers.isEmpty && removedBrokers.isEmpty && addedTopics.isEmpty && removedTopics.isEmpty
            && changedTopics.isEmpty && changedLeaders.isEmpty)
    }
}

extension KafkaClusterMetadata {
    /// Kafka error code UNKNOWN_TOPIC_OR_PARTITION.
    static let unknownTopicOrPartition: Int16 = 3
    /// Kafka error code UNKNOWN_TOPIC_ID.
    static let unknownTopicID: Int16 = 100

    /// Applies a decoded Metadata response and reports the changes.
    ///
    /// - Parameters:
    ///   - response: the response's brokers, controller, cluster id and topics (errors included).
    ///   - requestedTopics: the topics the request named; nil = all topics were requested, so topics missing
    ///     from the response were deleted.
    ///
    /// Rules: the broker list is replaced. A topic reported with UNKNOWN_TOPIC_OR_PARTITION (or UNKNOWN_TOPIC_ID)
    /// is removed; a topic with another error keeps its previous entry. A partition whose reported leader epoch
    /// is older than the cached one keeps the cached entry (the answering broker's metadata is stale, KIP-320).
    @discardableResult
    public mutating func apply(_ response: KafkaClusterMetadata.Response, requestedTopics: [String]?) -> KafkaMetadataChanges {
        var changes = KafkaMetadataChanges()

        // Brokers.
        var newBrokers: [Int32: KafkaBroker] = [:]
        for broker in response.brokers { newBrokers[broker.nodeID] = broker }
        for (id, old) in brokers.sorted(by: { $0.key < $1.key }) {
            if let new = newBrokers[id] {
                if new.host != old.host || new.port != old.port {
                    changes.removedBrokers.append(old)
                    changes.addedBrokers.append(new)
                }
            } else {
                changes.removedBrokers.append(old)
            }
        }
        for (id, new) in newBrokers.sorted(by: { $0.key < $1.key }) where brokers[id] == nil {
            changes.addedBrokers.append(new)
        }
        brokers = newBrokers
        controllerID = response.controllerID
        if let clusterID = response.clusterID { self.clusterID = clusterID }

        // Topics.
        var reported = Set<String>()
        for topic in response.topics {
            reported.insert(topic.name)
            switch topic.errorCode {
            case 0:
                applyTopic(topic, changes: &changes)
            case Self.unknownTopicOrPartition, Self.unknownTopicID:
                if removeTopic(named: topic.name) { changes.removedTopics.append(topic.name) }
            default:
                changes.incompleteTopics.append(topic.name)
            }
        }
        if requestedTopics == nil {
            for name in topics.keys.sorted() where !reported.contains(name) {
                removeTopic(named: name)
                changes.removedTopics.append(name)
            }
        }
        changes.changedLeaders.sort()
        return changes
    }

    private mutating func applyTopic(_ reported: KafkaTopicMetadata, changes: inout KafkaMetadataChanges) {
        var topic = reported
        guard let old = topics[topic.name] else {
            topics[topic.name] = topic
            if let id = topic.topicID { topicNamesByID[id] = topic.name }
            changes.addedTopics.append(topic.name)
            if topic.partitions.contains(where: { !$0.hasLeader || $0.errorCode != 0 }) { changes.incompleteTopics.append(topic.name) }
            return
        }
        let recreated = old.topicID != nil && topic.topicID != nil && old.topicID != topic.topicID
        if recreated || old.partitionCount != topic.partitionCount { changes.changedTopics.append(topic.name) }
        var incomplete = false
        for index in topic.partitions.indices {
            let new = topic.partitions[index]
            if !new.hasLeader || new.errorCode != 0 { incomplete = true }
            guard !recreated, let previous = old.partition(new.partition) else {
                if !recreated { changes.changedLeaders.append(KafkaTopicPartition(topic: topic.name, partition: new.partition)) }
                continue
            }
            if new.leaderEpoch >= 0, previous.leaderEpoch >= 0, new.leaderEpoch < previous.leaderEpoch {
                // Stale answer: keep what we know, and have it refreshed.
                topic.partitions[index] = previous
                incomplete = true
                continue
            }
            if new.leaderID != previous.leaderID || new.leaderEpoch != previous.leaderEpoch {
                changes.changedLeaders.append(KafkaTopicPartition(topic: topic.name, partition: new.partition))
            }
        }
        if incomplete { changes.incompleteTopics.append(topic.name) }
        if let oldID = old.topicID, oldID != topic.topicID { topicNamesByID[oldID] = nil }
        if let id = topic.topicID { topicNamesByID[id] = topic.name }
        topics[topic.name] = topic
    }

    @discardableResult
    private mutating func removeTopic(named name: String) -> Bool {
        guard let old = topics.removeValue(forKey: name) else { return false }
        if let id = old.topicID { topicNamesByID[id] = nil }
        return true
    }

    /// Forgets everything known about the leaders of `topic`'s partitions, so routing waits for a refresh.
    public mutating func invalidateLeaders(of topicPartitions: some Sequence<KafkaTopicPartition>) {
        for tp in topicPartitions {
            guard var topic = topics[tp.topic], let index = topic.partitions.firstIndex(where: { $0.partition == tp.partition }) else { continue }
            topic.partitions[index].leaderID = -1
            topics[tp.topic] = topic
        }
    }
}

extension KafkaClusterMetadata {
    /// The content of a Metadata response, decoupled from its wire version.
    public struct Response: Sendable, Hashable {
        public var brokers: [KafkaBroker]
        public var controllerID: Int32
        public var clusterID: String?
        /// Topics with their error codes as reported.
        public var topics: [KafkaTopicMetadata]

        public init(brokers: [KafkaBroker], controllerID: Int32 = -1, clusterID: String? = nil, topics: [KafkaTopicMetadata]) {
            self.brokers = brokers
            self.controllerID = controllerID
            self.clusterID = clusterID
            self.topics = topics
        }
    }
}
