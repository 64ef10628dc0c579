import Synchronization

/// The open transaction inside ``KafkaClient/withTransaction(options:isolation:_:)``: records produced and
/// offsets sent through it are committed together when the closure returns, or aborted when it throws.
///
/// Transactions use an explicit handle rather than Klife's implicit routing (Klife keeps the transaction in
/// the process dictionary, so every produce call of the process joins it). In Swift a task-local would
/// silently leak the transaction into child tasks and miss unstructured ones; with a handle the code says
/// which writes are transactional, and ``KafkaClient/produce(_:options:)`` inside the closure stays
/// non-transactional.
///
/// Calls on one handle run one after another (one request in flight per partition keeps sequence numbers in
/// order); calls from concurrent child tasks wait for each other. After the closure returns, the handle is
/// closed and every call throws ``KafkaError/Code/transactionNotActive``.
///
/// A failed record, rejected offsets or TRANSACTION_ABORTABLE leave the transaction abort-only: later calls
/// throw that error and the commit is refused (``KafkaTransactionError/commitError``), so a transaction
/// never commits with a hole in it.
public final class KafkaTransaction: Sendable {
    /// The transactional id of the pool member running this transaction.
    public var transactionalID: String { producer.transactionalID }

    /// Whether the handle still accepts calls: true until its closure has returned or thrown (Klife's
    /// `in_txn?`, for the explicit handle). It may also be true while the transaction can only abort.
    public var isActive: Bool { isOpen.withLock { $0 } }

    let producer: TransactionalProducer
    private let lock = AsyncSerialLock()
    private let isOpen = Mutex(true)

    init(producer: TransactionalProducer) {
        self.producer = producer
    }

    /// Produces one record in the transaction and waits until the partition leader has it (acks = all). It
    /// becomes visible to read_committed readers when the transaction commits.
    ///
    /// - Returns: the record with its partition, offset (nil when the broker reported it as a duplicate
    ///   without one) and timestamp.
    /// - Throws: ``KafkaError`` whose ``KafkaError/failedRecord`` is the record: ``KafkaError/Code/transactionNotActive``,
    ///   ``KafkaError/Code/unknownTopicOrPartition``, ``KafkaError/Code/invalidPartition``, ``KafkaError/Code/recordTooLarge``, ``KafkaError/Code/invalidArgument``,
    ///   ``KafkaError/Code/brokerError`` (with `kafkaCode`, e.g. 10 MESSAGE_TOO_LARGE), ``KafkaError/Code/transactionAbortable``,
    ///   ``KafkaError/Code/producerFenced``, ``KafkaError/Code/transactionTimedOut``, ``KafkaError/Code/unsupportedByBroker``,
    ///   ``KafkaError/Code/cancelled``.
    public func produce(_ record: KafkaRecord) async throws -> KafkaRecord {
        switch await produceBatch([record])[0] {
        case .success(let produced):
            return produced
        case .failure(var error):
            var failed = record
            failed.error = error
            error.underlying = KafkaFailedRecord(record: failed)
            throw error
        }
    }

    /// Produces records in the transaction: partitions new to the transaction are added with one
    /// AddPartitionsToTxn, then one Produce request goes to each leader broker. Records of one partition keep
    /// their input order.
    ///
    /// - Returns: one result per record, in input order; failures carry the codes listed at ``produce(_:)``.
    ///   Any failure makes the transaction abort-only.
    public func produceBatch(_ records: [KafkaRecord]) async -> [Result<KafkaRecord, KafkaError>] {
        guard !records.isEmpty else { return [] }
        if let traced = await produceBatchInSpan(records) { return traced }
        if Task.isCancelled {
            let error = KafkaError(.cancelled, "the task was cancelled before the records were produced")
            producer.machine.withLock { $0.recordsFailed(error) }
            return records.map { _ in .failure(error) }
        }
        return await lock.withLock {
            guard isOpen.withLock({ $0 }) else {
                let error = Self.notActive(producer.transactionalID)
                return records.map { _ in .failure(error) }
            }
            return await producer.produce(records)
        }
    }

    /// Adds consumed offsets to the transaction, so that they are committed for `groupMetadata.groupID`
    /// if and only if the transaction commits (consume-transform-produce exactly once): AddOffsetsToTxn to
    /// the transaction coordinator (once per group), then TxnOffsetCommit to the group coordinator.
    ///
    /// - Parameters:
    ///   - offsets: per partition, the offset of the **next** record to consume (last processed + 1).
    ///   - groupMetadata: the consumer's group (and member, to fence zombie members).
    /// - Throws: ``KafkaError``: ``KafkaError/Code/transactionNotActive``, ``KafkaError/Code/transactionAbortable``
    ///   (e.g. UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION: the consumer lost its group membership),
    ///   ``KafkaError/Code/producerFenced``, ``KafkaError/Code/transactionTimedOut``, ``KafkaError/Code/unsupportedByBroker``,
    ///   ``KafkaError/Code/protocolViolation``.
    public func sendOffsets(_ offsets: [KafkaTopicPartition: Int64], groupMetadata: KafkaConsumerGroupMetadata) async throws {
        try await send(offsets.mapValues { KafkaCommittedOffset(offset: $0) }, groupMetadata)
    }

    /// Adds a processed batch's position to the transaction, so that it is committed for the batch's group
    /// if and only if the transaction commits: ``KafkaConsumerBatch/nextOffset`` with the leader epoch of the
    /// batch's last record (KIP-320: the partition's next owner starting there checks it against the log, and
    /// detects a truncation instead of reading past it), under the batch's ``KafkaConsumerBatch/groupMetadata``.
    ///
    /// - Parameter batch: a batch a consumer group handed out (for ``KafkaConsumerGroup/batches``, its
    ///   ``KafkaConsumerGroupBatch/batch``).
    /// - Throws: as ``sendOffsets(_:groupMetadata:)``.
    public func sendOffsets(of batch: KafkaConsumerBatch) async throws {
        let last = batch.records.last
        try await send(
            [KafkaTopicPartition(batch.topic, batch.partition): KafkaCommittedOffset(offset: batch.nextOffset, leaderEpoch: last?.leaderEpoch)],
            batch.groupMetadata)
    }

    private func send(_ offsets: [KafkaTopicPartition: KafkaCommittedOffset], _ groupMetadata: KafkaConsumerGroupMetadata) async throws {
        try await lock.withLock {
            guard isOpen.withLock({ $0 }) else { throw Self.notActive(producer.transactionalID) }
            try await producer.sendOffsets(offsets, group: groupMetadata)
        }
    }

    /// Ends the handle's life: waits for a call in progress, then refuses later calls.
    func close() async {
        await lock.withLock { isOpen.withLock { $0 = false } }
    }

    private static func notActive(_ transactionalID: String) -> KafkaError {
        KafkaError(.transactionNotActive, "the transaction of \(transactionalID) has ended: use the handle only inside its withTransaction closure")
    }
}
