/// Processes what a consumer group member receives (Klife's `handle_record_batch`, `handle_consumer_start`
/// and `handle_consumer_stop` callbacks). Only ``handle(_:)`` is required.
///
/// Calls for one partition never overlap and come in offset order; different partitions are handled
/// concurrently.
public protocol KafkaConsumerGroupHandler: Sendable {
    /// Processes a batch of one partition. A thrown error counts as ``KafkaConsumerBatchResult/retry``: the
    /// records are delivered again, never skipped, after a pause that grows by 100 ms per attempt up to the
    /// topic's ``KafkaConsumerTopicOptions/fetchInterval``.
    func handle(_ batch: KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult

    /// The member starts consuming `partition` (before its first batch).
    func partitionStarted(_ partition: KafkaTopicPartition) async

    /// The member stopped consuming `partition` (after its last batch and, unless `reason` is
    /// ``KafkaPartitionStopReason/lost``, after committing what was processed).
    func partitionStopped(_ partition: KafkaTopicPartition, reason: KafkaPartitionStopReason) async

    /// Committing `offset` (the next offset to read) for `partition` failed. The member keeps trying; the
    /// records stay uncommitted meanwhile.
    func commitFailed(_ partition: KafkaTopicPartition, offset: Int64, error: KafkaError) async

    /// Fetching `partition` at `offset` failed with an error that does not pass by itself
    /// (``KafkaError/Code/authorizationFailed``, ``KafkaError/Code/corruptRecords``, a non-retriable
    /// ``KafkaError/Code/brokerError``). The member keeps the partition and tries again after the topic's
    /// ``KafkaConsumerTopicOptions/fetchInterval``; nothing of it is delivered or committed meanwhile. Stop
    /// the group, or fix the cause (an ACL), to go on. Passing errors (a leader moving) are retried quietly.
    func fetchFailed(_ partition: KafkaTopicPartition, offset: Int64, error: KafkaError) async
}

extension KafkaConsumerGroupHandler {
    public func partitionStarted(_ partition: KafkaTopicPartition) async {}
    public func partitionStopped(_ partition: KafkaTopicPartition, reason: KafkaPartitionStopReason) async {}
    public func commitFailed(_ partition: KafkaTopicPartition, offset: Int64, error: KafkaError) async {}
    public func fetchFailed(_ partition: KafkaTopicPartition, offset: Int64, error: KafkaError) async {}
}

/// Why a member stopped consuming a partition (Klife's `handle_consumer_stop` reasons).
public enum KafkaPartitionStopReason: Sendable, CustomStringConvertible {
    /// A rebalance gave the partition to another member; processed records were committed first.
    case revoked
    /// The membership was lost (fenced, session expired): another member may own the partition already, so
    /// nothing was committed.
    case lost
    /// The member is stopping (``KafkaConsumerGroup/stop()`` or a graceful client shutdown).
    case shutdown
    /// The group failed with an error rejoining cannot fix (e.g. a fenced static instance id).
    case failure(KafkaError)

    public var description: String {
        switch self {
        case .revoked: return "revoked"
        case .lost: return "lost"
        case .shutdown: return "shutdown"
        case .failure(let error): return "failure(\(error))"
        }
    }
}

/// A handler made of a closure.
struct ClosureConsumerGroupHandler: KafkaConsumerGroupHandler {
    let body: @Sendable (KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult
    func handle(_ batch: KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult { try await body(batch) }
}
