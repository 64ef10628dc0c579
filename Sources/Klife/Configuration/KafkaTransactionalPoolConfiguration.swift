/// One named pool of transactional producers (Klife's `txn_pools:` entries).
///
/// Each worker of the pool is an idempotent producer with a fixed transactional id, `acks = all`,
/// no linger, one request in flight and one batcher, as in Klife.
public struct KafkaTransactionalPoolConfiguration: Sendable {
    /// Unique name within the client (Klife: `name`).
    public var name: String
    /// Prefix of the workers' transactional ids: worker `n` uses `"<base>_<n>"`. Empty = a random 15-character
    /// prefix chosen when the client starts (Klife: `base_txn_id`, default ""). Must differ between processes
    /// running at the same time: two processes with the same base fence each other's transactions.
    public var baseTransactionalID: String
    /// Number of transactional producers (Klife: `pool_size`, default 20).
    public var poolSize: Int
    /// `transaction_timeout_ms` sent in InitProducerId (Klife: `txn_timeout_ms`, default 90 s).
    public var transactionTimeout: Duration
    /// Total time budget of a record, retries included (default 60 s).
    public var deliveryTimeout: Duration
    /// Timeout of one request (default 30 s).
    public var requestTimeout: Duration
    /// Wait before a retry (default 1 s).
    public var retryBackoff: Duration
    /// Batch compression (default none).
    public var compression: KafkaCompression
    /// The codec's compression level; nil (the default) uses the codec's own. See
    /// ``KafkaProducerConfiguration/compressionLevel``.
    public var compressionLevel: Int?
    /// Largest record accepted, by its estimated encoded size (default 1 MiB); a larger one fails with
    /// ``KafkaError/Code/recordTooLarge`` and makes the transaction abort-only. See
    /// ``KafkaProducerConfiguration/maxRecordBytes``.
    public var maxRecordBytes: Int

    /// Klife's name of the pool that is started when none is configured under the default name.
    public static let defaultName = "klife_default_txn_pool"

    public init(
        name: String = KafkaTransactionalPoolConfiguration.defaultName,
        baseTransactionalID: String = "",
        poolSize: Int = 20,
        transactionTimeout: Duration = .seconds(90),
        deliveryTimeout: Duration = .seconds(60),
        requestTimeout: Duration = .seconds(30),
        retryBackoff: Duration = .seconds(1),
        compression: KafkaCompression = .none,
        compressionLevel: Int? = nil,
        maxRecordBytes: Int = KafkaProducerConfiguration.defaultMaxRecordBytes
    ) {
        self.name = name
        self.baseTransactionalID = baseTransactionalID
        self.poolSize = poolSize
        self.transactionTimeout = transactionTimeout
        self.deliveryTimeout = deliveryTimeout
        self.requestTimeout = requestTimeout
        self.retryBackoff = retryBackoff
        self.compression = compression
        self.compressionLevel = compressionLevel
        self.maxRecordBytes = maxRecordBytes
    }

    /// The transactional id of worker `index` (0-based) given the resolved base (see ``baseTransactionalID``).
    public static func transactionalID(base: String, worker index: Int) -> String {
        "\(base)_\(index)"
    }

    /// A random url-safe prefix of 15 characters, used when ``baseTransactionalID`` is empty.
    public static func randomBaseTransactionalID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        return String((0..<15).map { _ in alphabet.randomElement()! })
    }

    func validationProblems(path: String) -> [String] {
        var problems: [String] = []
        if name.isEmpty { problems.append("\(path).name must not be empty") }
        if poolSize <= 0 { problems.append("\(path).poolSize must be > 0") }
        if transactionTimeout <= .zero { problems.append("\(path).transactionTimeout must be > 0") }
        if deliveryTimeout <= .zero { problems.append("\(path).deliveryTimeout must be > 0") }
        if requestTimeout <= .zero { problems.append("\(path).requestTimeout must be > 0") }
        if retryBackoff < .zero { problems.append("\(path).retryBackoff must be >= 0") }
        if maxRecordBytes <= 0 { problems.append("\(path).maxRecordBytes must be > 0") }
        if let problem = compression.levelProblem(compressionLevel, option: "\(path).compressionLevel") { problems.append(problem) }
        if maxRecordBytes > KafkaProducerConfiguration.largestSizeBytes {
            problems.append("\(path).maxRecordBytes must be <= \(KafkaProducerConfiguration.largestSizeBytes)")
        }
        if deliveryTimeout > .zero && requestTimeout > .zero && deliveryTimeout < requestTimeout {
            problems.append("\(path).deliveryTimeout must be >= requestTimeout")
        }
        return problems
    }
}
