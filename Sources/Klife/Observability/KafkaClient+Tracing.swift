import Instrumentation
import Tracing

// Produce calls re-enter themselves once inside a `send` span with the span's context in the records'
// headers; the task-local flag stops the second pass from opening another span. A client's produce calls
// use the tracer resolved when the client was created (`KafkaClient.produceTracer`): with none, the call
// path reads no task local and takes no lock.

extension KafkaTracing {
    @TaskLocal static var insideProduceSpan = false

    /// Whether a produce call should open a span: a tracer is bootstrapped and no span is open for this call.
    ///
    /// Runs on every produce call: with nothing bootstrapped (the no-op instrument) it answers with a type
    /// comparison instead of `InstrumentationSystem.tracer`'s protocol casts.
    static var shouldTraceProduce: Bool {
        if let override = tracerOverride { return isActive(override) && !insideProduceSpan }
        if ObjectIdentifier(type(of: InstrumentationSystem.instrument)) == ObjectIdentifier(NoOpInstrument.self) { return false }
        return isActive(tracer) && !insideProduceSpan
    }

    /// The tracer a client's produce calls use, resolved once when the client is created (a task-local
    /// override, else `InstrumentationSystem`'s tracer); nil when it records nothing (the no-op tracer).
    static func resolveProduceTracer() -> (any Tracer)? {
        if let override = tracerOverride { return isActive(override) ? override : nil }
        if ObjectIdentifier(type(of: InstrumentationSystem.instrument)) == ObjectIdentifier(NoOpInstrument.self) { return nil }
        let tracer = InstrumentationSystem.tracer
        return isActive(tracer) ? tracer : nil
    }

    static func failures(_ results: [Result<KafkaRecord, KafkaError>]) -> [KafkaError] {
        results.compactMap { if case .failure(let error) = $0 { error } else { nil } }
    }
}

extension KafkaClient {
    /// ``produceBatch(_:options:)`` inside a `send` span; nil when it should run untraced.
    func produceBatchInSpan(_ records: [KafkaRecord], options: KafkaProduceOptions) async -> [Result<KafkaRecord, KafkaError>]? {
        guard let tracer = produceTracer, !KafkaTracing.insideProduceSpan else { return nil }
        return await KafkaTracing.$insideProduceSpan.withValue(true) {
            await KafkaTracing.withProduceSpan(records, clientID: configuration.connection.clientID, tracer: tracer, { injected in
                await self.produceBatch(injected, options: options)
            }, failures: KafkaTracing.failures)
        }
    }

    /// ``produceAsync(_:options:callback:)`` inside a `send` span that ends once the record is buffered; nil
    /// when it should run untraced.
    func produceAsyncInSpan(
        _ record: KafkaRecord, options: KafkaProduceOptions, callback: (@Sendable (Result<KafkaRecord, KafkaError>) -> Void)?
    ) async -> Result<Void, KafkaError>? {
        guard let tracer = produceTracer, !KafkaTracing.insideProduceSpan else { return nil }
        return await KafkaTracing.$insideProduceSpan.withValue(true) {
            await KafkaTracing.withProduceSpan([record], clientID: configuration.connection.clientID, tracer: tracer, { injected in
                do {
                    try await self.produceAsync(injected[0], options: options, callback: callback)
                    return .success(())
                } catch let error as KafkaError {
                    return .failure(error)
                } catch {
                    return .failure(ClusterManager.asKafkaError(error))
                }
            }, failures: { result in if case .failure(let error) = result { [error] } else { [] } })
        }
    }

    /// ``produceBatchAsync(_:options:callback:)`` inside a `send` span that ends once the records are buffered;
    /// false when it should run untraced.
    func produceBatchAsyncInSpan(
        _ records: [KafkaRecord], options: KafkaProduceOptions, callback: (@Sendable ([Result<KafkaRecord, KafkaError>]) -> Void)?
    ) async -> Bool {
        guard let tracer = produceTracer, !records.isEmpty, !KafkaTracing.insideProduceSpan else { return false }
        await KafkaTracing.$insideProduceSpan.withValue(true) {
            await KafkaTracing.withProduceSpan(records, clientID: configuration.connection.clientID, tracer: tracer) { injected in
                await self.produceBatchAsync(injected, options: options, callback: callback)
            }
        }
        return true
    }
}

extension KafkaTransaction {
    /// ``produceBatch(_:)`` inside a `send` span (with `messaging.kafka.transactional_id`); nil when it should
    /// run untraced.
    func produceBatchInSpan(_ records: [KafkaRecord]) async -> [Result<KafkaRecord, KafkaError>]? {
        guard KafkaTracing.shouldTraceProduce else { return nil }
        let transactionalID = producer.transactionalID
        return await KafkaTracing.$insideProduceSpan.withValue(true) {
            await KafkaTracing.withProduceSpan(records, clientID: transactionalID, { injected in
                await self.produceBatch(injected)
            }, failures: KafkaTracing.failures)
        }
    }
}
