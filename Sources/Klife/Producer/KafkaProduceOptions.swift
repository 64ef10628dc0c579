/// Options of one produce call (Klife's per-call `producer:` and `partitioner:`).
public struct KafkaProduceOptions: Sendable, Hashable {
    /// The producer to use; nil uses the topic's producer, else the client's default producer.
    public var producer: String?
    /// The partitioner (by configured name) for records without a partition; nil uses the topic's, else
    /// the client's default partitioner.
    public var partitioner: String?

    public init(producer: String? = nil, partitioner: String? = nil) {
        self.producer = producer
        self.partitioner = partitioner
    }
}
