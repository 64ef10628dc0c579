import KafkaProtocol

/// What the metadata says about one topic.
public struct KafkaTopicMetadata: Hashable, Sendable {
    public var name: String
    /// The topic id (Metadata v10+); nil when the broker reports none (or the zero UUID).
    public var topicID: KafkaUUID?
    /// Whether this is an internal topic such as `__consumer_offsets`.
    public var isInternal: Bool
    /// The partitions, sorted by index.
    public var partitions: [KafkaPartitionMetadata]
    /// The topic-level Kafka error code of the metadata response (0 = none).
    public var errorCode: Int16

    public init(name: String, topicID: KafkaUUID? = nil, isInternal: Bool = false, partitions: [KafkaPartitionMetadata], errorCode: Int16 = 0) {
        self.name = name
        self.topicID = topicID == .zero ? nil : topicID
        self.isInternal = isInternal
        self.partitions = partitions.sorted { $0.partition < $1.partition }
        self.errorCode = errorCode
    }

    /// The number of partitions.
    public var partitionCount: Int32 { Int32(partitions.count) }

    /// The metadata of partition `index`, nil when the topic has no such partition.
    public func partition(_ index: Int32) -> KafkaPartitionMetadata? {
        // Partitions are dense and sorted, so the index is the position; fall back to a search otherwise.
        if index >= 0, Int(index) < partitions.count, partitions[Int(index)].partition == index { return partitions[Int(index)] }
        return partitions.first { $0.partition == index }
    }
}
