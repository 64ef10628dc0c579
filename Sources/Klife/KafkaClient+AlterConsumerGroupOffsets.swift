import KafkaProtocol

extension KafkaClient {
    /// Sets consumer group `groupID`'s committed offsets (OffsetCommit to its coordinator, as no member:
    /// generation -1), to rewind or skip ahead: the group's members start from them the next time they are
    /// assigned the partitions. Creates the group's offsets when it has none.
    ///
    /// The group must have no members: a coordinator refuses the commit for a group with members
    /// (UNKNOWN_MEMBER_ID; stop the group's consumers first), since they would overwrite it with their own
    /// positions. Coordinator moves and loads are retried until the connection's `requestTimeout` has passed.
    ///
    /// - Parameter offsets: per partition, the offset of the next record the group should read, with the
    ///   optional leader epoch (sent from OffsetCommit v6) and metadata string.
    /// - Returns: per partition, nil when its offset was committed, else its error: ``KafkaError/Code/brokerError``
    ///   with the Kafka code (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or REBALANCE_IN_PROGRESS: the group has members;
    ///   UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE, GROUP_AUTHORIZATION_FAILED,
    ///   TOPIC_AUTHORIZATION_FAILED; coordinator codes after the retries).
    /// - Throws: ``KafkaError/Code/invalidArgument`` (an empty group id, no offsets, an empty topic, a negative
    ///   partition or offset), ``KafkaError/Code/featureDisabled`` when the coordinator lacks OffsetCommit,
    ///   ``KafkaError/Code/coordinatorNotAvailable`` and connection errors after the retries,
    ///   ``KafkaError/Code/clientNotRunning``.
    @discardableResult
    public func alterConsumerGroupOffsets(
        group groupID: String, offsets: [KafkaTopicPartition: KafkaCommittedOffset]
    ) async throws -> [KafkaTopicPartition: KafkaError?] {
        try requireRunning()
        try Self.validateOffsetsToAlter(group: groupID, offsets: offsets)
        let key = CoordinatorCache.Key(type: .group, key: groupID)
        return try await retryingRetriableErrors("OffsetCommit for group \(groupID)") {
            try await alterConsumerGroupOffsetsOnce(key: key, offsets: offsets)
        }
    }

    static func validateOffsetsToAlter(group groupID: String, offsets: [KafkaTopicPartition: KafkaCommittedOffset]) throws {
        guard !groupID.isEmpty else { throw KafkaError(.invalidArgument, "alterConsumerGroupOffsets needs a group id") }
        guard !offsets.isEmpty else { throw KafkaError(.invalidArgument, "alterConsumerGroupOffsets needs at least one partition") }
        for (partition, committed) in offsets.sorted(by: { $0.key < $1.key }) {
            if partition.topic.isEmpty { throw KafkaError(.invalidArgument, "alterConsumerGroupOffsets: a topic name is empty") }
            if partition.partition < 0 {
                throw KafkaError(.invalidArgument, "alterConsumerGroupOffsets: partition \(partition.partition) of topic \(partition.topic) is negative")
            }
            if committed.offset < 0 {
                throw KafkaError(.invalidArgument, "alterConsumerGroupOffsets: offset \(committed.offset) for \(partition) is negative")
            }
        }
    }

    /// One OffsetCommit; a coordinator error on any partition throws (retriable) so the whole commit is sent
    /// again to the new coordinator.
    private func alterConsumerGroupOffsetsOnce(
        key: CoordinatorCache.Key, offsets: [KafkaTopicPartition: KafkaCommittedOffset]
    ) async throws -> [KafkaTopicPartition: KafkaError?] {
        let coordinator: KafkaConnection
        do {
            coordinator = try await cluster.coordinatorConnection(for: key).0
        } catch {
            throw ClusterManager.asKafkaError(error)
        }
        guard let negotiated = coordinator.negotiatedVersion(for: OffsetCommitRequest.self) else {
            throw KafkaError(.featureDisabled, "the group coordinator offers no usable OffsetCommit version")
        }
        let version = min(negotiated, 9)
        let byTopic = Dictionary(grouping: offsets, by: { $0.key.topic })
        let request = OffsetCommitRequest(
            groupId: key.key, generationIdOrMemberEpoch: -1, memberId: "",
            topics: byTopic.keys.sorted().map { topic in
                .init(name: topic, partitions: byTopic[topic]!.sorted { $0.key < $1.key }.map { partition, committed in
                    .init(
                        partitionIndex: partition.partition, committedOffset: committed.offset,
                        committedLeaderEpoch: version >= 6 ? (committed.leaderEpoch ?? -1) : -1,
                        committedMetadata: committed.metadata)
                })
            })
        let response = try await coordinator.send(request, version: version)
        var results: [KafkaTopicPartition: KafkaError?] = [:]
        for topic in response.topics {
            for answer in topic.partitions {
                let partition = KafkaTopicPartition(topic.name, answer.partitionIndex)
                guard offsets[partition] != nil else { continue }
                if answer.errorCode == 0 {
                    results[partition] = .some(nil)
                    continue
                }
                if cluster.handleCoordinatorError(answer.errorCode, for: key) {
                    throw KafkaError(
                        .coordinatorNotAvailable, "OffsetCommit for group \(key.key): the coordinator moved or is loading",
                        kafkaCode: answer.errorCode, isRetriable: true)
                }
                // A classic group in the middle of a rebalance answers REBALANCE_IN_PROGRESS.
                let hasMembers = answer.errorCode == KafkaErrorCode.unknownMemberId.rawValue
                    || answer.errorCode == KafkaErrorCode.illegalGeneration.rawValue
                    || answer.errorCode == KafkaErrorCode.rebalanceInProgress.rawValue
                results[partition] = .some(KafkaError(
                    .brokerError,
                    "could not set the offset of \(partition) for group \(key.key)" + (hasMembers ? ": the group has members" : ""),
                    kafkaCode: answer.errorCode, isRetriable: !hasMembers && KafkaErrorCode(rawValue: answer.errorCode).isRetriable))
            }
        }
        for partition in offsets.keys where results[partition] == nil {
            results[partition] = .some(KafkaError(.protocolViolation, "OffsetCommit for group \(key.key) answered without \(partition)"))
        }
        return results
    }
}
