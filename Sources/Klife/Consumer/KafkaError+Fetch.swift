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
    /// The partition's log no longer holds what was read up to the fetch position (KIP-320: the position's
    /// ``KafkaFetchPosition/lastFetchedEpoch`` parts from the leader's log, as after an unclean leader
    /// election); the message names the offset and epoch to fetch from instead. Only calls that return records
    /// alone report it: ``KafkaClient/fetchPartitions(_:options:)`` answers with
    /// ``KafkaFetchedPartition/divergence``.
    public static let logTruncated = Self("logTruncated")
}

extension KafkaError.Code {
    /// An offset commit of a consumer group member failed (the Kafka error code is in
    /// ``KafkaError/kafkaCode``, when the coordinator answered).
    public static let offsetCommitFailed = Self("offsetCommitFailed")
    /// A consumer group member stopped for good: an error rejoining cannot fix (fenced static instance id,
    /// group authorization, unsupported protocol).
    public static let consumerGroupFailed = Self("consumerGroupFailed")
    /// A consumer group batch was answered twice, or after its partition was taken away.
    public static let batchAlreadyCompleted = Self("batchAlreadyCompleted")
}
