/// Records of one partition handed to a consumer group handler.
public struct KafkaConsumerBatch: Sendable {
    public var topic: String
    public var partition: Int32
    /// In offset order; never empty. A record delivered again carries its delivery count minus one in
    /// ``KafkaRecord/consumerAttempts``.
    public var records: [KafkaRecord]

    public init(topic: String, partition: Int32, records: [KafkaRecord]) {
        self.topic = topic
        self.partition = partition
        self.records = records
    }
}
