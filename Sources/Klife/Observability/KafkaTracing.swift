import Instrumentation
import Tracing

/// Spans around produce calls and consumer batches, and trace-context propagation through record headers.
///
/// Span names and attributes follow OpenTelemetry's messaging conventions: `send <topic>` (kind producer)
/// per produce call, `process <topic>` (kind consumer) per batch a consumer-group handler handles, with
/// `messaging.system = kafka`, `messaging.destination.name`, `messaging.batch.message_count`,
/// `messaging.kafka.destination.partition`, `messaging.consumer.group.name` and `messaging.client.id`.
/// With no tracer bootstrapped (the no-op tracer) nothing is created or written.
enum KafkaTracing {
    /// A tracer used instead of `InstrumentationSystem.tracer` by the tasks that inherit it (tests run a client
    /// under it, since the process-wide tracer can be bootstrapped only once).
    @TaskLocal static var tracerOverride: (any Tracer)?

    /// The tracer spans go to.
    static var tracer: any Tracer { tracerOverride ?? InstrumentationSystem.tracer }

    /// Whether `tracer` records anything; the no-op tracer does not, and then the hot path skips all work.
    static func isActive(_ tracer: any Tracer) -> Bool {
        !(tracer is NoOpTracer)
    }

    /// Runs a produce of `records` inside a `send` span; `body` gets the records with the span's context
    /// injected into their headers.
    static func withProduceSpan<Result>(
        _ records: [KafkaRecord], clientID: String, tracer: any Tracer = KafkaTracing.tracer,
        _ body: ([KafkaRecord]) async -> Result, failures: (Result) -> [KafkaError] = { _ in [] }
    ) async -> Result {
        guard isActive(tracer), !records.isEmpty else { return await body(records) }
        let topic = commonTopic(records.lazy.map(\.topic))
        return await tracer.withSpan(topic.map { "send \($0)" } ?? "send", context: .current ?? .topLevel, ofKind: .producer) { span in
            span.attributes["messaging.system"] = "kafka"
            span.attributes["messaging.operation.type"] = "send"
            span.attributes["messaging.client.id"] = clientID
            if let topic { span.attributes["messaging.destination.name"] = topic }
            if records.count > 1 { span.attributes["messaging.batch.message_count"] = records.count }
            let result = await body(inject(span.context, into: records, tracer: tracer))
            let errors = failures(result)
            if let first = errors.first {
                span.recordError(first)
                span.setStatus(SpanStatus(code: .error, message: "\(errors.count) of \(records.count) records failed: \(first.message)"))
            }
            return result
        }
    }

    /// `records` with `context` written into each one's headers (computed once, appended to each).
    static func inject(_ context: ServiceContext, into records: [KafkaRecord], tracer: any Tracer) -> [KafkaRecord] {
        var headers: [KafkaRecord.Header] = []
        tracer.inject(context, into: &headers, using: KafkaRecordHeadersInjector())
        guard !headers.isEmpty else { return records }
        let keys = Set(headers.map(\.key))
        return records.map { record in
            var record = record
            record.headers.removeAll { keys.contains($0.key) }
            record.headers.append(contentsOf: headers)
            return record
        }
    }

    /// Runs a consumer-group handler on `batch` inside a `process` span whose parent is the trace context of
    /// the batch's first record that carries one; the other records' contexts become span links.
    static func withConsumerBatchSpan<Result>(
        _ batch: KafkaConsumerBatch, group: String, clientID: String, tracer: any Tracer = KafkaTracing.tracer,
        _ body: () async throws -> Result
    ) async rethrows -> Result {
        guard isActive(tracer) else { return try await body() }
        var parent: ServiceContext?
        var links: [ServiceContext] = []
        var seen = Set<String>()
        for record in batch.records {
            var context = ServiceContext.topLevel
            tracer.extract(record.headers, into: &context, using: KafkaRecordHeadersExtractor())
            guard !context.isEmpty else { continue }
            // Records of one produce call share a context: link each distinct one once.
            let identity = record.headers.filter { $0.key == "traceparent" }.last?.valueString ?? "\(seen.count)"
            guard seen.insert(identity).inserted else { continue }
            if parent == nil { parent = context } else if links.count < 128 { links.append(context) }
        }
        return try await tracer.withSpan(
            "process \(batch.topic)", context: parent ?? ServiceContext.current ?? .topLevel, ofKind: .consumer
        ) { span in
            span.attributes["messaging.system"] = "kafka"
            span.attributes["messaging.operation.type"] = "process"
            span.attributes["messaging.client.id"] = clientID
            span.attributes["messaging.destination.name"] = batch.topic
            span.attributes["messaging.kafka.destination.partition"] = Int(batch.partition)
            span.attributes["messaging.consumer.group.name"] = group
            span.attributes["messaging.batch.message_count"] = batch.records.count
            if let offset = batch.records.first?.offset { span.attributes["messaging.kafka.offset"] = Int(offset) }
            for link in links { span.addLink(SpanLink(context: link, attributes: [:])) }
            return try await body()
        }
    }

    /// The topic all `topics` share, nil when they differ.
    private static func commonTopic(_ topics: some Sequence<String>) -> String? {
        var iterator = topics.makeIterator()
        guard let first = iterator.next() else { return nil }
        while let next = iterator.next() {
            if next != first { return nil }
        }
        return first
    }
}
