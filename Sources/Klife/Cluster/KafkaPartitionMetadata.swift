/// What the metadata says about one partition.
public struct KafkaPartitionMetadata: Hashable, Sendable {
    /// The partition index.
    public var partition: Int32
    /// Node id of the leader; -1 when the partition has no leader right now.
    public var leaderID: Int32
    /// The leader epoch; -1 when the broker does not report one.
    public var leaderEpoch: Int32
    /// Node ids of all replicas.
    public var replicas: [Int32]
    /// Node ids of the in-sync replicas.
    public var inSyncReplicas: [Int32]
    /// Node ids of offline replicas.
    public var offlineReplicas: [Int32]
    /// The partition-level Kafka error code of the metadata response (0 = none; 5 = leader not available, …).
    public var errorCode: Int16

    public init(
        partition: Int32, leaderID: Int32, leaderEpoch: Int32 = -1, replicas: [Int32] = [], inSyncReplicas: [Int32] = [],
        offlineReplicas: [Int32] = [], errorCode: Int16 = 0
    ) {
        self.partition = partition
        self.leaderID = leaderID
        self.leaderEpoch = leaderEpoch
        self.replicas = replicas
        self.inSyncReplicas = inSyncReplicas
        self.offlineReplicas = offlineReplicas
        self.errorCode = errorCode
    }

    /// Whether the partition has a leader to send requests to.
    public var hasLeader: Bool { leaderID >= 0 }
}
