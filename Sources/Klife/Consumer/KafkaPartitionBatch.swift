/// Records of one partition delivered by a ``KafkaPartitionConsumer``.
public struct KafkaPartitionBatch: Sendable {
    public var topic: String
    public var partition: Int32
    /// The records, in offset order (at least one).
    public var records: [KafkaRecord]
    /// The offset to read next: where to start again after these records (gaps left by transaction markers,
    /// aborted records and compaction included).
    public var nextOffset: Int64
    /// The partition's high watermark when the records were fetched: `highWatermark - nextOffset` records were
    /// still to read then.
    public var highWatermark: Int64

    public init(topic: String, partition: Int32, records: [KafkaRecord], nextOffset: Int64, highWatermark: Int64) {
        self.topic = topic
        self.partition = partition
        self.records = records
        self.nextOffset = nextOffset
        self.highWatermark = highWatermark
    }
}
