import KafkaProtocol
import Logging
import NIOCore
import Synchronization

/// Runs one classic-protocol group member inside the client's task group: executes the actions of a
/// ``ClassicGroupMemberStateMachine``, and while the member is stable, fetches its partitions, hands batches to
/// the handler and commits, with heartbeats running beside. A graceful stop revokes and leaves the group.
final class ClassicConsumerGroupRunner: KafkaClientComponent {
    typealias Handler = @Sendable (KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult

    let client: KafkaClient
    let configuration: KafkaConsumerGroupConfiguration
    let handler: Handler
    private let key: CoordinatorCache.Key
    /// Set by stop(); `stopWaiters` are stable phases waiting to hear about it.
    private let stopState = Mutex<(stopped: Bool, waiters: [Int: CheckedContinuation<Void, Never>], next: Int)>((false, [:], 0))
    /// Whether run() has ended, and who waits for it.
    private let finished = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    /// Partitions this member consumes now, for ``assignedPartitions``.
    private let assigned = Mutex<[TopicPartitionKey]>([])

    private var logger: Logger { client.logger }
    private var cluster: ClusterManager { client.cluster }

    init(client: KafkaClient, configuration: KafkaConsumerGroupConfiguration, handler: @escaping Handler) {
        self.client = client
        self.configuration = configuration
        self.handler = handler
        self.key = CoordinatorCache.Key(type: .group, key: configuration.groupID)
    }

    var assignedPartitions: [KafkaTopicPartition] {
        assigned.withLock { $0.map { KafkaTopicPartition(topic: $0.topic, partition: $0.partition) } }
    }

    /// Asks the member to leave; returns when it has.
    func stop() async {
        let waiters = stopState.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.stopped = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
        await withCheckedContinuation { continuation in
            let done = finished.withLock { state -> Bool in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }

    private func markFinished() {
        let waiters = finished.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func shutdownGracefully() async {
        await stop()
    }

    private var isStopped: Bool { stopState.withLock { $0.stopped } }

    /// Returns when stop() is called or the task is cancelled.
    private func waitForStop() async {
        let id = stopState.withLock { state -> Int in
            state.next += 1
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = stopState.withLock { state -> Bool in
                    if state.stopped || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = stopState.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    // MARK: - Membership loop

    private struct Member {
        var machine: ClassicGroupMemberStateMachine
        var connection: KafkaConnection?
        var generation: Int32 = -1
        /// The next offset of each assigned partition.
        var positions: [TopicPartitionKey: Int64] = [:]
        var attempts: [TopicPartitionKey: Int] = [:]
    }

    func run() async throws {
        defer { markFinished() }
        let cooperative = configuration.assignors.first?.implementation.isCooperative ?? false
        var member = Member(machine: ClassicGroupMemberStateMachine(groupID: configuration.groupID, isCooperative: cooperative))
        var pending = member.machine.start()
        while !pending.isEmpty {
            if isStopped, member.machine.state != .leaving, member.machine.state != .stopped {
                pending = member.machine.leave()
                if pending.isEmpty { break }
            }
            let action = pending.removeFirst()
            do {
                pending += try await perform(action, &member)
            } catch is CancellationError {
                return
            } catch let error as KafkaError where error.code == .invalidArgument {
                logger.error("consumer group \(configuration.groupID) failed: \(error)")
                return
            }
        }
    }

    private func perform(_ action: ClassicGroupMemberStateMachine.Action, _ member: inout Member) async throws -> [ClassicGroupMemberStateMachine.Action] {
        switch action {
        case .findCoordinator:
            do {
                member.connection = try await cluster.coordinatorConnection(for: key).0
                return member.machine.coordinatorFound()
            } catch {
                logger.debug("group \(configuration.groupID): coordinator lookup failed: \(error)")
                cluster.invalidateCoordinator(key)
                try await backoff()
                return [.findCoordinator]
            }

        case .sendJoinGroup(let memberID, let owned):
            let protocols = try configuration.assignors.map { assignor in
                JoinGroupRequest.JoinGroupRequestProtocol(
                    name: assignor.rawValue,
                    metadata: try ConsumerProtocolPayloads.encodeSubscription(topics: configuration.topics, owned: owned, generation: member.generation))
            }
            let request = JoinGroupRequest(
                groupId: configuration.groupID, sessionTimeoutMs: Int32(configuration.sessionTimeout.milliseconds),
                rebalanceTimeoutMs: Int32(configuration.rebalanceTimeout.milliseconds), memberId: memberID,
                groupInstanceId: configuration.instanceID, protocolType: "consumer", protocols: protocols)
            guard let response = try await coordinatorRequest(request, member, timeout: configuration.rebalanceTimeout + .seconds(5)) else {
                return member.machine.coordinatorUnreachable()
            }
            let members = try response.members.map {
                try ConsumerProtocolPayloads.decodeMember(memberID: $0.memberId, instanceID: $0.groupInstanceId, metadata: $0.metadata)
            }
            if response.errorCode == 0 { member.generation = response.generationId }
            return member.machine.joinGroupResponse(
                errorCode: response.errorCode, generation: response.generationId, protocolName: response.protocolName,
                leader: response.leader, memberID: response.memberId, members: members)

        case .assignAndSync(let generation, let protocolName, let members):
            let assignor = KafkaConsumerGroupConfiguration.Assignor(rawValue: protocolName)?.implementation ?? RangeAssignor()
            let counts = try await partitionCounts(Set(members.flatMap(\.topics)))
            let result = assignor.assign(members: members, partitionCounts: counts)
            let assignments = try result.map { memberID, assignment in
                SyncGroupRequest.SyncGroupRequestAssignment(memberId: memberID, assignment: try ConsumerProtocolPayloads.encodeAssignment(assignment))
            }
            return try await sync(generation: generation, protocolName: protocolName, assignments: assignments, &member)

        case .sendSyncGroup(let generation):
            return try await sync(generation: generation, protocolName: nil, assignments: [], &member)

        case .revoke(let partitions, let reason):
            for p in partitions {
                member.positions[p] = nil
                member.attempts[p] = nil
            }
            assigned.withLock { owned in owned.removeAll { partitions.contains($0) } }
            logger.debug("group \(configuration.groupID): revoked \(partitions) (\(reason))")
            return []

        case .start(let partitions):
            let offsets = try await startOffsets(partitions, member)
            for p in partitions { member.positions[p] = offsets[p] }
            assigned.withLock { $0 = member.positions.keys.sorted() }
            logger.debug("group \(configuration.groupID): started \(partitions) at \(offsets)")
            return []

        case .sendHeartbeat(let generation, let memberID):
            let outcome = await consume(generation: generation, memberID: memberID, &member)
            switch outcome {
            case .heartbeatError(let code): return member.machine.heartbeatResponse(errorCode: code)
            case .coordinatorLost: return member.machine.coordinatorUnreachable()
            case .stop: return member.machine.leave()
            }

        case .sendLeaveGroup(let memberID):
            // v0-2 name one member; v3+ (KIP-345) a list of members instead.
            let version = member.connection?.negotiatedVersion(for: LeaveGroupRequest.self) ?? 0
            let request =
                version >= 3
                ? LeaveGroupRequest(groupId: configuration.groupID, members: [.init(memberId: memberID, groupInstanceId: configuration.instanceID)])
                : LeaveGroupRequest(groupId: configuration.groupID, memberId: memberID)
            _ = try? await coordinatorRequest(request, member, timeout: .seconds(5))
            return member.machine.leaveGroupResponse()

        case .fail(let code):
            logger.error("consumer group \(configuration.groupID) stopped: Kafka error code \(code)")
            return []
        }
    }

    private func sync(
        generation: Int32, protocolName: String?, assignments: [SyncGroupRequest.SyncGroupRequestAssignment], _ member: inout Member
    ) async throws -> [ClassicGroupMemberStateMachine.Action] {
        let request = SyncGroupRequest(
            groupId: configuration.groupID, generationId: generation, memberId: member.machine.memberID,
            groupInstanceId: configuration.instanceID, protocolType: "consumer", protocolName: protocolName, assignments: assignments)
        guard let response = try await coordinatorRequest(request, member, timeout: configuration.rebalanceTimeout + .seconds(5)) else {
            return member.machine.coordinatorUnreachable()
        }
        let assignment = response.errorCode == 0 ? try ConsumerProtocolPayloads.decodeAssignment(response.assignment) : []
        return member.machine.syncGroupResponse(errorCode: response.errorCode, assignment: assignment)
    }

    /// Sends to the coordinator; nil when the coordinator could not be reached (its cache entry is dropped).
    private func coordinatorRequest<R: KafkaRequestMessage>(_ request: R, _ member: Member, timeout: Duration) async throws -> R.Response? {
        guard let connection = member.connection else { return nil }
        do {
            return try await connection.send(request, timeout: timeout)
        } catch let error as KafkaError where error.code == .unsupportedByBroker {
            throw KafkaError(.invalidArgument, "the group coordinator does not support \(R.self): \(error.message)")
        } catch {
            logger.debug("group \(configuration.groupID): \(R.self) failed: \(error)")
            cluster.invalidateCoordinator(key)
            return nil
        }
    }

    private func partitionCounts(_ topics: Set<String>) async throws -> [String: Int32] {
        cluster.noteTopicsInUse(topics)
        var metadata = cluster.metadata
        if topics.contains(where: { metadata.topic($0) == nil }) { metadata = (try? await cluster.refreshMetadata()) ?? metadata }
        var counts: [String: Int32] = [:]
        for topic in topics { if let n = metadata.partitionCount(of: topic) { counts[topic] = n } }
        return counts
    }

    /// Committed offsets of `partitions`, or the reset policy's offset where none is committed.
    private func startOffsets(_ partitions: [TopicPartitionKey], _ member: Member) async throws -> [TopicPartitionKey: Int64] {
        var offsets: [TopicPartitionKey: Int64] = [:]
        let byTopic = ConsumerGroupAssignment(partitions).byTopic
        if let connection = member.connection {
            let request = OffsetFetchRequest(
                groupId: configuration.groupID,
                topics: byTopic.map { .init(name: $0.topic, partitionIndexes: $0.partitions) })
            let version = min(connection.negotiatedVersion(for: OffsetFetchRequest.self) ?? 0, 7)
            if let response = try? await connection.send(request, version: version, timeout: .seconds(30)) {
                for topic in response.topics {
                    for p in topic.partitions where p.errorCode == 0 && p.committedOffset >= 0 {
                        offsets[TopicPartitionKey(topic.name, p.partitionIndex)] = p.committedOffset
                    }
                }
            }
        }
        let missing = partitions.filter { offsets[$0] == nil }
        for (topic, indexes) in ConsumerGroupAssignment(missing).byTopic {
            let spec: KafkaClient.OffsetSpec = configuration.offsetResetPolicy == .earliest ? .earliest : .latest
            let answers = (try? await client.listOffsets(topic: topic, partitions: indexes, at: spec, isolation: configuration.isolationLevel)) ?? [:]
            for index in indexes { offsets[TopicPartitionKey(topic, index)] = max(0, answers[index]?.offset ?? 0) }
        }
        return offsets
    }

    private func backoff() async throws {
        try await Task.sleep(for: .milliseconds(500))
    }

    // MARK: - Stable phase

    private enum StableOutcome: Sendable {
        case heartbeatError(Int16)
        case coordinatorLost
        case stop
    }

    private enum StableTask: Sendable {
        case ended(StableOutcome)
        case consumed([TopicPartitionKey: Int64], [TopicPartitionKey: Int])
    }

    /// Consumes while heartbeats succeed; returns what ended the stable phase.
    private func consume(generation: Int32, memberID: String, _ member: inout Member) async -> StableOutcome {
        guard let connection = member.connection else { return .coordinatorLost }
        let positions = member.positions
        let attempts = member.attempts
        return await withTaskGroup(of: StableTask.self) { group in
            group.addTask { .ended(await self.heartbeatLoop(connection, generation: generation, memberID: memberID)) }
            group.addTask {
                await self.waitForStop()
                return .ended(.stop)
            }
            group.addTask {
                let (p, a) = await self.fetchLoop(connection, generation: generation, memberID: memberID, positions: positions, attempts: attempts)
                return .consumed(p, a)
            }
            var outcome: StableOutcome = .stop
            if isStopped { outcome = .stop } else if case .ended(let first)? = await group.next() { outcome = first }
            group.cancelAll()
            while let result = await group.next() {
                if case .consumed(let p, let a) = result {
                    member.positions = p
                    member.attempts = a
                }
            }
            return outcome
        }
    }

    private func heartbeatLoop(_ connection: KafkaConnection, generation: Int32, memberID: String) async -> StableOutcome {
        while true {
            do {
                try await Task.sleep(for: configuration.heartbeatInterval)
            } catch {
                return .stop
            }
            let request = HeartbeatRequest(
                groupId: configuration.groupID, generationId: generation, memberId: memberID, groupInstanceId: configuration.instanceID)
            do {
                let response = try await connection.send(request, timeout: configuration.sessionTimeout)
                if response.errorCode != 0 { return .heartbeatError(response.errorCode) }
            } catch {
                if Task.isCancelled { return .stop }
                cluster.invalidateCoordinator(key)
                return .coordinatorLost
            }
        }
    }

    private func fetchLoop(
        _ connection: KafkaConnection, generation: Int32, memberID: String,
        positions start: [TopicPartitionKey: Int64], attempts start2: [TopicPartitionKey: Int]
    ) async -> ([TopicPartitionKey: Int64], [TopicPartitionKey: Int]) {
        var positions = start
        var attempts = start2
        let options = KafkaFetchOptions(fetcher: configuration.fetcher, isolationLevel: configuration.isolationLevel, maxBytes: configuration.fetchMaxBytes)
        while !Task.isCancelled && !positions.isEmpty {
            let requested = positions.sorted { $0.key < $1.key }.map { KafkaFetchPosition(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
            let results = await client.fetchPartitions(requested, options: options)
            var delivered = false
            for position in requested {
                guard !Task.isCancelled else { break }
                let key = TopicPartitionKey(position.topic, position.partition)
                switch results[position] {
                case .success(let fetched)?:
                    guard !fetched.records.isEmpty else {
                        positions[key] = max(position.offset, fetched.nextOffset)
                        continue
                    }
                    delivered = true
                    var records = fetched.records
                    let tries = attempts[key] ?? 0
                    if tries > 0 { for i in records.indices { records[i].consumerAttempts = tries } }
                    let answer: KafkaConsumerBatchResult
                    do {
                        answer = try await handler(KafkaConsumerBatch(topic: position.topic, partition: position.partition, records: records))
                    } catch {
                        logger.warning("group \(configuration.groupID): handler failed for \(key), retrying the batch: \(error)")
                        answer = .retry
                    }
                    switch answer {
                    case .commit:
                        let next = fetched.nextOffset
                        await commit(connection, generation: generation, memberID: memberID, key, offset: next)
                        positions[key] = next
                        attempts[key] = nil
                    case .retry:
                        attempts[key] = tries + 1
                    }
                case .failure(let error)?:
                    if error.code == .offsetOutOfRange {
                        let spec: KafkaClient.OffsetSpec = configuration.offsetResetPolicy == .earliest ? .earliest : .latest
                        if let answer = try? await client.listOffsets(topic: key.topic, partitions: [key.partition], at: spec)[key.partition] {
                            positions[key] = max(0, answer.offset)
                        }
                    } else {
                        logger.debug("group \(configuration.groupID): fetch of \(position) failed: \(error)")
                    }
                case nil:
                    break
                }
            }
            if !delivered {
                // Nothing new: a short pause instead of a tight loop (the fetcher's maxWait may be 0).
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        return (positions, attempts)
    }

    /// Commits `offset` (the next offset to read, Kafka's convention) for `partition`. Failures are logged:
    /// the records stay uncommitted and may be delivered again after a rebalance (at least once).
    private func commit(_ connection: KafkaConnection, generation: Int32, memberID: String, _ partition: TopicPartitionKey, offset: Int64) async {
        let request = OffsetCommitRequest(
            groupId: configuration.groupID, generationIdOrMemberEpoch: generation, memberId: memberID,
            groupInstanceId: configuration.instanceID,
            topics: [.init(name: partition.topic, partitions: [.init(partitionIndex: partition.partition, committedOffset: offset)])])
        do {
            let version = min(connection.negotiatedVersion(for: OffsetCommitRequest.self) ?? 0, 9)
            let response = try await connection.send(request, version: version, timeout: .seconds(30))
            for topic in response.topics {
                for p in topic.partitions where p.errorCode != 0 {
                    logger.debug("group \(configuration.groupID): commit of \(partition)@\(offset) failed with Kafka error code \(p.errorCode)")
                }
            }
        } catch {
            logger.debug("group \(configuration.groupID): commit of \(partition)@\(offset) failed: \(error)")
        }
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
