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

    /// The partition Kafka's default partitioner assigns to `key`: `(murmur2(key) & 0x7fffffff) % partitionCount`.
    public static func partition(forKey key: ByteBuffer, partitionCount: Int32) -> Int32 {
        Murmur2.partition(forKey: key, partitionCount: partitionCount)
    }
}
