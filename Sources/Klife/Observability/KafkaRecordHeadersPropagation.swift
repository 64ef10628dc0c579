import Instrumentation

/// Writes trace context (e.g. W3C `traceparent` / `tracestate`) into record headers; an existing header
/// with the same key is replaced.
///
/// Klife injects the current trace context into every produced record with this injector through
/// `InstrumentationSystem`; use it directly to propagate a context by hand.
public struct KafkaRecordHeadersInjector: Injector {
    public init() {}

    public func inject(_ value: String, forKey key: String, into carrier: inout [KafkaRecord.Header]) {
        carrier.removeAll { $0.key == key }
        carrier.append(KafkaRecord.Header(key: key, value: value))
    }
}

/// Reads trace context headers (e.g. W3C `traceparent`) from record headers; the last header of a key wins.
public struct KafkaRecordHeadersExtractor: Extractor {
    public init() {}

    public func extract(key: String, from carrier: [KafkaRecord.Header]) -> String? {
        carrier.last { $0.key == key }?.valueString
    }
}

extension KafkaRecord {
    /// The trace context the producer wrote into this record's headers, as the process's instrument (the
    /// tracer bootstrapped in `InstrumentationSystem`) reads it; an empty context when there is none.
    ///
    /// Use it as the parent of the span that processes the record:
    /// `withSpan("process", context: record.extractTraceContext(), ofKind: .consumer) { … }`.
    public func extractTraceContext(using instrument: any Instrument = InstrumentationSystem.instrument) -> ServiceContext {
        var context = ServiceContext.topLevel
        instrument.extract(headers, into: &context, using: KafkaRecordHeadersExtractor())
        return context
    }
}
