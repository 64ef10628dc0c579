import KafkaProtocol
import Logging
import Synchronization

/// Where a member's offset commits go: set by the membership protocol when it joins and whenever its
/// generation (classic) or member epoch (KIP-848) changes.
struct GroupCommitTarget: Sendable {
    var connection: KafkaConnection
    var memberID: String
    /// The classic generation, or the KIP-848 member epoch.
    var generationOrEpoch: Int32
}

/// The partitions one group member consumes: a ``ConsumerGroupPartitionWorker`` per partition, started and
/// stopped by the membership protocol (classic or KIP-848), all running as child tasks of ``runWorkers()``.
///
/// Stopping a partition lets its handler finish the current batch, commits what was processed (unless the
/// partition was lost), and only then returns, so the membership releases a partition after its commit.
final class ConsumerGroupPartitions: Sendable {
    let client: KafkaClient
    let configuration: KafkaConsumerGroupConfiguration
    /// nil: every batch goes to ``manualBatches``.
    let handler: (any KafkaConsumerGroupHandler)?
    let manualBatches: AsyncThrowingStream<KafkaConsumerGroupBatch, any Error>
    /// Partitions the user paused (``KafkaConsumerGroup/pause(_:)``).
    let paused = ConsumerGroupPausedPartitions()
    private let manualContinuation: AsyncThrowingStream<KafkaConsumerGroupBatch, any Error>.Continuation
    private let workers = Mutex<[KafkaTopicPartition: ConsumerGroupPartitionWorker]>([:])
    private let abandonedWorkers = Atomic<Bool>(false)
    private let commitTarget = Mutex<GroupCommitTarget?>(nil)
    /// Set when a commit found the coordinator gone (NOT_COORDINATOR and kin, or a failed connection): the next
    /// commit looks it up itself, since the membership loop may be waiting for that very commit (a revocation).
    private let coordinatorMoved = Atomic<Bool>(false)
    /// Set once the coordinator refused a commit's leader epoch (see ``commit(_:offset:leaderEpoch:as:)``): later
    /// commits go without one rather than be refused first every time.
    private let leaderEpochRefused = Atomic<Bool>(false)
    /// The committed offsets ``startOffsets(_:stop:)`` found with a leader epoch, and that epoch, taken by
    /// ``start(_:)`` when it starts the partition at that very offset: its first fetch carries the epoch, so a
    /// log cut short since the commit is detected (KIP-320). Keyed by offset too, so an entry left by an
    /// earlier lookup never lends its epoch to another start position.
    private let committedLeaderEpochs = Mutex<[KafkaTopicPartition: (offset: Int64, epoch: Int32)]>([:])
    private let lastMembership = Mutex<(memberID: String, generationOrEpoch: Int32)?>(nil)
    private let newWorkers: AsyncStream<ConsumerGroupPartitionWorker>
    private let newWorkersContinuation: AsyncStream<ConsumerGroupPartitionWorker>.Continuation
    private let fetches: GroupFetchCoalescer

    var logger: Logger { client.logger }
    var groupID: String { configuration.groupID }

    init(client: KafkaClient, configuration: KafkaConsumerGroupConfiguration, handler: (any KafkaConsumerGroupHandler)?) {
        self.client = client
        self.configuration = configuration
        self.handler = handler
        (manualBatches, manualContinuation) = AsyncThrowingStream.makeStream(of: KafkaConsumerGroupBatch.self)
        (newWorkers, newWorkersContinuation) = AsyncStream.makeStream(of: ConsumerGroupPartitionWorker.self)
        self.fetches = GroupFetchCoalescer(client: client, fetcherName: configuration.fetcher)
    }

    /// The partitions being consumed, sorted.
    var assigned: [KafkaTopicPartition] { workers.withLock { $0.keys.sorted() } }

    /// Hands a seek to the worker of `partition`; false when the member does not consume it now (or is
    /// stopping it).
    func seek(_ partition: KafkaTopicPartition, to offset: Int64) -> Bool {
        workers.withLock({ $0[partition] })?.seek(to: offset) ?? false
    }

    func setCommitTarget(_ target: GroupCommitTarget?) {
        commitTarget.withLock { $0 = target }
        if let target { lastMembership.withLock { $0 = (target.memberID, target.generationOrEpoch) } }
    }

    /// The member's identity for transactional offset commits. Between generations it is the last one known
    /// (never "no check"), so a member that was removed meanwhile is refused by the coordinator; before the
    /// first join, generation -1 and an empty member id.
    var groupMetadata: KafkaConsumerGroupMetadata {
        let last = lastMembership.withLock { $0 }
        return KafkaConsumerGroupMetadata(
            groupID: groupID, generationID: last?.generationOrEpoch ?? -1, memberID: last?.memberID ?? "",
            groupInstanceID: configuration.instanceID)
    }

    /// Runs the workers and their fetches until ``finish(failure:)`` and every worker has ended.
    func runWorkers() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.fetches.run() }
            for await worker in newWorkers {
                group.addTask { await worker.run(self) }
            }
        }
    }

    /// No more partitions will start (call after every worker stopped); ends ``manualBatches`` (with
    /// `failure`, if any).
    func finish(failure: KafkaError?) {
        newWorkersContinuation.finish()
        fetches.finish()
        manualContinuation.finish(throwing: failure)
    }

    /// Starts consuming each partition at its offset (the next offset to read).
    func start(_ offsets: [KafkaTopicPartition: Int64]) {
        if !offsets.isEmpty { client.metrics.recordRebalance(group: groupID) }
        let epochs = committedLeaderEpochs.withLock { epochs in
            defer { for partition in offsets.keys { epochs[partition] = nil } }
            return epochs
        }
        for (partition, offset) in offsets.sorted(by: { $0.key < $1.key }) {
            let committed = epochs[partition]
            let worker = ConsumerGroupPartitionWorker(
                partition: partition, startOffset: offset, startLeaderEpoch: committed?.offset == offset ? committed?.epoch : nil,
                options: configuration.options(for: partition.topic))
            let added = workers.withLock { workers -> Bool in
                guard workers[partition] == nil else { return false }
                workers[partition] = worker
                return true
            }
            guard added else { continue }
            if case .terminated = newWorkersContinuation.yield(worker) {
                _ = workers.withLock { $0.removeValue(forKey: partition) }
            }
        }
    }

    /// Stops the workers of `partitions` (all at once) and returns when they have ended, or, for a worker whose
    /// handler (or manual batch) is still busy after ``KafkaConsumerGroupConfiguration/rebalanceTimeout``, when
    /// it is abandoned: its partition is released without a commit (as a lost one), so a stuck handler cannot
    /// hold up the rebalance or the member's stop. Kafka's consumer gives up a member whose processing
    /// outlasts `max.poll.interval.ms` the same way. The abandoned handler is not interrupted; its worker
    /// ends, without committing, when it returns (or is cancelled).
    func stop(_ partitions: [KafkaTopicPartition], reason: KafkaPartitionStopReason, within limit: Duration? = nil) async {
        let stopping = workers.withLock { workers in partitions.compactMap { workers[$0] } }
        for worker in stopping { worker.requestStop(reason) }
        let deadline = ContinuousClock.now + (limit ?? configuration.rebalanceTimeout)
        for worker in stopping where !(await worker.finished.sleep(for: deadline - .now)) {
            worker.abandon()
            abandonedWorkers.store(true, ordering: .relaxed)
            logger.warning(
                "consumer group \(groupID): the handler of \(worker.partition) did not finish within the rebalance timeout (\(configuration.rebalanceTimeout)); the partition is released without a commit and its batch will be delivered again")
        }
        workers.withLock { workers in
            for worker in stopping where workers[worker.partition] === worker { workers[worker.partition] = nil }
        }
    }

    /// How long a revocation may wait for its handlers: the rebalance timeout, less the heartbeat interval (the
    /// coordinator's clock started up to one heartbeat before the member heard of the rebalance) and a second
    /// for the commit and the answer, so the member answers within the coordinator's deadline instead of being
    /// dropped from the group (classic) or fenced (KIP-848); never less than half the rebalance timeout.
    func revocationBudget(heartbeatInterval: Duration) -> Duration {
        Self.revocationBudget(rebalanceTimeout: configuration.rebalanceTimeout, heartbeatInterval: heartbeatInterval)
    }

    static func revocationBudget(rebalanceTimeout: Duration, heartbeatInterval: Duration) -> Duration {
        max(rebalanceTimeout - heartbeatInterval - .seconds(1), rebalanceTimeout / 2)
    }

    /// Whether a stopped worker was abandoned (see ``stop(_:reason:)``) and may still be running.
    var hasAbandonedWorkers: Bool { abandonedWorkers.load(ordering: .relaxed) }

    func stopAll(reason: KafkaPartitionStopReason) async {
        await stop(assigned, reason: reason)
    }

    // MARK: - Services for the workers

    /// Hands `batch` to the handler, or to ``manualBatches`` for manual topics. nil: the worker was stopped
    /// before the caller answered a manual batch.
    func process(_ batch: KafkaConsumerBatch, options: KafkaConsumerTopicOptions, worker: ConsumerGroupPartitionWorker) async -> Result<KafkaConsumerBatchResult, any Error>? {
        if let handler, options.mode == .auto {
            do {
                return .success(try await client.metrics.processConsumerBatch(batch, group: groupID) { try await handler.handle(batch) })
            } catch {
                return .failure(error)
            }
        }
        let decision = ConsumerBatchDecision()
        guard worker.setOutstanding(decision) else { return nil }
        defer { _ = worker.setOutstanding(nil) }
        if case .terminated = manualContinuation.yield(KafkaConsumerGroupBatch(batch, decision: decision)) { return nil }
        // A stopping partition waits for the answer to a batch the caller holds, as it waits for a handler;
        // ``stop(_:reason:)`` abandons it after the rebalance timeout (its records come again).
        return await decision.wait().map { .success($0) }
    }

    /// One fetch of `partition` from `offset` (merged with other partitions' fetches to the same broker).
    func fetch(
        _ partition: KafkaTopicPartition, offset: Int64, lastFetchedEpoch: Int32?, options: KafkaConsumerTopicOptions
    ) async -> Result<KafkaFetchedPartition, KafkaError> {
        await fetches.fetch(partition, offset: offset, lastFetchedEpoch: lastFetchedEpoch, options: options)
    }

    /// The offset the reset policy gives `partition` (earliest or latest), nil when the lookup failed.
    func resetOffset(_ partition: KafkaTopicPartition, options: KafkaConsumerTopicOptions) async -> Int64? {
        let spec: KafkaClient.OffsetSpec = options.offsetResetPolicy == .earliest ? .earliest : .latest
        let answers = try? await client.listOffsets(topic: partition.topic, partitions: [partition.partition], at: spec, isolation: options.isolationLevel)
        return answers?[partition.partition].map { max(0, $0.offset) }
    }

    /// The membership commits go under now; a stopping partition takes it once, so its final commit never
    /// lands under a later generation (after the partition may have another owner).
    var currentCommitTarget: GroupCommitTarget? { commitTarget.withLock { $0 } }

    /// Commits `offset` (the next offset to read, Kafka's convention) for `partition`, with the leader epoch of
    /// the record there when known (KIP-320); under `membership`, or the current one when nil. nil on success.
    func commit(
        _ partition: KafkaTopicPartition, offset: Int64, leaderEpoch: Int32? = nil, as membership: GroupCommitTarget? = nil
    ) async -> KafkaError? {
        guard var target = membership ?? commitTarget.withLock({ $0 }) else {
            return KafkaError(.offsetCommitFailed, "consumer group \(groupID): no coordinator to commit \(partition)@\(offset) to", isRetriable: true)
        }
        let key = CoordinatorCache.Key(type: .group, key: groupID)
        if coordinatorMoved.load(ordering: .relaxed), let fresh = try? await client.cluster.coordinatorConnection(for: key).0 {
            coordinatorMoved.store(false, ordering: .relaxed)
            target.connection = fresh
            commitTarget.withLock { current in
                if current?.memberID == target.memberID, current?.generationOrEpoch == target.generationOrEpoch { current?.connection = fresh }
            }
        }
        let version = min(target.connection.negotiatedVersion(for: OffsetCommitRequest.self) ?? 0, 9)
        let leaderEpoch = leaderEpochRefused.load(ordering: .relaxed) ? nil : leaderEpoch
        let request = Self.offsetCommitRequest(
            partition, offset: offset, leaderEpoch: leaderEpoch, memberID: target.memberID, generationOrEpoch: target.generationOrEpoch,
            configuration: configuration, version: version)
        do {
            let response = try await target.connection.send(request, version: version, timeout: .seconds(30))
            for topic in response.topics {
                for p in topic.partitions where p.errorCode != 0 {
                    // The epoch refused (see KafkaCommittedOffset.leaderEpochRefusedCodes): commit without it.
                    if KafkaCommittedOffset.leaderEpochRefusedCodes.contains(p.errorCode), let leaderEpoch, leaderEpoch >= 0, version >= 6 {
                        logger.debug("consumer group \(groupID): commit of \(partition)@\(offset) with leader epoch \(leaderEpoch) refused (\(p.errorCode)); committing without epochs from now on")
                        leaderEpochRefused.store(true, ordering: .relaxed)
                        return await commit(partition, offset: offset, leaderEpoch: nil, as: target)
                    }
                    // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR: look it up again.
                    if [14, 15, 16].contains(p.errorCode) { coordinatorGone(key) }
                    return KafkaError(
                        .offsetCommitFailed, "consumer group \(groupID): commit of \(partition)@\(offset) failed with Kafka error code \(p.errorCode)",
                        kafkaCode: p.errorCode, isRetriable: true)
                }
            }
            return nil
        } catch {
            coordinatorGone(key)
            return KafkaError(.offsetCommitFailed, "consumer group \(groupID): commit of \(partition)@\(offset) failed: \(error)", isRetriable: true, underlying: error)
        }
    }

    /// The OffsetCommit of one partition's position; the leader epoch goes out from v6 (KIP-320), the static
    /// instance id from v7.
    static func offsetCommitRequest(
        _ partition: KafkaTopicPartition, offset: Int64, leaderEpoch: Int32?, memberID: String, generationOrEpoch: Int32,
        configuration: KafkaConsumerGroupConfiguration, version: Int16
    ) -> OffsetCommitRequest {
        OffsetCommitRequest(
            groupId: configuration.groupID, generationIdOrMemberEpoch: generationOrEpoch, memberId: memberID,
            // v7+ (KIP-345); an older version cannot carry it, and the broker then knows no static members anyway.
            groupInstanceId: version >= 7 ? configuration.instanceID : nil,
            topics: [.init(name: partition.topic, partitions: [.init(
                partitionIndex: partition.partition, committedOffset: offset,
                committedLeaderEpoch: version >= 6 ? max(leaderEpoch ?? -1, -1) : -1)])])
    }

    private func coordinatorGone(_ key: CoordinatorCache.Key) {
        client.cluster.invalidateCoordinator(key)
        coordinatorMoved.store(true, ordering: .relaxed)
    }

    /// The OffsetFetch request for `partitions` at `version`. KIP-447: a read_committed member asks for stable
    /// offsets (v7+), so that it does not start before a transactional offset commit of the previous owner
    /// completes (the coordinator answers UNSTABLE_OFFSET_COMMIT until then, and the lookup is repeated).
    static func committedOffsetsRequest(
        _ partitions: [KafkaTopicPartition], configuration: KafkaConsumerGroupConfiguration, version: Int16
    ) -> OffsetFetchRequest {
        let requireStable = partitions.contains { configuration.options(for: $0.topic).isolationLevel == .readCommitted }
        return OffsetFetchRequest(
            groupId: configuration.groupID,
            topics: ConsumerGroupAssignment(partitions).byTopic.map { .init(name: $0.topic, partitionIndexes: $0.partitions) },
            requireStable: requireStable && version >= 7)
    }

    /// Committed offsets of `partitions` (read from the coordinator, retried until it answers or `stop`
    /// fires), or the reset policy's offset where none is committed
    /// (``ConsumerGroupPartitionWorker/unresolvedStartOffset`` when that lookup failed). nil when stopped first.
    func startOffsets(_ partitions: [KafkaTopicPartition], stop: GroupSignal) async -> [KafkaTopicPartition: Int64]? {
        var offsets: [KafkaTopicPartition: Int64] = [:]
        var epochs: [KafkaTopicPartition: Int32] = [:]
        let key = CoordinatorCache.Key(type: .group, key: groupID)
        fetchCommitted: while true {
            if stop.isFired || Task.isCancelled { return nil }
            do {
                // A stop ends the wait for a connection slot backing off (see ``ConsumerGroupRunner/findCoordinator()``).
                let cluster = client.cluster
                guard let coordinator = try await stop.unlessFired({ try await cluster.coordinatorConnection(for: key).0 }) else { return nil }
                let version = min(coordinator.negotiatedVersion(for: OffsetFetchRequest.self) ?? 0, 7)
                let request = Self.committedOffsetsRequest(partitions, configuration: configuration, version: version)
                let response = try await coordinator.send(request, version: version, timeout: .seconds(30))
                if response.errorCode != 0 {
                    _ = client.cluster.handleCoordinatorError(response.errorCode, for: key)
                    throw KafkaError(.brokerError, "OffsetFetch failed with Kafka error code \(response.errorCode)", kafkaCode: response.errorCode)
                }
                for topic in response.topics {
                    for p in topic.partitions {
                        // UNSTABLE_OFFSET_COMMIT (88): a transactional commit is pending; ask again.
                        if p.errorCode == 88 { throw KafkaError(.brokerError, "OffsetFetch: unstable offset commit", kafkaCode: 88) }
                        if p.errorCode == 0 && p.committedOffset >= 0 {
                            let partition = KafkaTopicPartition(topic.name, p.partitionIndex)
                            offsets[partition] = p.committedOffset
                            if p.committedLeaderEpoch >= 0 { epochs[partition] = p.committedLeaderEpoch }
                        }
                    }
                }
                break fetchCommitted
            } catch {
                logger.debug("consumer group \(groupID): OffsetFetch failed, retrying: \(error)")
                offsets = [:]
                epochs = [:]
                if await stop.sleep(for: .milliseconds(500)) { return nil }
            }
        }
        committedLeaderEpochs.withLock { known in
            for partition in partitions {
                known[partition] = epochs[partition].flatMap { epoch in offsets[partition].map { ($0, epoch) } }
            }
        }
        let missing = partitions.filter { offsets[$0] == nil }
        // One lookup per isolation level (a ListOffsets request carries one), each one request per leader for
        // all topics, the leaders asked at once: a member assigned many new topics starts after one round trip.
        let byIsolation = Dictionary(grouping: missing) { configuration.options(for: $0.topic).isolationLevel }
        for (isolation, lookedUp) in byIsolation.sorted(by: { $0.key.description < $1.key.description }) {
            let specs = Dictionary(lookedUp.map { partition -> (KafkaTopicPartition, KafkaClient.OffsetSpec) in
                (partition, configuration.options(for: partition.topic).offsetResetPolicy == .earliest ? .earliest : .latest)
            }, uniquingKeysWith: { first, _ in first })
            let answers = (try? await client.listOffsets(specs, isolation: isolation)) ?? [:]
            for partition in lookedUp {
                // A failed lookup is left to the worker, which repeats it before its first fetch.
                offsets[partition] = answers[partition].map { max(0, $0.offset) } ?? ConsumerGroupPartitionWorker.unresolvedStartOffset
            }
        }
        return offsets
    }
}
