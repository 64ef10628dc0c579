import KafkaProtocol
import Logging
import NIOCore
import Synchronization

/// Owns the broker connections and the cluster metadata of one client: bootstraps from the configured
/// servers in order, refreshes metadata periodically and on demand, follows brokers joining and leaving,
/// and routes requests to a broker, a partition leader, the controller or a coordinator.
///
/// ``run()`` is the metadata loop; ``KafkaClient/run()`` runs it in its task group. Every other method may
/// be called from any task.
final class ClusterManager: Sendable {
    let configuration: KafkaClient.Configuration
    let logger: Logger
    let pool: BrokerConnectionPool
    /// Bumped under the state lock whenever the metadata snapshot or the unsupported features change: what
    /// a caller derived from one snapshot (see ``metadataWithGeneration``) is current while this is unchanged.
    private let generation = Atomic<UInt64>(0)

    private struct State {
        var metadata = KafkaClusterMetadata()
        var refresh = MetadataRefreshStateMachine()
        var coordinators = CoordinatorCache()
        /// Refreshes started; a waiter needs a refresh numbered above the count at the time it asked.
        var refreshesStarted = 0
        /// Orders Metadata answers by when their requests started (refreshes and ``describe(topics:)`` run side
        /// by side): a lookup's answer older than the last refresh applied is not applied.
        var metadataOrder = MetadataAnswerOrder()
        var refreshWaiters: [Int: RefreshWaiter] = [:]
        var readyWaiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiterID = 0
        var lastError: KafkaError?
        var isReady = false
        var isShutDown = false
        /// Topics the application asked about (used when unknown topics are disabled).
        var extraTopics: Set<String> = []
        /// Brokers whose last connect or request failed, and when; tried last for metadata.
        var brokerFailures: [Int32: ContinuousClock.Instant] = [:]
        /// Features the broker cannot serve, with the reason; filled from the first connection's versions.
        var unsupportedFeatures: [KafkaClient.Feature: String] = [:]
        var featuresChecked = false
    }

    private struct RefreshWaiter {
        var needs: Int
        var continuation: CheckedContinuation<KafkaClusterMetadata, any Error>
    }

    private let state = Mutex(State())
    /// KIP-392: replicas that partition leaders named for fetching (``PreferredReadReplicas``).
    let preferredReadReplicas = Mutex(PreferredReadReplicas())
    private let wakeups: AsyncStream<Void>
    private let wakeupContinuation: AsyncStream<Void>.Continuation

    init(configuration: KafkaClient.Configuration, pool: BrokerConnectionPool, logger: Logger) {
        self.configuration = configuration
        self.pool = pool
        self.logger = logger
        (wakeups, wakeupContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: Metadata loop

    /// Refreshes metadata at start, every ``KafkaClient/Configuration/metadataRefreshInterval`` and whenever
    /// asked, until the task is cancelled; then closes every connection and fails pending waiters.
    ///
    /// Cancellation closes every connection at once: a Metadata request or a connect in progress does not
    /// hold up the client's shutdown until its timeout (the components have finished by then).
    func run() async {
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { [configuration] in
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: configuration.metadataRefreshInterval) } catch { return }
                        self.requestRefresh()
                    }
                }
                requestRefresh()
                for await _ in wakeups {
                    await refreshUntilSettled()
                    if Task.isCancelled { break }
                }
                group.cancelAll()
            }
        } onCancel: {
            pool.shutDownNow()
        }
        await shutDown()
    }

    /// Runs Metadata requests until the state machine has nothing more to send (a refresh asked for during
    /// one in flight gets a request of its own; failures are retried after a backoff).
    private func refreshUntilSettled() async {
        var action = MetadataRefreshStateMachine.Action.sendRequest
        while !Task.isCancelled {
            switch action {
            case .none:
                return
            case .retryAfter(let delay):
                do { try await Task.sleep(for: delay) } catch { return }
                action = state.withLock { $0.refresh.backoffElapsed() }
            case .sendRequest:
                let number = state.withLock { state -> Int in
                    state.refreshesStarted += 1
                    return state.refreshesStarted
                }
                do {
                    let topics = state.withLock { state in
                        KafkaClusterMetadata.topicsToRequest(
                            enableUnknownTopics: configuration.enableUnknownTopics,
                            configuredTopics: configuration.topics.map(\.name), extra: state.extraTopics)
                    }
                    let sequence = state.withLock { $0.metadataOrder.requestStarted() }
                    let (response, _) = try await requestMetadata(topics: topics)
                    await apply(response, requestedTopics: topics, refreshNumber: number, sequence: sequence)
                    action = state.withLock { $0.refresh.requestSucceeded() }
                } catch {
                    if Task.isCancelled { return }
                    let kafkaError = Self.asKafkaError(error)
                    logger.warning("metadata refresh failed: \(kafkaError.message)", metadata: ["kafka.error": "\(kafkaError.code)"])
                    let waiters = state.withLock { state -> [CheckedContinuation<KafkaClusterMetadata, any Error>] in
                        state.lastError = kafkaError
                        action = state.refresh.requestFailed()
                        // On-demand callers learn about the failure; the ready waiters keep waiting for a retry.
                        let due = state.refreshWaiters.filter { $0.value.needs <= number }
                        for id in due.keys { state.refreshWaiters[id] = nil }
                        return due.values.map(\.continuation)
                    }
                    for waiter in waiters { waiter.resume(throwing: kafkaError) }
                }
            }
        }
    }

    /// Applies a Metadata response: updates the snapshot, drops connections and coordinators of removed
    /// brokers, wakes waiters.
    private func apply(
        _ response: KafkaClusterMetadata.Response, requestedTopics: [String]?, refreshNumber: Int?, sequence: Int
    ) async {
        let (changes, snapshot, refreshWaiters, readyWaiters) = state.withLock { state in
            // A stale answer (say from a lagging broker) must not undo a newer one: remove brokers, forget topics.
            var changes = KafkaMetadataChanges()
            if state.metadataOrder.admits(answerTo: sequence, isRefresh: refreshNumber != nil) {
                changes = state.metadata.apply(response, requestedTopics: requestedTopics)
                generation.add(1, ordering: .releasing)
            } else {
                logger.debug("metadata answer older than the one applied; not applied")
            }
            for broker in changes.removedBrokers {
                state.coordinators.invalidate(broker: broker.nodeID)
                state.brokerFailures[broker.nodeID] = nil
            }
            state.lastError = nil
            var refreshWaiters: [CheckedContinuation<KafkaClusterMetadata, any Error>] = []
            if let refreshNumber {
                let due = state.refreshWaiters.filter { $0.value.needs <= refreshNumber }
                for id in due.keys { state.refreshWaiters[id] = nil }
                refreshWaiters = due.values.map(\.continuation)
            }
            var readyWaiters: [CheckedContinuation<Void, any Error>] = []
            if !state.isReady {
                state.isReady = true
                readyWaiters = Array(state.readyWaiters.values)
                state.readyWaiters = [:]
            }
            return (changes, state.metadata, refreshWaiters, readyWaiters)
        }
        if changes.hasChanges {
            logger.debug(
                "metadata changed",
                metadata: [
                    "brokers.added": "\(changes.addedBrokers.map(\.nodeID))", "brokers.removed": "\(changes.removedBrokers.map(\.nodeID))",
                    "topics.added": "\(changes.addedTopics.count)", "topics.removed": "\(changes.removedTopics)",
                    "leaders.changed": "\(changes.changedLeaders.count)",
                ])
        }
        // Waiters first: closing a removed broker's connections can take a while (TLS waits for close_notify).
        for waiter in refreshWaiters { waiter.resume(returning: snapshot) }
        for waiter in readyWaiters { waiter.resume() }
        for broker in changes.removedBrokers {
            logger.info("broker left the cluster", metadata: [KafkaLogKey.brokerID: "\(broker.nodeID)", KafkaLogKey.brokerHost: "\(broker.host):\(broker.port)"])
        }
        await withDiscardingTaskGroup { group in
            for broker in changes.removedBrokers { group.addTask { await self.pool.removeBroker(broker.address) } }
        }
    }

    private func shutDown() async {
        let (refreshWaiters, readyWaiters) = state.withLock { state in
            state.isShutDown = true
            let refresh = state.refreshWaiters.values.map(\.continuation)
            let ready = Array(state.readyWaiters.values)
            state.refreshWaiters = [:]
            state.readyWaiters = [:]
            return (refresh, ready)
        }
        let error = KafkaError(.clientNotRunning, "the client has stopped")
        for waiter in refreshWaiters { waiter.resume(throwing: error) }
        for waiter in readyWaiters { waiter.resume(throwing: error) }
        wakeupContinuation.finish()
        await pool.shutdown()
    }

    // MARK: Asking for metadata

    /// The current metadata snapshot.
    var metadata: KafkaClusterMetadata { state.withLock { $0.metadata } }

    /// The number of the current metadata snapshot (one atomic load; no lock, no copy).
    var metadataGeneration: UInt64 { generation.load(ordering: .acquiring) }

    /// The current metadata snapshot with its ``metadataGeneration``, read together.
    var metadataWithGeneration: (metadata: KafkaClusterMetadata, generation: UInt64) {
        state.withLock { ($0.metadata, generation.load(ordering: .relaxed)) }
    }

    /// Whether the first metadata refresh has succeeded.
    var isReady: Bool { state.withLock { $0.isReady } }

    /// Asks the metadata loop for a refresh soon (coalesced with refreshes already asked for).
    func requestRefresh() {
        let wake = state.withLock { state -> Bool in
            guard !state.isShutDown else { return false }
            return state.refresh.refreshRequested() == .sendRequest
        }
        if wake { wakeupContinuation.yield() }
    }

    /// Asks for a refresh when a partition-level `errorCode` means the metadata is stale; returns whether it did.
    @discardableResult
    func requestRefreshIfStale(errorCode: Int16) -> Bool {
        guard KafkaClusterMetadata.requiresMetadataRefresh(errorCode: errorCode) else { return false }
        requestRefresh()
        return true
    }

    /// Waits for a metadata refresh that starts after this call and returns the resulting snapshot.
    ///
    /// - Throws: ``KafkaError``: the refresh's failure, or ``KafkaError/Code/clientNotRunning``.
    func refreshMetadata() async throws -> KafkaClusterMetadata {
        let id = state.withLock { state -> Int in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let failure = state.withLock { state -> KafkaError? in
                    if state.isShutDown { return KafkaError(.clientNotRunning, "the client is not running") }
                    if Task.isCancelled { return KafkaError(.clientNotRunning, "cancelled while waiting for metadata") }
                    // A refresh in flight started before we asked; we need the next one.
                    state.refreshWaiters[id] = RefreshWaiter(needs: state.refreshesStarted + 1, continuation: continuation)
                    return nil
                }
                if let failure { continuation.resume(throwing: failure) } else { requestRefresh() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.refreshWaiters.removeValue(forKey: id) }
            waiter?.continuation.resume(throwing: KafkaError(.clientNotRunning, "cancelled while waiting for metadata"))
        }
    }

    /// Waits until the first metadata refresh has succeeded.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning`` when the client stops first or
    ///   the task is cancelled.
    func waitUntilReady() async throws {
        let id = state.withLock { state -> Int in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Bool, KafkaError> in
                    if state.isReady { return .success(true) }
                    if state.isShutDown { return .failure(KafkaError(.clientNotRunning, "the client is not running")) }
                    if Task.isCancelled { return .failure(KafkaError(.clientNotRunning, "cancelled while waiting for the client to be ready")) }
                    state.readyWaiters[id] = continuation
                    return .success(false)
                }
                switch outcome {
                case .success(true): continuation.resume()
                case .success(false): break
                case .failure(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.readyWaiters.removeValue(forKey: id) }
            waiter?.resume(throwing: KafkaError(.clientNotRunning, "cancelled while waiting for the client to be ready"))
        }
    }

    /// The last metadata failure, nil after a success.
    var lastError: KafkaError? { state.withLock { $0.lastError } }

    /// Remembers topics the application uses, so that they are requested when unknown topics are disabled.
    func noteTopicsInUse(_ topics: some Sequence<String>) {
        state.withLock { $0.extraTopics.formUnion(topics) }
    }

    /// Sends a Metadata request for `topics` (nil = all) to a broker, trying known brokers (healthy first)
    /// and then the bootstrap servers in order, and returns the decoded content with the connection used.
    ///
    /// Brokers whose connection is backing off after a failed connect are skipped at first, and waited for
    /// (earliest first) only when no other broker answered. An answer that lists no brokers (a broker still
    /// starting can send one; Kafka's own client ignores it) counts as a failed attempt: applied, it would
    /// drop every connection.
    ///
    /// - Throws: ``KafkaError`` of the last attempt when no broker answered.
    func requestMetadata(topics: [String]?) async throws -> (KafkaClusterMetadata.Response, KafkaConnection) {
        try await firstSuccess(
            attempt: { target, waitingOutBackoff in
                try await self.requestMetadata(topics: topics, from: target, waitingOutBackoff: waitingOutBackoff)
            },
            failed: { error, target in self.metadataRequestFailed(error, target: target) },
            orElse: KafkaError(.connectionFailed, "no broker to ask for metadata", isRetriable: true))
    }

    /// Runs `attempt` on each of ``metadataTargets()`` until one succeeds: first every target that can be
    /// tried now, then the ones backing off, soonest first, waiting out their backoff (waiting out each
    /// failed broker's backoff in turn before trying a healthy one takes up to a backoff and a connect
    /// timeout per broker).
    ///
    /// - Throws: the last failure as `failed` reported it, `orElse` when there was no target, or
    ///   `CancellationError`.
    private func firstSuccess<T>(
        attempt: (MetadataTarget, _ waitingOutBackoff: Bool) async throws -> T,
        failed: (any Error, MetadataTarget) -> KafkaError,
        orElse: KafkaError
    ) async throws -> T {
        var lastError: KafkaError?
        var backingOff: [(target: MetadataTarget, deadline: NIODeadline)] = []
        for target in metadataTargets() {
            try Task.checkCancellation()
            do {
                return try await attempt(target, false)
            } catch let error as CancellationError {
                throw error
            } catch let skipped as BrokerConnectionPool.BackingOff {
                lastError = skipped.lastError
                backingOff.append((target, skipped.deadline))
            } catch {
                lastError = failed(error, target)
            }
        }
        for (target, _) in backingOff.sorted(by: { $0.deadline < $1.deadline }) {
            try Task.checkCancellation()
            do {
                return try await attempt(target, true)
            } catch let error as CancellationError {
                throw error
            } catch {
                lastError = failed(error, target)
            }
        }
        throw lastError ?? orElse
    }

    private func requestMetadata(
        topics: [String]?, from target: MetadataTarget, waitingOutBackoff: Bool
    ) async throws -> (KafkaClusterMetadata.Response, KafkaConnection) {
        let connection = try await pool.connection(to: target.address, brokerID: target.brokerID, waitingOutBackoff: waitingOutBackoff)
        checkFeatures(of: connection)
        let version = connection.negotiatedVersion(for: MetadataRequest.self)
        let request = MetadataRequest.forTopics(topics, version: version)
        let response = KafkaClusterMetadata.Response(try await connection.send(request))
        guard !response.brokers.isEmpty else {
            throw KafkaError(.brokerError, "the Metadata answer of \(target.address) lists no brokers", isRetriable: true)
        }
        if let id = target.brokerID { state.withLock { _ = $0.brokerFailures.removeValue(forKey: id) } }
        return (response, connection)
    }

    /// Logs a failed Metadata attempt and remembers the broker's failure; returns the error as a ``KafkaError``.
    private func metadataRequestFailed(_ error: any Error, target: MetadataTarget) -> KafkaError {
        let kafkaError = Self.asKafkaError(error)
        logger.debug("metadata request failed", metadata: [KafkaLogKey.brokerHost: "\(target.address)", "kafka.error": "\(kafkaError.code)"])
        if let id = target.brokerID { state.withLock { $0.brokerFailures[id] = .now } }
        return kafkaError
    }

    /// Sends a Metadata request for `topics` and applies the answer to the cache when the policy allows
    /// (unknown topics enabled, or every topic configured).
    func describe(topics: [String]?) async throws -> KafkaClusterMetadata.Response {
        let sequence = state.withLock { $0.metadataOrder.requestStarted() }
        let (response, _) = try await requestMetadata(topics: topics)
        let allowed = configuration.enableUnknownTopics
            || (topics.map { Set($0).isSubset(of: Set(configuration.topics.map(\.name))) } ?? false)
        if allowed { await apply(response, requestedTopics: topics, refreshNumber: nil, sequence: sequence) }
        return response
    }

    private struct MetadataTarget {
        var address: KafkaConnectionConfiguration.BrokerAddress
        var brokerID: Int32?
    }

    /// Known brokers (controller first, recently failed ones last), then the bootstrap servers in order.
    private func metadataTargets() -> [MetadataTarget] {
        let (metadata, failures) = state.withLock { ($0.metadata, $0.brokerFailures) }
        let known = metadata.sortedBrokers.sorted { a, b in
            let (fa, fb) = (failures[a.nodeID], failures[b.nodeID])
            if (fa == nil) != (fb == nil) { return fa == nil }
            if let fa, let fb, fa != fb { return fa < fb }
            if (a.nodeID == metadata.controllerID) != (b.nodeID == metadata.controllerID) { return a.nodeID == metadata.controllerID }
            return a.nodeID < b.nodeID
        }
        var targets = known.map { MetadataTarget(address: $0.address, brokerID: $0.nodeID) }
        let knownAddresses = Set(known.map(\.address))
        targets += configuration.connection.bootstrapServers.filter { !knownAddresses.contains($0) }.map { MetadataTarget(address: $0, brokerID: nil) }
        return targets
    }

    /// The metadata of `topic`: from the cache, else after one refresh (a topic created since the last
    /// refresh). With unknown topics disabled, only configured topics are accepted.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidArgument`` for an illegal topic name,
    ///   ``KafkaError/Code/unknownTopicOrPartition`` when the topic is not configured (unknown topics disabled)
    ///   or does not exist; the refresh's failure.
    func topicMetadata(_ topic: String) async throws -> KafkaTopicMetadata {
        if let known = metadata.topic(topic) { return known }
        // No broker can know an illegal name; asking would only come back as "unknown topic" (retriable).
        try KafkaTopicConfiguration.validateTopicName(topic)
        if !configuration.enableUnknownTopics && configuration.topic(named: topic) == nil {
            throw KafkaError(
                .unknownTopicOrPartition, "topic \(topic) is not configured and unknown topics are disabled (enableUnknownTopics)",
                kafkaCode: 3)
        }
        noteTopicsInUse([topic])
        guard let found = try await refreshMetadata().topic(topic) else {
            throw KafkaError(.unknownTopicOrPartition, "topic \(topic) does not exist", kafkaCode: 3, isRetriable: true)
        }
        return found
    }

    // MARK: Routing

    /// A connection to broker `nodeID`.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/brokerNotAvailable`` when the metadata knows no
    ///   such broker, or the connection error.
    func connection(toBroker nodeID: Int32, slot: Int? = nil) async throws -> KafkaConnection {
        guard let broker = metadata.broker(nodeID) else {
            requestRefresh()
            throw KafkaError(.brokerNotAvailable, "broker \(nodeID) is not in the cluster metadata", isRetriable: true)
        }
        do {
            return try await pool.connection(to: broker.address, brokerID: nodeID, slot: slot)
        } catch {
            state.withLock { $0.brokerFailures[nodeID] = .now }
            requestRefresh()
            throw error
        }
    }

    /// The leader of `topicPartition` from the current metadata.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/unknownTopicOrPartition`` (unknown topic or
    ///   partition) or ``KafkaError/Code/leaderNotAvailable`` (no leader right now; retriable).
    func leader(of topicPartition: KafkaTopicPartition) throws -> KafkaBroker {
        let metadata = self.metadata
        guard let topic = metadata.topic(topicPartition.topic) else {
            throw KafkaError(.unknownTopicOrPartition, "topic \(topicPartition.topic) is not in the cluster metadata", kafkaCode: 3, isRetriable: true)
        }
        guard let partition = topic.partition(topicPartition.partition) else {
            throw KafkaError(
                .unknownTopicOrPartition, "topic \(topicPartition.topic) has no partition \(topicPartition.partition) (it has \(topic.partitionCount))",
                kafkaCode: 3, isRetriable: false)
        }
        guard partition.hasLeader, let broker = metadata.broker(partition.leaderID) else {
            requestRefresh()
            throw KafkaError(.leaderNotAvailable, "\(topicPartition) has no leader right now", kafkaCode: 5, isRetriable: true)
        }
        return broker
    }

    /// A connection to the leader of `topicPartition`.
    ///
    /// - Throws: as ``leader(of:)``, or the connection error.
    func leaderConnection(for topicPartition: KafkaTopicPartition, slot: Int? = nil) async throws -> (KafkaConnection, KafkaBroker) {
        let broker = try leader(of: topicPartition)
        return (try await connection(toBroker: broker.nodeID, slot: slot), broker)
    }

    /// A connection to the controller, or to any reachable broker when the controller is unknown.
    func controllerConnection() async throws -> KafkaConnection {
        let controllerID = metadata.controllerID
        if controllerID >= 0, metadata.broker(controllerID) != nil {
            if let connection = try? await connection(toBroker: controllerID) { return connection }
        }
        return try await anyConnection()
    }

    /// A connection to some reachable broker (known brokers first, then the bootstrap servers).
    func anyConnection() async throws -> KafkaConnection {
        try await firstSuccess(
            attempt: { target, waitingOutBackoff in
                let connection = try await self.pool.connection(
                    to: target.address, brokerID: target.brokerID, waitingOutBackoff: waitingOutBackoff)
                self.checkFeatures(of: connection)
                return connection
            },
            failed: { error, target in
                if let id = target.brokerID { self.state.withLock { $0.brokerFailures[id] = .now } }
                return Self.asKafkaError(error)
            },
            orElse: KafkaError(.connectionFailed, "no broker reachable", isRetriable: true))
    }

    // MARK: Coordinators

    /// The coordinator of a consumer group or transactional id, looked up with FindCoordinator on a miss.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/coordinatorNotAvailable`` (retriable) when the
    ///   broker reports none, ``KafkaError/Code/brokerError`` for other FindCoordinator errors, or the
    ///   connection error.
    func coordinator(for key: CoordinatorCache.Key) async throws -> KafkaBroker {
        let found = try await coordinators(for: [key])
        guard let broker = found[key] else {
            throw KafkaError(.coordinatorNotAvailable, "FindCoordinator answered without \(key)", isRetriable: true)
        }
        return broker
    }

    /// The coordinators of several keys; the ones not cached are looked up in as few FindCoordinator requests
    /// as the broker's version allows (one per key type from v4 on, else one per key).
    ///
    /// - Throws: ``KafkaError`` as ``coordinator(for:)`` for the first key that fails.
    func coordinators(for keys: [CoordinatorCache.Key]) async throws -> [CoordinatorCache.Key: KafkaBroker] {
        var result: [CoordinatorCache.Key: KafkaBroker] = [:]
        let snapshot = metadata
        let cached = state.withLock { state in keys.compactMap { key in state.coordinators.coordinator(for: key).map { (key, $0) } } }
        for (key, nodeID) in cached {
            if let broker = snapshot.broker(nodeID) { result[key] = broker }
        }
        let missing = keys.filter { result[$0] == nil }
        guard !missing.isEmpty else { return result }
        let connection = try await anyConnection()
        let version = connection.negotiatedVersion(for: FindCoordinatorRequest.self) ?? 0
        // Entries cached but pointing at a broker the metadata lost are looked up again.
        state.withLock { state in for key in missing { state.coordinators.invalidate(key) } }
        let batches = state.withLock { $0.coordinators.lookupsNeeded(for: missing, version: version) }
        var needRefresh = false
        for batch in batches {
            let type = batch[0].type
            var answers: [(key: String, nodeID: Int32, host: String, port: Int32, code: Int16, message: String?)] = []
            if version >= CoordinatorCache.firstBatchedVersion {
                let response = try await connection.send(FindCoordinatorRequest(keyType: type.rawValue, coordinatorKeys: batch.map(\.key)))
                answers = response.coordinators.map { ($0.key, $0.nodeId, $0.host, $0.port, $0.errorCode, $0.errorMessage) }
            } else {
                let response = try await connection.send(FindCoordinatorRequest(key: batch[0].key, keyType: type.rawValue))
                answers = [(batch[0].key, response.nodeId, response.host, response.port, response.errorCode, response.errorMessage)]
            }
            for key in batch {
                guard let answer = answers.first(where: { $0.key == key.key }) else {
                    throw KafkaError(.coordinatorNotAvailable, "FindCoordinator answered without \(key)", isRetriable: true)
                }
                try Self.checkCoordinatorError(answer.code, answer.message, key: key)
                state.withLock { $0.coordinators.store(answer.nodeID, for: key) }
                if let known = metadata.broker(answer.nodeID) {
                    result[key] = known
                } else {
                    needRefresh = true
                    result[key] = KafkaBroker(nodeID: answer.nodeID, host: answer.host, port: Int(answer.port))
                }
            }
        }
        if needRefresh { requestRefresh() }
        return result
    }

    /// A connection to the coordinator of `key`.
    func coordinatorConnection(for key: CoordinatorCache.Key) async throws -> (KafkaConnection, KafkaBroker) {
        let broker = try await coordinator(for: key)
        do {
            return (try await pool.connection(to: broker.address, brokerID: broker.nodeID), broker)
        } catch {
            invalidateCoordinator(key)
            throw error
        }
    }

    /// The node id cached as the coordinator of `key`, nil when none is (diagnostics and tests).
    func cachedCoordinator(for key: CoordinatorCache.Key) -> Int32? {
        state.withLock { $0.coordinators.coordinator(for: key) }
    }

    /// Forgets the coordinator of `key` (after NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a transport error).
    func invalidateCoordinator(_ key: CoordinatorCache.Key) {
        state.withLock { $0.coordinators.invalidate(key) }
    }

    /// Forgets the coordinator of `key` when `errorCode` says it moved; returns whether it did.
    @discardableResult
    func handleCoordinatorError(_ errorCode: Int16, for key: CoordinatorCache.Key) -> Bool {
        state.withLock { $0.coordinators.handle(errorCode: errorCode, for: key) }
    }

    private static func checkCoordinatorError(_ code: Int16, _ message: String?, key: CoordinatorCache.Key) throws {
        guard code != 0 else { return }
        if CoordinatorCache.coordinatorErrorCodes.contains(code) {
            throw KafkaError(.coordinatorNotAvailable, "no coordinator for \(key) yet\(message.map { ": \($0)" } ?? "")", kafkaCode: code, isRetriable: true)
        }
        throw KafkaError(.brokerError, "FindCoordinator for \(key) failed\(message.map { ": \($0)" } ?? "")", kafkaCode: code)
    }

    // MARK: Features

    /// Features the broker cannot serve, with the reason.
    var unsupportedFeatures: [KafkaClient.Feature: String] { state.withLock { $0.unsupportedFeatures } }

    /// Records which features the brokers' API versions rule out, and logs a warning for each: from the first
    /// connection, then a feature some later broker offers counts as available again (during a rolling
    /// upgrade the first broker reached may be an old one). Requests still check each connection's versions.
    private func checkFeatures(of connection: KafkaConnection) {
        let (unsupported, available) = state.withLock { state -> ([KafkaClient.Feature: String]?, [KafkaClient.Feature]) in
            let seen = KafkaClient.Feature.unsupported(by: { connection.negotiatedVersion(for: $0) })
            guard state.featuresChecked else {
                state.featuresChecked = true
                state.unsupportedFeatures = seen
                generation.add(1, ordering: .releasing)
                return (seen, [])
            }
            let nowAvailable = state.unsupportedFeatures.keys.filter { seen[$0] == nil }
            guard !nowAvailable.isEmpty else { return (nil, []) }
            for feature in nowAvailable { state.unsupportedFeatures[feature] = nil }
            generation.add(1, ordering: .releasing)
            return (nil, nowAvailable)
        }
        for feature in available.sorted(by: { $0.rawValue < $1.rawValue }) where !configuration.disabledFeatures.contains(feature) {
            logger.info("feature \(feature) available: a broker offers it", metadata: [KafkaLogKey.brokerHost: "\(connection.address)"])
        }
        guard let unsupported else { return }
        for (feature, reason) in unsupported.sorted(by: { $0.key.rawValue < $1.key.rawValue })
        where !configuration.disabledFeatures.contains(feature) {
            logger.warning("feature \(feature) disabled: \(reason)", metadata: [KafkaLogKey.brokerHost: "\(connection.address)"])
        }
    }

    static func asKafkaError(_ error: any Error) -> KafkaError {
        if let error = error as? KafkaError { return error }
        if let error = error as? KafkaProtocolError {
            return KafkaError(.protocolViolation, "\(error)", underlying: error)
        }
        if error is CancellationError { return KafkaError(.clientNotRunning, "cancelled", underlying: error) }
        return KafkaError(.connectionFailed, "\(error)", isRetriable: true, underlying: error)
    }
}
