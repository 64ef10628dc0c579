/// Records of one partition handed to a consumer group handler.
public struct KafkaConsumerBatch: Sendable {
    public var topic: String
    public var partition: Int32
    /// In offset order; never empty. A record delivered again carries its delivery count minus one in
    /// ``KafkaRecord/consumerAttempts``.
    public var records: [KafkaRecord]
    /// The member that received the batch, as the group coordinator knows it when the batch was handed out:
    /// group id, generation (classic protocol) or member epoch (KIP-848 protocol), member id and static
    /// instance id. Pass it to ``KafkaTransaction/sendOffsets(_:groupMetadata:)`` so that the coordinator
    /// refuses the offsets if this member was removed from the group meanwhile (a zombie).
    public var groupMetadata: KafkaConsumerGroupMetadata

    public init(topic: String, partition: Int32, records: [KafkaRecord], groupMetadata: KafkaConsumerGroupMetadata = .init(groupID: "")) {
        self.topic = topic
        self.partition = partition
        self.records = records
        self.groupMetadata = groupMetadata
    }

    /// The offset to commit once every record of the batch is processed: the one after the last record.
    public var nextOffset: Int64 {
        (records.last?.offset).map { $0 + 1 } ?? -1
    }

    /// ``nextOffset`` keyed by the batch's partition: the `offsets` argument of
    /// ``KafkaTransaction/sendOffsets(_:groupMetadata:)`` for a consume-transform-produce handler.
    /// ``KafkaTransaction/sendOffsets(of:)`` sends it with the last record's leader epoch.
    public var offsetsToCommit: [KafkaTopicPartition: Int64] {
        [KafkaTopicPartition(topic, partition): nextOffset]
    }
}
