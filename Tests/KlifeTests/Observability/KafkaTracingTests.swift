import Instrumentation
import KlifeTestSupport
import Testing
import Tracing

@testable import Klife

@Suite struct KafkaTracingTests {
    static func records(_ topic: String, _ count: Int, headers: [KafkaRecord.Header] = []) -> [KafkaRecord] {
        (0..<count).map { KafkaRecord(topic: topic, value: "v\($0)", headers: headers) }
    }

    @Test func produceSpanInjectsItsTraceparentIntoEveryRecord() async throws {
        let tracer = W3CTestTracer()
        let input = Self.records("orders", 3, headers: [.init(key: "traceparent", value: "stale"), .init(key: "app", value: "x")])
        let sent = await KafkaTracing.withProduceSpan(input, clientID: "c1", tracer: tracer) { records in records }
        let span = try #require(tracer.finishedSpans.first)
        #expect(tracer.finishedSpans.count == 1)
        #expect(span.operationName == "send orders")
        #expect(span.kind == .producer)
        #expect(span.attributes["messaging.system"]?.toSpanAttribute() == "kafka")
        #expect(span.attributes["messaging.destination.name"]?.toSpanAttribute() == "orders")
        #expect(span.attributes["messaging.batch.message_count"]?.toSpanAttribute() == 3)
        for record in sent {
            // The stale header is replaced, others kept; the value is a W3C traceparent naming this span.
            #expect(record.headers.filter { $0.key == "traceparent" }.count == 1)
            #expect(record.headers.contains { $0.key == "app" })
            let traceparent = try #require(record.headers.last { $0.key == "traceparent" }?.valueString)
            #expect(traceparent == "00-\(span.context.traceID)-\(span.context.spanID)-01")
            #expect(W3CSpanContext(traceparent: traceparent) == span.context)
        }
    }

    @Test func produceSpanIsAChildOfTheCallersSpan() async throws {
        let tracer = W3CTestTracer()
        let parentContext = await tracer.withSpan("request") { (parent: W3CTestTracer.TestSpan) in
            _ = await KafkaTracing.withProduceSpan(Self.records("a", 1) + Self.records("b", 1), clientID: "c", tracer: tracer) { $0 }
            return parent.context.w3cSpanContext
        }
        let send = try #require(tracer.finishedSpans.first { $0.operationName == "send" })  // two topics: no topic in the name
        #expect(send.parentSpanID == parentContext?.spanID)
        #expect(send.context.traceID == parentContext?.traceID)
        #expect(send.attributes["messaging.destination.name"] == nil)
    }

    @Test func produceSpanRecordsFailures() async throws {
        let tracer = W3CTestTracer()
        let results: [Result<KafkaRecord, KafkaError>] = await KafkaTracing.withProduceSpan(
            Self.records("t", 2), clientID: "c", tracer: tracer,
            { records in [.success(records[0]), .failure(KafkaError(.deliveryTimeout, "too slow"))] },
            failures: { $0.compactMap { if case .failure(let error) = $0 { error } else { nil } } })
        #expect(results.count == 2)
        let span = try #require(tracer.finishedSpans.first)
        #expect(span.status?.code == .error)
        #expect(span.errors.count == 1)
    }

    @Test func clientResolvesTheProduceTracerWhenCreated() throws {
        let configuration = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9)])
        let tracer = W3CTestTracer()
        let traced = try KafkaTracing.$tracerOverride.withValue(tracer) { try KafkaClient(configuration: configuration) }
        #expect(traced.produceTracer as? W3CTestTracer === tracer)
        // Created with the no-op tracer: produce calls skip tracing, even inside a later override.
        let untraced = try KafkaClient(configuration: configuration)
        #expect(untraced.produceTracer == nil)
        KafkaTracing.$tracerOverride.withValue(tracer) { #expect(untraced.produceTracer == nil) }
        #expect(KafkaTracing.$tracerOverride.withValue(NoOpTracer()) { KafkaTracing.resolveProduceTracer() } == nil)
    }

    @Test func noTracerMeansNoHeadersAndNoSpans() async throws {
        let input = Self.records("t", 2)
        let sent = await KafkaTracing.withProduceSpan(input, clientID: "c", tracer: NoOpTracer()) { $0 }
        #expect(sent.allSatisfy { $0.headers.isEmpty })
    }

    @Test func consumerBatchSpanContinuesTheProducersTrace() async throws {
        let tracer = W3CTestTracer()
        let first = W3CSpanContext(traceID: String(repeating: "a", count: 32), spanID: String(repeating: "1", count: 16))
        let second = W3CSpanContext(traceID: String(repeating: "b", count: 32), spanID: String(repeating: "2", count: 16))
        var records = Self.records("orders", 2, headers: [.init(key: "traceparent", value: first.traceparent)])
        records += Self.records("orders", 1, headers: [.init(key: "traceparent", value: second.traceparent)])
        records += Self.records("orders", 1)  // no context
        for index in records.indices { records[index].offset = Int64(40 + index) }
        let batch = KafkaConsumerBatch(topic: "orders", partition: 3, records: records)

        let seenInside = await KafkaTracing.withConsumerBatchSpan(batch, group: "g", clientID: "c", tracer: tracer) {
            ServiceContext.current?.w3cSpanContext
        }
        let span = try #require(tracer.finishedSpans.first)
        #expect(span.operationName == "process orders")
        #expect(span.kind == .consumer)
        #expect(span.context.traceID == first.traceID)
        #expect(span.parentSpanID == first.spanID)
        #expect(span.links == [second])
        #expect(seenInside == span.context)  // the handler runs inside the span
        #expect(span.attributes["messaging.kafka.destination.partition"]?.toSpanAttribute() == 3)
        #expect(span.attributes["messaging.consumer.group.name"]?.toSpanAttribute() == "g")
        #expect(span.attributes["messaging.kafka.offset"]?.toSpanAttribute() == 40)
    }

    @Test func recordsExposeTheirTraceContext() {
        let tracer = W3CTestTracer()
        let context = W3CSpanContext(traceID: String(repeating: "c", count: 32), spanID: String(repeating: "3", count: 16))
        let record = KafkaRecord(topic: "t", value: "v", headers: [.init(key: "traceparent", value: context.traceparent)])
        #expect(record.extractTraceContext(using: tracer).w3cSpanContext == context)
        #expect(KafkaRecord(topic: "t", value: "v").extractTraceContext(using: tracer).w3cSpanContext == nil)
        let malformed = KafkaRecord(topic: "t", value: "v", headers: [.init(key: "traceparent", value: "01-xyz")])
        #expect(malformed.extractTraceContext(using: tracer).w3cSpanContext == nil)
    }
}
