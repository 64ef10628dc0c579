import Configuration

extension KafkaTransactionalPoolConfiguration {
    /// Reads the options of the transactional pool `name` from `configReader` (scoped to that pool's
    /// section); options it does not hold keep their defaults.
    ///
    /// Keys: `baseTransactionalID`, `poolSize`, `transactionTimeout`, `deliveryTimeout`, `requestTimeout`,
    /// `retryBackoff`, `compression`, `compressionLevel`, `maxRecordBytes`. Durations are strings with a unit or integers of milliseconds.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` naming each malformed or
    ///   wrongly typed key with its path.
    public init(name: String, configReader: ConfigReader) throws {
        let options = KafkaOptionReader(configReader)
        self.init(name: name, options: options)
        try options.throwIfProblems()
    }

    init(name: String, options: KafkaOptionReader) {
        self.init(name: name)
        if let value = options.string("baseTransactionalID") { baseTransactionalID = value }
        if let value = options.int("poolSize") { poolSize = value }
        if let value = options.duration("transactionTimeout") { transactionTimeout = value }
        if let value = options.duration("deliveryTimeout") { deliveryTimeout = value }
        if let value = options.duration("requestTimeout") { requestTimeout = value }
        if let value = options.duration("retryBackoff") { retryBackoff = value }
        if let value = options.parsed("compression", expected: "none, gzip, snappy, lz4 or zstd", KafkaCompression.init(name:)) {
            compression = value
        }
        if let value = options.int("compressionLevel") { compressionLevel = value }
        if let value = options.int("maxRecordBytes") { maxRecordBytes = value }
    }
}
