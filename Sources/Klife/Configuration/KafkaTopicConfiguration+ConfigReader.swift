import Configuration

extension KafkaTopicConfiguration {
    /// Reads the options of the topic `name` from `configReader` (scoped to that topic's section).
    ///
    /// Keys: `producer` (a producer name), `partitioner` (a key of
    /// ``KafkaClient/Configuration/partitioners``, which code registers).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` naming each wrongly typed
    ///   key with its path.
    public init(name: String, configReader: ConfigReader) throws {
        let options = KafkaOptionReader(configReader)
        self.init(name: name, options: options)
        try options.throwIfProblems()
    }

    init(name: String, options: KafkaOptionReader) {
        self.init(name: name, producer: options.string("producer"), partitioner: options.string("partitioner"))
    }
}
