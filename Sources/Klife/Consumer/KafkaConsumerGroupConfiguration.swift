/// A consumer group the client runs with the classic group protocol (JoinGroup / SyncGroup / Heartbeat),
/// which every Kafka broker and Tansu speak.
public struct KafkaConsumerGroupConfiguration: Sendable {
    /// Where a partition without a committed offset starts (Klife's `offset_reset_policy`).
    public enum OffsetResetPolicy: Sendable, Hashable {
        case earliest
        case latest
    }

    /// A client-side partition assignor.
    public enum Assignor: String, Sendable, Hashable {
        case range
        case roundRobin = "roundrobin"
        case cooperativeSticky = "cooperative-sticky"
    }

    /// The group id (Klife's `group_name`).
    public var groupID: String
    /// The subscribed topics.
    public var topics: [String]
    /// Static membership id (KIP-345), nil for a dynamic member.
    public var instanceID: String?
    /// The session timeout sent in JoinGroup (default 10 s; Tansu holds a first join for about half of it).
    public var sessionTimeout: Duration
    /// How long the coordinator waits for members during a rebalance (Klife's `rebalance_timeout_ms`, 30 s).
    public var rebalanceTimeout: Duration
    /// Heartbeat period (default 3 s; keep it well below ``sessionTimeout``).
    public var heartbeatInterval: Duration
    /// The assignors offered, preferred first. Offer only eager ones (`range`, `roundrobin`) or only
    /// `cooperative-sticky`: one member's protocol is fixed by the first entry.
    public var assignors: [Assignor]
    /// Isolation level of the fetches (default read_committed).
    public var isolationLevel: KafkaIsolationLevel
    /// Start of partitions without a committed offset (default latest, as Klife).
    public var offsetResetPolicy: OffsetResetPolicy
    /// Max bytes per partition per fetch (Klife's `fetch_max_bytes`, 1_000_000).
    public var fetchMaxBytes: Int
    /// The fetcher used (nil: the client's default fetcher).
    public var fetcher: String?

    public init(
        groupID: String, topics: [String], instanceID: String? = nil, sessionTimeout: Duration = .seconds(10),
        rebalanceTimeout: Duration = .seconds(30), heartbeatInterval: Duration = .seconds(3),
        assignors: [Assignor] = [.range], isolationLevel: KafkaIsolationLevel = .readCommitted,
        offsetResetPolicy: OffsetResetPolicy = .latest, fetchMaxBytes: Int = 1_000_000, fetcher: String? = nil
    ) {
        self.groupID = groupID
        self.topics = topics
        self.instanceID = instanceID
        self.sessionTimeout = sessionTimeout
        self.rebalanceTimeout = rebalanceTimeout
        self.heartbeatInterval = heartbeatInterval
        self.assignors = assignors
        self.isolationLevel = isolationLevel
        self.offsetResetPolicy = offsetResetPolicy
        self.fetchMaxBytes = fetchMaxBytes
        self.fetcher = fetcher
    }
}

/// Records of one partition handed to a consumer group handler.
public struct KafkaConsumerBatch: Sendable {
    public var topic: String
    public var partition: Int32
    /// In offset order; never empty.
    public var records: [KafkaRecord]
}

/// A handler's answer for a batch (Klife's `:commit` / `:retry`).
public enum KafkaConsumerBatchResult: Sendable, Hashable {
    /// The batch is processed: commit the offset after its last record.
    case commit
    /// Deliver the same batch again (its records' `consumerAttempts` grow by one).
    case retry
}
