extension KafkaClient {
    /// Everything a ``KafkaClient`` needs, with Klife's client options in Swift form (see each property).
    ///
    /// Named producers, transactional pools and fetchers are looked up by name. The default ones
    /// (``defaultProducer``, ``defaultTransactionalPool``, ``defaultFetcher``) are created with default
    /// options when no entry of that name is configured, as Klife does.
    ///
    /// ```swift
    /// var configuration = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)])
    /// configuration.producers = [KafkaProducerConfiguration(name: "fast", linger: .milliseconds(5))]
    /// configuration.topics = [KafkaTopicConfiguration(name: "events", producer: "fast")]
    /// try configuration.validate()
    /// ```
    public struct Configuration: Sendable {
        /// Brokers, TLS, SASL, socket options, default request timeout (Klife: `connection:`).
        public var connection: KafkaConnectionConfiguration
        /// Name of the producer used when neither the call nor the topic names one (Klife: `default_producer`).
        public var defaultProducer: String
        /// Named producers (Klife: `producers:`).
        public var producers: [KafkaProducerConfiguration]
        /// Partitioner used when neither the call nor the topic names one (Klife: `default_partitioner`).
        public var defaultPartitioner: any KafkaPartitioner
        /// Named partitioners that topics and produce calls can refer to.
        public var partitioners: [String: any KafkaPartitioner]
        /// Name of the transactional pool used when a transaction names none (Klife: `default_txn_pool`).
        public var defaultTransactionalPool: String
        /// Named transactional producer pools (Klife: `txn_pools:`).
        public var transactionalPools: [KafkaTransactionalPoolConfiguration]
        /// Per-topic default producer and partitioner (Klife: `topics:`).
        public var topics: [KafkaTopicConfiguration]
        /// Name of the fetcher used when a fetch or consumer group names none (Klife: `default_fetcher`).
        public var defaultFetcher: String
        /// Named fetchers (Klife: `fetchers:`).
        public var fetchers: [KafkaFetcherConfiguration]
        /// Features switched off: their tasks do not start and their calls throw (Klife: `disabled_features`).
        public var disabledFeatures: Set<KafkaClient.Feature>
        /// true: metadata is fetched for every topic of the cluster and any topic can be used. false: metadata is
        /// fetched only for the topics in ``topics`` and those the application reads (a fetch or a consumer
        /// group naming a topic configures it for reading; ``KafkaClient/listOffsets(topic:partitions:at:isolation:)``
        /// then accepts it too); records may only be produced to the topics in ``topics``, others fail with
        /// ``KafkaError/Code/unknownTopicOrPartition`` (Klife: `enable_unkown_topics`, default true).
        public var enableUnknownTopics: Bool
        /// Period of the metadata refresh (Klife: `metadata_check_interval_ms`, default 30 s). Stale-leader
        /// errors and broker changes trigger a refresh at once as well.
        public var metadataRefreshInterval: Duration

        public init(
            connection: KafkaConnectionConfiguration,
            defaultProducer: String = KafkaProducerConfiguration.defaultName,
            producers: [KafkaProducerConfiguration] = [],
            defaultPartitioner: any KafkaPartitioner = KafkaDefaultPartitioner(),
            partitioners: [String: any KafkaPartitioner] = [:],
            defaultTransactionalPool: String = KafkaTransactionalPoolConfiguration.defaultName,
            transactionalPools: [KafkaTransactionalPoolConfiguration] = [],
            topics: [KafkaTopicConfiguration] = [],
            defaultFetcher: String = KafkaFetcherConfiguration.defaultName,
            fetchers: [KafkaFetcherConfiguration] = [],
            disabledFeatures: Set<KafkaClient.Feature> = [],
            enableUnknownTopics: Bool = true,
            metadataRefreshInterval: Duration = .seconds(30)
        ) {
            self.connection = connection
            self.defaultProducer = defaultProducer
            self.producers = producers
            self.defaultPartitioner = defaultPartitioner
            self.partitioners = partitioners
            self.defaultTransactionalPool = defaultTransactionalPool
            self.transactionalPools = transactionalPools
            self.topics = topics
            self.defaultFetcher = defaultFetcher
            self.fetchers = fetchers
            self.disabledFeatures = disabledFeatures
            self.enableUnknownTopics = enableUnknownTopics
            self.metadataRefreshInterval = metadataRefreshInterval
        }

        /// A configuration with default options for the given bootstrap servers.
        public init(bootstrapServers: [KafkaConnectionConfiguration.BrokerAddress]) {
            self.init(connection: KafkaConnectionConfiguration(bootstrapServers: bootstrapServers))
        }

        /// The producers the client runs: ``producers`` plus the default producer with default options when
        /// no entry has its name.
        public var effectiveProducers: [KafkaProducerConfiguration] {
            producers.contains { $0.name == defaultProducer } ? producers : producers + [KafkaProducerConfiguration(name: defaultProducer)]
        }

        /// The transactional pools the client runs: ``transactionalPools`` plus the default pool when missing.
        public var effectiveTransactionalPools: [KafkaTransactionalPoolConfiguration] {
            transactionalPools.contains { $0.name == defaultTransactionalPool }
                ? transactionalPools : transactionalPools + [KafkaTransactionalPoolConfiguration(name: defaultTransactionalPool)]
        }

        /// The fetchers the client runs: ``fetchers`` plus the default fetcher when missing.
        public var effectiveFetchers: [KafkaFetcherConfiguration] {
            fetchers.contains { $0.name == defaultFetcher } ? fetchers : fetchers + [KafkaFetcherConfiguration(name: defaultFetcher)]
        }

        /// The producer configuration named `name` (the default one included), nil when there is none.
        public func producer(named name: String) -> KafkaProducerConfiguration? {
            effectiveProducers.first { $0.name == name }
        }

        /// The transactional pool configuration named `name`, nil when there is none.
        public func transactionalPool(named name: String) -> KafkaTransactionalPoolConfiguration? {
            effectiveTransactionalPools.first { $0.name == name }
        }

        /// The fetcher configuration named `name`, nil when there is none.
        public func fetcher(named name: String) -> KafkaFetcherConfiguration? {
            effectiveFetchers.first { $0.name == name }
        }

        /// The configuration of `topic`, nil when it has none.
        public func topic(named name: String) -> KafkaTopicConfiguration? {
            topics.first { $0.name == name }
        }

        /// Whether records may be produced to `topic`: any topic with ``enableUnknownTopics``, else only the
        /// configured ones (a topic only fetched or consumed is in the metadata too, but not one to produce to).
        func acceptsRecords(forTopic topic: String) -> Bool {
            enableUnknownTopics || self.topic(named: topic) != nil
        }

        /// The producer name for a record of `topic` when the call names none: the topic's, else the default.
        public func producerName(forTopic topic: String) -> String {
            self.topic(named: topic)?.producer ?? defaultProducer
        }

        /// The partitioner for `topic` given an optional per-call partitioner name: the call's, else the
        /// topic's, else ``defaultPartitioner``. nil when a name is given that is not configured.
        public func partitioner(forTopic topic: String, override name: String? = nil) -> (any KafkaPartitioner)? {
            if let name { return partitioners[name] }
            if let topicName = self.topic(named: topic)?.partitioner { return partitioners[topicName] }
            return defaultPartitioner
        }
    }
}
