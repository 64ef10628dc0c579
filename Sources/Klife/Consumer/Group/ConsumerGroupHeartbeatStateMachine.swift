/// The membership of one consumer in a KIP-848 group (ConsumerGroupHeartbeat), as a value type.
///
/// The coordinator computes assignments; the member reports, in every heartbeat that follows a change,
/// the partitions it owns. A partition leaves the member only after it has been revoked (processing stopped,
/// offsets committed) and the next heartbeat says so; new partitions can start at once, since the coordinator
/// hands a partition over only after its previous owner released it.
struct ConsumerGroupHeartbeatStateMachine {
    enum State: Equatable {
        case findingCoordinator
        /// A heartbeat is in flight.
        case heartbeating
        /// Waiting for the next heartbeat time.
        case idle
        case leaving
        case stopped
    }

    /// What the next ConsumerGroupHeartbeat carries.
    struct Heartbeat: Equatable {
        var memberID: String
        var memberEpoch: Int32
        var instanceID: String?
        /// Sent when joining (or after a change), nil otherwise.
        var subscribedTopics: [String]?
        var rebalanceTimeoutMs: Int32
        /// The owned partitions when they changed since the last heartbeat (always on a join), nil otherwise.
        var ownedPartitions: [KafkaTopicPartition]?
    }

    enum Action: Equatable {
        case findCoordinator
        case sendHeartbeat(Heartbeat)
        /// Schedule the next heartbeat after this many milliseconds.
        case scheduleHeartbeat(afterMs: Int32)
        case revoke([KafkaTopicPartition], reason: ClassicGroupMemberStateMachine.RevokeReason)
        case start([KafkaTopicPartition])
        case fail(kafkaCode: Int16)
    }

    let groupID: String
    let instanceID: String?
    /// The subscribed topics.
    private(set) var topics: [String]
    let rebalanceTimeoutMs: Int32
    private(set) var state: State = .findingCoordinator
    private(set) var memberID: String
    private(set) var memberEpoch: Int32 = 0
    private(set) var owned: [KafkaTopicPartition] = []
    private(set) var heartbeatIntervalMs: Int32 = 1_000
    /// Whether the next heartbeat must carry the full subscription and owned partitions.
    private var sendFullState = true

    /// - Parameter memberID: a client-generated id (ConsumerGroupHeartbeat v1 lets the client pick it; a
    ///   random UUID, as Klife does).
    init(groupID: String, memberID: String, instanceID: String?, topics: [String], rebalanceTimeoutMs: Int32) {
        self.groupID = groupID
        self.memberID = memberID
        self.instanceID = instanceID
        self.topics = topics
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
    }

    mutating func start() -> [Action] {
        state = .findingCoordinator
        return [.findCoordinator]
    }

    mutating func coordinatorFound() -> [Action] {
        guard state == .findingCoordinator else { return [] }
        return [heartbeat()]
    }

    /// The subscription changed (topics matching the member's pattern came or went): the next heartbeat
    /// carries it, and the coordinator assigns accordingly.
    mutating func subscriptionChanged(to topics: [String]) {
        guard topics != self.topics else { return }
        self.topics = topics
        sendFullState = true
    }

    /// The heartbeat timer fired.
    mutating func heartbeatDue() -> [Action] {
        guard state == .idle else { return [] }
        return [heartbeat()]
    }

    /// The answer to a heartbeat. `assignment` is nil when unchanged, else the full target assignment
    /// (topic ids already resolved to names by the caller).
    ///
    /// `assignmentIncomplete`: the assignment left out partitions of topic ids the metadata does not know yet.
    /// The next heartbeat then carries the full state, so the coordinator sends the assignment again and the
    /// missing partitions are resolved then (the coordinator sends an unchanged assignment only in answer to a
    /// full heartbeat).
    mutating func heartbeatResponse(
        errorCode: Int16, memberID newMemberID: String?, memberEpoch newEpoch: Int32, heartbeatIntervalMs interval: Int32,
        assignment: [KafkaTopicPartition]?, assignmentIncomplete: Bool = false
    ) -> [Action] {
        switch state {
        case .heartbeating: break
        case .leaving:
            state = .stopped
            return []
        default: return []
        }
        switch errorCode {
        case 0:
            if let newMemberID, !newMemberID.isEmpty { memberID = newMemberID }
            memberEpoch = newEpoch
            if interval > 0 { heartbeatIntervalMs = interval }
            state = .idle
            if assignmentIncomplete { sendFullState = true }
            var actions: [Action] = []
            if let assignment {
                let target = Set(assignment)
                let current = Set(owned)
                let revoked = owned.filter { !target.contains($0) }
                let added = assignment.filter { !current.contains($0) }.sorted()
                if !revoked.isEmpty { actions.append(.revoke(revoked, reason: .revoked)) }
                if !added.isEmpty { actions.append(.start(added)) }
                if !revoked.isEmpty || !added.isEmpty {
                    owned = assignment.sorted()
                    sendFullState = true
                    // Tell the coordinator soon, so revoked partitions move without waiting a full interval.
                    actions.append(.scheduleHeartbeat(afterMs: 0))
                    return actions
                }
            }
            actions.append(.scheduleHeartbeat(afterMs: heartbeatIntervalMs))
            return actions
        case 25, 110:  // UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH: rejoin with epoch 0, partitions are lost
            var actions: [Action] = []
            if !owned.isEmpty { actions.append(.revoke(owned, reason: .lost)) }
            owned = []
            memberEpoch = 0
            sendFullState = true
            actions.append(heartbeat())
            return actions
        case 14, 15, 16:  // coordinator loading / not available / moved
            state = .findingCoordinator
            sendFullState = true
            return [.findCoordinator]
        case 111, 7:  // UNRELEASED_INSTANCE_ID (old instance still leaving), REQUEST_TIMED_OUT: try again later
            state = .idle
            return [.scheduleHeartbeat(afterMs: heartbeatIntervalMs)]
        default:
            var actions: [Action] = []
            if !owned.isEmpty { actions.append(.revoke(owned, reason: .lost)) }
            owned = []
            state = .stopped
            actions.append(.fail(kafkaCode: errorCode))
            return actions
        }
    }

    /// A heartbeat failed in transport.
    mutating func coordinatorUnreachable() -> [Action] {
        switch state {
        case .leaving:
            state = .stopped
            return []
        case .stopped: return []
        default:
            state = .findingCoordinator
            sendFullState = true
            return [.findCoordinator]
        }
    }

    /// Graceful shutdown: revoke everything, then a leave heartbeat (epoch -1, or -2 for a static member).
    mutating func leave() -> [Action] {
        switch state {
        case .leaving, .stopped: return []
        default:
            var actions: [Action] = []
            if !owned.isEmpty { actions.append(.revoke(owned, reason: .shutdown)) }
            owned = []
            state = .leaving
            actions.append(.sendHeartbeat(Heartbeat(
                memberID: memberID, memberEpoch: instanceID == nil ? -1 : -2, instanceID: instanceID,
                subscribedTopics: nil, rebalanceTimeoutMs: -1, ownedPartitions: nil)))
            return actions
        }
    }

    private mutating func heartbeat() -> Action {
        state = .heartbeating
        let full = sendFullState || memberEpoch == 0
        sendFullState = false
        return .sendHeartbeat(Heartbeat(
            memberID: memberID, memberEpoch: memberEpoch, instanceID: full ? instanceID : nil,
            subscribedTopics: full ? topics : nil, rebalanceTimeoutMs: full ? rebalanceTimeoutMs : -1,
            ownedPartitions: full ? owned : nil))
    }
}
