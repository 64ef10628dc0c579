/// A consumer group as its coordinator describes it (``KafkaClient/describeConsumerGroups(_:)``).
public struct KafkaConsumerGroupDescription: Sendable, Hashable {
    /// A member of the group and the partitions it owns.
    public struct Member: Sendable, Hashable {
        public var memberID: String
        /// The static membership id (KIP-345), when the member has one.
        public var instanceID: String?
        public var clientID: String
        /// The address the coordinator saw the member connect from (`/127.0.0.1`).
        public var clientHost: String
        /// The partitions assigned to the member, sorted; empty while a rebalance has not given it any, and for
        /// groups of other kinds than consumer groups (whose assignments are not partitions).
        public var assignment: [KafkaTopicPartition]

        public init(memberID: String, instanceID: String? = nil, clientID: String, clientHost: String, assignment: [KafkaTopicPartition] = []) {
            self.memberID = memberID
            self.instanceID = instanceID
            self.clientID = clientID
            self.clientHost = clientHost
            self.assignment = assignment
        }
    }

    public var groupID: String
    /// The state the coordinator reports: `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or
    /// `Dead` (no such group) for classic groups; `Stable`, `Assigning`, `Reconciling`, `Empty` or `Dead` for
    /// KIP-848 groups.
    public var state: String
    /// The protocol the group runs: ``KafkaConsumerGroupConfiguration/GroupProtocol/classic`` (JoinGroup /
    /// SyncGroup) or ``KafkaConsumerGroupConfiguration/GroupProtocol/consumer`` (KIP-848).
    public var groupProtocol: KafkaConsumerGroupConfiguration.GroupProtocol
    /// `consumer` for consumer groups, empty for a group that only commits offsets (or does not exist), other
    /// values for other kinds of classic groups (Kafka Connect's `connect`). Always `consumer` for KIP-848 groups.
    public var protocolType: String
    /// The assignor: the protocol the classic group's members agreed on (`range`, `cooperative-sticky`, …,
    /// empty while none is chosen), or the broker's assignor for a KIP-848 group (`uniform`, `range`).
    public var assignor: String
    /// The group epoch of a KIP-848 group (bumped on every membership or subscription change); nil for classic
    /// groups.
    public var groupEpoch: Int32?
    public var members: [Member]
    /// The node id of the group's coordinator, which answered.
    public var coordinator: Int32

    public init(
        groupID: String, state: String, groupProtocol: KafkaConsumerGroupConfiguration.GroupProtocol, protocolType: String,
        assignor: String, groupEpoch: Int32? = nil, members: [Member], coordinator: Int32
    ) {
        self.groupID = groupID
        self.state = state
        self.groupProtocol = groupProtocol
        self.protocolType = protocolType
        self.assignor = assignor
        self.groupEpoch = groupEpoch
        self.members = members
        self.coordinator = coordinator
    }
}
