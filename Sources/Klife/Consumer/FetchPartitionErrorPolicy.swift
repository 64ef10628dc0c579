/// What a fetcher does with the error code of one partition in a Fetch response.
enum FetchPartitionErrorPolicy {
    enum Decision {
        /// No error: use the partition's records.
        case deliver
        /// The metadata we routed by is stale (leader moved, topic id changed, replica not ready): refresh
        /// it and send the partition again, possibly to another broker.
        case refreshMetadataAndRetry
        /// Retry the same request later without touching metadata (broker busy).
        case retry
        /// Give up on this partition with this error.
        case fail(KafkaError)
    }

    static func decide(errorCode: Int16, position: KafkaFetchPosition) -> Decision {
        switch errorCode {
        case 0:
            return .deliver
        case 1:  // OFFSET_OUT_OF_RANGE
            return .fail(KafkaError(
                .offsetOutOfRange, "offset \(position.offset) is out of range for \(position.topic)/\(position.partition)",
                kafkaCode: errorCode))
        case 3,  // UNKNOWN_TOPIC_OR_PARTITION: the broker may just not host it any more
             5,  // LEADER_NOT_AVAILABLE
             6,  // NOT_LEADER_OR_FOLLOWER
             9,  // REPLICA_NOT_AVAILABLE
             56,  // KAFKA_STORAGE_ERROR
             74,  // FENCED_LEADER_EPOCH: our metadata's epoch is older than the leader's
             78,  // OFFSET_NOT_AVAILABLE: a leader just elected, high watermark not known yet (Java refreshes too)
             100,  // UNKNOWN_TOPIC_ID
             103:  // INCONSISTENT_TOPIC_ID
            return .refreshMetadataAndRetry
        case 7,  // REQUEST_TIMED_OUT
             75:  // UNKNOWN_LEADER_EPOCH: our metadata is newer than the broker's view; it catches up
            return .retry
        case 29:  // TOPIC_AUTHORIZATION_FAILED
            return .fail(KafkaError(
                .authorizationFailed, "not authorized to read topic \(position.topic)", kafkaCode: errorCode))
        default:
            return .fail(KafkaError(
                .brokerError, "fetch of \(position) failed with Kafka error code \(errorCode)",
                kafkaCode: errorCode, isRetriable: false))
        }
    }

    /// The error reported when a partition still fails with a retriable code after the last attempt.
    static func exhausted(errorCode: Int16, position: KafkaFetchPosition) -> KafkaError {
        switch errorCode {
        case 3, 100:
            return KafkaError(
                .unknownTopicOrPartition, "the broker does not know \(position.topic)/\(position.partition)",
                kafkaCode: errorCode, isRetriable: true)
        default:
            return KafkaError(
                .leaderNotAvailable,
                "no usable leader for \(position.topic)/\(position.partition) after retrying (last Kafka error \(errorCode))",
                kafkaCode: errorCode, isRetriable: true)
        }
    }
}
