import KafkaProtocol

/// The transaction protocol of one transactional producer (one transactional id) as a value type: it builds
/// the next request and says what each answer means; ``TransactionalProducer`` sends the requests.
///
/// ```
/// uninitialised ─InitProducerId─▶ ready ─begin─▶ inTransaction ─commit─▶ committing ─EndTxn─▶ ready
///                                                  │    ▲  abort─▶ aborting ─EndTxn─▶ ready
///                                                  ▼    │
///                                           abortableError (only abort may follow)
/// any state ─fenced / unknown outcome─▶ fatal (only a new InitProducerId leads back)
/// ```
///
/// Client-side versions only: AddPartitionsToTxn ≤ v3 (v4+ is for brokers), EndTxn ≤ v4 (v5 is KIP-890
/// part 2's epoch bump per transaction, which this producer does not implement). Sequence numbers continue
/// across transactions of one producer epoch, per partition, as for idempotent producers.
struct TransactionStateMachine: Sendable {
    enum State: Sendable, CustomStringConvertible {
        case uninitialised
        case initialising
        case ready
        case inTransaction
        case committing
        case aborting
        /// The transaction can only be aborted; the error says why.
        case abortableError(KafkaError)
        /// The producer id is unusable (fenced, or a step ended with an unknown outcome): re-initialise.
        case fatal(KafkaError)

        var description: String {
            switch self {
            case .uninitialised: "uninitialised"
            case .initialising: "initialising"
            case .ready: "ready"
            case .inTransaction: "inTransaction"
            case .committing: "committing"
            case .aborting: "aborting"
            case .abortableError(let error): "abortableError(\(error.code))"
            case .fatal(let error): "fatal(\(error.code))"
            }
        }
    }

    /// What the answer to a coordinator request means.
    enum StepOutcome: Sendable {
        case done
        /// Send the request again after a backoff; look the coordinator up again first when asked.
        case retry(refreshCoordinator: Bool, reason: KafkaError)
        /// The step failed; ``state`` says what may follow.
        case failed(KafkaError)
    }

    /// What a partition's answer to a Produce request means.
    enum ProduceOutcome: Sendable {
        /// Written (or a duplicate of a batch written before): the sequence moved on.
        case appended
        /// Send the same batch (same sequence) again, after a metadata refresh when asked.
        case retry(refreshMetadata: Bool, reason: KafkaError)
        /// The batch's records failed; the transaction can now only abort (or the producer is fenced).
        case failed(KafkaError)
    }

    /// How a commit or abort proceeds.
    enum EndAction: Sendable {
        /// Nothing was added to the transaction: it ends without a request.
        case completeLocally
        case send(EndTxnRequest)
        /// The transaction cannot end this way (an abortable error refuses a commit; a fenced producer cannot
        /// abort).
        case fail(KafkaError)
    }

    static let maxClientAddPartitionsVersion: Int16 = 3
    static let maxClientEndTxnVersion: Int16 = 4

    let transactionalID: String
    let transactionTimeoutMs: Int32
    private(set) var state: State = .uninitialised
    private(set) var producerID: Int64 = -1
    private(set) var producerEpoch: Int16 = -1
    /// Partitions added to the current transaction (AddPartitionsToTxn succeeded).
    private(set) var partitions: Set<KafkaTopicPartition> = []
    /// Consumer groups whose offsets joined the current transaction (AddOffsetsToTxn succeeded).
    private(set) var groups: Set<String> = []
    private var nextSequence: [KafkaTopicPartition: Int32] = [:]
    /// KIP-360: after an abortable error (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, a failed or
    /// unanswered produce, …) the next InitProducerId passes the current id and epoch, so that the coordinator
    /// bumps the epoch (sequences restart) instead of fencing.
    private(set) var bumpEpochOnInit = false
    /// The group coordinator refused a TxnOffsetCommit's leader epochs (see ``txnOffsetCommitCompleted(_:)``):
    /// later ones go without.
    private(set) var commitLeaderEpochsRefused = false

    init(transactionalID: String, transactionTimeoutMs: Int32) {
        self.transactionalID = transactionalID
        self.transactionTimeoutMs = transactionTimeoutMs
    }

    /// Whether the producer must run InitProducerId before its next transaction.
    var needsInitialisation: Bool {
        switch state {
        case .uninitialised, .initialising, .fatal: return true
        case .ready: return bumpEpochOnInit
        case .inTransaction, .committing, .aborting, .abortableError: return false
        }
    }

    /// Whether a transaction is open (begun and not yet ended).
    var isInTransaction: Bool {
        switch state {
        case .inTransaction, .committing, .aborting, .abortableError: return true
        case .uninitialised, .initialising, .ready, .fatal: return false
        }
    }

    // MARK: InitProducerId

    /// Starts (re-)initialisation: the InitProducerId request to send to the transaction coordinator. Also
    /// fences an older producer with the same transactional id and aborts (or completes) its open transaction.
    mutating func initialise() -> InitProducerIdRequest {
        let bump = bumpEpochOnInit && producerID >= 0
        state = .initialising
        return InitProducerIdRequest(
            transactionalId: transactionalID, transactionTimeoutMs: transactionTimeoutMs,
            producerId: bump ? producerID : -1, producerEpoch: bump ? producerEpoch : -1)
    }

    mutating func initCompleted(errorCode: Int16, producerID: Int64, producerEpoch: Int16) -> StepOutcome {
        if errorCode == 0 {
            self.producerID = producerID
            self.producerEpoch = producerEpoch
            bumpEpochOnInit = false
            nextSequence = [:]
            partitions = []
            groups = []
            state = .ready
            return .done
        }
        if let retry = Self.coordinatorRetry(errorCode, "InitProducerId", self) { return retry }
        if bumpEpochOnInit {
            // Our id/epoch is no longer current (fenced), or the coordinator refuses the bump form: fall back
            // to a fresh id. For a transactional id that also gives a new epoch, so sequences restart.
            bumpEpochOnInit = false
            return .retry(refreshCoordinator: false, reason: error(.brokerError, "InitProducerId", errorCode, retriable: true))
        }
        state = .uninitialised
        return .failed(error(.brokerError, "InitProducerId", errorCode))
    }

    /// A step gave up (timeout, transport failure after retries, a request that could not be encoded).
    /// During InitProducerId or EndTxn the coordinator's state is unknown: re-initialise before the next use.
    /// In a transaction the transaction can only abort.
    mutating func stepGaveUp(_ error: KafkaError) {
        switch state {
        case .initialising: state = .uninitialised
        case .committing, .aborting: state = .fatal(error)
        case .inTransaction: _ = failProduce(abortable: error)
        case .uninitialised, .ready, .abortableError, .fatal: break
        }
    }

    // MARK: Transactions

    /// Begins a transaction (local only: the coordinator learns of it with the first AddPartitionsToTxn or
    /// AddOffsetsToTxn).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/transactionNotActive`` unless the producer is
    ///   ready (initialised, no transaction open).
    mutating func begin() throws {
        guard case .ready = state, !bumpEpochOnInit else {
            throw KafkaError(.transactionNotActive, "transactional id \(transactionalID) cannot begin a transaction in state \(state)")
        }
        partitions = []
        groups = []
        state = .inTransaction
    }

    /// Throws unless records or offsets may join the transaction.
    ///
    /// - Throws: the abortable or fatal error that ended the transaction, or ``KafkaError/Code/transactionNotActive``.
    func requireOpen() throws {
        switch state {
        case .inTransaction: return
        case .abortableError(let error), .fatal(let error): throw error
        default:
            throw KafkaError(.transactionNotActive, "transactional id \(transactionalID) has no open transaction (state \(state))")
        }
    }

    /// The partitions among `wanted` that must be added to the transaction before records go to them.
    func partitionsToAdd(_ wanted: some Sequence<KafkaTopicPartition>) -> [KafkaTopicPartition] {
        Set(wanted).subtracting(partitions).sorted()
    }

    /// The AddPartitionsToTxn request (v3-and-below fields) for `newPartitions`.
    func addPartitionsRequest(_ newPartitions: [KafkaTopicPartition]) -> AddPartitionsToTxnRequest {
        var topics: [String: [Int32]] = [:]
        for topicPartition in newPartitions { topics[topicPartition.topic, default: []].append(topicPartition.partition) }
        return AddPartitionsToTxnRequest(
            v3AndBelowTransactionalId: transactionalID, v3AndBelowProducerId: producerID, v3AndBelowProducerEpoch: producerEpoch,
            v3AndBelowTopics: topics.keys.sorted().map { AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name: $0, partitions: topics[$0]!.sorted()) })
    }

    /// Applies the per-partition results of AddPartitionsToTxn. Partitions that failed retriably are left out of
    /// ``partitions``, so the retry asks for them again.
    mutating func addPartitionsCompleted(_ results: [(KafkaTopicPartition, Int16)]) -> StepOutcome {
        var retry: StepOutcome?
        var failure: KafkaError?
        for (topicPartition, code) in results {
            switch code {
            case 0:
                partitions.insert(topicPartition)
            case Self.operationNotAttempted:
                break  // another partition's error stopped the request; it is reported on its own
            default:
                if Self.isFencing(code) {
                    return fail(fatal: error(.producerFenced, "AddPartitionsToTxn", code))
                }
                if let again = Self.coordinatorRetry(code, "AddPartitionsToTxn for \(topicPartition)", self) {
                    if retry == nil { retry = again }
                } else if failure == nil {
                    failure = error(code == Self.transactionAbortable ? .transactionAbortable : .brokerError, "AddPartitionsToTxn for \(topicPartition)", code)
                }
            }
        }
        if let failure { return fail(abortable: failure) }
        if let retry { return retry }
        // A partition the broker did not mention (malformed answer) is simply asked for again.
        if results.contains(where: { $0.1 == Self.operationNotAttempted }) {
            return .retry(refreshCoordinator: false, reason: KafkaError(.brokerError, "AddPartitionsToTxn did not attempt every partition", isRetriable: true))
        }
        return .done
    }

    /// The sequence number of the next batch to `topicPartition`.
    func sequence(for topicPartition: KafkaTopicPartition) -> Int32 {
        nextSequence[topicPartition] ?? 0
    }

    /// Applies one partition's answer to a Produce request carrying `recordCount` records.
    mutating func produceCompleted(_ topicPartition: KafkaTopicPartition, errorCode: Int16, recordCount: Int) -> ProduceOutcome {
        switch errorCode {
        case 0, Self.duplicateSequenceNumber:
            let next = Int64(sequence(for: topicPartition)) + Int64(recordCount)
            nextSequence[topicPartition] = Int32(truncatingIfNeeded: next & Int64(Int32.max))
            return .appended
        case Self.producerFenced:
            return .failed(failProduce(fatal: error(.producerFenced, "Produce to \(topicPartition)", errorCode)))
        // KIP-588: on Produce, INVALID_PRODUCER_EPOCH is abortable (typically the coordinator timed the
        // transaction out and bumped the epoch), not a sign that another instance took over.
        case Self.outOfOrderSequenceNumber, Self.unknownProducerID, Self.invalidProducerEpoch:
            bumpEpochOnInit = true
            return .failed(failProduce(abortable: error(.transactionAbortable, "Produce to \(topicPartition)", errorCode)))
        case Self.transactionAbortable:
            return .failed(failProduce(abortable: error(.transactionAbortable, "Produce to \(topicPartition)", errorCode)))
        case _ where KafkaErrorCode(rawValue: errorCode).isRetriable:
            return .retry(
                refreshMetadata: KafkaClusterMetadata.requiresMetadataRefresh(errorCode: errorCode),
                reason: error(.brokerError, "Produce to \(topicPartition)", errorCode, retriable: true))
        default:
            return .failed(failProduce(abortable: error(.brokerError, "Produce to \(topicPartition)", errorCode)))
        }
    }

    /// Records failed before reaching the broker (unknown topic, no leader until the deadline, encoding): the
    /// transaction can only abort.
    mutating func recordsFailed(_ error: KafkaError) {
        _ = failProduce(abortable: error)
    }

    // MARK: Offsets

    /// Whether AddOffsetsToTxn must run for `groupID` before its TxnOffsetCommit.
    func needsAddOffsets(groupID: String) -> Bool { !groups.contains(groupID) }

    func addOffsetsRequest(groupID: String) -> AddOffsetsToTxnRequest {
        AddOffsetsToTxnRequest(transactionalId: transactionalID, producerId: producerID, producerEpoch: producerEpoch, groupId: groupID)
    }

    mutating func addOffsetsCompleted(groupID: String, errorCode: Int16) -> StepOutcome {
        if errorCode == 0 {
            groups.insert(groupID)
            return .done
        }
        if Self.isFencing(errorCode) { return fail(fatal: error(.producerFenced, "AddOffsetsToTxn for group \(groupID)", errorCode)) }
        if let retry = Self.coordinatorRetry(errorCode, "AddOffsetsToTxn for group \(groupID)", self) { return retry }
        return fail(abortable: error(.transactionAbortable, "AddOffsetsToTxn for group \(groupID)", errorCode))
    }

    /// The TxnOffsetCommit request for the group coordinator. `version` decides whether the member fields go
    /// on the wire (v3+); older versions cannot carry them.
    func txnOffsetCommitRequest(
        _ offsets: [KafkaTopicPartition: KafkaCommittedOffset], group: KafkaConsumerGroupMetadata, version: Int16
    ) -> TxnOffsetCommitRequest {
        var topics: [String: [TxnOffsetCommitRequest.TxnOffsetCommitRequestPartition]] = [:]
        for (topicPartition, committed) in offsets.sorted(by: { $0.key < $1.key }) {
            // The leader epoch goes out from v2 (KIP-320): the next owner checks its start against it.
            topics[topicPartition.topic, default: []].append(.init(
                partitionIndex: topicPartition.partition, committedOffset: committed.offset,
                committedLeaderEpoch: version >= 2 && !commitLeaderEpochsRefused ? committed.leaderEpoch ?? -1 : -1,
                committedMetadata: committed.metadata ?? ""))
        }
        let withMember = version >= 3
        return TxnOffsetCommitRequest(
            transactionalId: transactionalID, groupId: group.groupID, producerId: producerID, producerEpoch: producerEpoch,
            generationId: withMember ? group.generationID : -1, memberId: withMember ? group.memberID : "",
            groupInstanceId: withMember ? group.groupInstanceID : nil,
            topics: topics.keys.sorted().map { .init(name: $0, partitions: topics[$0]!) })
    }

    /// Applies the per-partition results of TxnOffsetCommit (sent to the group coordinator).
    mutating func txnOffsetCommitCompleted(_ results: [(KafkaTopicPartition, Int16)]) -> StepOutcome {
        var retry: StepOutcome?
        for (topicPartition, code) in results where code != 0 {
            let what = "TxnOffsetCommit for \(topicPartition)"
            if Self.isFencing(code) { return fail(fatal: error(.producerFenced, what, code)) }
            // The epoch refused (see KafkaCommittedOffset.leaderEpochRefusedCodes): again without epochs.
            if KafkaCommittedOffset.leaderEpochRefusedCodes.contains(code), !commitLeaderEpochsRefused {
                commitLeaderEpochsRefused = true
                if retry == nil {
                    retry = .retry(refreshCoordinator: false, reason: error(.brokerError, what + " refused its leader epoch", code, retriable: true))
                }
                continue
            }
            if let again = Self.coordinatorRetry(code, what, self) {
                if retry == nil { retry = again }
                continue
            }
            // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID (the consumer left the group), TRANSACTION_ABORTABLE, …
            return fail(abortable: error(.transactionAbortable, what, code))
        }
        return retry ?? .done
    }

    // MARK: Ending

    mutating func commit() -> EndAction {
        switch state {
        case .inTransaction:
            if partitions.isEmpty && groups.isEmpty {
                state = .ready
                return .completeLocally
            }
            state = .committing
            return .send(endTxnRequest(commit: true))
        case .abortableError(let error), .fatal(let error):
            return .fail(error)
        default:
            return .fail(KafkaError(.transactionNotActive, "transactional id \(transactionalID) has no open transaction to commit (state \(state))"))
        }
    }

    mutating func abort() -> EndAction {
        switch state {
        case .inTransaction, .abortableError, .committing:
            if partitions.isEmpty && groups.isEmpty {
                state = .ready
                return .completeLocally
            }
            state = .aborting
            return .send(endTxnRequest(commit: false))
        case .ready:
            return .completeLocally
        case .fatal(let error):
            return .fail(error)
        case .uninitialised, .initialising, .aborting:
            return .fail(KafkaError(.transactionNotActive, "transactional id \(transactionalID) has no open transaction to abort (state \(state))"))
        }
    }

    /// Applies the answer to EndTxn (commit or abort, whichever is in progress).
    mutating func endCompleted(errorCode: Int16) -> StepOutcome {
        let committing: Bool
        switch state {
        case .committing: committing = true
        case .aborting: committing = false
        default:
            return .failed(KafkaError(.transactionNotActive, "EndTxn answered while transactional id \(transactionalID) was \(state)"))
        }
        let what = committing ? "EndTxn (commit)" : "EndTxn (abort)"
        if errorCode == 0 || (!committing && errorCode == Self.invalidTxnState) {
            // INVALID_TXN_STATE on abort: the coordinator has no open transaction left to abort.
            state = .ready
            partitions = []
            groups = []
            return .done
        }
        if Self.isFencing(errorCode) { return fail(fatal: error(.producerFenced, what, errorCode)) }
        if let retry = Self.coordinatorRetry(errorCode, what, self) { return retry }
        if committing {
            // The commit was refused; an abort may follow.
            return fail(abortable: error(errorCode == Self.transactionAbortable ? .transactionAbortable : .brokerError, what, errorCode))
        }
        return fail(fatal: error(.brokerError, what, errorCode))
    }

    private func endTxnRequest(commit: Bool) -> EndTxnRequest {
        EndTxnRequest(transactionalId: transactionalID, producerId: producerID, producerEpoch: producerEpoch, committed: commit)
    }

    // MARK: Errors

    static let operationNotAttempted: Int16 = 55
    static let duplicateSequenceNumber: Int16 = 46
    static let outOfOrderSequenceNumber: Int16 = 45
    static let invalidProducerEpoch: Int16 = 47
    static let invalidTxnState: Int16 = 48
    static let concurrentTransactions: Int16 = 51
    static let unknownProducerID: Int16 = 59
    static let producerFenced: Int16 = 90
    static let transactionAbortable: Int16 = 120

    /// PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH (what brokers before PRODUCER_FENCED's versions return).
    static func isFencing(_ code: Int16) -> Bool { code == producerFenced || code == invalidProducerEpoch }

    /// The retry for a coordinator answer that may succeed later: the coordinator moved or is loading
    /// (refresh it), CONCURRENT_TRANSACTIONS (the previous transaction is still completing), or any other
    /// retriable code; nil for the rest.
    private static func coordinatorRetry(_ code: Int16, _ what: String, _ machine: TransactionStateMachine) -> StepOutcome? {
        guard code == concurrentTransactions || KafkaErrorCode(rawValue: code).isRetriable else { return nil }
        let refresh = CoordinatorCache.coordinatorErrorCodes.contains(code)
        let errorCode: KafkaError.Code = refresh ? .coordinatorNotAvailable : .brokerError
        return .retry(refreshCoordinator: refresh, reason: machine.error(errorCode, what, code, retriable: true))
    }

    private mutating func fail(fatal error: KafkaError) -> StepOutcome {
        state = .fatal(error)
        return .failed(error)
    }

    private mutating func fail(abortable error: KafkaError) -> StepOutcome {
        return .failed(failProduce(abortable: error))
    }

    /// Moves to abortableError unless the transaction is already failed; returns the error to report.
    ///
    /// The epoch is bumped before the next transaction (as Kafka's Java client does on any abortable error):
    /// a batch whose answer never came may be in the log, aborted, holding sequences this producer has not
    /// counted as used. Sent again under the same epoch, those sequences would make the broker take the next
    /// transaction's batch of the same size for a duplicate and drop it.
    private mutating func failProduce(abortable error: KafkaError) -> KafkaError {
        switch state {
        case .inTransaction, .committing:
            state = .abortableError(error)
            bumpEpochOnInit = true
        case .abortableError, .fatal, .uninitialised, .initialising, .ready, .aborting: break
        }
        return error
    }

    private mutating func failProduce(fatal error: KafkaError) -> KafkaError {
        state = .fatal(error)
        return error
    }

    func error(_ code: KafkaError.Code, _ what: String, _ kafkaCode: Int16, retriable: Bool = false) -> KafkaError {
        let name = KafkaErrorCode(rawValue: kafkaCode).name
        var message = "\(what) for transactional id \(transactionalID) failed with \(name)"
        if code == .producerFenced {
            message += ": another producer with the same transactional id has started, or the coordinator aborted the "
                + "transaction after its timeout; this producer is re-initialised before its next transaction"
        } else if code == .transactionAbortable {
            message += "; the transaction can only be aborted"
        }
        return KafkaError(code, message, kafkaCode: kafkaCode, isRetriable: retriable)
    }
}
