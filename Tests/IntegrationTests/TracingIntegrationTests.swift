import Foundation
import KlifeTestSupport
import Logging
import Synchronization
import Testing
import Tracing

@testable import Klife

/// A trace crosses Kafka (Tansu): the produce call's `send` span writes a W3C `traceparent` into the
/// record's headers, and the consumer group's `process` span continues that trace. The client runs under
/// a task-local tracer (the process-wide one can be bootstrapped only once).
@Suite("Tracing", .serialized)
struct TracingIntegrationTests {
    @Test("a produce span's context reaches the consumer group's process span through the record headers")
    func traceCrossesKafka() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("tracing")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        let tracer = W3CTestTracer()
        var logger = Logger(label: "tracing-test")
        logger.logLevel = .critical
        let configuration = KafkaClient.Configuration(bootstrapServers: try KafkaConnectionConfiguration.BrokerAddress.parseList(bootstrap))
        let seen = Mutex<[(traceparent: String?, context: W3CSpanContext?)]>([])

        let parent = try await KafkaTracing.$tracerOverride.withValue(tracer) {
            try await KafkaClient.withRunningClient(configuration: configuration, logger: logger) { client in
                let parent = try await tracer.withSpan("POST /orders") { (span: W3CTestTracer.TestSpan) in
                    _ = try await client.produce(KafkaRecord(topic: topic, value: "order"))
                    return span.context.w3cSpanContext!
                }
                try await client.withTransaction { txn in
                    _ = try await txn.produce(KafkaRecord(topic: topic, value: "in a transaction"))
                }
                let member = try client.startConsumerGroup(
                    KafkaConsumerGroupConfiguration(groupID: TestBrokers.uniqueName("tracing"), topics: [topic], sessionTimeout: .seconds(6), offsetResetPolicy: .earliest)
                ) { batch in
                    let context = ServiceContext.current?.w3cSpanContext
                    seen.withLock { seen in
                        for record in batch.records {
                            seen.append((record.headers.last { $0.key == "traceparent" }?.valueString, context))
                        }
                    }
                    return .commit
                }
                try await ConsumerGroupTests.waitUntil("the records were consumed") { seen.withLock { $0.count } >= 2 }
                await member.stop()
                return parent
            }
        }

        let spans = tracer.finishedSpans
        let sends = spans.filter { $0.operationName == "send \(topic)" }
        #expect(sends.count == 2)  // the produce call and the transactional produce
        let send = try #require(sends.first { $0.parentSpanID == parent.spanID })
        #expect(send.kind == .producer)
        #expect(send.parentSpanID == parent.spanID)
        #expect(send.context.traceID == parent.traceID)
        let process = try #require(spans.first { $0.operationName == "process \(topic)" && $0.parentSpanID == send.context.spanID })
        #expect(process.kind == .consumer)
        #expect(process.context.traceID == parent.traceID)
        #expect(process.parentSpanID == send.context.spanID)
        let consumed = seen.withLock { $0 }
        #expect(consumed.count == 2)
        // Each record carries the traceparent of its own send span; the handler ran inside the process span.
        #expect(Set(consumed.compactMap(\.traceparent)) == Set(sends.map { "00-\($0.context.traceID)-\($0.context.spanID)-01" }))
        #expect(consumed.first?.traceparent == "00-\(send.context.traceID)-\(send.context.spanID)-01")
        #expect(consumed.first?.context == process.context)
    }
}
