/// A consumer group as ``KafkaClient/listConsumerGroups()`` lists it.
public struct KafkaConsumerGroupListing: Sendable, Hashable {
    public var groupID: String
    /// `consumer` for consumer groups (classic protocol), empty for groups that only commit offsets; other
    /// values for other kinds of groups (Kafka Connect's `connect`).
    public var protocolType: String
    /// The group's state as its coordinator reports it (`Stable`, `Empty`, `PreparingRebalance`, …; ListGroups
    /// v4+), nil from older brokers.
    public var state: String?

    public init(groupID: String, protocolType: String, state: String? = nil) {
        self.groupID = groupID
        self.protocolType = protocolType
        self.state = state
    }
}
