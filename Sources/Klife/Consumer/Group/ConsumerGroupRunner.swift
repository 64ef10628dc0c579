import KafkaProtocol
import Logging
import Synchronization

/// Runs one consumer group member inside the client's task group: picks the membership protocol (KIP-848
/// when the coordinator advertises ConsumerGroupHeartbeat, else classic, unless configured), runs it
/// (`ConsumerGroupRunner+Classic.swift`, `ConsumerGroupRunner+Heartbeat.swift`), and runs the partition
/// workers it starts and stops (``ConsumerGroupPartitions``). A graceful stop revokes every partition
/// (commit, then release) and leaves the group.
final class ConsumerGroupRunner: KafkaClientComponent {
    let client: KafkaClient
    let configuration: KafkaConsumerGroupConfiguration
    let partitions: ConsumerGroupPartitions
    let key: CoordinatorCache.Key
    /// Fired by ``stop()``.
    let stopRequested = GroupSignal()
    /// Fired when ``run()`` has ended.
    let finished = GroupSignal()
    /// Pause after a failed request to the coordinator, before it is looked up and asked again.
    static let coordinatorRetryBackoff: Duration = .milliseconds(300)
    /// The subscribed topics: the named ones and those matching the pattern (`ConsumerGroupRunner+Subscription.swift`).
    let subscription: Mutex<TopicSubscription>
    private let outcome = Mutex<(groupProtocol: KafkaConsumerGroupConfiguration.GroupProtocol?, failure: KafkaError?)>((nil, nil))

    /// For an answer carrying a coordinator error (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
    /// NOT_COORDINATOR): drops the cached coordinator, so the next lookup asks the cluster instead of returning
    /// the broker that refused, and pauses (``coordinatorRetryBackoff``, cut short by ``stop()``) so that a
    /// moved or loading coordinator is not asked again at once. Other codes: nothing.
    func coordinatorAnswered(_ errorCode: Int16) async {
        guard cluster.handleCoordinatorError(errorCode, for: key) else { return }
        await stopRequested.sleep(for: Self.coordinatorRetryBackoff)
    }

    var logger: Logger { client.logger }
    var cluster: ClusterManager { client.cluster }
    var groupID: String { configuration.groupID }

    init(client: KafkaClient, configuration: KafkaConsumerGroupConfiguration, handler: (any KafkaConsumerGroupHandler)?) {
        self.client = client
        self.configuration = configuration
        self.partitions = ConsumerGroupPartitions(client: client, configuration: configuration, handler: handler)
        self.key = CoordinatorCache.Key(type: .group, key: configuration.groupID)
        // The configuration was validated: the pattern compiles.
        let pattern = configuration.topicPattern.flatMap { try? TopicNamePattern($0) }
        self.subscription = Mutex(TopicSubscription(
            namedTopics: configuration.topics, pattern: pattern, checkInterval: client.configuration.metadataRefreshInterval))
    }

    /// The protocol in use (``KafkaConsumerGroupConfiguration/GroupProtocol/classic`` or
    /// ``KafkaConsumerGroupConfiguration/GroupProtocol/consumer``), nil before it is chosen.
    var groupProtocol: KafkaConsumerGroupConfiguration.GroupProtocol? { outcome.withLock { $0.groupProtocol } }

    /// Why the member stopped for good, if it did.
    var failure: KafkaError? { outcome.withLock { $0.failure } }

    /// Fired when ``run()`` has started.
    let started = GroupSignal()

    /// The member whose workers (and so whose handler) the current task runs for, if any.
    @TaskLocal static var workersOf: ObjectIdentifier?

    /// Asks the member to leave; returns when it has (at once when it never ran and the client has stopped,
    /// or when called from the member's own handler).
    func stop() async {
        stopRequested.fire()
        if !started.isFired, (try? client.requireRunning()) == nil { return }
        // The leave waits for the handler's batch to end: waiting here would hold it until the rebalance timeout
        // gave the partition up uncommitted.
        if Self.workersOf == ObjectIdentifier(self) { return }
        await finished.wait()
    }

    func shutdownGracefully() async {
        await stop()
    }

    /// Handlers finishing their batches may still produce: members leave before producers flush.
    var finishesFirst: Bool { true }

    /// The key of this member among the client's components.
    static func componentKey(groupID: String) -> String { "klife.group.\(groupID)" }

    func run() async throws {
        started.fire()
        defer {
            // The group id is free again: a new member of it may start in this client.
            client.removeComponent(Self.componentKey(groupID: groupID), ifIdenticalTo: self)
            finished.fire()
        }
        await withDiscardingTaskGroup { group in
            group.addTask { await Self.$workersOf.withValue(ObjectIdentifier(self)) { await self.partitions.runWorkers() } }
            await self.runMembership()
            // Normally empty by now (the protocol revoked everything); after a cancellation workers end at once.
            await self.partitions.stopAll(reason: self.failure.map { .failure($0) } ?? .shutdown)
            self.partitions.finish(failure: self.failure)
            // A handler given up on is still running: cancel it rather than wait for it to return by itself.
            if self.partitions.hasAbandonedWorkers { group.cancelAll() }
        }
    }

    private func runMembership() async {
        var chosen = configuration.groupProtocol
        if chosen == .automatic {
            guard let connection = await findCoordinator() else { return }
            chosen = connection.negotiatedVersion(for: ConsumerGroupHeartbeatRequest.self) != nil ? .consumer : .classic
        }
        outcome.withLock { $0.groupProtocol = chosen }
        logger.debug("consumer group \(groupID): using the \(chosen == .consumer ? "KIP-848 consumer" : "classic") protocol")
        if chosen == .consumer {
            guard await runHeartbeatProtocol() else { return }
            outcome.withLock { $0.groupProtocol = .classic }
        }
        await runClassicProtocol()
    }

    /// The member failed for good.
    func fail(_ error: KafkaError) {
        logger.error("consumer group \(groupID) stopped: \(error.message)")
        outcome.withLock { $0.failure = error }
    }

    /// A connection to the group coordinator, looked up until found; nil when stopped or cancelled first.
    func findCoordinator() async -> KafkaConnection? {
        while !stopRequested.isFired && !Task.isCancelled {
            do {
                // A stop ends the lookup: its connection may be backing off (up to reconnectBackoffMax) after
                // a coordinator that closed the last one, a wait only a cancellation ends.
                let (cluster, key) = (cluster, key)
                return try await stopRequested.unlessFired { try await cluster.coordinatorConnection(for: key).0 }
            } catch {
                logger.debug("consumer group \(groupID): coordinator lookup failed: \(error)")
                cluster.invalidateCoordinator(key)
                if await stopRequested.sleep(for: .milliseconds(500)) { return nil }
            }
        }
        return nil
    }

    /// The partition counts of `topics` from the metadata (refreshed when a topic is missing).
    func partitionCounts(_ topics: Set<String>) async -> [String: Int32] {
        cluster.noteTopicsInUse(topics)
        var metadata = cluster.metadata
        if topics.contains(where: { metadata.topic($0) == nil }) { metadata = (try? await cluster.refreshMetadata()) ?? metadata }
        var counts: [String: Int32] = [:]
        for topic in topics { if let n = metadata.partitionCount(of: topic) { counts[topic] = n } }
        return counts
    }
}

extension KafkaPartitionStopReason {
    init(_ reason: ClassicGroupMemberStateMachine.RevokeReason) {
        switch reason {
        case .revoked: self = .revoked
        case .lost: self = .lost
        case .shutdown: self = .shutdown
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
