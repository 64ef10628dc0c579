/// Per-call options of the transaction API (Klife's `pool_name:`).
public struct KafkaTransactionOptions: Sendable, Hashable {
    /// The transactional pool to take a producer from; nil uses
    /// ``KafkaClient/Configuration/defaultTransactionalPool``.
    public var pool: String?

    public init(pool: String? = nil) {
        self.pool = pool
    }
}
