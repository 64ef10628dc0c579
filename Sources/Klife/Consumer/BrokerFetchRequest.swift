import KafkaProtocol

/// The content of one Fetch request to one broker, independent of the wire version (the connection layer
/// picks the version and uses topic ids from v13 on, names before).
struct BrokerFetchRequest: Equatable {
    struct Partition: Equatable {
        var partition: Int32
        var fetchOffset: Int64
        var partitionMaxBytes: Int32
        /// The leader epoch our metadata knows (-1: none): a broker with another epoch refuses the fetch
        /// (FENCED_LEADER_EPOCH when ours is older, UNKNOWN_LEADER_EPOCH when newer) instead of serving from a
        /// log it may no longer lead (KIP-320).
        var currentLeaderEpoch: Int32
        /// The position's ``KafkaFetchPosition/lastFetchedEpoch``, kept as given so the answer maps back to the
        /// caller's position.
        var epochOfPosition: Int32? = nil

        /// The last fetched epoch on the wire: -1 (no check) for none or a negative one.
        var lastFetchedEpoch: Int32 { max(epochOfPosition ?? -1, -1) }
    }

    struct Topic: Equatable {
        var name: String
        var topicID: KafkaUUID
        var partitions: [Partition]
    }

    /// Identifies the request within one planner or state machine, so a response maps back to it.
    var id: Int
    var brokerID: Int32
    var isolationLevel: KafkaIsolationLevel
    var maxWaitMs: Int32
    var minBytes: Int32
    var maxBytes: Int32
    var topics: [Topic]

    /// The sum of the partitions' max bytes.
    var partitionBytes: Int {
        topics.reduce(0) { sum, topic in sum + topic.partitions.reduce(0) { $0 + Int($1.partitionMaxBytes) } }
    }

    var partitionCount: Int { topics.reduce(0) { $0 + $1.partitions.count } }

    func contains(topic: String, partition: Int32) -> Bool {
        topics.contains { $0.name == topic && $0.partitions.contains { $0.partition == partition } }
    }

    /// The position a response partition answers, found by topic name (Fetch v12 and older).
    func position(topic: String, partition: Int32) -> KafkaFetchPosition? {
        guard let t = topics.first(where: { $0.name == topic }),
            let p = t.partitions.first(where: { $0.partition == partition })
        else { return nil }
        return KafkaFetchPosition(topic: t.name, partition: p.partition, offset: p.fetchOffset, lastFetchedEpoch: p.epochOfPosition)
    }

    /// The position a response partition answers, found by topic id (Fetch v13 and newer).
    func position(topicID: KafkaUUID, partition: Int32) -> KafkaFetchPosition? {
        guard let t = topics.first(where: { $0.topicID == topicID }),
            let p = t.partitions.first(where: { $0.partition == partition })
        else { return nil }
        return KafkaFetchPosition(topic: t.name, partition: p.partition, offset: p.fetchOffset, lastFetchedEpoch: p.epochOfPosition)
    }

    /// Every position the request asks for.
    var positions: [KafkaFetchPosition] {
        topics.flatMap { t in t.partitions.map { KafkaFetchPosition(topic: t.name, partition: $0.partition, offset: $0.fetchOffset, lastFetchedEpoch: $0.epochOfPosition) } }
    }
}
