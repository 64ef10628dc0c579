import Klife
import Testing

@Suite struct KafkaClientConfigurationTests {
    static let broker = KafkaConnectionConfiguration.BrokerAddress(host: "127.0.0.1", port: 9092)

    func configuration(_ mutate: (inout KafkaClient.Configuration) -> Void = { _ in }) -> KafkaClient.Configuration {
        var configuration = KafkaClient.Configuration(bootstrapServers: [Self.broker])
        mutate(&configuration)
        return configuration
    }

    /// Expects validation to fail with exactly one problem containing `fragment`.
    func expectProblem(_ fragment: String, _ mutate: (inout KafkaClient.Configuration) -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        let config = configuration(mutate)
        let problems = config.validationProblems()
        #expect(problems.contains { $0.contains(fragment) }, "problems: \(problems)", sourceLocation: sourceLocation)
        do {
            try config.validate()
            Issue.record("validate() accepted an invalid configuration", sourceLocation: sourceLocation)
        } catch let error as KafkaError {
            #expect(error.code == .invalidConfiguration, sourceLocation: sourceLocation)
            #expect(error.message.contains(fragment), sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func printedConfigurationsNeverShowTheSASLPassword() {
        let secret = "s3cr3t-pa55word"
        let configuration = configuration { $0.connection.sasl = .init(mechanism: .scramSHA512, username: "alice", password: secret) }
        var dumped = ""
        dump(configuration, to: &dumped)
        let renderings = [
            String(describing: configuration), String(reflecting: configuration), "\(configuration.connection)", dumped,
            String(describing: configuration.connection.sasl!), String(reflecting: configuration.connection.sasl),
        ]
        for text in renderings {
            #expect(!text.contains(secret), "password shown in: \(text)")
            #expect(text.contains("alice"), "user missing from: \(text)")
        }
        #expect(renderings.allSatisfy { $0.contains("<redacted>") })
        // Redaction is only in how it prints: the value is kept.
        #expect(configuration.connection.sasl?.password == secret)
    }

    @Test func defaultsMatchKlife() throws {
        let config = configuration()
        try config.validate()
        #expect(config.defaultProducer == "klife_default_producer")
        #expect(config.defaultTransactionalPool == "klife_default_txn_pool")
        #expect(config.defaultFetcher == "klife_default_fetcher")
        #expect(config.enableUnknownTopics)
        #expect(config.metadataRefreshInterval == .seconds(30))
        #expect(config.disabledFeatures.isEmpty)
        #expect(config.connection.requestTimeout == .seconds(30))
        #expect(config.connection.connectionsPerBroker == 1)

        let producer = KafkaProducerConfiguration()
        #expect(producer.acks == .all && producer.acks.rawValue == -1)
        #expect(producer.linger == .zero)
        #expect(producer.batchSizeBytes == 512_000)
        #expect(producer.deliveryTimeout == .seconds(60))
        #expect(producer.requestTimeout == .seconds(30))
        #expect(producer.retryBackoff == .seconds(1))
        #expect(producer.maxInFlightRequests == 1)
        #expect(producer.batchersCount == 1)
        #expect(producer.enableIdempotence)
        #expect(producer.compression == .none)

        let pool = KafkaTransactionalPoolConfiguration()
        #expect(pool.poolSize == 20)
        #expect(pool.transactionTimeout == .seconds(90))
        #expect(pool.deliveryTimeout == .seconds(60))
        #expect(pool.requestTimeout == .seconds(30))
        #expect(pool.retryBackoff == .seconds(1))
        #expect(pool.baseTransactionalID == "")

        let fetcher = KafkaFetcherConfiguration()
        #expect(fetcher.maxBytesPerRequest == 5_000_000)
        #expect(fetcher.maxInFlightRequests == 3)
        #expect(fetcher.requestTimeout == .seconds(30))
        #expect(fetcher.maxWait == .zero)
        #expect(fetcher.minBytes == 1)
        #expect(fetcher.linger == .zero)
        #expect(fetcher.batchersCount == nil)
    }

    @Test func defaultEntitiesAreAddedWhenMissing() {
        let config = configuration {
            $0.producers = [KafkaProducerConfiguration(name: "fast")]
            $0.fetchers = [KafkaFetcherConfiguration(name: "big")]
        }
        #expect(config.effectiveProducers.map(\.name) == ["fast", "klife_default_producer"])
        #expect(config.effectiveTransactionalPools.map(\.name) == ["klife_default_txn_pool"])
        #expect(config.effectiveFetchers.map(\.name) == ["big", "klife_default_fetcher"])

        let own = configuration {
            $0.defaultProducer = "fast"
            $0.producers = [KafkaProducerConfiguration(name: "fast", linger: .milliseconds(5))]
        }
        #expect(own.effectiveProducers.map(\.name) == ["fast"])
        #expect(own.producer(named: "fast")?.linger == .milliseconds(5))
        #expect(own.producer(named: "other") == nil)
    }

    @Test func topicResolution() throws {
        let custom = KafkaDefaultPartitioner(keylessStrategy: .random)
        let config = configuration {
            $0.producers = [KafkaProducerConfiguration(name: "fast")]
            $0.partitioners = ["random": custom]
            $0.topics = [KafkaTopicConfiguration(name: "events", producer: "fast", partitioner: "random")]
        }
        try config.validate()
        #expect(config.producerName(forTopic: "events") == "fast")
        #expect(config.producerName(forTopic: "other") == "klife_default_producer")
        #expect(config.partitioner(forTopic: "events") as? KafkaDefaultPartitioner === custom)
        #expect(config.partitioner(forTopic: "other") as? KafkaDefaultPartitioner === config.defaultPartitioner as? KafkaDefaultPartitioner)
        #expect(config.partitioner(forTopic: "other", override: "random") as? KafkaDefaultPartitioner === custom)
        #expect(config.partitioner(forTopic: "events", override: "nope") == nil)
    }

    @Test func topicMayNameTheImplicitDefaultProducer() throws {
        try configuration { $0.topics = [KafkaTopicConfiguration(name: "t", producer: "klife_default_producer")] }.validate()
    }

    // MARK: client-level rules

    @Test func emptyBootstrapList() { expectProblem("connection.bootstrapServers is empty") { $0.connection.bootstrapServers = [] } }
    @Test func emptyDefaultProducer() { expectProblem("defaultProducer must not be empty") { $0.defaultProducer = "" } }
    @Test func emptyDefaultPool() { expectProblem("defaultTransactionalPool must not be empty") { $0.defaultTransactionalPool = "" } }
    @Test func emptyDefaultFetcher() { expectProblem("defaultFetcher must not be empty") { $0.defaultFetcher = "" } }
    @Test func metadataInterval() {
        expectProblem("metadataRefreshInterval must be > 0") { $0.metadataRefreshInterval = .zero }
        expectProblem("metadataRefreshInterval must be > 0") { $0.metadataRefreshInterval = .seconds(-1) }
    }
    @Test func emptyPartitionerName() { expectProblem("partitioners has an empty name") { $0.partitioners = ["": KafkaDefaultPartitioner()] } }

    // MARK: producers

    static let producerRuleTable: [(String, @Sendable (inout KafkaProducerConfiguration) -> Void)] = [
        ("name must not be empty", { $0.name = "" }),
        ("linger must be >= 0", { $0.linger = .milliseconds(-1) }),
        ("batchSizeBytes must be > 0", { $0.batchSizeBytes = 0 }),
        ("deliveryTimeout must be > 0", { $0.deliveryTimeout = .zero }),
        ("requestTimeout must be > 0", { $0.requestTimeout = .seconds(-5) }),
        ("retryBackoff must be >= 0", { $0.retryBackoff = .milliseconds(-1) }),
        ("maxInFlightRequests must be > 0", { $0.maxInFlightRequests = 0 }),
        ("batchersCount must be > 0", { $0.batchersCount = -1 }),
        ("maxBufferedBytes must be > 0", { $0.maxBufferedBytes = 0 }),
        ("maxBufferedBytes must be >= batchSizeBytes", { $0.maxBufferedBytes = 1000 }),
        ("maxBufferedRecords must be > 0", { $0.maxBufferedRecords = 0 }),
        ("maxRecordBytes must be > 0", { $0.maxRecordBytes = 0 }),
        ("maxRecordBytes must be <= 1073741824", { $0.maxRecordBytes = 1 << 31 }),
        ("batchSizeBytes must be <= 1073741824", { $0.batchSizeBytes = 1 << 31; $0.maxBufferedBytes = 1 << 32 }),
        ("deliveryTimeout must be >= linger + requestTimeout", { $0.deliveryTimeout = .seconds(10) }),
        ("acks must be all when enableIdempotence is true", { $0.acks = .leader }),
        ("maxInFlightRequests must be <= 5 when enableIdempotence is true", { $0.maxInFlightRequests = 6 }),
    ]

    @Test(arguments: 0..<producerRuleTable.count)
    func producerRule(index: Int) {
        let (fragment, mutate) = Self.producerRuleTable[index]
        expectProblem("producers[1].\(fragment)") {
            var bad = KafkaProducerConfiguration(name: "bad")
            mutate(&bad)
            $0.producers = [KafkaProducerConfiguration(name: "good"), bad]
        }
    }

    @Test func nonIdempotentProducerMayUseAcksZeroAndManyInFlight() throws {
        try configuration {
            $0.producers = [KafkaProducerConfiguration(name: "p", acks: .none, maxInFlightRequests: 10, enableIdempotence: false)]
        }.validate()
    }

    @Test func duplicateProducerNames() {
        expectProblem("producers[2].name \"a\" duplicates producers[0].name") {
            $0.producers = [.init(name: "a"), .init(name: "b"), .init(name: "a")]
        }
    }

    // MARK: transactional pools

    static let poolRuleTable: [(String, @Sendable (inout KafkaTransactionalPoolConfiguration) -> Void)] = [
        ("name must not be empty", { $0.name = "" }),
        ("poolSize must be > 0", { $0.poolSize = 0 }),
        ("transactionTimeout must be > 0", { $0.transactionTimeout = .zero }),
        ("deliveryTimeout must be > 0", { $0.deliveryTimeout = .zero }),
        ("requestTimeout must be > 0", { $0.requestTimeout = .zero }),
        ("retryBackoff must be >= 0", { $0.retryBackoff = .seconds(-1) }),
        ("maxRecordBytes must be > 0", { $0.maxRecordBytes = -1 }),
        ("maxRecordBytes must be <= 1073741824", { $0.maxRecordBytes = 1 << 40 }),
        ("deliveryTimeout must be >= requestTimeout", { $0.deliveryTimeout = .seconds(1) }),
    ]

    @Test(arguments: 0..<poolRuleTable.count)
    func poolRule(index: Int) {
        let (fragment, mutate) = Self.poolRuleTable[index]
        expectProblem("transactionalPools[0].\(fragment)") {
            var bad = KafkaTransactionalPoolConfiguration(name: "bad")
            mutate(&bad)
            $0.transactionalPools = [bad]
        }
    }

    @Test func duplicatePools() {
        expectProblem("transactionalPools[1].name \"p\" duplicates transactionalPools[0].name") {
            $0.transactionalPools = [.init(name: "p"), .init(name: "p")]
        }
        expectProblem("transactionalPools[1].baseTransactionalID \"tx\" duplicates transactionalPools[0].baseTransactionalID") {
            $0.transactionalPools = [.init(name: "p", baseTransactionalID: "tx"), .init(name: "q", baseTransactionalID: "tx")]
        }
    }

    @Test func transactionalIDs() {
        #expect(KafkaTransactionalPoolConfiguration.transactionalID(base: "orders", worker: 3) == "orders_3")
        let random = KafkaTransactionalPoolConfiguration.randomBaseTransactionalID()
        #expect(random.count == 15)
        #expect(random != KafkaTransactionalPoolConfiguration.randomBaseTransactionalID())
    }

    // MARK: fetchers

    static let fetcherRuleTable: [(String, @Sendable (inout KafkaFetcherConfiguration) -> Void)] = [
        ("name must not be empty", { $0.name = "" }),
        ("linger must be >= 0", { $0.linger = .milliseconds(-1) }),
        ("maxBytesPerRequest must be > 0", { $0.maxBytesPerRequest = 0 }),
        ("maxInFlightRequests must be > 0", { $0.maxInFlightRequests = 0 }),
        ("batchersCount must be > 0", { $0.batchersCount = 0 }),
        ("requestTimeout must be > 0", { $0.requestTimeout = .zero }),
        ("maxWait must be >= 0", { $0.maxWait = .milliseconds(-1) }),
        ("minBytes must be >= 0", { $0.minBytes = -1 }),
        ("maxWait must be < requestTimeout", { $0.maxWait = .seconds(30) }),
    ]

    @Test(arguments: 0..<fetcherRuleTable.count)
    func fetcherRule(index: Int) {
        let (fragment, mutate) = Self.fetcherRuleTable[index]
        expectProblem("fetchers[0].\(fragment)") {
            var bad = KafkaFetcherConfiguration(name: "bad")
            mutate(&bad)
            $0.fetchers = [bad]
        }
    }

    @Test func duplicateFetchers() {
        expectProblem("fetchers[1].name \"f\" duplicates fetchers[0].name") { $0.fetchers = [.init(name: "f"), .init(name: "f")] }
    }

    @Test func clientIDsMustFitARequestHeader() {
        let long = String(repeating: "x", count: 40_000)
        expectProblem("producers[0].clientID is 40000 bytes (set); at most 32767 fit in a request") {
            $0.producers = [.init(name: "p", clientID: long)]
        }
        expectProblem("fetchers[0].clientID is 40000 bytes (set)") { $0.fetchers = [.init(name: "f", clientID: long)] }
        // Derived ids count too: a connection clientID close to the limit leaves no room for the prefix.
        let problems = configuration { $0.connection.clientID = String(repeating: "c", count: 32_760) }.validationProblems()
        #expect(problems.contains { $0.hasPrefix("the default producer \"klife_default_producer\".clientID is 32798 bytes (derived from connection.clientID)") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("the default fetcher \"klife_default_fetcher\".clientID is 32796 bytes") }, "\(problems)")
    }

    @Test func disabledFeaturesAreKnownAndAgreeWithTheProducers() {
        expectProblem("disabledFeatures names an unknown feature \"prodcuer\"") { $0.disabledFeatures = [KafkaClient.Feature("prodcuer")] }
        expectProblem("producers[0].enableIdempotence is true but disabledFeatures contains idempotentProducer") {
            $0.disabledFeatures = [.idempotentProducer]
            $0.producers = [.init(name: "p")]
        }
        // The implicit default producer is left to the per-call featureDisabled error.
        #expect(configuration { $0.disabledFeatures = [.idempotentProducer] }.validationProblems().isEmpty)
    }

    @Test func fetchAnswersMustFitAFrame() {
        expectProblem("fetchers[0].maxBytesPerRequest (5000000) leaves no room in connection.maxFrameBytes (1048576)") {
            $0.connection.maxFrameBytes = 1_048_576
            $0.fetchers = [.init(name: "f")]
        }
        // The implicit default fetcher is not held to it: a producer-only client may keep frames small.
        #expect(configuration { $0.connection.maxFrameBytes = 1_048_576 }.validationProblems().isEmpty)
        #expect(configuration { $0.connection.maxFrameBytes = 5_000_512; $0.fetchers = [.init(name: "f")] }.validationProblems().isEmpty)
    }

    @Test func compressionLevelsFitTheCodec() {
        expectProblem("producers[0].compressionLevel must be within 1...9 for gzip (got 12)") {
            $0.producers = [.init(name: "p", compression: .gzip, compressionLevel: 12)]
        }
        expectProblem("producers[0].compressionLevel is 3, but snappy compression has no levels") {
            $0.producers = [.init(name: "p", compression: .snappy, compressionLevel: 3)]
        }
        expectProblem("producers[0].compressionLevel is 1, but none compression has no levels") {
            $0.producers = [.init(name: "p", compressionLevel: 1)]
        }
        expectProblem("transactionalPools[0].compressionLevel must be within -131072...22 for zstd (got 23)") {
            $0.transactionalPools = [.init(name: "t", compression: .zstd, compressionLevel: 23)]
        }
        expectProblem("producers[0].compressionLevel must be within 0...17 for lz4 (got -1)") {
            $0.producers = [.init(name: "p", compression: .lz4, compressionLevel: -1)]
        }
        #expect(configuration {
            $0.producers = [
                .init(name: "z", compression: .zstd, compressionLevel: -5), .init(name: "l", compression: .lz4, compressionLevel: 12),
                .init(name: "g", compression: .gzip, compressionLevel: 1), .init(name: "d", compression: .zstd),
            ]
            $0.transactionalPools = [.init(name: "t", compression: .gzip, compressionLevel: 9)]
        }.validationProblems().isEmpty)
    }

    @Test func fetcherBatchersCount() {
        #expect(KafkaFetcherConfiguration().effectiveBatchersCount(knownBrokers: 3, activeProcessors: 8) == 3)
        #expect(KafkaFetcherConfiguration().effectiveBatchersCount(knownBrokers: 0, activeProcessors: 2) == 2)
        #expect(KafkaFetcherConfiguration(batchersCount: 5).effectiveBatchersCount(knownBrokers: 3, activeProcessors: 8) == 5)
    }

    // MARK: topics

    @Test func topicWithUnknownProducer() {
        expectProblem("topics[0].producer \"nope\" names no configured producer") { $0.topics = [.init(name: "t", producer: "nope")] }
    }

    @Test func topicWithUnknownPartitioner() {
        expectProblem("topics[0].partitioner \"nope\" names no configured partitioner") { $0.topics = [.init(name: "t", partitioner: "nope")] }
    }

    @Test func duplicateTopics() {
        expectProblem("topics[1].name \"t\" duplicates topics[0].name") { $0.topics = [.init(name: "t"), .init(name: "t")] }
    }

    @Test(arguments: ["", ".", "..", "has space", "slash/", String(repeating: "x", count: 250), "ünïcode"])
    func illegalTopicNames(name: String) {
        expectProblem("is not a legal topic name") { $0.topics = [.init(name: name)] }
    }

    @Test func legalTopicNames() {
        for name in ["a", "A.b_c-9", String(repeating: "x", count: 249), "..."] {
            #expect(KafkaTopicConfiguration.isValidTopicName(name), "\(name)")
        }
    }

    @Test func allProblemsReportedTogether() {
        let problems = configuration {
            $0.producers = [.init(name: "p", batchSizeBytes: 0)]
            $0.fetchers = [.init(name: "f", maxBytesPerRequest: -1)]
        }.validationProblems()
        #expect(problems.contains("producers[0].batchSizeBytes must be > 0"))
        #expect(problems.contains("fetchers[0].maxBytesPerRequest must be > 0"))
    }

    @Test func clientInitValidates() {
        #expect(throws: KafkaError.self) {
            _ = try KafkaClient(configuration: configuration { $0.producers = [.init(name: "p", batchersCount: 0)] })
        }
    }

    @Test func namedValuesParse() {
        #expect(KafkaCompression(name: "ZSTD") == .zstd)
        #expect(KafkaCompression(name: "brotli") == nil)
        #expect(KafkaProducerConfiguration.Acks(name: "all") == .all)
        #expect(KafkaProducerConfiguration.Acks(name: "0") == KafkaProducerConfiguration.Acks.none)
        #expect(KafkaProducerConfiguration.Acks(name: "2") == nil)
        #expect(KafkaProducerConfiguration(name: "p").effectiveClientID(connectionClientID: "app") == "klife_producer.app.p")
        #expect(KafkaFetcherConfiguration(name: "f").effectiveClientID(connectionClientID: "app") == "klife_fetcher.app.f")
    }
}

@Suite struct ConnectionValidationIsIncludedTests {
    @Test func connectionProblemsAreReportedWithTheirPath() {
        var config = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)])
        config.connection.connectionsPerBroker = 0
        #expect(config.validationProblems().contains { $0.hasPrefix("connection.connectionsPerBroker") })
        config.connection.connectionsPerBroker = 1
        config.connection.sasl = .init(mechanism: .scramSHA256, username: "", password: "x")
        #expect(config.validationProblems().contains { $0.hasPrefix("connection.sasl.username") })
        config.connection.sasl = nil
        config.connection.tls = .init(caCertificateFile: "/nonexistent/ca.pem")
        #expect(!config.validationProblems().isEmpty)
        // Every connection problem, not only the first.
        config.connection.tls = nil
        config.connection.connectionsPerBroker = 0
        config.connection.requestTimeout = .zero
        config.connection.sasl = .init(mechanism: .plain, username: "u", password: "")
        let problems = config.validationProblems()
        for prefix in ["connection.connectionsPerBroker", "connection.requestTimeout must be positive", "connection.sasl.password is empty"] {
            #expect(problems.contains { $0.hasPrefix(prefix) }, "\(prefix) missing in \(problems)")
        }
    }
}
