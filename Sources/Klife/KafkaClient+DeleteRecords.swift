import KafkaProtocol

extension KafkaClient {
    /// Deletes the records before the given offsets (DeleteRecords to each partition's leader): each
    /// partition's log start moves up to its offset, and reads from before it fail as out of range. Kafka's
    /// `deleteRecords`, for retention by hand or to purge a topic.
    ///
    /// Partitions whose leader moved (or is unknown for a moment) are asked again after a metadata refresh
    /// until `timeout` has passed.
    ///
    /// - Parameter offsets: per partition, the first offset to keep; ``deleteAllRecords`` deletes everything
    ///   written so far (up to the high watermark).
    /// - Returns: per partition, its new log start offset (low watermark), or its error:
    ///   ``KafkaError/Code/brokerError`` with the Kafka code (OFFSET_OUT_OF_RANGE: the offset is past the high
    ///   watermark; POLICY_VIOLATION: the topic's `cleanup.policy` is `compact`; TOPIC_AUTHORIZATION_FAILED),
    ///   ``KafkaError/Code/unknownTopicOrPartition``, ``KafkaError/Code/leaderNotAvailable`` (retriable, after
    ///   `timeout`), a connection error.
    /// - Throws: ``KafkaError/Code/invalidArgument`` (no offsets, an illegal topic name, a negative partition,
    ///   an offset below -1), ``KafkaError/Code/featureDisabled`` when the admin feature is off,
    ///   ``KafkaError/Code/clientNotRunning``, `CancellationError` when the task is cancelled between attempts.
    @discardableResult
    public func deleteRecords(
        before offsets: [KafkaTopicPartition: Int64], timeout: Duration = .seconds(30)
    ) async throws -> [KafkaTopicPartition: Result<Int64, KafkaError>] {
        try requireRunning()
        try requireFeature(.admin)
        guard !offsets.isEmpty else { throw KafkaError(.invalidArgument, "deleteRecords needs at least one partition") }
        for (partition, offset) in offsets.sorted(by: { $0.key < $1.key }) {
            try KafkaTopicConfiguration.validateTopicName(partition.topic)
            if partition.partition < 0 { throw KafkaError(.invalidArgument, "deleteRecords: partition \(partition.partition) of topic \(partition.topic) is negative") }
            if offset < Self.deleteAllRecords { throw KafkaError(.invalidArgument, "deleteRecords: offset \(offset) for \(partition) is negative") }
        }
        var results: [KafkaTopicPartition: Result<Int64, KafkaError>] = [:]
        var remaining = Set(offsets.keys)
        // A topic or partition that does not exist fails at once rather than after the timeout (asked again
        // first when the cached metadata lacks it: it may be new).
        var refreshed = false
        for topic in Set(offsets.keys.map(\.topic)).sorted() {
            do {
                var metadata = try await cluster.topicMetadata(topic)
                if !refreshed, remaining.contains(where: { $0.topic == topic && metadata.partition($0.partition) == nil }) {
                    refreshed = true
                    metadata = try await cluster.refreshMetadata().topic(topic) ?? metadata
                }
                for partition in remaining where partition.topic == topic && metadata.partition(partition.partition) == nil {
                    results[partition] = .failure(KafkaError(
                        .unknownTopicOrPartition, "topic \(topic) has no partition \(partition.partition) (it has \(metadata.partitionCount))", kafkaCode: 3))
                    remaining.remove(partition)
                }
            } catch {
                for partition in remaining where partition.topic == topic {
                    results[partition] = .failure(ClusterManager.asKafkaError(error))
                    remaining.remove(partition)
                }
            }
        }
        let deadline = ContinuousClock.now + timeout
        let requestTimeout = configuration.connection.requestTimeout
        try await roundsByLeader(
            &remaining, until: deadline,
            noLeader: { partition, error in
                results[partition] = .failure(error)
                return !error.isRetriable
            },
            ask: { client, leaderID, partitions -> Result<DeleteRecordsResponse, any Error> in
                do {
                    let connection = try await client.cluster.connection(toBroker: leaderID)
                    guard connection.negotiatedVersion(for: DeleteRecordsRequest.self) != nil else {
                        throw KafkaError(.featureDisabled, "broker \(leaderID) offers no usable DeleteRecords version")
                    }
                    let byTopic = Dictionary(grouping: partitions, by: \.topic)
                    let request = DeleteRecordsRequest(
                        topics: byTopic.keys.sorted().map { topic in
                            .init(name: topic, partitions: byTopic[topic]!.map { .init(partitionIndex: $0.partition, offset: offsets[$0]!) })
                        },
                        timeoutMs: Self.milliseconds(max(deadline - .now, .seconds(1))))
                    return .success(try await connection.send(request, timeout: max(deadline - .now, .seconds(1)) + requestTimeout))
                } catch {
                    return .failure(error)
                }
            }
        ) { answer, partitions, remaining in
            let response: DeleteRecordsResponse
            switch answer {
            case .success(let answered): response = answered
            case .failure(let error as KafkaError) where error.isRetriable:
                for partition in partitions { results[partition] = .failure(error) }
                return
            case .failure(let error):
                for partition in partitions {
                    results[partition] = .failure(ClusterManager.asKafkaError(error))
                    remaining.remove(partition)
                }
                return
            }
            for topic in response.topics {
                for answer in topic.partitions {
                    let partition = KafkaTopicPartition(topic.name, answer.partitionIndex)
                    guard remaining.contains(partition) else { continue }
                    let code = answer.errorCode
                    if code == 0 {
                        results[partition] = .success(answer.lowWatermark)
                        remaining.remove(partition)
                    } else if cluster.requestRefreshIfStale(errorCode: code) && code != 3 {
                        results[partition] = .failure(KafkaError(
                            .leaderNotAvailable, "DeleteRecords for \(partition) failed with Kafka error code \(code)", kafkaCode: code, isRetriable: true))
                    } else {
                        results[partition] = .failure(Self.topicError(code, nil, topic: topic.name, operation: "delete records of") ?? KafkaError(.brokerError, "DeleteRecords for \(partition) failed", kafkaCode: code))
                        remaining.remove(partition)
                    }
                }
            }
        }
        for partition in remaining where results[partition] == nil {
            results[partition] = .failure(KafkaError(.leaderNotAvailable, "no leader for \(partition) within \(timeout)", isRetriable: true))
        }
        return results
    }

    /// The offset ``deleteRecords(before:timeout:)`` takes for "everything written so far" (the high watermark).
    public static let deleteAllRecords: Int64 = -1
}
