/// A client-side partition assignor of the classic group protocol: the group leader runs it on the members'
/// subscriptions and sends each member its share in SyncGroup.
///
/// Assignors are pure functions of their input, so every member that becomes leader computes the same answer.
protocol ConsumerGroupAssignor: Sendable {
    /// The protocol name sent in JoinGroup (`range`, `roundrobin`, `cooperative-sticky`).
    var name: String { get }
    /// Whether members keep their partitions during a rebalance and only give up those that move
    /// (the cooperative rebalance protocol, KIP-429), instead of revoking everything first (eager).
    var isCooperative: Bool { get }
    /// Assigns the partitions of the subscribed topics (`partitionCounts`: topic → partition count; topics
    /// missing from it are ignored) to `members`. Every member appears in the result, possibly with nothing.
    func assign(members: [ConsumerGroupMember], partitionCounts: [String: Int32]) -> [String: ConsumerGroupAssignment]
}

/// One member as the leader sees it in the JoinGroup response.
struct ConsumerGroupMember: Equatable, Sendable {
    var memberID: String
    var instanceID: String?
    var topics: [String]
    /// What the member owns now (subscription v1+); the sticky assignors keep these where possible.
    var ownedPartitions: [KafkaTopicPartition]
    /// The generation the owned partitions belong to (subscription v2+, -1 when unknown).
    var generation: Int32

    init(memberID: String, instanceID: String? = nil, topics: [String], ownedPartitions: [KafkaTopicPartition] = [], generation: Int32 = -1) {
        self.memberID = memberID
        self.instanceID = instanceID
        self.topics = topics
        self.ownedPartitions = ownedPartitions
        self.generation = generation
    }

    /// The order members are dealt partitions in: the static instance id when set (stable across restarts),
    /// else the member id, as Kafka's assignors do.
    var sortKey: String { instanceID ?? memberID }
}

/// What one member is given.
struct ConsumerGroupAssignment: Equatable, Sendable {
    var partitions: [KafkaTopicPartition]

    init(_ partitions: [KafkaTopicPartition] = []) { self.partitions = partitions }

    /// The partitions grouped by topic, topics and partitions sorted (the wire form of the assignment).
    var byTopic: [(topic: String, partitions: [Int32])] {
        Dictionary(grouping: partitions, by: \.topic).sorted { $0.key < $1.key }.map { ($0.key, $0.value.map(\.partition).sorted()) }
    }
}

extension ConsumerGroupAssignor {
    /// The sorted partitions of `topic`, nil when its partition count is unknown.
    static func partitions(of topic: String, _ counts: [String: Int32]) -> [KafkaTopicPartition]? {
        guard let n = counts[topic], n > 0 else { return nil }
        return (0..<n).map { KafkaTopicPartition(topic, $0) }
    }

    static func emptyResult(_ members: [ConsumerGroupMember]) -> [String: ConsumerGroupAssignment] {
        Dictionary(members.map { ($0.memberID, ConsumerGroupAssignment()) }, uniquingKeysWith: { a, _ in a })
    }
}

extension KafkaConsumerGroupConfiguration.Assignor {
    var implementation: any ConsumerGroupAssignor {
        switch self {
        case .range: return RangeAssignor()
        case .roundRobin: return RoundRobinAssignor()
        case .cooperativeSticky: return CooperativeStickyAssignor()
        }
    }
}
