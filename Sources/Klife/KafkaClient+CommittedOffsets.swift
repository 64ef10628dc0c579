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
        return try await retryingRetriableErrors("OffsetFetch for group \(groupID)") {
            try await fetchCommittedOffsets(key: key, partitions: partitions, requireStable: requireStable)
        }
    }

    /// Every offset committed for consumer group `groupID`, on any topic (OffsetFetch with no topic list, v2+):
    /// what `kafka-consumer-groups.sh --describe` starts from.
    ///
    /// Coordinator moves and loads are retried until the connection's `requestTimeout` has passed.
    ///
    /// - Parameter requireStable: as in ``committedOffsets(group:partitions:requireStable:)``.
    /// - Returns: per partition with a committed offset, the offset; empty for a group that does not exist.
    /// - Throws: as ``committedOffsets(group:partitions:requireStable:)`` (``KafkaError/Code/featureDisabled``
    ///   also when the coordinator's OffsetFetch is older than v2, which cannot ask for all topics).
    public func committedOffsets(
        group groupID: String, requireStable: Bool = false
    ) async throws -> [KafkaTopicPartition: KafkaCommittedOffset] {
        try requireRunning()
        guard !groupID.isEmpty else { throw KafkaError(.invalidArgument, "committedOffsets needs a group id") }
        let key = CoordinatorCache.Key(type: .group, key: groupID)
        return try await retryingRetriableErrors("OffsetFetch for group \(groupID)") {
            try await fetchCommittedOffsets(key: key, partitions: nil, requireStable: requireStable)
        }
    }

    /// One OffsetFetch to the group's coordinator; nil `partitions` asks for all of them.
    private func fetchCommittedOffsets(
        key: CoordinatorCache.Key, partitions: [KafkaTopicPartition]?, requireStable: Bool
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
        // Every offset of the group: in v8's per-group shape where offered (Tansu answers v7's "all topics" with
        // a null topic list, which v7 does not allow); v2-v7 take a null topic list.
        if partitions == nil && negotiated >= 8 {
            let request = OffsetFetchRequest(
                groups: [.init(groupId: key.key, memberEpoch: -1, topics: nil)], requireStable: requireStable)
            let response = try await coordinator.send(request, version: 8)
            guard let group = response.groups.first(where: { $0.groupId == key.key }) else {
                throw KafkaError(.protocolViolation, "OffsetFetch answered without group \(key.key)")
            }
            if group.errorCode != 0 {
                _ = cluster.handleCoordinatorError(group.errorCode, for: key)
                throw Self.offsetFetchError(group.errorCode, group: key.key, partition: nil)
            }
            return try Self.committedOffsets(group: key.key, group.topics.lazy.flatMap { topic in
                topic.partitions.lazy.map {
                    (KafkaTopicPartition(topic.name, $0.partitionIndex), $0.committedOffset, $0.committedLeaderEpoch, $0.metadata, $0.errorCode)
                }
            })
        }
        // v8+ asks per group (a different request shape); v7 has everything needed for a list of partitions.
        let version = min(negotiated, 7)
        if partitions == nil && version < 2 {
            throw KafkaError(.featureDisabled, "the group coordinator's OffsetFetch (v\(version)) cannot ask for all of a group's offsets (v2+)")
        }
        let request = OffsetFetchRequest(
            groupId: key.key,
            topics: partitions.map { ConsumerGroupAssignment($0).byTopic.map { .init(name: $0.topic, partitionIndexes: $0.partitions) } },
            requireStable: requireStable && version >= 7)
        let response = try await coordinator.send(request, version: version)
        if response.errorCode != 0 {
            _ = cluster.handleCoordinatorError(response.errorCode, for: key)
            throw Self.offsetFetchError(response.errorCode, group: key.key, partition: nil)
        }
        return try Self.committedOffsets(group: key.key, response.topics.lazy.flatMap { topic in
            topic.partitions.lazy.map {
                (KafkaTopicPartition(topic.name, $0.partitionIndex), $0.committedOffset, $0.committedLeaderEpoch, $0.metadata, $0.errorCode)
            }
        })
    }

    /// The committed offsets of an OffsetFetch answer's partitions (offset, leader epoch, metadata, error code);
    /// partitions without a commit (offset -1) are left out, and a partition's error fails the whole answer.
    private static func committedOffsets(
        group: String, _ answers: some Sequence<(KafkaTopicPartition, Int64, Int32, String?, Int16)>
    ) throws -> [KafkaTopicPartition: KafkaCommittedOffset] {
        var offsets: [KafkaTopicPartition: KafkaCommittedOffset] = [:]
        for (partition, offset, leaderEpoch, metadata, errorCode) in answers {
            if errorCode != 0 { throw offsetFetchError(errorCode, group: group, partition: partition) }
            guard offset >= 0 else { continue }
            offsets[partition] = KafkaCommittedOffset(
                offset: offset, leaderEpoch: leaderEpoch >= 0 ? leaderEpoch : nil, metadata: metadata.flatMap { $0.isEmpty ? nil : $0 })
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
