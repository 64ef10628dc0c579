import Configuration
import Foundation
import Klife
import Synchronization
import Testing

@Suite struct KafkaClientConfigReaderTests {
    /// The repository's sample configuration file.
    static let sampleFile = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Examples/klife-config.json").path

    static func reader(json: String) async throws -> ConfigReader {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("klife-config-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return ConfigReader(provider: try await FileProvider<KafkaJSONSnapshot>(filePath: .init(url.path)))
    }

    /// The `KafkaError` message thrown by `body`, nil when it does not throw.
    static func errorMessage(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as KafkaError {
            #expect(error.code == .invalidConfiguration)
            return error.message
        } catch {
            Issue.record("unexpected error \(error)")
            return "\(error)"
        }
    }

    @Test func sampleFileLoadsAndValidates() async throws {
        let configuration = try await KafkaClient.Configuration.load(jsonFile: Self.sampleFile, scope: ["klife"])
        try configuration.validate()
        #expect(configuration.connection.bootstrapServers.map(\.description) == ["127.0.0.1:9092"])
        #expect(configuration.connection.clientID == "orders-service")
        #expect(configuration.connection.reconnectBackoff == .milliseconds(100))
        #expect(configuration.connection.tls == nil)
        #expect(configuration.connection.sasl == nil)
        #expect(configuration.defaultProducer == "orders")
        #expect(configuration.producers.map(\.name) == ["orders", "bulk"])
        let bulk = try #require(configuration.producer(named: "bulk"))
        #expect(bulk.linger == .milliseconds(50))
        #expect(bulk.compression == .zstd)
        #expect(bulk.batchSizeBytes == 1_048_576)
        #expect(bulk.maxBufferedBytes == 134_217_728)
        #expect(bulk.acks == .all)  // default kept
        let orders = try #require(configuration.producer(named: "orders"))
        #expect(orders.maxInFlightRequests == 5)
        #expect(orders.linger == .milliseconds(2))
        let pool = try #require(configuration.transactionalPool(named: "payments"))
        #expect(pool.poolSize == 4)
        #expect(pool.baseTransactionalID == "orders-service-payments")
        #expect(configuration.topic(named: "audit.log")?.producer == "bulk")
        #expect(configuration.producerName(forTopic: "orders") == "orders")
        let fetcher = try #require(configuration.fetcher(named: "klife_default_fetcher"))
        #expect(fetcher.maxWait == .milliseconds(500))

        let data = try Data(contentsOf: URL(fileURLWithPath: Self.sampleFile))
        #expect(try KafkaConsumerGroupConfiguration.unknownKeys(inJSON: data, scope: ["consumer"]).isEmpty)
        let file = try await FileProvider<KafkaJSONSnapshot>(filePath: .init(Self.sampleFile))
        let group = try KafkaConsumerGroupConfiguration(configReader: ConfigReader(provider: file).scoped(to: "consumer"))
        #expect(group.groupID == "orders-processor")
        #expect(group.topics == ["orders"])
        #expect(group.offsetResetPolicy == .earliest)
        #expect(group.heartbeatInterval == .seconds(3))
        #expect(group.groupProtocol == .classic)
        #expect(group.topicOptions["orders"]?.handlerMaxBatchSize == .records(100))
        #expect(group.topicOptions["orders"]?.offsetResetPolicy == .earliest)  // inherits the group default
        #expect(group.topicOptions["orders"]?.maxUnackedCommits == 50)
    }

    @Test func environmentVariablesUseUpperSnakeCase() throws {
        let environment = EnvironmentVariablesProvider(environmentVariables: [
            "KLIFE_CONNECTION_BOOTSTRAP_SERVERS": "10.0.0.1:9092, 10.0.0.2:9093",
            "KLIFE_CONNECTION_REQUEST_TIMEOUT": "5000",
            "KLIFE_CONNECTION_SASL_MECHANISM": "scram-sha-512",
            "KLIFE_CONNECTION_SASL_USERNAME": "alice",
            "KLIFE_CONNECTION_SASL_PASSWORD": "secret",
            "KLIFE_CONNECTION_TLS_CA_CERTIFICATE_FILE": "/etc/ca.pem",
            "KLIFE_PRODUCERS_NAMES": "fast",
            "KLIFE_PRODUCERS_FAST_LINGER": "5ms",
            "KLIFE_PRODUCERS_FAST_ACKS": "1",
            "KLIFE_PRODUCERS_FAST_ENABLE_IDEMPOTENCE": "false",
            "KLIFE_DISABLED_FEATURES": "admin,transactionalProducer",
            "KLIFE_ENABLE_UNKNOWN_TOPICS": "false",
        ])
        let configuration = try KafkaClient.Configuration(configReader: ConfigReader(provider: environment).scoped(to: "klife"))
        #expect(configuration.connection.bootstrapServers.map(\.description) == ["10.0.0.1:9092", "10.0.0.2:9093"])
        #expect(configuration.connection.requestTimeout == .seconds(5))
        #expect(configuration.connection.sasl?.mechanism == .scramSHA512)
        #expect(configuration.connection.sasl?.password == "secret")
        #expect(configuration.connection.tls?.caCertificateFile == "/etc/ca.pem")
        #expect(configuration.connection.tls?.verifyHostname == true)
        let fast = try #require(configuration.producer(named: "fast"))
        #expect(fast.linger == .milliseconds(5))
        #expect(fast.acks == .leader)
        #expect(!fast.enableIdempotence)
        #expect(configuration.disabledFeatures == [.admin, .transactionalProducer])
        #expect(!configuration.enableUnknownTopics)
    }

    @Test func commandLineArgumentsUseKebabCase() throws {
        let arguments = CommandLineArgumentsProvider(arguments: [
            "app", "--connection-bootstrap-servers", "127.0.0.1:19092", "--producers-names", "a", "b",
            "--producers-b-compression", "lz4", "--producers-b-compression-level", "9", "--metadata-refresh-interval", "2m",
        ])
        let configuration = try KafkaClient.Configuration(configReader: ConfigReader(provider: arguments))
        #expect(configuration.connection.bootstrapServers.map(\.port) == [19092])
        #expect(configuration.producers.map(\.name) == ["a", "b", KafkaProducerConfiguration.defaultName])
        #expect(configuration.producer(named: "b")?.compression == .lz4)
        #expect(configuration.producer(named: "b")?.compressionLevel == 9)
        #expect(configuration.metadataRefreshInterval == .seconds(120))
    }

    @Test func providersEarlierInTheListWin() async throws {
        let overrides = EnvironmentVariablesProvider(environmentVariables: ["KLIFE_CONNECTION_CLIENT_ID": "from-env"])
        let configuration = try await KafkaClient.Configuration.load(
            jsonFile: Self.sampleFile, scope: ["klife"], overrides: [overrides])
        #expect(configuration.connection.clientID == "from-env")
        #expect(configuration.defaultProducer == "orders")
    }

    @Test func wrongTypesAreReportedWithTheirFullPath() async throws {
        let reader = try await Self.reader(json: """
            {"connection": {"bootstrapServers": ["127.0.0.1:9092", "nohost"], "tcpNoDelay": "yes", "connectTimeout": "ten"},
             "producers": {"names": ["p"], "p": {"linger": ["5ms"], "batchSizeBytes": "big", "acks": "two", "compression": 7}},
             "topics": {"names": "orders.v1", "orders.v1": {"producer": 3}},
             "disabledFeatures": ["producer", "teleport"],
             "metadataRefreshInterval": 1.5}
            """)
        let message = try #require(Self.errorMessage { _ = try KafkaClient.Configuration(configReader: reader) })
        for fragment in [
            "connection.bootstrapServers:", "connection.tcpNoDelay: expected a boolean", "got the string \"yes\"",
            "connection.connectTimeout: expected a duration", "got \"ten\"",
            "producers.p.linger: expected a duration", "got a list of strings",
            "producers.p.batchSizeBytes: expected an integer, got the string \"big\"",
            "producers.p.acks: expected all, 1 or 0, got \"two\"",
            "producers.p.compression: expected none, gzip, snappy, lz4 or zstd, got 7",
            "topics.orders.v1.producer: expected a string, got the integer 3",
            "disabledFeatures: unknown feature \"teleport\"",
            "metadataRefreshInterval: expected a duration",
        ] {
            #expect(message.contains(fragment), "missing \(fragment) in: \(message)")
        }
    }

    /// A duration too long for Int64 nanoseconds (292 years) is reported, not converted (which would trap).
    @Test func durationsTooLongAreReported() async throws {
        let reader = try await Self.reader(json: """
            {"connection": {"bootstrapServers": ["127.0.0.1:9092"], "connectTimeout": "10000000000s"},
             "metadataRefreshInterval": "1e300h"}
            """)
        let message = try #require(Self.errorMessage { _ = try KafkaClient.Configuration(configReader: reader) })
        #expect(message.contains("connection.connectTimeout: expected a duration"), "\(message)")
        #expect(message.contains("metadataRefreshInterval: expected a duration"), "\(message)")
    }

    /// Klife's JSON snapshot converts values only to their own type, so a boolean given for a number (or a
    /// number for a boolean) is reported instead of being read as 1 or 0.
    @Test func jsonBooleansAndNumbersDoNotMix() async throws {
        let reader = try await Self.reader(json: #"{"bootstrapServers": "h:1", "connectionsPerBroker": true, "tcpNoDelay": 1}"#)
        let message = try #require(Self.errorMessage { _ = try KafkaConnectionConfiguration(configReader: reader) })
        #expect(message.contains("connectionsPerBroker: expected an integer, got the boolean true"), "\(message)")
        #expect(message.contains("tcpNoDelay: expected a boolean (true or false), got the integer 1"), "\(message)")
    }

    @Test func missingRequiredKeysAreReported() throws {
        let empty = ConfigReader(provider: InMemoryProvider(values: [:]))
        let message = try #require(Self.errorMessage { _ = try KafkaClient.Configuration(configReader: empty) })
        #expect(message.contains("connection.bootstrapServers: missing"))
        let groupMessage = try #require(Self.errorMessage { _ = try KafkaConsumerGroupConfiguration(configReader: empty) })
        #expect(groupMessage.contains("groupID: missing"))
        #expect(groupMessage.contains("topics: missing"))
        let saslOnly = ConfigReader(provider: InMemoryProvider(values: ["bootstrapServers": "h:1", "sasl.username": "u"]))
        let saslMessage = try #require(Self.errorMessage { _ = try KafkaConnectionConfiguration(configReader: saslOnly) })
        #expect(saslMessage.contains("sasl.mechanism: missing"))
    }

    @Test func theClientsRackIsRead() throws {
        let reader = ConfigReader(provider: InMemoryProvider(values: ["bootstrapServers": "h:1", "clientRack": "use1-az2"]))
        #expect(try KafkaConnectionConfiguration(configReader: reader).clientRack == "use1-az2")
        let without = ConfigReader(provider: InMemoryProvider(values: ["bootstrapServers": "h:1"]))
        #expect(try KafkaConnectionConfiguration(configReader: without).clientRack == nil)
    }

    @Test func aConsumerGroupMayNameATopicPatternInsteadOfTopics() throws {
        let reader = ConfigReader(provider: InMemoryProvider(values: ["groupID": "g", "topicPattern": "orders\\..*"]))
        let group = try KafkaConsumerGroupConfiguration(configReader: reader)
        #expect(group.topics.isEmpty && group.topicPattern == "orders\\..*")
        #expect(try KafkaConsumerGroupConfiguration.unknownKeys(inJSON: Data(#"{"groupID": "g", "topicPattern": "o.*"}"#.utf8)).isEmpty)
    }

    @Test func consumerGroupKeysAreChecked() throws {
        let json = #"{"groupID": "g", "topics": ["a"], "sesionTimeout": "1s", "topicOptions": {"a": {"mode": "manual", "batch": 1}, "b": {}}}"#
        #expect(try KafkaConsumerGroupConfiguration.unknownKeys(inJSON: Data(json.utf8)) == [
            "sesionTimeout", "topicOptions.a.batch", "topicOptions.b (not one of topics)",
        ])
        let reader = ConfigReader(provider: InMemoryProvider(values: ["groupID": "g", "topics": "a", "topicOptions.a.handlerMaxBatchSize": "lots"]))
        let message = try #require(Self.errorMessage { _ = try KafkaConsumerGroupConfiguration(configReader: reader) })
        #expect(message.contains("topicOptions.a.handlerMaxBatchSize: expected dynamic or a number of records, got \"lots\""))
    }

    @Test func unknownKeysAreListedWithTheirFullPath() throws {
        let json = """
            {"app": {"klife": {
              "connection": {"bootstrapServers": ["h:1"], "tls": {"enabled": true, "verifyHostnam": false}},
              "producers": {"names": ["p"], "p": {"lingr": "5ms", "linger": "5ms"}, "q": {"linger": "1ms"},
                            "klife_default_producer": {"acks": "all"}},
              "topics": {"names": ["t"], "t": {"producer": "p", "partition": 3}},
              "retries": 3
            }}}
            """
        let unknown = try KafkaClient.Configuration.unknownKeys(inJSON: Data(json.utf8), scope: ["app", "klife"])
        #expect(unknown == [
            "app.klife.connection.tls.verifyHostnam",
            "app.klife.producers.p.lingr",
            "app.klife.producers.q (not listed in producers.names)",
            "app.klife.retries",
            "app.klife.topics.t.partition",
        ])
        #expect(throws: KafkaError.self) { try KafkaClient.Configuration.unknownKeys(inJSON: Data(json.utf8), scope: ["klife"]) }
        #expect(throws: KafkaError.self) { try KafkaClient.Configuration.unknownKeys(inJSON: Data("[1]".utf8)) }
    }

    @Test func loadRejectsUnknownKeys() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("klife-unknown-\(UUID().uuidString).json")
        try Data(#"{"connection": {"bootstrapServers": ["h:1"], "requestTimeoutMs": 5}}"#.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        await #expect {
            _ = try await KafkaClient.Configuration.load(jsonFile: url.path)
        } throws: { error in
            (error as? KafkaError)?.message.contains("connection.requestTimeoutMs") == true
        }
        await #expect(throws: KafkaError.self) { _ = try await KafkaClient.Configuration.load(jsonFile: url.path + ".missing") }
    }

    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("30s", .seconds(30)), ("1.5s", .milliseconds(1500)), ("2m", .seconds(120)),
        ("1h", .seconds(3600)), ("500us", .microseconds(500)), ("10ns", .nanoseconds(10)), ("42", .milliseconds(42)),
    ])
    func durationsAcceptUnits(text: String, expected: Duration) throws {
        let reader = ConfigReader(provider: InMemoryProvider(values: ["linger": .init(.string(text), isSecret: false)]))
        #expect(try KafkaProducerConfiguration(name: "p", configReader: reader).linger == expected)
    }

    @Test func maxBufferedRecordsIsReadFromTheFileWithItsDefaultOtherwise() async throws {
        let reader = try await Self.reader(json: #"{"maxBufferedRecords": 5000}"#)
        #expect(try KafkaProducerConfiguration(name: "p", configReader: reader).maxBufferedRecords == 5000)
        let empty = try await Self.reader(json: "{}")
        #expect(try KafkaProducerConfiguration(name: "p", configReader: empty).maxBufferedRecords == 100_000)
        let wrong = try await Self.reader(json: #"{"maxBufferedRecords": "many"}"#)
        #expect(Self.errorMessage { _ = try KafkaProducerConfiguration(name: "p", configReader: wrong) }?
            .contains("maxBufferedRecords") == true)
    }

    @Test func maxRecordBytesIsReadForProducersAndPools() async throws {
        let reader = try await Self.reader(json: #"{"maxRecordBytes": 5000000}"#)
        #expect(try KafkaProducerConfiguration(name: "p", configReader: reader).maxRecordBytes == 5_000_000)
        #expect(try KafkaTransactionalPoolConfiguration(name: "t", configReader: reader).maxRecordBytes == 5_000_000)
        let empty = try await Self.reader(json: "{}")
        #expect(try KafkaProducerConfiguration(name: "p", configReader: empty).maxRecordBytes == 1 << 20)
    }

    /// OAUTHBEARER from a configuration takes a fixed token, which the provider then returns.
    @Test func oauthBearerTakesAFixedToken() async throws {
        let reader = ConfigReader(provider: InMemoryProvider(values: [
            "connection.bootstrapServers": "h:1", "connection.sasl.mechanism": "oauthbearer",
            "connection.sasl.oauthBearerToken": .init(.string("jwt-1"), isSecret: true),
        ]))
        let configuration = try KafkaClient.Configuration(configReader: reader)
        #expect(configuration.connection.sasl?.mechanism == .oauthBearer)
        #expect(try await configuration.connection.sasl?.oauthBearerTokenProvider?() == KafkaOAuthBearerToken("jwt-1"))

        let missing = ConfigReader(provider: InMemoryProvider(values: ["connection.bootstrapServers": "h:1", "connection.sasl.mechanism": "OAUTHBEARER"]))
        let error = #expect(throws: KafkaError.self) { try KafkaClient.Configuration(configReader: missing) }
        #expect(error?.message.contains("sasl.oauthBearerToken: missing") == true, "\(String(describing: error?.message))")
    }

    @Test func everyDocumentedKeyIsReadAndNothingElse() throws {
        let recorder = KeyRecorder()
        let names = ["producers": "p", "transactionalPools": "t", "fetchers": "f", "topics": "x"]
        // Every key gets a value so no read stops early (TLS and SASL sections read all their keys).
        var values: [AbsoluteConfigKey: ConfigValue] = [
            "connection.bootstrapServers": "h:1", "connection.sasl.mechanism": "PLAIN",
            "connection.sasl.username": "u", "connection.sasl.password": "p",
        ]
        for (section, name) in names { values[AbsoluteConfigKey([section, "names"])] = .init(.string(name), isSecret: false) }
        let reader = ConfigReader(provider: InMemoryProvider(values: values), accessReporter: recorder)
        _ = try KafkaClient.Configuration(configReader: reader)
        let expected = Set(KafkaConfigurationKeys.client.map { key in
            var parts = key.split(separator: ".").map(String.init)
            if parts.count > 2, parts[1] == "<name>" { parts[1] = names[parts[0]]! }
            return parts.joined(separator: ".")
        })
        var read = recorder.keys
        // The default entries are read too; map them onto the documented pattern.
        read = Set(read.filter { !$0.contains("klife_default") })
        #expect(read == expected, "read but not listed: \(read.subtracting(expected).sorted()); listed but not read: \(expected.subtracting(read).sorted())")

        let groupRecorder = KeyRecorder()
        let groupValues: [AbsoluteConfigKey: ConfigValue] = ["groupID": "g", "topics": "t", "topicOptions.t.mode": "manual"]
        _ = try KafkaConsumerGroupConfiguration(configReader: ConfigReader(provider: InMemoryProvider(values: groupValues), accessReporter: groupRecorder))
        let expectedGroupKeys = Set(KafkaConfigurationKeys.consumerGroup.map { $0.replacingOccurrences(of: "<topic>", with: "t") })
        #expect(groupRecorder.keys == expectedGroupKeys, "difference: \(groupRecorder.keys.symmetricDifference(expectedGroupKeys).sorted())")
    }
}

/// Records the dotted key of every configuration access.
final class KeyRecorder: AccessReporter {
    private let storage = Mutex<Set<String>>([])
    var keys: Set<String> { storage.withLock { $0 } }
    func report(_ event: AccessEvent) {
        let key = event.metadata.key.components.joined(separator: ".")
        storage.withLock { _ = $0.insert(key) }
    }
}

@Suite struct KafkaEnvironmentKeysTests {
    @Test func unknownEnvironmentVariablesAreListed() throws {
        let environment = [
            "KLIFE_CONNECTION_BOOTSTRAP_SERVERS": "h:1",
            "KLIFE_CONNECTION_TLS_CA_CERTIFICATE_FILE": "/ca.pem",
            "KLIFE_PRODUCERS_NAMES": "fast",
            "KLIFE_PRODUCERS_FAST_LINGER": "5ms",
            "KLIFE_PRODUCERS_FAST_LINGR": "5ms",
            "KLIFE_PRODUCERS_SLOW_LINGER": "5ms",
            "KLIFE_PRODUCERS_KLIFE_DEFAULT_PRODUCER_ACKS": "all",
            "KLIFE_METADATA_REFRESH_INTERVAL": "1m",
            "KLIFE_RETRIES": "3",
            "KLIFE_CONSUMER_GROUP_ID": "g",
            "PATH": "/usr/bin",
        ]
        #expect(KafkaClient.Configuration.unknownEnvironmentVariables(environment, ignoring: ["KLIFE_CONSUMER"]) == [
            "KLIFE_PRODUCERS_FAST_LINGR", "KLIFE_PRODUCERS_SLOW_LINGER", "KLIFE_RETRIES",
        ])
        // Every known key round-trips through swift-configuration's own encoding.
        let reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment)).scoped(to: "klife")
        let configuration = try KafkaClient.Configuration(configReader: reader)
        #expect(configuration.producer(named: "fast")?.linger == .milliseconds(5))
        #expect(configuration.connection.tls?.caCertificateFile == "/ca.pem")
        #expect(configuration.metadataRefreshInterval == .seconds(60))
    }
}
