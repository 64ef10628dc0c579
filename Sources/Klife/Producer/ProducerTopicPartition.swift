/// A topic-partition as the producer engine keys its buffers.
struct ProducerTopicPartition: Hashable, Sendable, CustomStringConvertible {
    var topic: String
    var partition: Int32

    init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    var description: String { "\(topic)-\(partition)" }
}

/// One drain lane of one broker: the unit that owns in-flight slots and builds Produce requests.
///
/// `lane` is 0 unless a producer has `batchersCount > 1`, in which case the partitions a broker leads are
/// spread over that many lanes, each with its own in-flight slots (Klife's batchers per broker).
struct ProducerSinkID: Hashable, Sendable, CustomStringConvertible {
    var broker: Int32
    var lane: Int

    init(broker: Int32, lane: Int = 0) {
        self.broker = broker
        self.lane = lane
    }

    var description: String { lane == 0 ? "broker \(broker)" : "broker \(broker) lane \(lane)" }
}
