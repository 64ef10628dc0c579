extension KafkaError.Code {
    /// The broker a request must go to is not in the cluster metadata (it left, or metadata is stale). Retriable.
    public static let brokerNotAvailable = Self("brokerNotAvailable")
    /// No coordinator for the group or transactional id is available yet (FindCoordinator errors 14–16). Retriable.
    public static let coordinatorNotAvailable = Self("coordinatorNotAvailable")
    /// A topic to create exists already (Kafka error TOPIC_ALREADY_EXISTS, 36).
    public static let topicAlreadyExists = Self("topicAlreadyExists")
}
