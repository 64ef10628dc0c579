/// The membership of one consumer in a classic-protocol group (JoinGroup / SyncGroup / Heartbeat /
/// LeaveGroup), as a value type: events in, actions out. The executor sends the requests, runs the
/// assignor when this member leads, revokes and starts partitions, and schedules heartbeats.
///
/// Eager assignors revoke every owned partition before rejoining; cooperative ones (KIP-429) keep them and
/// revoke only those missing from the new assignment, then rejoin once so the withheld partitions move.
struct ClassicGroupMemberStateMachine {
    enum State: Equatable {
        /// No coordinator known yet.
        case findingCoordinator
        /// JoinGroup sent (or about to be).
        case joining
        /// SyncGroup sent, waiting for the assignment of `generation`.
        case syncing(generation: Int32)
        /// Member of `generation`, heartbeating.
        case stable(generation: Int32)
        /// LeaveGroup sent or being sent.
        case leaving
        /// Left, or failed for good.
        case stopped
    }

    enum Action: Equatable {
        case findCoordinator
        /// Send JoinGroup with this member id ("" for a new member) and our owned partitions in the
        /// subscription (cooperative assignors only).
        case sendJoinGroup(memberID: String, ownedPartitions: [KafkaTopicPartition])
        /// This member leads `generation`: run the assignor `protocol` on `members` and send SyncGroup with
        /// the result.
        case assignAndSync(generation: Int32, protocol: String, members: [ConsumerGroupMember])
        /// Send SyncGroup without assignments (followers).
        case sendSyncGroup(generation: Int32)
        /// Stop consuming these partitions: commit what was processed, then release them.
        case revoke([KafkaTopicPartition], reason: RevokeReason)
        /// Start consuming these partitions (look up their start offsets), then report with
        /// ``partitionsStarted()``, or ``startAbandoned(_:heartbeatErrorCode:)`` when a heartbeat error ended
        /// the lookup first: the member goes on only after either.
        case start([KafkaTopicPartition])
        /// Heartbeat every `interval`; the executor reports each answer with ``heartbeatResponse(errorCode:)``.
        case sendHeartbeat(generation: Int32, memberID: String)
        case sendLeaveGroup(memberID: String)
        /// The group failed with an error that rejoining cannot fix (a Kafka error code).
        case fail(kafkaCode: Int16)
    }

    enum RevokeReason: Equatable {
        /// The rebalance gave the partitions to someone else (or eager rebalance: give everything back).
        case revoked
        /// The member lost its membership (fenced, session expired): others may own them already.
        case lost
        /// The consumer is shutting down.
        case shutdown
    }

    private(set) var state: State = .findingCoordinator
    private(set) var memberID: String = ""
    private(set) var owned: [KafkaTopicPartition] = []
    /// The generation to resume after a coordinator change that happened while stable.
    private var resumableGeneration: Int32?
    /// A `.start` is out and not yet reported; true when the member rejoins after it (a cooperative member
    /// that gave partitions up rejoins so they move), false when it heartbeats.
    private var startPending: Bool?
    let isCooperative: Bool
    let groupID: String

    init(groupID: String, isCooperative: Bool) {
        self.groupID = groupID
        self.isCooperative = isCooperative
    }

    mutating func start() -> [Action] {
        state = .findingCoordinator
        return [.findCoordinator]
    }

    mutating func coordinatorFound() -> [Action] {
        guard state == .findingCoordinator else { return [] }
        if let generation = resumableGeneration {
            // The coordinator moved while we were a stable member: the membership lives on, keep heartbeating.
            resumableGeneration = nil
            state = .stable(generation: generation)
            return [.sendHeartbeat(generation: generation, memberID: memberID)]
        }
        return join()
    }

    mutating func joinGroupResponse(
        errorCode: Int16, generation: Int32, protocolName: String?, leader: String, memberID: String,
        members: [ConsumerGroupMember]
    ) -> [Action] {
        guard state == .joining else { return [] }
        switch errorCode {
        case 0:
            self.memberID = memberID
            state = .syncing(generation: generation)
            if leader == memberID {
                return [.assignAndSync(generation: generation, protocol: protocolName ?? "", members: members)]
            }
            return [.sendSyncGroup(generation: generation)]
        case 79:  // MEMBER_ID_REQUIRED: the broker gave us an id; join again with it
            self.memberID = memberID
            return join()
        default:
            return handleError(errorCode)
        }
    }

    mutating func syncGroupResponse(errorCode: Int16, assignment: [KafkaTopicPartition]) -> [Action] {
        guard case .syncing(let generation) = state else { return [] }
        guard errorCode == 0 else { return handleError(errorCode) }
        state = .stable(generation: generation)
        let assigned = Set(assignment)
        let current = Set(owned)
        let revoked = owned.filter { !assigned.contains($0) }
        let added = assignment.filter { !current.contains($0) }.sorted()
        owned = assignment.sorted()
        var actions: [Action] = []
        if !revoked.isEmpty { actions.append(.revoke(revoked, reason: .revoked)) }
        if !added.isEmpty {
            // The next step waits for the start's outcome: a rebalance may begin while it looks up offsets.
            startPending = isCooperative && !revoked.isEmpty
            return actions + [.start(added)]
        }
        if isCooperative && !revoked.isEmpty {
            // The partitions we gave up are withheld from their new owner until we rejoin.
            actions += join()
        } else {
            actions.append(.sendHeartbeat(generation: generation, memberID: memberID))
        }
        return actions
    }

    /// The partitions of the last `.start` are consuming: heartbeat, or rejoin when partitions were given up
    /// (cooperative).
    mutating func partitionsStarted() -> [Action] {
        guard case .stable(let generation) = state, let rejoin = startPending else { return [] }
        startPending = nil
        return rejoin ? join() : [.sendHeartbeat(generation: generation, memberID: memberID)]
    }

    /// The start of `partitions` was given up before any of them was read: a heartbeat answered `errorCode`
    /// (a rebalance began, or the membership ended) while their start offsets were still being looked up (an
    /// offset commit of an open transaction holds that lookup, KIP-447). Nothing of them was read or
    /// committed, so they leave the owned set without a revocation and the next JoinGroup does not claim
    /// them; then the member acts on `errorCode` as on a heartbeat's answer, as Kafka's Java consumer rejoins
    /// before it finishes such a lookup.
    mutating func startAbandoned(_ partitions: [KafkaTopicPartition], heartbeatErrorCode errorCode: Int16) -> [Action] {
        guard case .stable = state, startPending != nil, errorCode != 0 else { return [] }
        startPending = nil
        let abandoned = Set(partitions)
        owned.removeAll { abandoned.contains($0) }
        // A coordinator that moved would resume this generation, in which the broker counts the abandoned
        // partitions as ours: rejoin instead, so that they are assigned again.
        return CoordinatorCache.coordinatorErrorCodes.contains(errorCode) ? join() : handleError(errorCode)
    }

    /// Time for the next heartbeat (only acts while stable).
    mutating func heartbeatDue() -> [Action] {
        guard case .stable(let generation) = state, startPending == nil else { return [] }
        return [.sendHeartbeat(generation: generation, memberID: memberID)]
    }

    mutating func heartbeatResponse(errorCode: Int16) -> [Action] {
        guard case .stable = state else { return [] }
        guard errorCode != 0 else { return [] }
        return handleError(errorCode)
    }

    /// The partitions of the subscribed topics changed since the leader assigned them (a topic grew, or one
    /// subscribed to was created): rejoin, so the leader assigns them anew (as Kafka's Java consumer does). A
    /// cooperative member keeps its partitions meanwhile; an eager one gives them back first.
    mutating func subscribedPartitionsChanged() -> [Action] {
        guard case .stable = state else { return [] }
        return join()
    }

    /// The member's subscription changed (topics matching its pattern came or went): rejoin with it. A
    /// cooperative member first gives back its partitions of topics it no longer subscribes to, as Kafka's
    /// consumer does, so they are not read here while the new assignment gives them to another member; an
    /// eager one gives everything back anyway.
    mutating func subscriptionChanged(to topics: Set<String>) -> [Action] {
        guard case .stable = state else { return [] }
        var actions: [Action] = []
        if isCooperative {
            let dropped = owned.filter { !topics.contains($0.topic) }
            if !dropped.isEmpty {
                actions.append(.revoke(dropped, reason: .revoked))
                owned.removeAll { !topics.contains($0.topic) }
            }
        }
        return actions + join()
    }

    /// A request to the coordinator failed in transport (connection lost, timeout).
    mutating func coordinatorUnreachable() -> [Action] {
        switch state {
        case .leaving, .stopped: return []
        default: return findCoordinatorAgain()
        }
    }

    /// Graceful shutdown: give everything back, then leave.
    mutating func leave() -> [Action] {
        switch state {
        case .leaving, .stopped: return []
        default:
            startPending = nil
            var actions: [Action] = []
            if !owned.isEmpty { actions.append(.revoke(owned, reason: .shutdown)) }
            owned = []
            if memberID.isEmpty {
                state = .stopped
                return actions
            }
            state = .leaving
            actions.append(.sendLeaveGroup(memberID: memberID))
            return actions
        }
    }

    mutating func leaveGroupResponse() -> [Action] {
        state = .stopped
        return []
    }

    // MARK: - Internals

    private mutating func findCoordinatorAgain() -> [Action] {
        startPending = nil
        if case .stable(let generation) = state { resumableGeneration = generation } else { resumableGeneration = nil }
        state = .findingCoordinator
        return [.findCoordinator]
    }

    private mutating func join() -> [Action] {
        resumableGeneration = nil
        startPending = nil
        var actions: [Action] = []
        if !isCooperative && !owned.isEmpty {
            // Eager protocol: everything is given back before joining.
            actions.append(.revoke(owned, reason: .revoked))
            owned = []
        }
        state = .joining
        actions.append(.sendJoinGroup(memberID: memberID, ownedPartitions: isCooperative ? owned : []))
        return actions
    }

    private mutating func handleError(_ errorCode: Int16) -> [Action] {
        switch errorCode {
        case 27:  // REBALANCE_IN_PROGRESS
            return join()
        case 82:  // FENCED_INSTANCE_ID: another consumer took our static instance id
            return stop(kafkaCode: errorCode)
        case 25, 22:  // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION: our membership is gone
            var actions: [Action] = []
            if !owned.isEmpty { actions.append(.revoke(owned, reason: .lost)) }
            owned = []
            if errorCode == 25 { memberID = "" }
            return actions + join()
        case 14, 15, 16:  // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR
            return findCoordinatorAgain()
        case 7:  // REQUEST_TIMED_OUT
            return join()
        default:
            return stop(kafkaCode: errorCode)
        }
    }

    private mutating func stop(kafkaCode: Int16) -> [Action] {
        startPending = nil
        var actions: [Action] = []
        if !owned.isEmpty { actions.append(.revoke(owned, reason: .lost)) }
        owned = []
        state = .stopped
        actions.append(.fail(kafkaCode: kafkaCode))
        return actions
    }
}
