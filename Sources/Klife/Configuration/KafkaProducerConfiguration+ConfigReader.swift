import Configuration

extension KafkaProducerConfiguration {
    /// Reads the options of the producer `name` from `configReader` (scoped to that producer's section);
    /// options it does not hold keep their defaults.
    ///
    /// Keys: `clientID`, `acks` (`all`, `1`, `0`), `linger`, `batchSizeBytes`, `deliveryTimeout`,
    /// `requestTimeout`, `retryBackoff`, `maxInFlightRequests`, `batchersCount`, `enableIdempotence`,
    /// `compression` (`none`, `gzip`, `snappy`, `lz4`, `zstd`), `compressionLevel`, `maxBufferedBytes`, `maxBufferedRecords`,
    /// `maxRecordBytes`. Durations are strings
    /// with a unit (`"5ms"`, `"30s"`) or integers of milliseconds.
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
        if let value = options.string("clientID") { clientID = value }
        if let value = options.parsed("acks", expected: "all, 1 or 0", Acks.init(name:)) { acks = value }
        if let value = options.duration("linger") { linger = value }
        if let value = options.int("batchSizeBytes") { batchSizeBytes = value }
        if let value = options.duration("deliveryTimeout") { deliveryTimeout = value }
        if let value = options.duration("requestTimeout") { requestTimeout = value }
        if let value = options.duration("retryBackoff") { retryBackoff = value }
        if let value = options.int("maxInFlightRequests") { maxInFlightRequests = value }
        if let value = options.int("batchersCount") { batchersCount = value }
        if let value = options.bool("enableIdempotence") { enableIdempotence = value }
        if let value = options.parsed("compression", expected: "none, gzip, snappy, lz4 or zstd", KafkaCompression.init(name:)) {
            compression = value
        }
        if let value = options.int("compressionLevel") { compressionLevel = value }
        if let value = options.int("maxBufferedBytes") { maxBufferedBytes = value }
        if let value = options.int("maxBufferedRecords") { maxBufferedRecords = value }
        if let value = options.int("maxRecordBytes") { maxRecordBytes = value }
    }
}
