/// The replicas partition leaders told the client to fetch from instead of themselves (KIP-392: a Fetch
/// answer's preferred read replica, chosen by a rack-aware replica selector), as a value type.
///
/// An entry lasts ``lifetime`` (as Kafka's consumer keeps one for `metadata.max.age.ms`), so the leader gets
/// to choose again now and then; it goes at once when fetching from the replica fails, and the next fetch asks
/// the leader.
struct PreferredReadReplicas {
    /// How long a preferred replica is used before the leader is asked again.
    static let lifetime: Duration = .seconds(300)

    private var entries: [KafkaTopicPartition: (brokerID: Int32, until: ContinuousClock.Instant)] = [:]

    var isEmpty: Bool { entries.isEmpty }

    /// The replica to fetch `partition` from, if one was named and has not expired.
    func replica(for partition: KafkaTopicPartition, at now: ContinuousClock.Instant = .now) -> Int32? {
        guard let entry = entries[partition], entry.until > now else { return nil }
        return entry.brokerID
    }

    mutating func set(_ partition: KafkaTopicPartition, to brokerID: Int32, at now: ContinuousClock.Instant = .now) {
        // Expired entries go here, so the table does not keep partitions no longer read.
        entries = entries.filter { $0.value.until > now }
        entries[partition] = (brokerID, now + Self.lifetime)
    }

    /// Forgets the replicas of `partitions`: their next fetch goes to the leader.
    mutating func clear(_ partitions: some Sequence<KafkaTopicPartition>) {
        guard !entries.isEmpty else { return }
        for partition in partitions { entries[partition] = nil }
    }
}
