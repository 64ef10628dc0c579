import Instrumentation
import Synchronization
import Tracing

/// A span context as W3C Trace Context carries it (`traceparent: 00-<trace id>-<span id>-<flags>`).
public struct W3CSpanContext: Sendable, Hashable {
    public var traceID: String  // 32 lowercase hex digits
    public var spanID: String  // 16 lowercase hex digits

    public var traceparent: String { "00-\(traceID)-\(spanID)-01" }

    /// Parses a `traceparent` value (version 00 only, as the recommendation requires of a first version).
    public init?(traceparent: String) {
        let parts = traceparent.split(separator: "-")
        guard parts.count == 4, parts[0] == "00", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
            parts[1].allSatisfy(\.isHexDigit), parts[2].allSatisfy(\.isHexDigit)
        else { return nil }
        traceID = String(parts[1])
        spanID = String(parts[2])
    }

    public init(traceID: String, spanID: String) {
        self.traceID = traceID
        self.spanID = spanID
    }
}

private enum W3CSpanContextKey: ServiceContextKey {
    typealias Value = W3CSpanContext
}

extension ServiceContext {
    public var w3cSpanContext: W3CSpanContext? {
        get { self[W3CSpanContextKey.self] }
        set { self[W3CSpanContextKey.self] = newValue }
    }
}

/// An in-memory tracer that propagates W3C `traceparent` headers and keeps every finished span (shared by the
/// unit and integration test targets).
public final class W3CTestTracer: Tracer, Sendable {
    public init() {}

    public struct FinishedSpan: Sendable {
        public var operationName: String
        public var kind: SpanKind
        public var context: W3CSpanContext
        public var parentSpanID: String?
        public var attributes: SpanAttributes
        public var links: [W3CSpanContext]
        public var status: SpanStatus?
        public var errors: [String]
    }

    private let state = Mutex<(finished: [FinishedSpan], nextID: UInt64)>(([], 1))

    public var finishedSpans: [FinishedSpan] { state.withLock { $0.finished } }

    fileprivate func finish(_ span: FinishedSpan) { state.withLock { $0.finished.append(span) } }

    private func nextID() -> UInt64 {
        state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
    }

    private static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> TestSpan {
        var context = context()
        let parent = context.w3cSpanContext
        let spanID = Self.hex(nextID(), digits: 16)
        let traceID = parent?.traceID ?? Self.hex(nextID(), digits: 32)
        let spanContext = W3CSpanContext(traceID: traceID, spanID: spanID)
        context.w3cSpanContext = spanContext
        return TestSpan(
            tracer: self, operationName: operationName, kind: kind, context: context, spanContext: spanContext,
            parentSpanID: parent?.spanID)
    }

    public func forceFlush() {}

    public func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let spanContext = context.w3cSpanContext else { return }
        injector.inject(spanContext.traceparent, forKey: "traceparent", into: &carrier)
    }

    public func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: "traceparent", from: carrier), let parsed = W3CSpanContext(traceparent: value) else {
            return
        }
        context.w3cSpanContext = parsed
    }

    public final class TestSpan: Tracing.Span, Sendable {
        private struct Mutable {
            var operationName: String
            var attributes: SpanAttributes = [:]
            var links: [W3CSpanContext] = []
            var status: SpanStatus?
            var errors: [String] = []
            var ended = false
        }

        private let tracer: W3CTestTracer
        private let kind: SpanKind
        private let spanContext: W3CSpanContext
        private let parentSpanID: String?
        private let mutable: Mutex<Mutable>
        public let context: ServiceContext

        fileprivate init(
            tracer: W3CTestTracer, operationName: String, kind: SpanKind, context: ServiceContext, spanContext: W3CSpanContext,
            parentSpanID: String?
        ) {
            self.tracer = tracer
            self.kind = kind
            self.context = context
            self.spanContext = spanContext
            self.parentSpanID = parentSpanID
            self.mutable = Mutex(Mutable(operationName: operationName))
        }

        public var operationName: String {
            get { mutable.withLock { $0.operationName } }
            set { mutable.withLock { $0.operationName = newValue } }
        }

        public var attributes: SpanAttributes {
            get { mutable.withLock { $0.attributes } }
            set { mutable.withLock { $0.attributes = newValue } }
        }

        public var isRecording: Bool { mutable.withLock { !$0.ended } }

        public func setStatus(_ status: SpanStatus) { mutable.withLock { $0.status = status } }
        public func addEvent(_ event: SpanEvent) {}
        public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
            mutable.withLock { $0.errors.append("\(error)") }
        }
        public func addLink(_ link: SpanLink) {
            guard let linked = link.context.w3cSpanContext else { return }
            mutable.withLock { $0.links.append(linked) }
        }

        public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
            let finished = mutable.withLock { state -> FinishedSpan? in
                guard !state.ended else { return nil }
                state.ended = true
                return FinishedSpan(
                    operationName: state.operationName, kind: kind, context: spanContext, parentSpanID: parentSpanID,
                    attributes: state.attributes, links: state.links, status: state.status, errors: state.errors)
            }
            if let finished { tracer.finish(finished) }
        }
    }
}
