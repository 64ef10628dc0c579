extension KafkaClusterMetadata {
    /// Kafka error codes that mean the client's view of leaders or topics is out of date: a metadata refresh
    /// is due before retrying (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER,
    /// REPLICA_NOT_AVAILABLE, KAFKA_STORAGE_ERROR, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_ID,
    /// OFFSET_NOT_AVAILABLE, INCONSISTENT_TOPIC_ID).
    public static let staleMetadataErrorCodes: Set<Int16> = [3, 5, 6, 9, 56, 74, 75, 78, 100, 103]

    /// Whether a partition-level error `code` means the metadata must be refreshed before retrying.
    public static func requiresMetadataRefresh(errorCode code: Int16) -> Bool {
        staleMetadataErrorCodes.contains(code)
    }

    /// The topics to name in a Metadata request: nil = all topics (unknown topics enabled), else the
    /// configured topics plus `extra` (topics the application asked about), sorted and unique.
    public static func topicsToRequest(enableUnknownTopics: Bool, configuredTopics: [String], extra: some Sequence<String> = [String]()) -> [String]? {
        if enableUnknownTopics { return nil }
        return Array(Set(configuredTopics).union(extra)).sorted()
    }
}
