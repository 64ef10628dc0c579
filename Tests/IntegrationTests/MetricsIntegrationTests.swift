import Foundation
import Klife
import Logging
import Metrics
import MetricsTestKit
import Testing

/// The client's metrics end to end against Tansu: MetricsTestKit's factory is bootstrapped once for this
/// process; the client uses a unique client id, so other tests' metrics do not interfere.
@Suite("Metrics", .serialized)
struct MetricsIntegrationTests {
    static let testMetrics: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()

    @Test("produce, fetch and request metrics carry the client id, topic, API and broker")
    func produceAndFetchAreMeasured() async throws {
        let metrics = Self.testMetrics
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("metrics")
        let clientID = TestBrokers.uniqueName("metrics-client")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        var configuration = KafkaClient.Configuration(bootstrapServers: try KafkaConnectionConfiguration.BrokerAddress.parseList(bootstrap))
        configuration.connection.clientID = clientID
        var logger = Logger(label: "metrics-test")
        logger.logLevel = .critical

        try await KafkaClient.withRunningClient(configuration: configuration, logger: logger) { client in
            let results = await client.produceBatch((0..<10).map { KafkaRecord(topic: topic, key: "k", value: "value-\($0)") })
            #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
            let records = try await client.fetch(topic: topic, partition: 0, offset: 0)
            #expect(records.count == 10)
        }

        let producer = KafkaProducerConfiguration.defaultName
        let perTopic = [("client_id", clientID), ("producer", producer), ("topic", topic)]
        #expect(try metrics.expectCounter(KafkaMetricLabel.producerRecords, perTopic).totalValue == 10)
        // key "k" (1 byte) + "value-N" (7 bytes) per record
        #expect(try metrics.expectCounter(KafkaMetricLabel.producerBytes, perTopic).totalValue == 80)
        let batches = try metrics.expectRecorder(KafkaMetricLabel.producerBatchRecords, [("client_id", clientID), ("producer", producer)])
        #expect(batches.values.reduce(0, +) == 10)

        let buffered = try metrics.expectGauge(KafkaMetricLabel.producerBufferedBytes, [("client_id", clientID), ("producer", producer)])
        #expect(buffered.values.contains { $0 > 0 })  // sampled when the batch was sent
        #expect(buffered.lastValue == 0)  // and after the acknowledgement

        let fetched = [("client_id", clientID), ("topic", topic)]
        #expect(try metrics.expectCounter(KafkaMetricLabel.fetchRecords, fetched).totalValue == 10)
        #expect(try metrics.expectCounter(KafkaMetricLabel.fetchBytes, fetched).totalValue > 0)
        let lag = try metrics.expectGauge(KafkaMetricLabel.consumerLag, [("client_id", clientID), ("topic", topic), ("partition", "0")])
        #expect(lag.lastValue == 10)  // high watermark 10, fetched from offset 0

        let produceTimers = metrics.timers.filter {
            $0.label == KafkaMetricLabel.requestDuration && $0.dimensions.contains { $0 == ("client_id", clientID) }
                && $0.dimensions.contains { $0 == ("api", "Produce") }
        }
        #expect(!produceTimers.isEmpty)
        #expect(produceTimers.allSatisfy { !$0.values.isEmpty && $0.dimensions.contains { $0.0 == "broker" } })
        let metadataTimers = metrics.timers.filter {
            $0.label == KafkaMetricLabel.requestDuration && $0.dimensions.contains { $0 == ("client_id", clientID) }
                && $0.dimensions.contains { $0 == ("api", "Metadata") }
        }
        #expect(!metadataTimers.isEmpty)
        let inFlight = metrics.meters.filter { $0.label == KafkaMetricLabel.requestsInFlight && $0.dimensions.contains { $0 == ("client_id", clientID) } }
        #expect(!inFlight.isEmpty)
        #expect(inFlight.allSatisfy { $0.lastValue == 0 })  // every request answered
    }
}
