import Metrics
import MetricsTestKit
import Testing

@testable import Klife

@Suite struct KafkaMetricsTests {
    @Test func producerMetricsCarryTheirDimensions() throws {
        let testMetrics = TestMetrics()
        let metrics = KafkaMetrics(clientID: "svc", factory: testMetrics)
        metrics.recordSentBatch(producer: "p", records: 10, bytes: 1_000)
        metrics.recordProducedBatch(producer: "p", topic: "orders", records: 10, bytes: 1_000)
        metrics.recordProducedBatch(producer: "p", topic: "orders", records: 5, bytes: 400)
        metrics.recordProducedBatch(producer: "p", topic: "audit", records: 1, bytes: 90)
        metrics.recordBufferedBytes(producer: "p", 4_096)
        metrics.recordRetry(producer: "p")
        metrics.recordProduceFailure(producer: "p", error: KafkaError(.brokerError, "x", kafkaCode: 6), records: 3)
        metrics.recordProduceFailure(producer: "p", error: KafkaError(.deliveryTimeout, "late"))

        let orders = [("client_id", "svc"), ("producer", "p"), ("topic", "orders")]
        #expect(try testMetrics.expectCounter(KafkaMetricLabel.producerRecords, orders).totalValue == 15)
        #expect(try testMetrics.expectCounter(KafkaMetricLabel.producerBytes, orders).totalValue == 1_400)
        let audit = [("client_id", "svc"), ("producer", "p"), ("topic", "audit")]
        #expect(try testMetrics.expectCounter(KafkaMetricLabel.producerRecords, audit).totalValue == 1)
        let producer = [("client_id", "svc"), ("producer", "p")]
        #expect(try testMetrics.expectRecorder(KafkaMetricLabel.producerBatchRecords, producer).lastValue == 10)
        #expect(try testMetrics.expectRecorder(KafkaMetricLabel.producerBatchBytes, producer).lastValue == 1_000)
        #expect(try testMetrics.expectGauge(KafkaMetricLabel.producerBufferedBytes, producer).lastValue == 4_096)
        #expect(try testMetrics.expectCounter(KafkaMetricLabel.producerRetries, producer).totalValue == 1)
        #expect(try testMetrics.expectCounter(KafkaMetricLabel.producerErrors, producer + [("code", "NOT_LEADER_OR_FOLLOWER")]).totalValue == 3)
        #expect(try testMetrics.expectCounter(KafkaMetricLabel.producerErrors, producer + [("code", "deliveryTimeout")]).totalValue == 1)
    }

    @Test func throttleTimesAreTimedPerAPIAndBroker() throws {
        let testMetrics = TestMetrics()
        let metrics = KafkaMetrics(clientID: "svc", factory: testMetrics)
        metrics.recordThrottle(apiKey: 1, broker: "2", milliseconds: 250)
        let timer = try testMetrics.expectTimer(KafkaMetricLabel.requestThrottle, [("client_id", "svc"), ("api", "Fetch"), ("broker", "2")])
        #expect(timer.lastValue == 250_000_000)
    }

    @Test func metricObjectsAreCreatedOncePerDimensionSet() {
        let testMetrics = TestMetrics()
        let metrics = KafkaMetrics(clientID: "svc", factory: testMetrics)
        for _ in 0..<100 { metrics.recordProducedBatch(producer: "p", topic: "t", records: 1, bytes: 1) }
        #expect(testMetrics.counters.count == 2)  // records and bytes, not 200
    }

    @Test func requestsAreTimedPerAPIAndBroker() throws {
        let testMetrics = TestMetrics()
        let metrics = KafkaMetrics(clientID: "svc", factory: testMetrics)
        let target = metrics.requestTarget(apiKey: 0, broker: "1")
        let started = target.start()
        let inFlight = try testMetrics.expectMeter(KafkaMetricLabel.requestsInFlight, [("client_id", "svc"), ("broker", "1")])
        #expect(inFlight.lastValue == 1)
        target.finish(startedAt: started)
        #expect(inFlight.lastValue == 0)
        let timer = try testMetrics.expectTimer(KafkaMetricLabel.requestDuration, [("client_id", "svc"), ("api", "Produce"), ("broker", "1")])
        #expect(timer.values.count == 1)
        #expect(timer.values[0] >= 0)

        metrics.recordRequestFailure(apiKey: 1, broker: "2", error: KafkaError(.requestTimedOut, "t"))
        #expect(try testMetrics.expectCounter(
            KafkaMetricLabel.requestErrors, [("client_id", "svc"), ("api", "Fetch"), ("broker", "2"), ("code", "requestTimedOut")]).totalValue == 1)
        #expect(KafkaMetrics.apiName(9999) == "9999")
    }

    @Test func consumerMetrics() throws {
        let testMetrics = TestMetrics()
        let metrics = KafkaMetrics(clientID: "svc", factory: testMetrics)
        metrics.recordFetched(topic: "orders", records: 7, bytes: 700)
        metrics.recordLag(topic: "orders", partition: 2, highWatermark: 100, fetchOffset: 60)
        metrics.recordLag(topic: "orders", partition: 2, highWatermark: 100, fetchOffset: 120)
        metrics.recordRebalance(group: "g")
        metrics.consumerBatchTimer(group: "g", topic: "orders").recordNanoseconds(5)

        #expect(try testMetrics.expectCounter(KafkaMetricLabel.fetchRecords, [("client_id", "svc"), ("topic", "orders")]).totalValue == 7)
        #expect(try testMetrics.expectCounter(KafkaMetricLabel.fetchBytes, [("client_id", "svc"), ("topic", "orders")]).totalValue == 700)
        let lag = try testMetrics.expectGauge(
            KafkaMetricLabel.consumerLag, [("client_id", "svc"), ("topic", "orders"), ("partition", "2")])
        #expect(lag.values == [40, 0])  // never negative
        #expect(try testMetrics.expectCounter(KafkaMetricLabel.consumerRebalances, [("client_id", "svc"), ("group", "g")]).totalValue == 1)
        #expect(try testMetrics.expectTimer(
            KafkaMetricLabel.consumerBatchDuration, [("client_id", "svc"), ("group", "g"), ("topic", "orders")]).values == [5])
    }

    @Test func durationsConvertToNanoseconds() {
        #expect(Duration.milliseconds(1500).klifeNanoseconds == 1_500_000_000)
        #expect(Duration.seconds(Int64.max).klifeNanoseconds == .max)
    }
}
