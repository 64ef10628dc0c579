extension KafkaError.Code {
    /// The requested offset is outside the partition's log (Kafka error OFFSET_OUT_OF_RANGE, 1).
    public static let offsetOutOfRange = Self("offsetOutOfRange")
    /// The topic or partition does not exist (in the cluster metadata or at the broker).
    public static let unknownTopicOrPartition = Self("unknownTopicOrPartition")
    /// The partition has no reachable leader, or the leader kept moving, after the retries allowed.
    public static let leaderNotAvailable = Self("leaderNotAvailable")
    /// The client may not read the topic (Kafka error TOPIC_AUTHORIZATION_FAILED, 29).
    public static let authorizationFailed = Self("authorizationFailed")
    /// The fetched records could not be decoded (bad CRC, truncated batch, failed decompression).
    public static let corruptRecords = Self("corruptRecords")
}
