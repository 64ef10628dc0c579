extension KafkaError.Code {
    /// Another producer with the same transactional id has started (InitProducerId bumped the epoch), or the
    /// coordinator aborted the transaction after its timeout: Kafka errors PRODUCER_FENCED (90), or
    /// INVALID_PRODUCER_EPOCH (47) from the transaction coordinator. The transaction is lost; the pool member
    /// re-initialises before its next use. (INVALID_PRODUCER_EPOCH on Produce is ``transactionAbortable``, as
    /// KIP-588 made it.)
    public static let producerFenced = Self("producerFenced")
    /// The transaction hit an error after which it can only be aborted (a record failed, TRANSACTION_ABORTABLE
    /// (120), a sequence error, INVALID_PRODUCER_EPOCH (47) on Produce, rejected offsets); `kafkaCode` is the
    /// broker's code when there was one.
    public static let transactionAbortable = Self("transactionAbortable")
    /// Set on records whose transaction was aborted, and thrown by
    /// ``KafkaClient/produceBatchTransactionally(_:options:)``: nothing of the transaction is visible to
    /// read_committed readers.
    public static let transactionAborted = Self("transactionAborted")
    /// A transaction named a transactional pool the client does not configure.
    public static let unknownTransactionalPool = Self("unknownTransactionalPool")
    /// A ``KafkaTransaction`` was used after its transaction ended (the handle escaped the closure).
    public static let transactionNotActive = Self("transactionNotActive")
    /// A transaction step (InitProducerId, AddPartitionsToTxn, Produce, AddOffsetsToTxn, TxnOffsetCommit, EndTxn)
    /// kept failing with retriable errors until the pool's delivery timeout passed; the message names the last one.
    public static let transactionTimedOut = Self("transactionTimedOut")
}
