import Configuration
import Klife
import Logging
import ServiceLifecycle

// Code quoted by the DocC articles (Sources/Klife/Klife.docc). Each region between `snippet.begin NAME`
// and `snippet.end` must match, line for line (dedented), the code block after `<!-- snippet: NAME -->` in
// an article; DocSnippetsTests checks that. These functions are compiled, not run.

enum GettingStartedSnippets {
    static func firstProduce() async throws {
        // snippet.begin first-produce
        let configuration = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)])
        try await KafkaClient.withRunningClient(configuration: configuration) { client in
            let stored = try await client.produce(KafkaRecord(topic: "greetings", key: "user-1", value: "hello"))
            print("stored in partition \(stored.partition!) at offset \(stored.offset!)")

            let records = try await client.fetch(topic: "greetings", partition: stored.partition!, offset: stored.offset!)
            print(records.map { $0.valueString ?? "" })
        }
        // snippet.end
    }

    static func serviceGroup() async throws {
        // snippet.begin service-group
        let logger = Logger(label: "orders-service")
        let configuration = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)])
        let client = try KafkaClient(configuration: configuration, logger: logger)

        var groupConfiguration = ServiceGroupConfiguration(services: [client], logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(30)  // then tasks are cancelled
        try await ServiceGroup(configuration: groupConfiguration).run()
        // snippet.end
    }

    static func configurationFromFile() async throws {
        // snippet.begin configuration-file
        // config/klife.json holds {"klife": {"connection": {"bootstrapServers": ["127.0.0.1:9092"]}, ...}}
        let configuration = try await KafkaClient.Configuration.load(
            jsonFile: "config/klife.json", scope: ["klife"],
            overrides: [EnvironmentVariablesProvider()])  // KLIFE_CONNECTION_CLIENT_ID=... wins over the file
        let client = try KafkaClient(configuration: configuration)
        // snippet.end
        _ = client
    }

    static func configurationFromReader() throws {
        // snippet.begin configuration-reader
        let reader = ConfigReader(providers: [
            CommandLineArgumentsProvider(),  // --connection-bootstrap-servers 10.0.0.1:9092
            EnvironmentVariablesProvider(),  // CONNECTION_BOOTSTRAP_SERVERS=10.0.0.1:9092
        ])
        let configuration = try KafkaClient.Configuration(configReader: reader)
        let group = try KafkaConsumerGroupConfiguration(configReader: reader.scoped(to: "consumer"))
        // snippet.end
        _ = (configuration, group)
    }

    static func configurationInCode() throws {
        // snippet.begin configuration-code
        var configuration = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)])
        configuration.connection.clientID = "orders-service"
        configuration.producers = [
            KafkaProducerConfiguration(name: "fast", linger: .milliseconds(2)),
            KafkaProducerConfiguration(name: "bulk", linger: .milliseconds(50), compression: .zstd),
        ]
        configuration.defaultProducer = "fast"
        configuration.topics = [KafkaTopicConfiguration(name: "audit", producer: "bulk")]
        try configuration.validate()
        // snippet.end
    }

    /// Stands for the application's token source in the OAUTHBEARER snippet.
    struct IdentityProvider: Sendable {
        func currentToken() async throws -> String { "jwt" }
    }

    static func configurationOAuth(_ configuration: inout KafkaClient.Configuration, identityProvider: IdentityProvider) {
        // snippet.begin configuration-oauth
        configuration.connection.tls = .init()  // the system's trusted CAs
        configuration.connection.sasl = .oauthBearer {
            let token = try await identityProvider.currentToken()  // cached until shortly before it expires
            return KafkaOAuthBearerToken(token, extensions: ["logicalCluster": "lkc-abc12"])
        }
        // snippet.end
    }
}
