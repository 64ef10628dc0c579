/// Why ``KafkaClient/withTransaction(options:isolation:_:)`` failed, shaped like postgres-nio's
/// `PostgresTransactionError`: each phase that went wrong has its error set.
///
/// - ``beginError`` alone: no transaction was started (the client is not running, the feature is disabled,
///   the pool is unknown, or InitProducerId failed); the closure did not run.
/// - ``closureError``: the closure threw. The transaction was aborted when ``abortError`` is nil; when it
///   is set the abort failed too (the pool member is re-initialised, which aborts the leftover transaction
///   on the coordinator, so nothing of it becomes visible to read_committed readers).
/// - ``commitError``: the closure returned but the commit failed. When the coordinator refused it, an abort
///   was then tried unless the producer was fenced; ``abortError`` says whether it failed. When no answer
///   came (timeout, lost connection, CONCURRENT_TRANSACTIONS until the delivery timeout),
///   ``commitOutcomeUnknown`` is true: the coordinator may have committed, and re-initialising the pool
///   member completes a commit it had begun. Sending the records again may then duplicate them.
public struct KafkaTransactionError: Error, Sendable, CustomStringConvertible {
    /// The transactional id of the pool member that ran the transaction, when one was checked out.
    public var transactionalID: String?
    /// Starting the transaction failed; nothing ran.
    public var beginError: KafkaError?
    /// The error the closure threw.
    public var closureError: (any Error)?
    /// The commit (EndTxn commit, or a transaction that could only abort) failed.
    public var commitError: KafkaError?
    /// The abort that followed a closure error or a failed commit failed.
    public var abortError: KafkaError?
    /// The commit got no definite answer: the transaction may have committed (no abort was tried).
    public var commitOutcomeUnknown: Bool

    public init(
        transactionalID: String? = nil, beginError: KafkaError? = nil, closureError: (any Error)? = nil,
        commitError: KafkaError? = nil, abortError: KafkaError? = nil, commitOutcomeUnknown: Bool = false
    ) {
        self.transactionalID = transactionalID
        self.beginError = beginError
        self.closureError = closureError
        self.commitError = commitError
        self.abortError = abortError
        self.commitOutcomeUnknown = commitOutcomeUnknown
    }

    public var description: String {
        var parts: [String] = []
        if let transactionalID { parts.append("transactional id \(transactionalID)") }
        if let beginError { parts.append("could not begin: \(beginError)") }
        if let closureError { parts.append("the closure threw: \(closureError)") }
        if let commitError { parts.append("commit failed: \(commitError)") }
        if let abortError { parts.append("abort failed: \(abortError)") }
        if commitOutcomeUnknown {
            parts.append("the commit's outcome is unknown: the transaction may have committed")
        } else if beginError == nil, abortError == nil, closureError != nil || commitError != nil {
            parts.append("the transaction was aborted")
        }
        return "KafkaTransactionError(" + parts.joined(separator: "; ") + ")"
    }
}
