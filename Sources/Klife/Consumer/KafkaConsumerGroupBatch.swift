import Synchronization

/// A batch of one partition handed to the caller by ``KafkaConsumerGroup/batches`` (topics in
/// ``KafkaConsumerTopicOptions/Mode/manual`` mode, or every topic of a group started without a handler).
///
/// Answer each batch once with ``commit(cooldown:)``, ``retry(cooldown:)`` or ``complete(_:)``: the
/// partition's next batch comes only after the answer. A batch dropped without an answer counts as retried.
public final class KafkaConsumerGroupBatch: Sendable {
    /// The records, like a handler's ``KafkaConsumerBatch``.
    public let batch: KafkaConsumerBatch

    public var topic: String { batch.topic }
    public var partition: Int32 { batch.partition }
    /// In offset order; never empty.
    public var records: [KafkaRecord] { batch.records }
    /// The receiving member's group metadata, for ``KafkaTransaction/sendOffsets(_:groupMetadata:)``; see
    /// ``KafkaConsumerBatch/groupMetadata``.
    public var groupMetadata: KafkaConsumerGroupMetadata { batch.groupMetadata }

    let decision: ConsumerBatchDecision

    init(_ batch: KafkaConsumerBatch, decision: ConsumerBatchDecision) {
        self.batch = batch
        self.decision = decision
    }

    deinit {
        // Dropped without an answer: deliver the records again.
        decision.resolve(.retry)
    }

    /// The batch is processed: its offsets may be committed.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/batchAlreadyCompleted`` when the batch was answered
    ///   before, or its partition stopped meanwhile (the records will be delivered again, to this member or
    ///   another).
    public func commit(cooldown: Duration? = nil) throws {
        try complete(cooldown.map { .commit(cooldown: $0) } ?? .commit)
    }

    /// The batch is processed and a committed transaction already committed its offsets (see
    /// ``KafkaConsumerBatchResult/committedInTransaction``): the consumer moves on without an OffsetCommit.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/batchAlreadyCompleted`` as ``commit(cooldown:)``.
    public func committedInTransaction(cooldown: Duration? = nil) throws {
        try complete(cooldown.map { .committedInTransaction(cooldown: $0) } ?? .committedInTransaction)
    }

    /// Deliver the batch again (after `cooldown`).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/batchAlreadyCompleted`` as ``commit(cooldown:)``.
    public func retry(cooldown: Duration? = nil) throws {
        try complete(cooldown.map { .retry(cooldown: $0) } ?? .retry)
    }

    /// Whether the batch can still be answered: false once it was answered, or once its partition stopped
    /// without waiting for the answer (a partition stopping waits up to
    /// ``KafkaConsumerGroupConfiguration/rebalanceTimeout`` for a batch the caller holds).
    public var isOpen: Bool { !decision.isClosed }

    /// Answers with any result, e.g. ``KafkaConsumerBatchResult/perRecord(_:cooldown:)``.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/batchAlreadyCompleted`` as ``commit(cooldown:)``.
    public func complete(_ result: KafkaConsumerBatchResult) throws {
        guard decision.resolve(result) else {
            throw KafkaError(
                .batchAlreadyCompleted,
                "the batch of \(topic)/\(partition) at offset \(records.first?.offset ?? -1) was already answered, or its partition stopped")
        }
    }
}

/// The answer to one manual batch, awaited by the partition's worker. Kept apart from
/// ``KafkaConsumerGroupBatch`` so that the caller dropping the batch (its deinit) is an answer too.
final class ConsumerBatchDecision: Sendable {
    private struct State {
        var result: KafkaConsumerBatchResult?
        var waiter: CheckedContinuation<KafkaConsumerBatchResult?, Never>?
        /// Answered, or abandoned because the partition stopped.
        var closed = false
        /// Handed to the caller by ``KafkaConsumerGroupBatches`` (not just waiting in its buffer).
        var taken = false
    }

    private let state = Mutex(State())

    /// Sets the answer (nil: abandoned); false when there already was one.
    @discardableResult
    func resolve(_ result: KafkaConsumerBatchResult?) -> Bool {
        resolve(result, unlessTaken: false)
    }

    /// Sets the answer unless the batch is closed, or (with `unlessTaken`) in the caller's hands; decided
    /// under one lock, so a batch the caller takes meanwhile is never closed under it.
    private func resolve(_ result: KafkaConsumerBatchResult?, unlessTaken: Bool) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<KafkaConsumerBatchResult?, Never>?) in
            guard !state.closed, !(unlessTaken && state.taken) else { return (false, nil) }
            state.closed = true
            state.result = result
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume(returning: result)
        return accepted
    }

    /// Marks the batch as handed to the caller; false when it was abandoned first (its partition stopped while
    /// it waited in the buffer): it must then not be handed out.
    func markTaken() -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            state.taken = true
            return true
        }
    }

    /// Abandons the batch unless the caller has taken it; returns whether it was taken (and is still open).
    func abandonUnlessTaken() -> Bool {
        if resolve(nil, unlessTaken: true) { return false }
        return state.withLock { $0.taken && !$0.closed }
    }

    /// Whether the batch was answered or abandoned.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Waits for the answer; nil when abandoned or the task was cancelled.
    func wait() async -> KafkaConsumerBatchResult? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<KafkaConsumerBatchResult?, Never>) in
                let ready = state.withLock { state -> (Bool, KafkaConsumerBatchResult?) in
                    if state.closed || Task.isCancelled { return (true, state.result) }
                    state.waiter = continuation
                    return (false, nil)
                }
                if ready.0 { continuation.resume(returning: ready.1) }
            }
        } onCancel: {
            self.resolve(nil)
        }
    }
}
