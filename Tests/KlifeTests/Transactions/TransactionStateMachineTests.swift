import KafkaProtocol
import NIOCore
import Testing
@testable import Klife

/// The transaction protocol without a network: which request comes next and what each answer means.
@Suite struct TransactionStateMachineTests {
    static let a0 = KafkaTopicPartition(topic: "a", partition: 0)
    static let a1 = KafkaTopicPartition(topic: "a", partition: 1)
    static let b0 = KafkaTopicPartition(topic: "b", partition: 0)

    static func ready(id: Int64 = 7, epoch: Int16 = 2) -> TransactionStateMachine {
        var machine = TransactionStateMachine(transactionalID: "tx_0", transactionTimeoutMs: 90_000)
        _ = machine.initialise()
        guard case .done = machine.initCompleted(errorCode: 0, producerID: id, producerEpoch: epoch) else { fatalError() }
        return machine
    }

    static func inTransaction(with partitions: [KafkaTopicPartition] = [a0]) -> TransactionStateMachine {
        var machine = ready()
        try! machine.begin()
        _ = machine.addPartitionsCompleted(partitions.map { ($0, 0) })
        return machine
    }

    static func isDone(_ outcome: TransactionStateMachine.StepOutcome) -> Bool {
        if case .done = outcome { return true }
        return false
    }

    static func retry(_ outcome: TransactionStateMachine.StepOutcome) -> Bool? {
        if case .retry(let refresh, _) = outcome { return refresh }
        return nil
    }

    static func failure(_ outcome: TransactionStateMachine.StepOutcome) -> KafkaError? {
        if case .failed(let error) = outcome { return error }
        return nil
    }

    // MARK: InitProducerId

    @Test func initialisationFencesWithAFreshIdAndRetriesCoordinatorErrors() {
        var machine = TransactionStateMachine(transactionalID: "tx_0", transactionTimeoutMs: 90_000)
        #expect(machine.needsInitialisation)
        let request = machine.initialise()
        #expect(request.transactionalId == "tx_0" && request.transactionTimeoutMs == 90_000)
        #expect(request.producerId == -1 && request.producerEpoch == -1)
        #expect(Self.retry(machine.initCompleted(errorCode: 16, producerID: -1, producerEpoch: -1)) == true)  // NOT_COORDINATOR
        #expect(Self.retry(machine.initCompleted(errorCode: 15, producerID: -1, producerEpoch: -1)) == true)  // COORDINATOR_NOT_AVAILABLE
        #expect(Self.retry(machine.initCompleted(errorCode: 14, producerID: -1, producerEpoch: -1)) == true)  // LOAD_IN_PROGRESS
        #expect(Self.retry(machine.initCompleted(errorCode: 51, producerID: -1, producerEpoch: -1)) == false)  // CONCURRENT_TRANSACTIONS
        #expect(Self.isDone(machine.initCompleted(errorCode: 0, producerID: 7, producerEpoch: 3)))
        #expect(machine.producerID == 7 && machine.producerEpoch == 3)
        #expect(!machine.needsInitialisation)
    }

    @Test func nonRetriableInitFailureLeavesTheProducerUninitialised() {
        var machine = TransactionStateMachine(transactionalID: "tx_0", transactionTimeoutMs: 1000)
        _ = machine.initialise()
        let error = Self.failure(machine.initCompleted(errorCode: 53, producerID: -1, producerEpoch: -1))  // TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        #expect(error?.kafkaCode == 53 && error?.code == .brokerError)
        #expect(machine.needsInitialisation)
        #expect(throws: KafkaError.self) { try machine.begin() }
    }

    // MARK: Partitions

    @Test func onlyPartitionsNewToTheTransactionAreAdded() {
        var machine = Self.ready()
        try! machine.begin()
        #expect(machine.partitionsToAdd([Self.a1, Self.a0, Self.a0]) == [Self.a0, Self.a1])
        let request = machine.addPartitionsRequest([Self.b0, Self.a0, Self.a1])
        #expect(request.v3AndBelowTransactionalId == "tx_0" && request.v3AndBelowProducerId == 7 && request.v3AndBelowProducerEpoch == 2)
        #expect(request.v3AndBelowTopics.map(\.name) == ["a", "b"])
        #expect(request.v3AndBelowTopics.map(\.partitions) == [[0, 1], [0]])
        #expect(Self.isDone(machine.addPartitionsCompleted([(Self.a0, 0), (Self.a1, 0)])))
        #expect(machine.partitionsToAdd([Self.a0, Self.a1, Self.b0]) == [Self.b0])
        // A new transaction starts with no partitions.
        _ = machine.commit()
        _ = machine.endCompleted(errorCode: 0)
        try! machine.begin()
        #expect(machine.partitionsToAdd([Self.a0]) == [Self.a0])
    }

    @Test func addPartitionsRetriesConcurrentTransactionsAndKeepsPartialSuccess() {
        var machine = Self.ready()
        try! machine.begin()
        #expect(Self.retry(machine.addPartitionsCompleted([(Self.a0, 0), (Self.a1, 51)])) == false)
        #expect(machine.partitionsToAdd([Self.a0, Self.a1]) == [Self.a1])
        #expect(Self.retry(machine.addPartitionsCompleted([(Self.a1, 16)])) == true)
        #expect(Self.isDone(machine.addPartitionsCompleted([(Self.a1, 0)])))
    }

    @Test func addPartitionsHardErrorMakesTheTransactionAbortOnly() {
        var machine = Self.ready()
        try! machine.begin()
        // TOPIC_AUTHORIZATION_FAILED on one partition, OPERATION_NOT_ATTEMPTED on the other.
        let error = Self.failure(machine.addPartitionsCompleted([(Self.a0, 29), (Self.a1, 55)]))
        #expect(error?.kafkaCode == 29)
        #expect(throws: KafkaError.self) { try machine.requireOpen() }
        guard case .fail(let refused) = machine.commit() else { Issue.record("commit must be refused"); return }
        #expect(refused.kafkaCode == 29)
        // Nothing was added: the abort ends locally. Any abortable error bumps the epoch before the next one.
        guard case .completeLocally = machine.abort() else { Issue.record("expected a local abort"); return }
        #expect(machine.needsInitialisation)
    }

    @Test func fencingDuringAddPartitionsIsFatal() {
        for code: Int16 in [90, 47] {
            var machine = Self.ready()
            try! machine.begin()
            let error = Self.failure(machine.addPartitionsCompleted([(Self.a0, code)]))
            #expect(error?.code == .producerFenced)
            #expect(error?.kafkaCode == code)
            #expect(machine.needsInitialisation)
            guard case .fail = machine.abort() else { Issue.record("a fenced producer cannot abort"); return }
            // Re-initialising uses a fresh id request (it fences whoever fenced us).
            let request = machine.initialise()
            #expect(request.producerId == -1 && request.producerEpoch == -1)
        }
    }

    // MARK: Produce

    @Test func sequencesAdvancePerPartitionAndContinueAcrossTransactions() {
        var machine = Self.inTransaction(with: [Self.a0, Self.a1])
        #expect(machine.sequence(for: Self.a0) == 0)
        guard case .appended = machine.produceCompleted(Self.a0, errorCode: 0, recordCount: 3) else { Issue.record("appended"); return }
        guard case .appended = machine.produceCompleted(Self.a1, errorCode: 46, recordCount: 2) else { Issue.record("duplicate is success"); return }
        #expect(machine.sequence(for: Self.a0) == 3)
        #expect(machine.sequence(for: Self.a1) == 2)
        guard case .send(let end) = machine.commit() else { Issue.record("commit sends EndTxn"); return }
        #expect(end.committed && end.producerId == 7 && end.producerEpoch == 2 && end.transactionalId == "tx_0")
        #expect(Self.isDone(machine.endCompleted(errorCode: 0)))
        try! machine.begin()
        #expect(machine.sequence(for: Self.a0) == 3)
    }

    @Test func sequenceWrapsAtInt32Max() {
        var machine = Self.inTransaction()
        _ = machine.produceCompleted(Self.a0, errorCode: 0, recordCount: Int(Int32.max))
        #expect(machine.sequence(for: Self.a0) == Int32.max)
        _ = machine.produceCompleted(Self.a0, errorCode: 0, recordCount: 2)
        #expect(machine.sequence(for: Self.a0) == 1)
    }

    @Test func produceErrorsAreClassified() {
        var machine = Self.inTransaction()
        guard case .retry(true, _) = machine.produceCompleted(Self.a0, errorCode: 6, recordCount: 1) else { Issue.record("NOT_LEADER retries with a refresh"); return }
        guard case .retry(false, _) = machine.produceCompleted(Self.a0, errorCode: 7, recordCount: 1) else { Issue.record("REQUEST_TIMED_OUT retries"); return }
        #expect(machine.sequence(for: Self.a0) == 0)  // a retry keeps the sequence

        guard case .failed(let tooLarge) = machine.produceCompleted(Self.a0, errorCode: 10, recordCount: 1) else { Issue.record("MESSAGE_TOO_LARGE fails"); return }
        #expect(tooLarge.kafkaCode == 10 && tooLarge.code == .brokerError)
        guard case .abortableError = machine.state else { Issue.record("abort-only after a failed record"); return }

        var abortable = Self.inTransaction()
        guard case .failed(let error) = abortable.produceCompleted(Self.a0, errorCode: 120, recordCount: 1) else { Issue.record("TRANSACTION_ABORTABLE"); return }
        #expect(error.code == .transactionAbortable)
        guard case .send(let end) = abortable.abort() else { Issue.record("abort sends EndTxn"); return }
        #expect(!end.committed)
        #expect(Self.isDone(abortable.endCompleted(errorCode: 0)))
        #expect(abortable.needsInitialisation)

        var fenced = Self.inTransaction()
        guard case .failed(let fencedError) = fenced.produceCompleted(Self.a0, errorCode: 90, recordCount: 1) else { Issue.record("fenced"); return }
        #expect(fencedError.code == .producerFenced)
        #expect(fenced.needsInitialisation)
    }

    /// OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, and (KIP-588) INVALID_PRODUCER_EPOCH on Produce.
    @Test(arguments: [45, 59, 47] as [Int16])
    func sequenceErrorsAbortAndBumpTheEpochOnReinitialisation(code: Int16) {
        var machine = Self.inTransaction()
        guard case .failed(let error) = machine.produceCompleted(Self.a0, errorCode: code, recordCount: 1) else { Issue.record("\(code)"); return }
        #expect(error.code == .transactionAbortable)
        #expect(error.kafkaCode == code)
        guard case .send = machine.abort() else { Issue.record("abort"); return }
        #expect(Self.isDone(machine.endCompleted(errorCode: 0)))
        #expect(machine.needsInitialisation)  // KIP-360 bump first
        let request = machine.initialise()
        #expect(request.producerId == 7 && request.producerEpoch == 2)
        // The broker refuses the bump (our epoch is stale): fall back to a fresh id.
        #expect(Self.retry(machine.initCompleted(errorCode: 47, producerID: -1, producerEpoch: -1)) == false)
        let fresh = machine.initialise()
        #expect(fresh.producerId == -1)
        #expect(Self.isDone(machine.initCompleted(errorCode: 0, producerID: 7, producerEpoch: 3)))
        try! machine.begin()
        #expect(machine.sequence(for: Self.a0) == 0)
    }

    /// A produce that gave up without an answer (here: the delivery timeout after a request timed out) may
    /// have left its batch in the log, aborted, at sequences the producer did not count as used. The next
    /// transaction must not reuse them under the same epoch (the broker would take a batch of the same size
    /// for a duplicate and drop it): the abort is followed by an epoch bump, and sequences restart at 0.
    @Test func aProduceThatGaveUpBumpsTheEpochBeforeTheNextTransaction() {
        var machine = Self.inTransaction()
        guard case .retry = machine.produceCompleted(Self.a0, errorCode: 7, recordCount: 1) else { Issue.record("REQUEST_TIMED_OUT retries"); return }
        machine.recordsFailed(KafkaError(.transactionTimedOut, "not acknowledged within the delivery timeout", isRetriable: true))
        guard case .send = machine.abort() else { Issue.record("abort"); return }
        #expect(Self.isDone(machine.endCompleted(errorCode: 0)))
        #expect(machine.needsInitialisation)
        #expect(throws: KafkaError.self) { try machine.begin() }
        let request = machine.initialise()
        #expect(request.producerId == 7 && request.producerEpoch == 2)
        #expect(Self.isDone(machine.initCompleted(errorCode: 0, producerID: 7, producerEpoch: 3)))
        try! machine.begin()
        #expect(machine.sequence(for: Self.a0) == 0)
    }

    /// A coordinator that refuses the bump form with another error than fencing is asked for a fresh id
    /// instead of failing every initialisation.
    @Test func aRefusedBumpFallsBackToAFreshID() {
        var machine = Self.inTransaction()
        machine.recordsFailed(KafkaError(.cancelled, "cancelled"))
        guard case .send = machine.abort() else { Issue.record("abort"); return }
        #expect(Self.isDone(machine.endCompleted(errorCode: 0)))
        _ = machine.initialise()
        #expect(Self.retry(machine.initCompleted(errorCode: 42, producerID: -1, producerEpoch: -1)) == false)  // INVALID_REQUEST
        #expect(machine.initialise().producerId == -1)
    }

    // MARK: Ending

    @Test func emptyTransactionsEndWithoutARequest() {
        var machine = Self.ready()
        try! machine.begin()
        guard case .completeLocally = machine.commit() else { Issue.record("empty commit is local"); return }
        try! machine.begin()
        guard case .completeLocally = machine.abort() else { Issue.record("empty abort is local"); return }
        #expect(!machine.isInTransaction)
    }

    @Test func endTxnRetriesCoordinatorErrorsAndConcurrentTransactions() {
        var machine = Self.inTransaction()
        guard case .send = machine.commit() else { Issue.record("commit"); return }
        #expect(Self.retry(machine.endCompleted(errorCode: 16)) == true)
        #expect(Self.retry(machine.endCompleted(errorCode: 51)) == false)
        #expect(Self.isDone(machine.endCompleted(errorCode: 0)))
        guard case .ready = machine.state else { Issue.record("ready after commit"); return }
    }

    @Test func failedCommitAllowsAnAbort() {
        var machine = Self.inTransaction()
        guard case .send = machine.commit() else { Issue.record("commit"); return }
        let error = Self.failure(machine.endCompleted(errorCode: 48))  // INVALID_TXN_STATE
        #expect(error?.kafkaCode == 48)
        guard case .send(let abort) = machine.abort() else { Issue.record("abort after failed commit"); return }
        #expect(!abort.committed)
        // INVALID_TXN_STATE on abort: nothing left open.
        #expect(Self.isDone(machine.endCompleted(errorCode: 48)))
    }

    @Test func failedAbortRequiresReinitialisation() {
        var machine = Self.inTransaction()
        guard case .send = machine.abort() else { Issue.record("abort"); return }
        #expect(Self.failure(machine.endCompleted(errorCode: -1)) != nil)
        #expect(machine.needsInitialisation)
    }

    @Test func commitWhoseOutcomeIsUnknownRequiresReinitialisation() {
        var machine = Self.inTransaction()
        guard case .send = machine.commit() else { Issue.record("commit"); return }
        machine.stepGaveUp(KafkaError(.transactionTimedOut, "no answer", isRetriable: true))
        #expect(machine.needsInitialisation)
        guard case .fail = machine.abort() else { Issue.record("no abort after an unknown commit outcome"); return }
    }

    @Test func commitOutsideATransactionIsRefused() {
        var machine = Self.ready()
        guard case .fail(let error) = machine.commit() else { Issue.record("refused"); return }
        #expect(error.code == .transactionNotActive)
    }

    // MARK: Offsets

    @Test func aRefusedLeaderEpochIsLeftOutOfTheNextTxnOffsetCommit() {
        var machine = Self.inTransaction()
        _ = machine.addOffsetsRequest(groupID: "g")
        _ = machine.addOffsetsCompleted(groupID: "g", errorCode: 0)
        let group = KafkaConsumerGroupMetadata(groupID: "g", generationID: 5, memberID: "m")
        let offsets = [Self.a0: KafkaCommittedOffset(offset: 3, leaderEpoch: 4)]
        #expect(machine.txnOffsetCommitRequest(offsets, group: group, version: 3).topics[0].partitions[0].committedLeaderEpoch == 4)
        // FENCED_LEADER_EPOCH (the mock cluster checks the epoch): sent again, without epochs from now on.
        #expect(Self.retry(machine.txnOffsetCommitCompleted([(Self.a0, 74)])) == false)
        #expect(machine.txnOffsetCommitRequest(offsets, group: group, version: 3).topics[0].partitions[0].committedLeaderEpoch == -1)
        // Refused again without one: an ordinary retriable error.
        #expect(Self.retry(machine.txnOffsetCommitCompleted([(Self.a0, 74)])) == false)
        #expect(Self.isDone(machine.txnOffsetCommitCompleted([(Self.a0, 0)])))
        guard case .send = machine.commit() else { Issue.record("commit refused after the offsets landed"); return }
    }

    @Test func offsetsAreAddedOncePerGroupAndCommittedWithMemberFieldsFromV3() {
        var machine = Self.inTransaction()
        #expect(machine.needsAddOffsets(groupID: "g"))
        let add = machine.addOffsetsRequest(groupID: "g")
        #expect(add.groupId == "g" && add.producerId == 7 && add.producerEpoch == 2 && add.transactionalId == "tx_0")
        #expect(Self.retry(machine.addOffsetsCompleted(groupID: "g", errorCode: 51)) == false)
        #expect(Self.isDone(machine.addOffsetsCompleted(groupID: "g", errorCode: 0)))
        #expect(!machine.needsAddOffsets(groupID: "g"))

        let group = KafkaConsumerGroupMetadata(groupID: "g", generationID: 5, memberID: "m", groupInstanceID: "i")
        let offsets = [
            Self.b0: KafkaCommittedOffset(offset: 10), Self.a1: KafkaCommittedOffset(offset: 4, leaderEpoch: 6, metadata: "m4"),
            Self.a0: KafkaCommittedOffset(offset: 3),
        ]
        let v3 = machine.txnOffsetCommitRequest(offsets, group: group, version: 3)
        #expect(v3.generationId == 5 && v3.memberId == "m" && v3.groupInstanceId == "i")
        #expect(v3.topics.map(\.name) == ["a", "b"])
        #expect(v3.topics[0].partitions.map(\.partitionIndex) == [0, 1])
        #expect(v3.topics[0].partitions.map(\.committedOffset) == [3, 4])
        #expect(v3.topics[0].partitions.map(\.committedLeaderEpoch) == [-1, 6])
        #expect(v3.topics[0].partitions.map(\.committedMetadata) == ["", "m4"])
        let v2 = machine.txnOffsetCommitRequest(offsets, group: group, version: 2)
        #expect(v2.generationId == -1 && v2.memberId == "" && v2.groupInstanceId == nil)
        #expect(v2.topics[0].partitions.map(\.committedLeaderEpoch) == [-1, 6])
        // v0-1 have no leader epoch field.
        #expect(machine.txnOffsetCommitRequest(offsets, group: group, version: 1).topics[0].partitions.map(\.committedLeaderEpoch) == [-1, -1])
        var buffer = ByteBuffer()
        #expect(throws: Never.self) { try v2.encode(into: &buffer, version: 2) }

        #expect(Self.retry(machine.txnOffsetCommitCompleted([(Self.a0, 0), (Self.a1, 16)])) == true)
        let zombie = Self.failure(machine.txnOffsetCommitCompleted([(Self.a0, 25)]))  // UNKNOWN_MEMBER_ID
        #expect(zombie?.code == .transactionAbortable && zombie?.kafkaCode == 25)
        guard case .fail = machine.commit() else { Issue.record("commit refused after rejected offsets"); return }
        // The group joined the transaction: the abort goes to the coordinator.
        guard case .send = machine.abort() else { Issue.record("abort"); return }
    }
}
