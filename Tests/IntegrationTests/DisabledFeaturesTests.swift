import Synchronization
import Testing
@testable import Klife

/// `disabledFeatures` against Tansu: each disabled feature's calls throw ``KafkaError/Code/featureDisabled``
/// before anything is sent, and the other features keep working.
@Suite("Disabled features against Tansu", .serialized)
struct DisabledFeaturesTests {
    static func configuration(disabling features: Set<KafkaClient.Feature>) throws -> KafkaClient.Configuration {
        var configuration = try ClientTestSupport.configuration(bootstrap: try TestBrokers.tansuBootstrap)
        configuration.disabledFeatures = features
        return configuration
    }

    static func topic(partitions: Int = 1) async throws -> String {
        let topic = TestBrokers.uniqueName("disabled")
        try await RdKafkaTool.createTopic(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, partitions: partitions)
        return topic
    }

    /// Runs `body` and checks that it throws a `featureDisabled` error whose message names `feature`.
    static func expectDisabled(_ feature: String, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await body()
            Issue.record("the call ran with \(feature) disabled", sourceLocation: sourceLocation)
        } catch let error as KafkaError {
            #expect(error.code == .featureDisabled, sourceLocation: sourceLocation)
            #expect(error.message.contains(feature), "message: \(error.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func disabledProducerRefusesEveryProduceCall() async throws {
        let topic = try await Self.topic()
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(disabling: [.producer]), logger: ClientTestSupport.logger) { client in
            await Self.expectDisabled("producer") { _ = try await client.produce(KafkaRecord(topic: topic, value: "v")) }
            let results = await client.produceBatch([KafkaRecord(topic: topic, value: "a"), KafkaRecord(topic: topic, value: "b")])
            #expect(results.count == 2)
            for result in results {
                #expect(result.failure?.code == .featureDisabled)
            }
            // Fetching still works: the topic is empty.
            let fetched = try await client.fetch(topic: topic, partition: 0, offset: 0)
            #expect(fetched.isEmpty)
        }
    }

    @Test func disabledFetchRefusesTheFetchAPIButGroupsStillConsume() async throws {
        let topic = try await Self.topic()
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(disabling: [.fetch]), logger: ClientTestSupport.logger) { client in
            let produced = try await client.produce(KafkaRecord(topic: topic, value: "kept"))
            #expect(produced.offset == 0)
            await Self.expectDisabled("fetch") { _ = try await client.fetch(topic: topic, partition: 0, offset: 0) }
            let position = KafkaFetchPosition(topic: topic, partition: 0, offset: 0)
            #expect(await client.fetch([position])[position]?.failure?.code == .featureDisabled)
            #expect(await client.fetchPartitions([position])[position]?.failure?.code == .featureDisabled)
            await Self.expectDisabled("fetch") { try client.fetchAsync(topic: topic, partition: 0, offset: 0) { _ in } }
            await Self.expectDisabled("fetch") { _ = try client.fetchAsync([position]) }

            // A consumer group fetches on its own account.
            let values = Mutex<[String]>([])
            let group = TestBrokers.uniqueName("disabled-fetch-group")
            let member = try client.startConsumerGroup(ConsumerGroupTests.groupConfiguration(group, topic)) { batch in
                values.withLock { $0 += batch.records.compactMap(\.valueString) }
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("the group consumed the record") { !values.withLock { $0 }.isEmpty }
            await member.stop()
            #expect(values.withLock { $0 } == ["kept"])
        }
    }

    @Test func disabledConsumerGroupRefusesToStartAMember() async throws {
        let topic = try await Self.topic()
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(disabling: [.consumerGroup]), logger: ClientTestSupport.logger) { client in
            let configuration = ConsumerGroupTests.groupConfiguration(TestBrokers.uniqueName("disabled-group"), topic)
            await Self.expectDisabled("consumerGroup") { _ = try client.startConsumerGroup(configuration) }
            await Self.expectDisabled("consumerGroup") { _ = try client.startConsumerGroup(configuration) { _ in .commit } }
            // The fetch API is a separate feature.
            let fetched = try await client.fetch(topic: topic, partition: 0, offset: 0)
            #expect(fetched.isEmpty)
        }
    }

    @Test func disabledIdempotenceRefusesIdempotentProducersOnly() async throws {
        let topic = try await Self.topic()
        var configuration = try Self.configuration(disabling: [.idempotentProducer])
        configuration.producers = [KafkaProducerConfiguration(name: "plain", enableIdempotence: false)]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            // The default producer is idempotent: refused, and the message says which option lets it run.
            await Self.expectDisabled("idempotentProducer") { _ = try await client.produce(KafkaRecord(topic: topic, value: "v")) }
            do {
                _ = try await client.produce(KafkaRecord(topic: topic, value: "v"))
                Issue.record("the idempotent default producer produced with idempotence disabled")
            } catch let error as KafkaError {
                #expect(error.message.contains("producer \(KafkaProducerConfiguration.defaultName)"))
                #expect(error.message.contains("enableIdempotence"))
            }
            let produced = try await client.produce(KafkaRecord(topic: topic, value: "plain"), options: .init(producer: "plain"))
            #expect(produced.offset == 0)
            #expect(try await client.fetch(topic: topic, partition: 0, offset: 0).map(\.valueString) == ["plain"])
        }
    }

    @Test func disabledAdminRefusesTopicCalls() async throws {
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(disabling: [.admin]), logger: ClientTestSupport.logger) { client in
            await Self.expectDisabled("admin") { try await client.createTopic(TestBrokers.uniqueName("disabled-admin")) }
            await Self.expectDisabled("admin") { _ = try await client.deleteTopics([TestBrokers.uniqueName("disabled-admin")]) }
        }
    }
}

extension Result {
    /// The error of a failed result, nil on success.
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
