import Klife
import Logging
import Metrics
import Tracing

enum ObservabilitySnippets {
    static func bootstrap(metricsFactory: any MetricsFactory, tracer: any Tracer) {
        // snippet.begin observability-bootstrap
        // Once, at start-up, before creating clients (e.g. swift-prometheus and swift-otel):
        MetricsSystem.bootstrap(metricsFactory)
        InstrumentationSystem.bootstrap(tracer)
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        // snippet.end
    }

    static func tracedProduce(client: KafkaClient) async throws {
        // snippet.begin tracing-produce
        try await withSpan("POST /orders") { _ in
            // The "send orders" span is a child of "POST /orders"; its context travels in the record's headers.
            _ = try await client.produce(KafkaRecord(topic: "orders", value: "created"))
        }
        // snippet.end
    }

    static func tracedConsume(record: KafkaRecord) async {
        // snippet.begin tracing-consume
        // Consumer-group handlers already run inside a "process <topic>" span continuing the producer's trace.
        // Records fetched by hand carry the context too:
        await withSpan("process order", context: record.extractTraceContext(), ofKind: .consumer) { _ in
            // handle the record
        }
        // snippet.end
    }

    static func logging() throws {
        // snippet.begin logging
        var logger = Logger(label: "orders-service")
        logger.logLevel = .debug  // connection setup, negotiated versions, group membership
        let client = try KafkaClient(
            configuration: .init(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)]), logger: logger)
        // snippet.end
        _ = client
    }
}
