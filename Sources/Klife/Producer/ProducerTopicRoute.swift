import Synchronization

/// Where the records of one topic go for one shape of produce call (its producer and partitioner names),
/// as one metadata snapshot says: the producer, the partition count, each partition's leader and the
/// partitioner.
///
/// Built on the first record of a topic and reused while the metadata generation it was built from is
/// current (``ClusterManager/metadataGeneration``): a produce call then skips the metadata snapshot copy,
/// the topic lookup, the producer lookup and the feature check. Immutable; a new snapshot means a new route.
final class ProducerTopicRoute<Backend: ProducerDriverBackend>: Sendable where Backend.Entry == ProducerEntry {
    let generation: UInt64
    let topic: String
    let producerOverride: String?
    let partitionerOverride: String?
    let producer: Producer<Backend>
    let partitionCount: Int32
    /// Leader node id by partition index; -1 when the partition has no leader (or is missing).
    private let leaders: [Int32]
    /// nil when the named partitioner is not configured (then only records with a partition take the route).
    let partitioner: (any KafkaPartitioner)?
    /// Keyless bytes appended by this route since its partitioner last moved on (KIP-480): an atomic, so
    /// the per-record count takes no lock and hashes no topic.
    private let keylessBytes = Atomic<Int>(0)

    /// nil when the snapshot does not know the topic or it has no partitions, or records may not go to it
    /// (``ProducerPartitioning/accepts(topic:)``).
    init?(
        topic: String, options: KafkaProduceOptions, producer: Producer<Backend>, partitioning: ProducerPartitioning,
        metadata: KafkaClusterMetadata, generation: UInt64
    ) {
        guard let topicMetadata = metadata.topics[topic], topicMetadata.partitionCount > 0, partitioning.accepts(topic: topic) else { return nil }
        self.generation = generation
        self.topic = topic
        self.producerOverride = options.producer
        self.partitionerOverride = options.partitioner
        self.producer = producer
        self.partitionCount = topicMetadata.partitionCount
        var leaders = [Int32](repeating: -1, count: Int(topicMetadata.partitionCount))
        for partition in topicMetadata.partitions where partition.hasLeader && partition.partition >= 0 && partition.partition < topicMetadata.partitionCount {
            leaders[Int(partition.partition)] = partition.leaderID
        }
        self.leaders = leaders
        self.partitioner = partitioning.partitioner(forTopic: topic, override: options.partitioner)
    }

    /// Whether this route serves a record of `topic` in a call with `options` under metadata `generation`.
    /// Names usually share their string storage with the cached ones, so the comparisons are cheap.
    func serves(topic: String, options: KafkaProduceOptions, generation: UInt64) -> Bool {
        self.generation == generation && self.topic == topic && producerOverride == options.producer
            && partitionerOverride == options.partitioner
    }

    /// Counts `size` keyless bytes; true once `batchSize` bytes went out since the last true (the batch of
    /// the sticky partition is full: the partitioner should move on), and the count starts over. Of
    /// concurrent callers past the mark, one gets true.
    func noteKeyless(size: Int, batchSize: Int) -> Bool {
        let total = keylessBytes.wrappingAdd(size, ordering: .relaxed).newValue
        guard total >= batchSize else { return false }
        return keylessBytes.compareExchange(expected: total, desired: 0, ordering: .relaxed).exchanged
    }

    /// The leader of `partition` (in `0..<partitionCount`); nil when it has none.
    func leader(of partition: Int32) -> Int32? {
        let leader = leaders[Int(partition)]
        return leader >= 0 ? leader : nil
    }
}
