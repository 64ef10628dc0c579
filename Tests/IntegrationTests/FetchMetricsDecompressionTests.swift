import Foundation
import Klife
import Logging
import Metrics
import MetricsTestKit
import Testing

/// The fetch metrics count the same records and bytes whether the call decompresses eagerly or lazily
/// (lazy batches count by their header's record count when fetched, see `FetchExecutor`). Uses the
/// process's MetricsTestKit factory (``MetricsIntegrationTests/testMetrics``) with a client id per client.
@Suite("Fetch metrics with lazy decompression", .serialized)
struct FetchMetricsDecompressionTests {
    static let batches = 2
    static let recordsPerBatch = 10

    /// Reads `topic` partition 0 from offset 0 to `end` with a client of its own; returns its client id and
    /// the records read.
    static func readAll(topic: String, end: Int64, bootstrap: String, decompression: KafkaFetchDecompression) async throws -> (clientID: String, records: Int) {
        var configuration = try FetchTests.configuration(bootstrap)
        let clientID = TestBrokers.uniqueName("fetch-metrics-\(decompression)")
        configuration.connection.clientID = clientID
        var logger = Logger(label: "klife-test")
        logger.logLevel = .critical
        let records = try await KafkaClient.withRunningClient(configuration: configuration, logger: logger) { client in
            var offset: Int64 = 0
            var records = 0
            let deadline = ContinuousClock.now + .seconds(30)
            while offset < end {
                #expect(ContinuousClock.now < deadline, "no progress past offset \(offset)")
                if ContinuousClock.now >= deadline { break }
                let position = KafkaFetchPosition(topic: topic, partition: 0, offset: offset)
                let fetched = try #require(try await client.fetchPartitions([position], options: KafkaFetchOptions(decompression: decompression))[position]?.get())
                if decompression == .lazy {
                    #expect(fetched.records.isEmpty)
                    for batch in fetched.batches { records += try batch.records().count }
                } else {
                    #expect(fetched.batches.isEmpty)
                    records += fetched.records.count
                }
                offset = fetched.nextOffset
            }
            return records
        }
        return (clientID, records)
    }

    @Test("eager and lazy fetches count the same records and bytes", arguments: ["none", "lz4", "zstd"])
    func lazyCountsLikeEager(codec: String) async throws {
        let metrics = MetricsIntegrationTests.testMetrics
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("fetch-metrics-\(codec)")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        // One librdkafka run per batch: several batches in the log.
        for batch in 0..<Self.batches {
            try await RdKafkaTool.produce(
                bootstrap: bootstrap, topic: topic,
                records: (0..<Self.recordsPerBatch).map { (key: "key-\($0)", value: "batch-\(batch)-value-\($0)-" + String(repeating: "x", count: 50)) },
                partition: 0, compression: RdKafkaTool.Compression(rawValue: codec)!)
        }
        let total = Self.batches * Self.recordsPerBatch

        let eager = try await Self.readAll(topic: topic, end: Int64(total), bootstrap: bootstrap, decompression: .eager)
        let lazy = try await Self.readAll(topic: topic, end: Int64(total), bootstrap: bootstrap, decompression: .lazy)
        #expect(eager.records == total)
        #expect(lazy.records == total)

        let eagerRecords = try metrics.expectCounter(KafkaMetricLabel.fetchRecords, [("client_id", eager.clientID), ("topic", topic)])
        let lazyRecords = try metrics.expectCounter(KafkaMetricLabel.fetchRecords, [("client_id", lazy.clientID), ("topic", topic)])
        #expect(eagerRecords.totalValue == Int64(total))
        #expect(lazyRecords.totalValue == Int64(total))

        let eagerBytes = try metrics.expectCounter(KafkaMetricLabel.fetchBytes, [("client_id", eager.clientID), ("topic", topic)])
        let lazyBytes = try metrics.expectCounter(KafkaMetricLabel.fetchBytes, [("client_id", lazy.clientID), ("topic", topic)])
        #expect(eagerBytes.totalValue > 0)
        #expect(lazyBytes.totalValue == eagerBytes.totalValue)
    }
}
