import Metrics
import KafkaProtocol
import Synchronization

/// The metric objects of one client, created on first use per dimension set and cached, so hot paths do
/// a dictionary lookup per batch or request (never per record) and no allocation after the first time.
///
/// Labels and dimensions: ``KafkaMetricLabel``. Call sites keep the per-topic/per-broker handles they
/// get (``ProducerTopic``, ``RequestTarget`` …) when they can, to skip even that lookup.
final class KafkaMetrics: Sendable {
    let clientID: String
    private let factory: any MetricsFactory
    /// False with the no-op factory (no metrics backend bootstrapped): the hooks on hot paths then do nothing.
    let isEnabled: Bool
    private let cache = Mutex<[CacheKey: any Sendable]>([:])

    private struct CacheKey: Hashable {
        var kind: Kind
        var dimensions: [String]
        enum Kind: Hashable { case producerTopic, producer, producerError, request, requestError, requestThrottle, broker, fetchTopic, lag, group, groupTopic }
    }

    /// The metrics of the client whose connections use `clientID`, created on first use through
    /// `MetricsSystem.factory` (bootstrap the metrics backend before creating clients). Clients sharing a
    /// client id share their metrics.
    static func forClient(_ clientID: String) -> KafkaMetrics {
        registry.withLock { registry in
            if let existing = registry[clientID] { return existing }
            let created = KafkaMetrics(clientID: clientID)
            registry[clientID] = created
            return created
        }
    }

    private static let registry = Mutex<[String: KafkaMetrics]>([:])

    /// Metrics through `factory` (the process's `MetricsSystem.factory` by default).
    init(clientID: String, factory: any MetricsFactory = MetricsSystem.factory) {
        self.clientID = clientID
        self.factory = factory
        self.isEnabled = !(factory is NOOPMetricsHandler)
    }

    private func cached<T: Sendable>(_ kind: CacheKey.Kind, _ dimensions: [String], make: () -> T) -> T {
        let key = CacheKey(kind: kind, dimensions: dimensions)
        return cache.withLock { cache in
            if let existing = cache[key] as? T { return existing }
            let created = make()
            cache[key] = created
            return created
        }
    }

    // MARK: Producer

    /// Per producer and topic.
    struct ProducerTopic: Sendable {
        let records: Counter
        let bytes: Counter
    }

    /// Per producer.
    struct Producer: Sendable {
        let batchRecords: Recorder
        let batchBytes: Recorder
        let bufferedBytes: Gauge
        let retries: Counter
    }

    func producerTopic(producer: String, topic: String) -> ProducerTopic {
        cached(.producerTopic, [producer, topic]) {
            let dimensions = [("client_id", clientID), ("producer", producer), ("topic", topic)]
            return ProducerTopic(
                records: Counter(label: KafkaMetricLabel.producerRecords, dimensions: dimensions, factory: factory),
                bytes: Counter(label: KafkaMetricLabel.producerBytes, dimensions: dimensions, factory: factory))
        }
    }

    func producer(_ producer: String) -> Producer {
        cached(.producer, [producer]) {
            let dimensions = [("client_id", clientID), ("producer", producer)]
            return Producer(
                batchRecords: Recorder(label: KafkaMetricLabel.producerBatchRecords, dimensions: dimensions, factory: factory),
                batchBytes: Recorder(label: KafkaMetricLabel.producerBatchBytes, dimensions: dimensions, factory: factory),
                bufferedBytes: Gauge(label: KafkaMetricLabel.producerBufferedBytes, dimensions: dimensions, factory: factory),
                retries: Counter(label: KafkaMetricLabel.producerRetries, dimensions: dimensions, factory: factory))
        }
    }

    /// A batch of `records` records (`bytes` on the wire) of `topic` was acknowledged.
    func recordProducedBatch(producer: String, topic: String, records: Int, bytes: Int) {
        let perTopic = producerTopic(producer: producer, topic: topic)
        perTopic.records.increment(by: Int64(records))
        perTopic.bytes.increment(by: Int64(bytes))
    }

    /// A batch was sent (sizes feed the histograms).
    func recordSentBatch(producer: String, records: Int, bytes: Int) {
        let metrics = self.producer(producer)
        metrics.batchRecords.record(records)
        metrics.batchBytes.record(bytes)
    }

    func recordBufferedBytes(producer: String, _ bytes: Int) {
        guard isEnabled else { return }
        self.producer(producer).bufferedBytes.record(bytes)
    }

    func recordRetry(producer: String, batches: Int = 1) {
        self.producer(producer).retries.increment(by: Int64(batches))
    }

    /// `records` records failed with `error`.
    func recordProduceFailure(producer: String, error: KafkaError, records: Int = 1) {
        let code = Self.codeLabel(error)
        cached(.producerError, [producer, code]) {
            Counter(
                label: KafkaMetricLabel.producerErrors,
                dimensions: [("client_id", clientID), ("producer", producer), ("code", code)], factory: factory)
        }.increment(by: Int64(records))
    }

    // MARK: Requests

    /// Per API and broker.
    struct RequestTarget: Sendable {
        let duration: Timer
        let inFlight: Meter
    }

    func requestTarget(apiKey: Int16, broker: String) -> RequestTarget {
        let api = Self.apiName(apiKey)
        let inFlight = cached(.broker, [broker]) {
            Meter(label: KafkaMetricLabel.requestsInFlight, dimensions: [("client_id", clientID), ("broker", broker)], factory: factory)
        }
        return cached(.request, [api, broker]) {
            RequestTarget(
                duration: Timer(
                    label: KafkaMetricLabel.requestDuration,
                    dimensions: [("client_id", clientID), ("api", api), ("broker", broker)], factory: factory),
                inFlight: inFlight)
        }
    }

    func recordRequestFailure(apiKey: Int16, broker: String, error: KafkaError) {
        let api = Self.apiName(apiKey)
        let code = Self.codeLabel(error)
        cached(.requestError, [api, broker, code]) {
            Counter(
                label: KafkaMetricLabel.requestErrors,
                dimensions: [("client_id", clientID), ("api", api), ("broker", broker), ("code", code)], factory: factory)
        }.increment()
    }

    /// A quota throttle time a broker reported in an answer to `apiKey`.
    func recordThrottle(apiKey: Int16, broker: String, milliseconds: Int64) {
        guard isEnabled else { return }
        let api = Self.apiName(apiKey)
        cached(.requestThrottle, [api, broker]) {
            Timer(
                label: KafkaMetricLabel.requestThrottle,
                dimensions: [("client_id", clientID), ("api", api), ("broker", broker)], factory: factory)
        }.recordMilliseconds(milliseconds)
    }

    // MARK: Consumer

    /// Per fetched topic.
    struct FetchTopic: Sendable {
        let records: Counter
        let bytes: Counter
    }

    func fetchTopic(_ topic: String) -> FetchTopic {
        cached(.fetchTopic, [topic]) {
            let dimensions = [("client_id", clientID), ("topic", topic)]
            return FetchTopic(
                records: Counter(label: KafkaMetricLabel.fetchRecords, dimensions: dimensions, factory: factory),
                bytes: Counter(label: KafkaMetricLabel.fetchBytes, dimensions: dimensions, factory: factory))
        }
    }

    func recordFetched(topic: String, records: Int, bytes: Int) {
        let metrics = fetchTopic(topic)
        metrics.records.increment(by: Int64(records))
        metrics.bytes.increment(by: Int64(bytes))
    }

    /// Lag of one partition: its high watermark minus the offset just fetched from (never negative).
    func recordLag(topic: String, partition: Int32, highWatermark: Int64, fetchOffset: Int64) {
        cached(.lag, [topic, String(partition)]) {
            Gauge(
                label: KafkaMetricLabel.consumerLag,
                dimensions: [("client_id", clientID), ("topic", topic), ("partition", String(partition))],
                factory: factory)
        }.record(max(0, highWatermark - fetchOffset))
    }

    func recordRebalance(group: String) {
        cached(.group, [group]) {
            Counter(label: KafkaMetricLabel.consumerRebalances, dimensions: [("client_id", clientID), ("group", group)], factory: factory)
        }.increment()
    }

    func consumerBatchTimer(group: String, topic: String) -> Timer {
        cached(.groupTopic, [group, topic]) {
            Timer(
                label: KafkaMetricLabel.consumerBatchDuration,
                dimensions: [("client_id", clientID), ("group", group), ("topic", topic)], factory: factory)
        }
    }

    // MARK: Labels

    /// `Produce`, `Fetch`, … for known API keys, else the number.
    static func apiName(_ apiKey: Int16) -> String {
        guard let key = KafkaAPIKey(rawValue: apiKey) else { return String(apiKey) }
        return key.name
    }

    /// The broker's error name when the error carries a Kafka code, else the ``KafkaError/Code``.
    static func codeLabel(_ error: KafkaError) -> String {
        if let kafkaCode = error.kafkaCode { return KafkaErrorCode(rawValue: kafkaCode).name }
        return error.code.rawValue
    }
}

extension KafkaMetrics.RequestTarget {
    /// Times one request: counts it in flight now; ``finish(startedAt:)`` records its duration and leaves.
    func start() -> ContinuousClock.Instant {
        inFlight.increment()
        return .now
    }

    func finish(startedAt start: ContinuousClock.Instant) {
        inFlight.decrement()
        duration.recordNanoseconds((ContinuousClock.now - start).klifeNanoseconds)
    }
}

extension Duration {
    /// Whole nanoseconds, saturating.
    var klifeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (seconds < 0 ? .min : .max) : scaled.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
