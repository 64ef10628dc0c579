/// The producer engine keys its buffers by the cluster layer's topic-partition.
typealias ProducerTopicPartition = KafkaTopicPartition

extension KafkaTopicPartition {
    init(_ topic: String, _ partition: Int32) {
        self.init(topic: topic, partition: partition)
    }
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
