import KafkaProtocol
import NIOCore
import Synchronization

/// The default partitioner (Klife's `Klife.Producer.DefaultPartitioner`, with KIP-480 stickiness added).
///
/// - A record with a key (an empty key included) goes to `toPositive(murmur2(key)) % partitionCount`, the
///   partition the Java client and librdkafka's `murmur2_random` choose for the same key.
/// - A record without a key goes to a partition chosen by ``KeylessStrategy``: ``KeylessStrategy/sticky``
///   (default) keeps one random partition per topic until the producer closes the batch for it;
///   ``KeylessStrategy/random`` picks uniformly per record, as Klife does.
///
/// A record without a key does not go to a partition without a leader while another partition has one (as
/// Java's built-in partitioner avoids unavailable partitions): it would wait there, and fail by the delivery
/// timeout, while the topic could take it.
///
/// Records with an explicit partition never reach a partitioner.
public final class KafkaDefaultPartitioner: KafkaPartitioner {
    /// How records without a key are spread.
    public enum KeylessStrategy: Sendable, Hashable {
        /// One partition per topic until its batch closes (KIP-480): fuller batches, fewer requests.
        case sticky
        /// A uniformly random partition per record (Klife's behaviour).
        case random
    }

    public let keylessStrategy: KeylessStrategy
    /// Sticky partition per topic.
    private let sticky = Mutex<[String: Int32]>([:])

    public init(keylessStrategy: KeylessStrategy = .sticky) {
        self.keylessStrategy = keylessStrategy
    }

    public func partition(for record: KafkaRecord, partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0, "partitionCount must be > 0")
        if let key = record.key {
            return Self.partition(forKey: key, partitionCount: partitionCount)
        }
        switch keylessStrategy {
        case .random:
            return Int32.random(in: 0..<partitionCount)
        case .sticky:
            return sticky.withLock { state in
                if let current = state[record.topic], current < partitionCount { return current }
                let chosen = Int32.random(in: 0..<partitionCount)
                state[record.topic] = chosen
                return chosen
            }
        }
    }

    public func onNewBatch(topic: String, previousPartition: Int32, partitionCount: Int32) {
        guard keylessStrategy == .sticky, partitionCount > 0 else { return }
        sticky.withLock { state in
            // Only move on when the closed batch is the sticky one; another caller may have moved already.
            guard let current = state[topic], current == previousPartition else { return }
            if partitionCount == 1 {
                state[topic] = 0
            } else {
                let next = Int32.random(in: 0..<(partitionCount - 1))
                state[topic] = next >= current ? next + 1 : next
            }
        }
    }

    /// A keyless record's partition when the chosen one has no leader: a random partition of `topic` that has
    /// one (the sticky choice moves there too), or `chosen` when none has.
    func partitionWithLeader(instead chosen: Int32, topic: KafkaTopicMetadata) -> Int32 {
        let withLeader = topic.partitions.lazy.filter(\.hasLeader).map(\.partition)
        let count = withLeader.count
        guard count > 0 else { return chosen }
        let picked = withLeader[withLeader.index(withLeader.startIndex, offsetBy: Int.random(in: 0..<count))]
        if keylessStrategy == .sticky { sticky.withLock { $0[topic.name] = picked } }
        return picked
    }

    /// The partition Kafka's default partitioner assigns to `key`: `(murmur2(key) & 0x7fffffff) % partitionCount`.
    public static func partition(forKey key: ByteBuffer, partitionCount: Int32) -> Int32 {
        Murmur2.partition(forKey: key, partitionCount: partitionCount)
    }
}
