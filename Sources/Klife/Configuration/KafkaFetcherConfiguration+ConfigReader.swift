import Configuration

extension KafkaFetcherConfiguration {
    /// Reads the options of the fetcher `name` from `configReader` (scoped to that fetcher's section);
    /// options it does not hold keep their defaults.
    ///
    /// Keys: `clientID`, `linger`, `maxBytesPerRequest`, `maxInFlightRequests`, `batchersCount`,
    /// `requestTimeout`, `maxWait`, `minBytes`. Durations are strings with a unit or integers of milliseconds.
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
        if let value = options.duration("linger") { linger = value }
        if let value = options.int("maxBytesPerRequest") { maxBytesPerRequest = value }
        if let value = options.int("maxInFlightRequests") { maxInFlightRequests = value }
        if let value = options.int("batchersCount") { batchersCount = value }
        if let value = options.duration("requestTimeout") { requestTimeout = value }
        if let value = options.duration("maxWait") { maxWait = value }
        if let value = options.int("minBytes") { minBytes = value }
    }
}
