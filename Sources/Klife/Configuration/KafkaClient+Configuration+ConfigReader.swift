import Configuration

extension KafkaClient.Configuration {
    /// Reads the whole client configuration from `configReader` (a JSON file, environment variables,
    /// command-line arguments or any other swift-configuration provider); options it does not hold keep
    /// their defaults.
    ///
    /// Keys are the Swift property names, nested as the Swift types nest:
    ///
    /// ```json
    /// {
    ///   "connection": { "bootstrapServers": ["127.0.0.1:9092"], "clientID": "orders" },
    ///   "defaultProducer": "fast",
    ///   "producers": { "names": ["fast"], "fast": { "linger": "5ms", "compression": "zstd" } },
    ///   "topics": { "names": ["orders"], "orders": { "producer": "fast" } }
    /// }
    /// ```
    ///
    /// - `connection.*`: see ``KafkaConnectionConfiguration/init(configReader:)``.
    /// - `defaultProducer`, `defaultTransactionalPool`, `defaultFetcher`: names.
    /// - `producers.names`, `transactionalPools.names`, `fetchers.names`, `topics.names`: the configured
    ///   entries (a list, or one comma-separated string; a provider cannot list keys, so the names are
    ///   given). Each entry's options live under `<section>.<name>.*`. The default producer, pool and fetcher
    ///   sections are read even when their names are not listed.
    /// - `disabledFeatures`: a list of ``KafkaClient/Feature`` names (`producer`, `transactionalProducer`,
    ///   `idempotentProducer`, `fetch`, `consumerGroup`, `admin`).
    /// - `enableUnknownTopics` (boolean), `metadataRefreshInterval` (duration).
    ///
    /// Durations are strings with a unit (`"250ms"`, `"30s"`, `"2m"`) or integers of milliseconds (Klife's
    /// unit). Environment variables spell keys in upper snake case (`CONNECTION_BOOTSTRAP_SERVERS`,
    /// `PRODUCERS_FAST_LINGER`), command-line arguments in kebab case (`--connection-bootstrap-servers`).
    /// Partitioners are code (``partitioners``, ``defaultPartitioner``) and are not read. Unknown keys cannot
    /// be seen through a `ConfigReader`; check a JSON file with ``unknownKeys(inJSON:scope:)``.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` whose message lists every
    ///   missing, malformed or wrongly typed key with its full path, e.g.
    ///   `producers.fast.linger: expected a duration such as "250ms", "30s" or a number of milliseconds, got the boolean true`.
    ///   The values are not cross-checked here; ``validate()`` does that (the client runs it on start).
    public init(configReader: ConfigReader) throws {
        let options = KafkaOptionReader(configReader)
        self.init(options: options)
        try options.throwIfProblems()
    }

    init(options: KafkaOptionReader) {
        self.init(connection: KafkaConnectionConfiguration(options: options.scoped("connection")))
        if let value = options.string("defaultProducer") { defaultProducer = value }
        if let value = options.string("defaultTransactionalPool") { defaultTransactionalPool = value }
        if let value = options.string("defaultFetcher") { defaultFetcher = value }

        producers = Self.sectionNames(options, "producers", including: defaultProducer).map {
            KafkaProducerConfiguration(name: $0, options: options.scoped("producers", $0))
        }
        transactionalPools = Self.sectionNames(options, "transactionalPools", including: defaultTransactionalPool).map {
            KafkaTransactionalPoolConfiguration(name: $0, options: options.scoped("transactionalPools", $0))
        }
        fetchers = Self.sectionNames(options, "fetchers", including: defaultFetcher).map {
            KafkaFetcherConfiguration(name: $0, options: options.scoped("fetchers", $0))
        }
        topics = Self.sectionNames(options, "topics", including: nil).map {
            KafkaTopicConfiguration(name: $0, options: options.scoped("topics", $0))
        }

        if let names = options.stringArray("disabledFeatures") {
            var features: Set<KafkaClient.Feature> = []
            for name in names {
                if let feature = KafkaClient.Feature.configurable.first(where: { $0.rawValue.lowercased() == name.lowercased() }) {
                    features.insert(feature)
                } else {
                    let known = KafkaClient.Feature.configurable.map(\.rawValue).joined(separator: ", ")
                    options.report("disabledFeatures", "unknown feature \"\(name)\" (known: \(known))")
                }
            }
            disabledFeatures = features
        }
        if let value = options.bool("enableUnknownTopics") { enableUnknownTopics = value }
        if let value = options.duration("metadataRefreshInterval") { metadataRefreshInterval = value }
    }

    /// The entry names of `section`: its `names` list, plus the default entry's name when given and missing.
    private static func sectionNames(_ options: KafkaOptionReader, _ section: String, including defaultName: String?) -> [String] {
        var names = options.scoped(section).stringArray("names") ?? []
        var seen = Set<String>()
        names = names.filter { seen.insert($0).inserted }
        if let defaultName, !defaultName.isEmpty, !seen.contains(defaultName) { names.append(defaultName) }
        return names
    }
}

extension KafkaClient.Feature {
    /// The features `disabledFeatures` can name in a configuration file.
    static let configurable: [KafkaClient.Feature] = [
        .producer, .transactionalProducer, .idempotentProducer, .fetch, .consumerGroup, .admin,
    ]
}
