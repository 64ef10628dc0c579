/// A partition and the offset to read it from: the key of a multi-partition fetch and its results.
public struct KafkaFetchPosition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// The leader epoch of the record just before ``offset`` (the last one read), when known: the
    /// ``KafkaFetchedPartition/lastFetchedEpoch`` of the fetch that led here. With it the broker checks that its
    /// log still holds what was read (KIP-320): after an unclean leader election has cut the log short, it
    /// answers with the point where the logs part (``KafkaFetchedPartition/divergence``) instead of records.
    /// nil: no check (brokers before Fetch v12 never check).
    public var lastFetchedEpoch: Int32?

    public init(topic: String, partition: Int32, offset: Int64, lastFetchedEpoch: Int32? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.lastFetchedEpoch = lastFetchedEpoch
    }

    public var description: String {
        lastFetchedEpoch.map { "\(topic)/\(partition)@\(offset) (epoch \($0))" } ?? "\(topic)/\(partition)@\(offset)"
    }
}
