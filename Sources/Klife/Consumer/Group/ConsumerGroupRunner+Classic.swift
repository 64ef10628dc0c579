import KafkaProtocol
import Logging

/// The classic group protocol: executes the actions of a ``ClassicGroupMemberStateMachine`` (JoinGroup,
/// SyncGroup with the leader's assignment, Heartbeat, LeaveGroup) and starts and stops partition workers.
extension ConsumerGroupRunner {
    private struct ClassicMember {
        var machine: ClassicGroupMemberStateMachine
        var connection: KafkaConnection?
        var generation: Int32 = -1
        /// As the leader: the partition counts the current assignment was made from, by subscribed topic (a
        /// topic that did not exist is absent). nil when another member leads.
        var assignedPartitionCounts: [String: Int32]?
        /// As the leader: every topic a member subscribed to.
        var subscribedTopics: Set<String> = []
    }

    func runClassicProtocol() async {
        let cooperative = configuration.rebalancesCooperatively
        var member = ClassicMember(machine: ClassicGroupMemberStateMachine(groupID: groupID, isCooperative: cooperative))
        var pending = member.machine.start()
        while !pending.isEmpty {
            if Task.isCancelled { return }
            if stopRequested.isFired, member.machine.state != .leaving, member.machine.state != .stopped {
                // Pending revocations still run (their partitions are no longer in the machine's owned list).
                pending = pending.filter { if case .revoke = $0 { return true } else { return false } } + member.machine.leave()
                if pending.isEmpty { break }
            }
            let action = pending.removeFirst()
            do {
                pending += try await performClassic(action, &member)
            } catch is CancellationError {
                return
            } catch let error as KafkaError {
                fail(error)
                await partitions.stopAll(reason: .failure(error))
                return
            } catch {
                let failure = KafkaError(.consumerGroupFailed, "consumer group \(groupID) failed: \(error)", underlying: error)
                fail(failure)
                await partitions.stopAll(reason: .failure(failure))
                return
            }
        }
        partitions.setCommitTarget(nil)
    }

    private func performClassic(_ action: ClassicGroupMemberStateMachine.Action, _ member: inout ClassicMember) async throws -> [ClassicGroupMemberStateMachine.Action] {
        switch action {
        case .findCoordinator:
            guard let connection = await findCoordinator() else {
                if Task.isCancelled { throw CancellationError() }
                return member.machine.leave()
            }
            member.connection = connection
            return member.machine.coordinatorFound()

        case .sendJoinGroup(let memberID, let owned):
            // With a topic pattern, the cluster's topics are matched (again, unless just now) before each join.
            _ = await refreshPatternSubscription(joining: true)
            let topics = subscribedTopics
            let protocols = try configuration.assignors.map { assignor in
                JoinGroupRequest.JoinGroupRequestProtocol(
                    name: assignor.rawValue,
                    metadata: try ConsumerProtocolPayloads.encodeSubscription(topics: topics, owned: owned, generation: member.generation))
            }
            let request = JoinGroupRequest(
                groupId: groupID, sessionTimeoutMs: Int32(clamping: configuration.sessionTimeout.milliseconds),
                rebalanceTimeoutMs: Int32(clamping: configuration.rebalanceTimeout.milliseconds), memberId: memberID,
                groupInstanceId: configuration.instanceID, protocolType: "consumer", protocols: protocols)
            let version = Self.classicVersion(JoinGroupRequest.self, member.connection)
            guard let response = try await coordinatorRequest(request, member, version: version, timeout: configuration.rebalanceTimeout + .seconds(5)) else {
                return member.machine.coordinatorUnreachable()
            }
            let members = try response.members.map {
                try ConsumerProtocolPayloads.decodeMember(memberID: $0.memberId, instanceID: $0.groupInstanceId, metadata: $0.metadata)
            }
            logger.debug("consumer group \(groupID): JoinGroup answered error \(response.errorCode), generation \(response.generationId), \(response.members.count) members, leader \(response.leader == response.memberId ? "me" : response.leader)")
            if response.errorCode == 0 {
                member.generation = response.generationId
                member.assignedPartitionCounts = nil
            }
            await coordinatorAnswered(response.errorCode)
            return member.machine.joinGroupResponse(
                errorCode: response.errorCode, generation: response.generationId, protocolName: response.protocolName,
                leader: response.leader, memberID: response.memberId, members: members)

        case .assignAndSync(let generation, let protocolName, let members):
            let assignor = KafkaConsumerGroupConfiguration.Assignor(rawValue: protocolName)?.implementation ?? RangeAssignor()
            let subscribed = Set(members.flatMap(\.topics))
            let counts = await partitionCounts(subscribed)
            member.subscribedTopics = subscribed
            member.assignedPartitionCounts = counts
            let result = assignor.assign(members: members, partitionCounts: counts)
            let assignments = try result.map { memberID, assignment in
                SyncGroupRequest.SyncGroupRequestAssignment(memberId: memberID, assignment: try ConsumerProtocolPayloads.encodeAssignment(assignment))
            }
            return try await sync(generation: generation, protocolName: protocolName, assignments: assignments, &member)

        case .sendSyncGroup(let generation):
            return try await sync(generation: generation, protocolName: nil, assignments: [], &member)

        case .revoke(let revoked, let reason):
            logger.debug("consumer group \(groupID): revoking \(revoked) (\(reason))")
            // A lost partition's member is gone already: nothing to keep alive.
            await whileHeartbeating(reason == .lost ? nil : member) {
                await partitions.stop(
                    revoked, reason: KafkaPartitionStopReason(reason),
                    within: reason == .revoked ? partitions.revocationBudget(heartbeatInterval: configuration.heartbeatInterval) : nil)
            }
            return []

        case .start(let added):
            if let connection = member.connection {
                partitions.setCommitTarget(GroupCommitTarget(connection: connection, memberID: member.machine.memberID, generationOrEpoch: member.generation))
            }
            switch await startOffsetsWhileHeartbeating(added, member) {
            case .found(let offsets):
                logger.debug("consumer group \(groupID): starting \(added) at \(offsets)")
                partitions.start(offsets)
                return member.machine.partitionsStarted()
            case .stopped:
                if Task.isCancelled { throw CancellationError() }
                return member.machine.leave()
            case .heartbeatError(let code):
                logger.info("consumer group \(groupID): a heartbeat answered Kafka error code \(code) while the start offsets of \(added) were looked up; leaving them unstarted")
                return member.machine.startAbandoned(added, heartbeatErrorCode: code)
            }

        case .sendHeartbeat(let generation, let memberID):
            guard let connection = member.connection else { return member.machine.coordinatorUnreachable() }
            partitions.setCommitTarget(GroupCommitTarget(connection: connection, memberID: memberID, generationOrEpoch: generation))
            let assigned = member.assignedPartitionCounts.map { (counts: $0, topics: member.subscribedTopics) }
            switch await classicHeartbeats(connection, generation: generation, memberID: memberID, assigned: assigned) {
            case .heartbeatError(let code): return member.machine.heartbeatResponse(errorCode: code)
            case .subscribedPartitionsChanged(let now):
                logger.info("consumer group \(groupID): the subscribed topics' partitions changed (\(assigned?.counts ?? [:]) -> \(now)); rejoining so they are assigned")
                return member.machine.subscribedPartitionsChanged()
            case .subscriptionChanged:
                // The JoinGroup carries the new subscription; the leader assigns its topics.
                return member.machine.subscriptionChanged(to: Set(subscribedTopics))
            case .coordinatorLost: return member.machine.coordinatorUnreachable()
            case .stop:
                if Task.isCancelled { throw CancellationError() }
                return member.machine.leave()
            }

        case .sendLeaveGroup(let memberID):
            // A static member does not leave (as Kafka's own consumer): its instance id keeps its partitions
            // for a restart within the session timeout.
            if configuration.instanceID == nil {
                // v0-2 name one member; v3+ (KIP-345) a list of members instead.
                let version = Self.classicVersion(LeaveGroupRequest.self, member.connection)
                let request =
                    version >= 3
                    ? LeaveGroupRequest(groupId: groupID, members: [.init(memberId: memberID)])
                    : LeaveGroupRequest(groupId: groupID, memberId: memberID)
                _ = try? await coordinatorRequest(request, member, version: version, timeout: .seconds(5))
            }
            return member.machine.leaveGroupResponse()

        case .fail(let code):
            throw KafkaError(.consumerGroupFailed, "consumer group \(groupID) failed with Kafka error code \(code)", kafkaCode: code)
        }
    }

    private func sync(
        generation: Int32, protocolName: String?, assignments: [SyncGroupRequest.SyncGroupRequestAssignment], _ member: inout ClassicMember
    ) async throws -> [ClassicGroupMemberStateMachine.Action] {
        let request = SyncGroupRequest(
            groupId: groupID, generationId: generation, memberId: member.machine.memberID,
            groupInstanceId: configuration.instanceID, protocolType: "consumer", protocolName: protocolName, assignments: assignments)
        let version = Self.classicVersion(SyncGroupRequest.self, member.connection)
        guard let response = try await coordinatorRequest(request, member, version: version, timeout: configuration.rebalanceTimeout + .seconds(5)) else {
            return member.machine.coordinatorUnreachable()
        }
        logger.debug("consumer group \(groupID): SyncGroup of generation \(generation) answered error \(response.errorCode)")
        await coordinatorAnswered(response.errorCode)
        if response.errorCode == 0, let connection = member.connection {
            // The group is stable in this generation now, and the coordinator refuses commits of the previous
            // one (ILLEGAL_GENERATION): the partitions this answer revokes (cooperative) commit with this one.
            partitions.setCommitTarget(GroupCommitTarget(connection: connection, memberID: member.machine.memberID, generationOrEpoch: generation))
        }
        let assignment = response.errorCode == 0 ? try ConsumerProtocolPayloads.decodeAssignment(response.assignment) : []
        return member.machine.syncGroupResponse(errorCode: response.errorCode, assignment: assignment)
    }

    /// Sends to the coordinator; nil when the coordinator could not be reached (its cache entry is dropped).
    private func coordinatorRequest<R: KafkaRequestMessage>(
        _ request: R, _ member: ClassicMember, version: Int16? = nil, timeout: Duration
    ) async throws -> R.Response? {
        guard let connection = member.connection else { return nil }
        do {
            return try await connection.send(request, version: version, timeout: timeout)
        } catch let error as KafkaError where error.code == .unsupportedByBroker {
            throw KafkaError(.consumerGroupFailed, "the group coordinator does not support \(R.self): \(error.message)", underlying: error)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            logger.debug("consumer group \(groupID): \(R.self) failed: \(error)")
            cluster.invalidateCoordinator(key)
            // A pause before the coordinator is looked up and asked again, so a broker that keeps failing is
            // not hammered.
            await stopRequested.sleep(for: Self.coordinatorRetryBackoff)
            return nil
        }
    }

    /// The highest versions of the classic group APIs used: they carry everything a consumer needs (static
    /// membership included) and are what librdkafka sends. librdkafka's mock cluster advertises newer
    /// versions but cannot handle them (JoinGroup v6 and SyncGroup v4 kill the connection or the whole mock
    /// process).
    static let classicVersionCaps: [Int16: Int16] = [
        JoinGroupRequest.apiKey: 5, SyncGroupRequest.apiKey: 3, HeartbeatRequest.apiKey: 3, LeaveGroupRequest.apiKey: 3,
    ]

    static func classicVersion<R: KafkaRequestMessage>(_ type: R.Type, _ connection: KafkaConnection?) -> Int16 {
        let negotiated = connection?.negotiatedVersion(for: type) ?? 0
        return min(negotiated, classicVersionCaps[R.apiKey] ?? negotiated)
    }

    /// Runs `body` (a revocation, which waits for handlers and final commits) while heartbeating the
    /// coordinator in the background, as Kafka's own consumer does from its heartbeat thread: a member that
    /// goes quiet for a session timeout is removed from the group, and its partitions are given to others
    /// while it still holds them. Answers are not fed to the machine: the heartbeats stop at the first error
    /// other than REBALANCE_IN_PROGRESS (which still keeps the session alive), and the member's next request
    /// to the coordinator learns the same. nil `member`: no heartbeats.
    private func whileHeartbeating<T: Sendable>(_ member: ClassicMember?, _ body: () async -> T) async -> T {
        guard let member, let connection = member.connection, member.generation >= 0, !member.machine.memberID.isEmpty else {
            return await body()
        }
        let (generation, memberID) = (member.generation, member.machine.memberID)
        return await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                if let errorCode = await backgroundHeartbeats(from: connection, generation: generation, memberID: memberID, throughRebalance: true) {
                    logger.debug("consumer group \(groupID): background Heartbeat stopped (error \(errorCode))")
                }
            }
            let result = await body()
            group.cancelAll()
            return result
        }
    }

    private enum StartOutcome: Sendable {
        case found([KafkaTopicPartition: Int64])
        /// The member was asked to stop first.
        case stopped
        /// A heartbeat answered this error first.
        case heartbeatError(Int16)
    }

    /// Looks up where `added` start while heartbeating, so that the session lasts through a slow lookup. A
    /// heartbeat's error (a rebalance began, the membership ended) ends the lookup: one that repeats (an
    /// open transaction's offset commit answers UNSTABLE_OFFSET_COMMIT until it ends, KIP-447) would
    /// otherwise hold the whole group's rebalance up to its timeout. A lost connection or a coordinator
    /// that moved does not end it: the heartbeats go on to the coordinator found again, as the lookup's
    /// requests do.
    private func startOffsetsWhileHeartbeating(_ added: [KafkaTopicPartition], _ member: ClassicMember) async -> StartOutcome {
        let lookUp: @Sendable () async -> StartOutcome = { [partitions, stopRequested] in
            await partitions.startOffsets(added, stop: stopRequested).map(StartOutcome.found) ?? .stopped
        }
        guard let first = member.connection, member.generation >= 0, !member.machine.memberID.isEmpty else { return await lookUp() }
        let (generation, memberID) = (member.generation, member.machine.memberID)
        return await withTaskGroup(of: StartOutcome?.self) { group in
            group.addTask(operation: lookUp)
            group.addTask { [self] in
                await backgroundHeartbeats(from: first, generation: generation, memberID: memberID, throughRebalance: false)
                    .map(StartOutcome.heartbeatError)
            }
            var outcome = StartOutcome.stopped
            while let next = await group.next() {
                if let next {
                    outcome = next
                    break
                }
            }
            group.cancelAll()
            return outcome
        }
    }

    /// Heartbeats of `generation`, one every heartbeat interval, until one answers an error: returns its code
    /// (REBALANCE_IN_PROGRESS goes on when `throughRebalance`); nil once cancelled. A lost connection or a
    /// coordinator that moved does not end them: the next one goes to the coordinator found again.
    private func backgroundHeartbeats(
        from first: KafkaConnection, generation: Int32, memberID: String, throughRebalance: Bool
    ) async -> Int16? {
        var connection: KafkaConnection? = first
        while (try? await Task.sleep(for: configuration.heartbeatInterval)) != nil {
            if connection == nil { connection = try? await cluster.coordinatorConnection(for: key).0 }
            guard let current = connection else { continue }
            guard let errorCode = try? await heartbeat(current, generation: generation, memberID: memberID) else {
                connection = nil
                continue
            }
            if CoordinatorCache.coordinatorErrorCodes.contains(errorCode) {
                cluster.invalidateCoordinator(key)
                connection = nil
            } else if errorCode != 0 && !(throughRebalance && errorCode == Self.rebalanceInProgress) {
                return errorCode
            }
        }
        return nil
    }

    /// REBALANCE_IN_PROGRESS.
    static let rebalanceInProgress: Int16 = 27

    /// Sends one Heartbeat of `generation`; returns its error code.
    private func heartbeat(_ connection: KafkaConnection, generation: Int32, memberID: String) async throws -> Int16 {
        let request = HeartbeatRequest(
            groupId: groupID, generationId: generation, memberId: memberID, groupInstanceId: configuration.instanceID)
        return try await connection.send(
            request, version: Self.classicVersion(HeartbeatRequest.self, connection), timeout: configuration.sessionTimeout).errorCode
    }

    private enum ClassicHeartbeatOutcome {
        case heartbeatError(Int16)
        case coordinatorLost
        case stop
        /// The leader sees other partition counts than it assigned (the counts now).
        case subscribedPartitionsChanged([String: Int32])
        /// The topics matching the topic pattern changed (``subscribedTopics`` holds them already).
        case subscriptionChanged
    }

    /// Heartbeats until one fails or the member is asked to stop (the workers keep consuming meanwhile). With a
    /// topic pattern, every member matches the cluster's topics when a check is due and rejoins when its
    /// subscription changed. The leader (`assigned` given) also watches the metadata of the subscribed topics between heartbeats: new
    /// partitions would otherwise go unread until some other rebalance, and with the latest reset policy their
    /// records written meanwhile would be skipped.
    private func classicHeartbeats(
        _ connection: KafkaConnection, generation: Int32, memberID: String,
        assigned: (counts: [String: Int32], topics: Set<String>)? = nil
    ) async -> ClassicHeartbeatOutcome {
        while true {
            if await stopRequested.sleep(for: configuration.heartbeatInterval) || Task.isCancelled { return .stop }
            if await refreshPatternSubscription() != nil { return .subscriptionChanged }
            if let assigned {
                let now = Self.partitionCounts(of: assigned.topics, in: cluster.metadata)
                if Self.subscribedPartitionsChanged(assigned: assigned.counts, now: now) { return .subscribedPartitionsChanged(now) }
            }
            // Its SASL session ends soon (KIP-368): the coordinator is looked up again, which takes a fresh
            // connection from the pool; the membership goes on (the member is stable).
            if connection.isDueForReplacement { return .coordinatorLost }
            do {
                let errorCode = try await heartbeat(connection, generation: generation, memberID: memberID)
                if errorCode != 0 {
                    logger.debug("consumer group \(groupID): Heartbeat answered error \(errorCode)")
                    await coordinatorAnswered(errorCode)
                    return .heartbeatError(errorCode)
                }
            } catch {
                if Task.isCancelled { return .stop }
                cluster.invalidateCoordinator(key)
                return .coordinatorLost
            }
        }
    }

    /// The partition counts of `topics` the metadata knows.
    static func partitionCounts(of topics: Set<String>, in metadata: KafkaClusterMetadata) -> [String: Int32] {
        var counts: [String: Int32] = [:]
        for topic in topics { if let n = metadata.partitionCount(of: topic) { counts[topic] = n } }
        return counts
    }

    /// Whether the leader must rejoin: a topic has more partitions than assigned, or exists now and did not.
    /// A topic that vanished from the metadata (deleted, or a refresh that left it out) or shrank is left to
    /// the next rebalance: the partitions' fetches report it, and Kafka never shrinks a topic.
    static func subscribedPartitionsChanged(assigned: [String: Int32], now: [String: Int32]) -> Bool {
        now.contains { topic, count in count > (assigned[topic] ?? 0) }
    }
}
