import KafkaProtocol
import Logging
import Synchronization

/// One member of a transactional pool: a producer with a fixed transactional id (`"<base>_<n>"`), its own
/// producer id and epoch, and per-partition sequence numbers. It executes what its
/// ``TransactionStateMachine`` decides: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn to
/// the transaction coordinator, TxnOffsetCommit to the group coordinator, Produce to partition leaders.
///
/// Used by one transaction at a time (the pool checks it out); ``KafkaTransaction`` serialises calls on it.
final class TransactionalProducer: Sendable {
    let index: Int
    let transactionalID: String
    let configuration: KafkaTransactionalPoolConfiguration
    let clientConfiguration: KafkaClient.Configuration
    let cluster: ClusterManager
    let logger: Logger
    let machine: Mutex<TransactionStateMachine>

    init(
        index: Int, transactionalID: String, configuration: KafkaTransactionalPoolConfiguration,
        clientConfiguration: KafkaClient.Configuration, cluster: ClusterManager, logger: Logger
    ) {
        self.index = index
        self.transactionalID = transactionalID
        self.configuration = configuration
        self.clientConfiguration = clientConfiguration
        self.cluster = cluster
        var logger = logger
        logger[metadataKey: "kafka.transactional_id"] = "\(transactionalID)"
        self.logger = logger
        self.machine = Mutex(TransactionStateMachine(
            transactionalID: transactionalID,
            transactionTimeoutMs: Self.wholeMilliseconds(configuration.transactionTimeout)))
    }

    var coordinatorKey: CoordinatorCache.Key { .init(type: .transaction, key: transactionalID) }

    var needsInitialisation: Bool { machine.withLock { $0.needsInitialisation } }

    // MARK: Lifecycle

    /// Runs InitProducerId if the member needs it (first use, after fencing or an unknown outcome), then
    /// begins a transaction.
    ///
    /// - Throws: ``KafkaError``: the InitProducerId failure (``KafkaError/Code/brokerError`` with `kafkaCode`,
    ///   ``KafkaError/Code/transactionTimedOut``, connection errors).
    func begin() async throws {
        if needsInitialisation {
            if case .fatal(let error) = machine.withLock({ $0.state }), error.code == .producerFenced {
                logger.warning(
                    "transactional id \(transactionalID) was fenced by another producer; re-initialising fences that one in turn (processes running at once need different baseTransactionalIDs)",
                    metadata: ["kafka.error": "\(error.message)"])
            }
            try await initialise()
        }
        try machine.withLock { try $0.begin() }
    }

    /// InitProducerId with the transactional id: fences an older producer with the same id and aborts its
    /// open transaction.
    func initialise() async throws {
        let deadline = ContinuousClock.now + configuration.deliveryTimeout
        do {
            try await coordinatorStep(coordinatorKey, "InitProducerId", deadline: deadline) { _ in
                machine.withLock { $0.initialise() }
            } interpret: { (response: InitProducerIdResponse) in
                machine.withLock {
                    $0.initCompleted(errorCode: response.errorCode, producerID: response.producerId, producerEpoch: response.producerEpoch)
                }
            }
        } catch {
            let kafkaError = ClusterManager.asKafkaError(error)
            machine.withLock { $0.stepGaveUp(kafkaError) }
            throw kafkaError
        }
        let (id, epoch) = machine.withLock { ($0.producerID, $0.producerEpoch) }
        logger.debug("transactional producer initialised", metadata: ["kafka.producer_id": "\(id)", "kafka.producer_epoch": "\(epoch)"])
    }

    /// Commits the open transaction.
    ///
    /// - Throws: ``KafkaError``: the transaction's abortable error (``KafkaError/Code/transactionAbortable`` or the
    ///   failed record's code) when it can only abort, ``KafkaError/Code/producerFenced``, the EndTxn failure,
    ///   ``KafkaError/Code/transactionTimedOut`` (then the outcome is unknown and the member re-initialises).
    func commit() async throws {
        try await end(commit: true)
    }

    /// Aborts the open transaction. A fenced producer does not abort (it cannot; the producer that fenced it,
    /// or the coordinator's timeout, aborts the transaction): that is not an error.
    ///
    /// - Throws: ``KafkaError``: the EndTxn failure or ``KafkaError/Code/transactionTimedOut``; the member then
    ///   re-initialises before its next transaction, which aborts the leftover transaction.
    func abort() async throws {
        if case .fatal(let error) = machine.withLock({ $0.state }), error.code == .producerFenced { return }
        try await end(commit: false)
    }

    private func end(commit: Bool) async throws {
        let action = machine.withLock { commit ? $0.commit() : $0.abort() }
        switch action {
        case .completeLocally:
            return
        case .fail(let error):
            throw error
        case .send(let request):
            let deadline = ContinuousClock.now + configuration.deliveryTimeout
            do {
                try await coordinatorStep(
                    coordinatorKey, commit ? "EndTxn (commit)" : "EndTxn (abort)", deadline: deadline,
                    maxVersion: TransactionStateMachine.maxClientEndTxnVersion
                ) { _ in request } interpret: { (response: EndTxnResponse) in
                    machine.withLock { $0.endCompleted(errorCode: response.errorCode) }
                }
            } catch let error as KafkaError {
                machine.withLock { $0.stepGaveUp(error) }
                throw error
            }
        }
    }

    // MARK: Offsets

    /// Adds consumed offsets to the transaction: AddOffsetsToTxn (once per group and transaction) to the
    /// transaction coordinator, then TxnOffsetCommit to the group coordinator. They are committed for the
    /// group only if the transaction commits.
    ///
    /// - Throws: ``KafkaError``: ``KafkaError/Code/transactionAbortable`` (e.g. the consumer is no longer a
    ///   group member: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION), ``KafkaError/Code/producerFenced``,
    ///   ``KafkaError/Code/transactionTimedOut``, ``KafkaError/Code/transactionNotActive``, connection errors.
    func sendOffsets(_ offsets: [KafkaTopicPartition: KafkaCommittedOffset], group: KafkaConsumerGroupMetadata) async throws {
        try machine.withLock { try $0.requireOpen() }
        guard !offsets.isEmpty else { return }
        let deadline = ContinuousClock.now + configuration.deliveryTimeout
        do {
            if machine.withLock({ $0.needsAddOffsets(groupID: group.groupID) }) {
                try await coordinatorStep(coordinatorKey, "AddOffsetsToTxn", deadline: deadline) { _ in
                    machine.withLock { $0.addOffsetsRequest(groupID: group.groupID) }
                } interpret: { (response: AddOffsetsToTxnResponse) in
                    machine.withLock { $0.addOffsetsCompleted(groupID: group.groupID, errorCode: response.errorCode) }
                }
            }
            let groupKey = CoordinatorCache.Key(type: .group, key: group.groupID)
            try await coordinatorStep(groupKey, "TxnOffsetCommit", deadline: deadline) { version in
                machine.withLock { $0.txnOffsetCommitRequest(offsets, group: group, version: version) }
            } interpret: { (response: TxnOffsetCommitResponse) in
                let results = response.topics.flatMap { topic in
                    topic.partitions.map { (KafkaTopicPartition(topic: topic.name, partition: $0.partitionIndex), $0.errorCode) }
                }
                return machine.withLock { $0.txnOffsetCommitCompleted(results) }
            }
        } catch {
            let kafkaError = ClusterManager.asKafkaError(error)
            machine.withLock { $0.stepGaveUp(kafkaError) }
            throw kafkaError
        }
    }

    // MARK: Coordinator requests

    /// Adds the partitions among `wanted` that are new to the transaction (AddPartitionsToTxn ≤ v3).
    ///
    /// - Throws: ``KafkaError`` as the state machine reports it, or ``KafkaError/Code/transactionTimedOut``.
    func addPartitions(_ wanted: Set<KafkaTopicPartition>, deadline: ContinuousClock.Instant) async throws {
        guard !machine.withLock({ $0.partitionsToAdd(wanted) }).isEmpty else { return }
        do {
            try await coordinatorStep(
                coordinatorKey, "AddPartitionsToTxn", deadline: deadline,
                maxVersion: TransactionStateMachine.maxClientAddPartitionsVersion
            ) { _ in
                machine.withLock { $0.addPartitionsRequest($0.partitionsToAdd(wanted)) }
            } interpret: { (response: AddPartitionsToTxnResponse) in
                let results = response.resultsByTopicV3AndBelow.flatMap { topic in
                    topic.resultsByPartition.map {
                        (KafkaTopicPartition(topic: topic.name, partition: $0.partitionIndex), $0.partitionErrorCode)
                    }
                }
                return machine.withLock { machine in
                    let outcome = machine.addPartitionsCompleted(results)
                    // A partition the answer left out is asked for again.
                    if case .done = outcome, !machine.partitionsToAdd(wanted).isEmpty {
                        return .retry(refreshCoordinator: false, reason: KafkaError(.brokerError, "AddPartitionsToTxn answered without some partitions", isRetriable: true))
                    }
                    return outcome
                }
            }
        } catch {
            let kafkaError = ClusterManager.asKafkaError(error)
            machine.withLock { $0.stepGaveUp(kafkaError) }
            throw kafkaError
        }
    }

    /// Sends a request to the coordinator of `key` until `interpret` calls it done or failed, or `deadline`
    /// passes. Transport failures and coordinator moves look the coordinator up again. `request` is built for
    /// each attempt from the version the connection uses (capped at `maxVersion`).
    ///
    /// Not interrupted by task cancellation: an abort after a cancelled closure must still reach the broker;
    /// the deadline bounds it.
    ///
    /// - Throws: the ``KafkaError`` of `.failed`, a non-retriable request error (``KafkaError/Code/unsupportedByBroker``,
    ///   ``KafkaError/Code/protocolViolation``), or ``KafkaError/Code/transactionTimedOut`` with the last reason.
    func coordinatorStep<R: KafkaRequestMessage>(
        _ key: CoordinatorCache.Key, _ what: String, deadline: ContinuousClock.Instant, maxVersion: Int16? = nil,
        request: (Int16) throws -> R, interpret: (R.Response) -> TransactionStateMachine.StepOutcome
    ) async throws {
        var attempt = 0
        var lastReason: KafkaError?
        while true {
            let outcome: TransactionStateMachine.StepOutcome
            do {
                let (connection, _) = try await cluster.coordinatorConnection(for: key)
                guard var version = connection.negotiatedVersion(for: R.self) else {
                    throw KafkaError(.unsupportedByBroker, "broker \(connection.address) offers no usable version of \(R.self) (needed for transactions)")
                }
                if let maxVersion { version = min(version, maxVersion) }
                let response = try await connection.send(try request(version), version: version, timeout: configuration.requestTimeout)
                outcome = interpret(response)
            } catch {
                let kafkaError = ClusterManager.asKafkaError(error)
                guard Self.isTransient(kafkaError) else { throw kafkaError }
                cluster.invalidateCoordinator(key)
                outcome = .retry(refreshCoordinator: true, reason: kafkaError)
            }
            switch outcome {
            case .done:
                return
            case .failed(let error):
                throw error
            case .retry(let refresh, let reason):
                if refresh { cluster.invalidateCoordinator(key) }
                lastReason = reason
                logger.debug("\(what) will be retried", metadata: ["kafka.error": "\(reason.message)"])
            }
            let delay = backoff(attempt: attempt)
            attempt += 1
            // A cancelled task's sleeps return at once: give up after a few quick tries instead of spinning.
            guard ContinuousClock.now + delay < deadline, !(Task.isCancelled && attempt > Self.attemptsWhenCancelled) else {
                throw KafkaError(
                    .transactionTimedOut,
                    "\(what) for transactional id \(transactionalID) did not succeed within the delivery timeout (\(configuration.deliveryTimeout))"
                        + (lastReason.map { "; last error: \($0.message)" } ?? ""),
                    kafkaCode: lastReason?.kafkaCode, isRetriable: true, underlying: lastReason)
            }
            try? await Task.sleep(for: delay)
        }
    }

    /// Retries of a step that keep going after the task was cancelled (an abort must still try to reach the
    /// coordinator, but sleeps no longer wait).
    static let attemptsWhenCancelled = 5

    /// 20 ms doubling up to the pool's retry backoff: CONCURRENT_TRANSACTIONS clears within milliseconds of
    /// the previous EndTxn, while a moving coordinator takes longer.
    func backoff(attempt: Int) -> Duration {
        let cap = max(configuration.retryBackoff, .milliseconds(1))
        let exponential = Duration.milliseconds(20) * (1 << min(attempt, 10))
        return min(exponential, cap)
    }

    /// Errors after which the same request may succeed (on another connection or coordinator).
    static func isTransient(_ error: KafkaError) -> Bool {
        switch error.code {
        case .connectionClosed, .connectionFailed, .requestTimedOut, .coordinatorNotAvailable, .brokerNotAvailable:
            return true
        default:
            return error.isRetriable
        }
    }

    /// `duration` in whole milliseconds, clamped to Int32 (the wire type of Kafka's millisecond fields).
    static func wholeMilliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
