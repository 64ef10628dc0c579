/// A running consumer group member (see ``KafkaClient/startConsumerGroup(_:handler:)-(_,KafkaConsumerGroupHandler)``).
public struct KafkaConsumerGroup: Sendable {
    let runner: ConsumerGroupRunner

    /// The group id.
    public var groupID: String { runner.configuration.groupID }

    /// The topics this member subscribes to now: ``KafkaConsumerGroupConfiguration/topics`` and those of the
    /// cluster matching ``KafkaConsumerGroupConfiguration/topicPattern`` when it last looked, sorted.
    public var subscribedTopics: [String] { runner.subscribedTopics }

    /// The partitions this member consumes now.
    public var assignedPartitions: [KafkaTopicPartition] { runner.partitions.assigned }

    /// The membership protocol in use (``KafkaConsumerGroupConfiguration/GroupProtocol/classic`` or
    /// ``KafkaConsumerGroupConfiguration/GroupProtocol/consumer``), nil until the member has chosen.
    public var groupProtocol: KafkaConsumerGroupConfiguration.GroupProtocol? { runner.groupProtocol }

    /// Why the member stopped for good (an error rejoining cannot fix), nil while it runs or after a normal stop.
    public var failure: KafkaError? { runner.failure }

    /// Batches of manual topics (every topic when the group was started without a handler), to be answered
    /// with ``KafkaConsumerGroupBatch/commit(cooldown:)`` or ``KafkaConsumerGroupBatch/retry(cooldown:)``.
    /// Batches of different partitions may be outstanding at once; a partition's next batch comes after the
    /// answer. The sequence ends when the member stops, throwing ``failure`` if it failed. Iterate it from
    /// one task only.
    ///
    /// A batch whose partition is revoked while it waits in the sequence is never handed out (the partition's
    /// next owner gets its records). A batch already handed out keeps its partition until it is answered, for
    /// at most ``KafkaConsumerGroupConfiguration/rebalanceTimeout``: answer it (commit) and a rebalance
    /// delivers nothing twice. Past that it is abandoned: ``KafkaConsumerGroupBatch/isOpen`` turns false and
    /// answering it throws ``KafkaError/Code/batchAlreadyCompleted``.
    public var batches: KafkaConsumerGroupBatches { KafkaConsumerGroupBatches(stream: runner.partitions.manualBatches) }

    /// Pauses `partitions`: from their next batch on, nothing of them is fetched or handed out (a batch being
    /// handled finishes), until ``resume(_:)``. The member stays in the group and keeps them, as a consumer
    /// that pauses (Java's `pause`, librdkafka's `rd_kafka_pause_partitions`) does; use it when the records
    /// cannot be processed for a while (a downstream system is down) without giving the partitions away.
    /// Partitions not assigned now may be named: they stay paused if they are assigned later. A revoked
    /// partition stops as usual, paused or not. Without a handler, a batch already waiting in ``batches``
    /// when the partition is paused is still handed out.
    public func pause(_ partitions: [KafkaTopicPartition]) {
        runner.partitions.paused.pause(partitions)
    }

    /// Resumes `partitions` paused with ``pause(_:)``; reading goes on from where it stopped.
    public func resume(_ partitions: [KafkaTopicPartition]) {
        runner.partitions.paused.resume(partitions)
    }

    /// Moves this member's position in `partition` to `offset`, to replay records or skip them, as Java's
    /// `seek` does. Records fetched ahead are dropped; the next batch starts at `offset` (a batch being handled
    /// finishes first, and its answer no longer moves the position). The new position is the group's: it is
    /// committed as a processed position is (at once when the member next waits for records, and in any case
    /// before the partition is given up), also when it lies before the committed offset, so a rewind survives
    /// a restart or a rebalance. An offset outside the partition's log is moved by the reset policy when it is
    /// fetched, and the policy's offset is committed instead.
    ///
    /// Call it for a partition assigned to this member, for instance from
    /// ``KafkaConsumerGroupHandler/partitionStarted(_:)`` to choose where a newly assigned partition starts;
    /// ``KafkaClient/listOffsets(topic:partitions:at:isolation:)`` finds the offset of a point in time. A paused
    /// partition moves when it is resumed.
    ///
    /// - Throws: ``KafkaError/Code/invalidArgument`` when `offset` is negative or the member does not consume
    ///   `partition` now (it was never assigned, was revoked, or is being given up).
    public func seek(_ partition: KafkaTopicPartition, to offset: Int64) throws {
        guard offset >= 0 else { throw KafkaError(.invalidArgument, "seek: offset \(offset) for \(partition) is negative") }
        guard runner.partitions.seek(partition, to: offset) else {
            throw KafkaError(.invalidArgument, "seek: \(partition) is not assigned to this member of group \(groupID)")
        }
    }

    /// The partitions paused with ``pause(_:)`` and not resumed.
    public var pausedPartitions: Set<KafkaTopicPartition> { runner.partitions.paused.partitions }

    /// Stops consuming (handlers finish their current batch), commits what was processed, gives the
    /// partitions back and leaves the group; returns when done.
    ///
    /// Called from the member's own handler (its batch handler or partition callbacks, or a task they start),
    /// it asks for the stop and returns at once: the member stops once the handler has returned, and the
    /// handler's result is committed as usual. With ``batches``, answer the batch in hand before calling it:
    /// the stop waits for that answer, up to the rebalance timeout, after which the batch's records are
    /// delivered again.
    public func stop() async {
        await runner.stop()
    }
}
