/// What the group coordinator needs to accept offsets committed inside a transaction (TxnOffsetCommit):
/// the consumer group and, for a group member, its generation and member id, so that a member that was
/// kicked out of the group (a zombie) cannot commit.
///
/// Pass the metadata of the consumer that read the records; a standalone consumer (no group membership)
/// passes only the group id.
public struct KafkaConsumerGroupMetadata: Sendable, Hashable {
    /// The consumer group whose offsets are committed.
    public var groupID: String
    /// The member's generation; -1 for no membership check.
    public var generationID: Int32
    /// The member id; "" for no membership check.
    public var memberID: String
    /// The static member id (KIP-345), if any.
    public var groupInstanceID: String?

    public init(groupID: String, generationID: Int32 = -1, memberID: String = "", groupInstanceID: String? = nil) {
        self.groupID = groupID
        self.generationID = generationID
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
    }
}
