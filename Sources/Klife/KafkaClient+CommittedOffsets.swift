import KafkaProtocol

extension KafkaClient {
    /// The offsets committed for consumer group `groupID` (OffsetFetch to its coordinator), for lag monitoring
    /// or tools; the group need not have members, and this client need not be one.
    ///
    /// Coordinator moves and loads are retried until the connection's `requestTimeout` has passed.
    ///
    /// - Parameters:
    ///   - partitions: the partitions to ask about (at least one).
    ///   - requireStable: wait for pending transactional offset commits (KIP-447, OffsetFetch v7+): the
    ///     coordinator answers UNSTABLE_OFFSET_COMMIT until they complete, and the lookup is repeated.
    /// - Returns: per partition with a committed offset, the offset; partitions without one (and every
    ///   partition of a group that does not exist) are left out.
    /// - Throws: ``KafkaError``: ``KafkaError/Code/invalidArgument`` (no partitions, an empty group id, a
    ///   negative partition), ``KafkaError/Code/coordinatorNotAvailable`` or ``KafkaError/Code/brokerError``
    ///   with the Kafka code (retriable codes after the retries; GROUP_AUTHORIZATION_FAILED,
    ///   TOPIC_AUTHORIZATION_FAILED), ``KafkaError/Code/featureDisabled`` when the broker lacks OffsetFetch,
    ///   connection errors, ``KafkaError/Code/clientNotRunning``.
    public func committedOffsets(
        group groupID: String, partitions: [KafkaTopicPartition], requireStable: Bool = false
    ) async throws -> [KafkaTopicPartition: KafkaCommittedOffset] {
        try requireRunning()
        guard !groupID.isEmpty else { throw KafkaError(.invalidArgument, "committedOffsets needs a group id") }
        guard !partitions.isEmpty else { throw KafkaError(.invalidArgument, "committedOffsets needs at least one partition") }
        if let negative = partitions.first(where: { $0.partition < 0 }) {
            throw KafkaError(.invalidArgument, "committedOffsets: partition \(negative.partition) of topic \(negative.topic) is negative")
        }
        let key = CoordinatorCache.Key(type: .group, key: groupID)
        let deadline = ContinuousClock.now + configuration.connection.requestTimeout
        var delay = Duration.milliseconds(50)
        while true {
            do {
                return try await fetchCommittedOffsets(key: key, partitions: partitions, requireStable: requireStable)
            } catch let error as KafkaError where error.isRetriable && ContinuousClock.now + delay < deadline {
                logger.debug("OffsetFetch for group \(groupID) failed, retrying: \(error.message)")
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            }
        }
    }

    /// One OffsetFetch to the group's coordinator.
    private func fetchCommittedOffsets(
        key: CoordinatorCache.Key, partitions: [KafkaTopicPartition], requireStable: Bool
    ) async throws -> [KafkaTopicPartition: KafkaCommittedOffset] {
        let coordinator: KafkaConnection
        do {
            coordinator = try await cluster.coordinatorConnection(for: key).0
        } catch {
            throw ClusterManager.asKafkaError(error)
        }
        guard let negotiated = coordinator.negotiatedVersion(for: OffsetFetchRequest.self) else {
            throw KafkaError(.featureDisabled, "the group coordinator offers no usable OffsetFetch version")
        }
        // v8+ asks per group (a different request shape); v7 has everything needed here.
        let version = min(negotiated, 7)
        let request = OffsetFetchRequest(
            groupId: key.key,
            topics: ConsumerGroupAssignment(partitions).byTopic.map { .init(name: $0.topic, partitionIndexes: $0.partitions) },
            requireStable: requireStable && version >= 7)
        let response = try await coordinator.send(request, version: version)
        if response.errorCode != 0 {
            _ = cluster.handleCoordinatorError(response.errorCode, for: key)
            throw Self.offsetFetchError(response.errorCode, group: key.key, partition: nil)
        }
        var offsets: [KafkaTopicPartition: KafkaCommittedOffset] = [:]
        for topic in response.topics {
            for answer in topic.partitions {
                let partition = KafkaTopicPartition(topic.name, answer.partitionIndex)
                if answer.errorCode != 0 { throw Self.offsetFetchError(answer.errorCode, group: key.key, partition: partition) }
                guard answer.committedOffset >= 0 else { continue }
                offsets[partition] = KafkaCommittedOffset(
                    offset: answer.committedOffset, leaderEpoch: answer.committedLeaderEpoch >= 0 ? answer.committedLeaderEpoch : nil,
                    metadata: answer.metadata.flatMap { $0.isEmpty ? nil : $0 })
            }
        }
        return offsets
    }

    private static func offsetFetchError(_ code: Int16, group: String, partition: KafkaTopicPartition?) -> KafkaError {
        let subject = partition.map { "\($0) of group \(group)" } ?? "group \(group)"
        if CoordinatorCache.coordinatorErrorCodes.contains(code) {
            return KafkaError(.coordinatorNotAvailable, "OffsetFetch for \(subject): the coordinator moved or is loading", kafkaCode: code, isRetriable: true)
        }
        // UNSTABLE_OFFSET_COMMIT (88): a transactional commit is pending; asking again will do.
        let retriable = code == 88 || KafkaErrorCode(rawValue: code).isRetriable
        return KafkaError(.brokerError, "OffsetFetch for \(subject) failed", kafkaCode: code, isRetriable: retriable)
    }
}
