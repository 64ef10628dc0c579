import KafkaProtocol
import Logging

/// The KIP-848 consumer group protocol: executes the actions of a ``ConsumerGroupHeartbeatStateMachine``
/// (ConsumerGroupHeartbeat at the broker's interval; the broker assigns partitions). A partition the
/// coordinator takes away is revoked (its worker commits, then stops) before the next heartbeat reports it
/// released; leaving sends member epoch -1 (-2 for a static member).
extension ConsumerGroupRunner {
    /// Kafka error codes that tell a member which never joined that the coordinator will not take it in a
    /// KIP-848 group, though it may take it in a classic one: GROUP_ID_NOT_FOUND (what Kafka's coordinator
    /// answers a first heartbeat for an existing classic group it does not upgrade: "not a consumer group"),
    /// INCONSISTENT_GROUP_PROTOCOL (other brokers' answer for the same), UNSUPPORTED_VERSION (the protocol is
    /// not enabled). At epoch 0 none of them can mean anything else.
    static let classicFallbackCodes: Set<Int16> = [69, 23, 35]

    /// Runs the KIP-848 membership. Returns true when the member should speak the classic protocol instead:
    /// `.automatic` chose KIP-848 from the coordinator's API versions, but the coordinator refused the first
    /// heartbeat with one of ``classicFallbackCodes`` (nothing was assigned yet).
    func runHeartbeatProtocol() async -> Bool {
        guard var connection = await findCoordinator() else { return false }
        // ConsumerGroupHeartbeat v1 (KIP-1082) lets the member choose its id; v0 gets it from the coordinator.
        let version = connection.negotiatedVersion(for: ConsumerGroupHeartbeatRequest.self) ?? 0
        // With a topic pattern, the member joins once the cluster's topics are matched.
        _ = await refreshPatternSubscription(joining: true)
        var machine = ConsumerGroupHeartbeatStateMachine(
            groupID: groupID, memberID: version >= 1 ? KafkaUUID.random().description : "", instanceID: configuration.instanceID,
            topics: subscribedTopics, rebalanceTimeoutMs: Int32(clamping: configuration.rebalanceTimeout.milliseconds))
        cluster.noteTopicsInUse(subscribedTopics)
        var pending = machine.start() + machine.coordinatorFound()
        pending.removeAll { $0 == .findCoordinator }
        var fallBackToClassic = false
        var everJoined = false
        // Starts (committed-offset lookups, retried until the coordinator answers) run beside the heartbeats:
        // a member that stops heartbeating for a session timeout is fenced and loses all its partitions.
        let starts = PendingPartitionStarts()
        await withDiscardingTaskGroup { group in
            defer {
                starts.cancelAll()
                group.cancelAll()
            }
            while !pending.isEmpty {
                if Task.isCancelled { return }
                let action = pending.removeFirst()
                switch action {
                case .findCoordinator:
                    guard let found = await findCoordinator() else {
                        if Task.isCancelled { return }
                        pending = machine.leave()
                        continue
                    }
                    connection = found
                    pending += machine.coordinatorFound()

                case .sendHeartbeat(let heartbeat):
                    // A connection whose SASL session ends soon (KIP-368) is swapped for a fresh one from the pool.
                    if connection.isDueForReplacement, let fresh = try? await cluster.coordinatorConnection(for: key).0 {
                        connection = fresh
                    }
                    pending += await sendHeartbeat(heartbeat, connection, &machine)
                    if machine.memberEpoch > 0 { everJoined = true }

                case .scheduleHeartbeat(let afterMs):
                    if await stopRequested.sleep(for: .milliseconds(Int64(afterMs))) {
                        if Task.isCancelled { return }
                        // Pending revocations still run (their partitions are no longer in the machine's owned list).
                        pending = pending.filter { if case .revoke = $0 { return true } else { return false } } + machine.leave()
                    } else {
                        if Task.isCancelled { return }
                        if let topics = await refreshPatternSubscription() { machine.subscriptionChanged(to: topics) }
                        pending += machine.heartbeatDue()
                    }

                case .revoke(let revoked, let reason):
                    logger.debug("consumer group \(groupID): revoking \(revoked) (\(reason))")
                    starts.cancel(revoked)
                    // A lost partition's membership is gone already: nothing to keep alive.
                    let keepAlive = reason == .lost ? nil : (memberID: machine.memberID, epoch: machine.memberEpoch, intervalMs: machine.heartbeatIntervalMs)
                    await whileKeepingSessionAlive(keepAlive, connection) {
                        await partitions.stop(
                            revoked, reason: KafkaPartitionStopReason(reason),
                            within: reason == .revoked
                                ? partitions.revocationBudget(heartbeatInterval: .milliseconds(Int64(machine.heartbeatIntervalMs))) : nil)
                    }

                case .start(let added):
                    let token = starts.begin(added)
                    group.addTask { [self] in
                        let offsets = await partitions.startOffsets(added, stop: stopRequested)
                        starts.finish(token, offsets: offsets) { offsets in
                            logger.debug("consumer group \(groupID): starting \(offsets.keys.sorted()) at \(offsets)")
                            partitions.start(offsets)
                        }
                    }

                case .fail(let code) where configuration.groupProtocol == .automatic && !everJoined && Self.classicFallbackCodes.contains(code):
                    logger.info("consumer group \(groupID): the coordinator refused a KIP-848 member (Kafka error code \(code)); joining with the classic protocol")
                    starts.cancelAll()
                    fallBackToClassic = true
                    return

                case .fail(let code):
                    let error = KafkaError(
                        .consumerGroupFailed, "consumer group \(groupID) failed with Kafka error code \(code) in ConsumerGroupHeartbeat",
                        kafkaCode: code)
                    starts.cancelAll()
                    fail(error)
                    await partitions.stopAll(reason: .failure(error))
                    return
                }
            }
        }
        partitions.setCommitTarget(nil)
        return fallBackToClassic
    }

    /// Runs `body` (a revocation: handlers finish, final commits) while sending heartbeats that change nothing
    /// (member id and epoch only; every other field null means "unchanged"), so the member's session does not
    /// lapse while a slow handler finishes, as Kafka's Java consumer keeps heartbeating while it reconciles.
    /// The revoked partitions are still reported as owned until the heartbeat after `body`, so the coordinator
    /// hands them over only after their commits. Answers are not fed to the machine (the coordinator keeps the
    /// epoch until the revocation is reported); the keep-alives stop at the first error, which the next
    /// regular heartbeat learns too. nil `member`: no keep-alives.
    private func whileKeepingSessionAlive<T: Sendable>(
        _ member: (memberID: String, epoch: Int32, intervalMs: Int32)?, _ connection: KafkaConnection, _ body: () async -> T
    ) async -> T {
        guard let member, member.epoch > 0, !member.memberID.isEmpty else { return await body() }
        let interval = Duration.milliseconds(Int64(max(member.intervalMs, 100)))
        return await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                while (try? await Task.sleep(for: interval)) != nil {
                    let request = ConsumerGroupHeartbeatRequest(groupId: groupID, memberId: member.memberID, memberEpoch: member.epoch)
                    // A keep-alive slower than its interval is no use; bounded so the revocation is not held up.
                    let answer = try? await connection.send(request, timeout: max(interval, .seconds(1)))
                    guard let answer, answer.errorCode == 0 else {
                        logger.debug("consumer group \(groupID): keep-alive ConsumerGroupHeartbeat stopped (error \(answer?.errorCode ?? -1))")
                        return
                    }
                }
            }
            let result = await body()
            group.cancelAll()
            return result
        }
    }

    /// Sends one heartbeat and feeds the answer to the machine.
    private func sendHeartbeat(
        _ heartbeat: ConsumerGroupHeartbeatStateMachine.Heartbeat, _ connection: KafkaConnection,
        _ machine: inout ConsumerGroupHeartbeatStateMachine
    ) async -> [ConsumerGroupHeartbeatStateMachine.Action] {
        var owned: [ConsumerGroupHeartbeatRequest.TopicPartitions]?
        if let partitionsOwned = heartbeat.ownedPartitions {
            owned = await topicIDs(for: partitionsOwned)
        }
        let request = ConsumerGroupHeartbeatRequest(
            groupId: groupID, memberId: heartbeat.memberID, memberEpoch: heartbeat.memberEpoch, instanceId: heartbeat.instanceID,
            rebalanceTimeoutMs: heartbeat.rebalanceTimeoutMs, subscribedTopicNames: heartbeat.subscribedTopics,
            // With the names, an empty regex ("no pattern"), as librdkafka sends: its mock cluster asserts both or neither.
            subscribedTopicRegex: heartbeat.subscribedTopics == nil ? nil : "", topicPartitions: owned)
        let response: ConsumerGroupHeartbeatResponse
        do {
            response = try await connection.send(request, timeout: configuration.rebalanceTimeout)
        } catch let error as KafkaError where error.code == .unsupportedByBroker {
            logger.error("consumer group \(groupID): the coordinator does not support ConsumerGroupHeartbeat: \(error.message)")
            return machine.heartbeatResponse(errorCode: 35, memberID: nil, memberEpoch: 0, heartbeatIntervalMs: 0, assignment: nil)
        } catch {
            logger.debug("consumer group \(groupID): ConsumerGroupHeartbeat failed: \(error)")
            cluster.invalidateCoordinator(key)
            if machine.state != .leaving { await stopRequested.sleep(for: Self.coordinatorRetryBackoff) }
            return machine.coordinatorUnreachable()
        }
        if response.errorCode != 0 {
            logger.debug("consumer group \(groupID): ConsumerGroupHeartbeat answered error \(response.errorCode) \(response.errorMessage ?? "")")
            if machine.state == .leaving {
                cluster.handleCoordinatorError(response.errorCode, for: key)
            } else {
                await coordinatorAnswered(response.errorCode)
            }
        }
        var assignment: [KafkaTopicPartition]?
        var assignmentIncomplete = false
        if let assigned = response.assignment, response.errorCode == 0 {
            (assignment, assignmentIncomplete) = await topicNames(for: assigned.topicPartitions)
        }
        let actions = machine.heartbeatResponse(
            errorCode: response.errorCode, memberID: response.memberId, memberEpoch: response.memberEpoch,
            heartbeatIntervalMs: response.heartbeatIntervalMs, assignment: assignment, assignmentIncomplete: assignmentIncomplete)
        if response.errorCode == 0, machine.state == .idle {
            // Commits (also those of partitions being revoked now) carry the new epoch.
            partitions.setCommitTarget(GroupCommitTarget(connection: connection, memberID: machine.memberID, generationOrEpoch: machine.memberEpoch))
        }
        return actions
    }

    /// The wire form of owned partitions (topic ids from the metadata, refreshed when one is unknown).
    private func topicIDs(for owned: [KafkaTopicPartition]) async -> [ConsumerGroupHeartbeatRequest.TopicPartitions] {
        let byTopic = ConsumerGroupAssignment(owned).byTopic
        var metadata = cluster.metadata
        if byTopic.contains(where: { metadata.topic($0.topic)?.topicID == nil }) {
            metadata = (try? await cluster.refreshMetadata()) ?? metadata
        }
        return byTopic.compactMap { entry in
            guard let id = metadata.topic(entry.topic)?.topicID else {
                logger.warning("consumer group \(groupID): no topic id known for \(entry.topic); its partitions are not reported as owned")
                return nil
            }
            return .init(topicId: id, partitions: entry.partitions)
        }
    }

    /// Topic names of an assignment (the metadata is refreshed when an id is unknown; partitions of ids still
    /// unknown are left out, and `incomplete` says so: the machine asks for the assignment again).
    private func topicNames(for assigned: [ConsumerGroupHeartbeatResponse.TopicPartitions]) async -> (partitions: [KafkaTopicPartition], incomplete: Bool) {
        var metadata = cluster.metadata
        if assigned.contains(where: { metadata.topicNamesByID[$0.topicId] == nil }) {
            metadata = (try? await cluster.refreshMetadata()) ?? metadata
        }
        var result: [KafkaTopicPartition] = []
        var incomplete = false
        for entry in assigned {
            guard let name = metadata.topicNamesByID[entry.topicId] else {
                logger.info("consumer group \(groupID): assigned partitions of topic id \(entry.topicId) wait until the metadata knows it")
                incomplete = true
                continue
            }
            result += entry.partitions.map { KafkaTopicPartition(name, $0) }
        }
        return (result.sorted(), incomplete)
    }
}
