/// An offset committed for a consumer group (``KafkaClient/committedOffsets(group:partitions:requireStable:)``).
public struct KafkaCommittedOffset: Sendable, Hashable {
    /// FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH answered to a commit: Kafka stores a committed epoch unchecked,
    /// but librdkafka's mock cluster holds it against the partition's current one, which a leader change moves
    /// on. The epoch only helps the next owner detect a truncated log, so such a commit goes again without it.
    static let leaderEpochRefusedCodes: Set<Int16> = [74, 75]

    /// The offset of the next record the group consumes from the partition (the last one processed + 1).
    public var offset: Int64
    /// The leader epoch of the last record processed, when the commit carried one (OffsetCommit v6+, KIP-320).
    public var leaderEpoch: Int32?
    /// The metadata string committed with the offset, when there is one.
    public var metadata: String?

    public init(offset: Int64, leaderEpoch: Int32? = nil, metadata: String? = nil) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
    }
}
