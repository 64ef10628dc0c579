import NIOCore

/// The produce API (Klife's `produce`, `produce_batch`, `produce_async`, `produce_batch_async`).
///
/// Records go to the named producer's engine: per-partition buffers drained per broker, so one Produce
/// request carries every partition a broker leads. Results come back per record; a record's failure never
/// fails its neighbours. Records of one topic-partition keep their input order.
extension KafkaClient {
    /// Produces one record and waits for its acknowledgement.
    ///
    /// - Returns: the record enriched with its partition, offset (nil with acks=0) and timestamp.
    /// - Throws: ``KafkaError`` whose ``KafkaError/failedRecord`` is the record (with ``KafkaRecord/error``
    ///   set). Codes: ``KafkaError/Code/clientNotRunning``, ``KafkaError/Code/featureDisabled``,
    ///   ``KafkaError/Code/unknownProducer``, ``KafkaError/Code/unknownTopicOrPartition``,
    ///   ``KafkaError/Code/invalidPartition``, ``KafkaError/Code/recordTooLarge``, ``KafkaError/Code/invalidArgument`` (unknown partitioner, illegal
    ///   topic name: nothing is sent),
    ///   ``KafkaError/Code/brokerError`` (with `kafkaCode`, e.g. 10 MESSAGE_TOO_LARGE),
    ///   ``KafkaError/Code/recordRejected``, ``KafkaError/Code/deliveryTimeout``,
    ///   ``KafkaError/Code/deliveryOutcomeUnknown``, ``KafkaError/Code/cancelled``.
    ///
    /// The call runs on the caller's executor (`nonisolated(nonsending)`). A task that produces a record at a
    /// time can run on the producer's event loop to save two thread hops per call
    /// (``producerTaskExecutor(topic:partition:options:)``).
    nonisolated(nonsending) public func produce(_ record: KafkaRecord, options: KafkaProduceOptions = .init()) async throws -> KafkaRecord {
        let result: Result<KafkaRecord, KafkaError>
        if !tracesProduceCalls, let buffered = await produceNow(record, options: options) {
            result = buffered
        } else {
            result = await produceBatch([record], options: options)[0]
        }
        switch result {
        case .success(let produced):
            return produced
        case .failure(var error):
            var failed = record
            failed.error = error
            error.underlying = KafkaFailedRecord(record: failed)
            throw error
        }
    }

    /// ``produce(_:options:)`` in the usual case: the record is buffered at once (``submitNow(_:options:completion:)``)
    /// and its delivery resumes the caller, without the result list and collector of a batch. Nil when
    /// buffering needs the waiting path (nothing was buffered then).
    nonisolated(nonsending) private func produceNow(_ record: KafkaRecord, options: KafkaProduceOptions) async -> Result<KafkaRecord, KafkaError>? {
        await withUnsafeContinuation { continuation in
            var record = record
            var completion = ProducerCompletion.caller(continuation)
            switch submitNow(&record, options: options, completion: &completion) {
            case .buffered: return
            case .rejected(let error): continuation.resume(returning: .failure(error))
            case .notNow: continuation.resume(returning: nil)
            }
        }
    }

    /// Produces records and waits for all of them; equivalent to independent produces (no atomicity).
    ///
    /// - Returns: one result per record, in input order: the enriched record, or a ``KafkaError`` with the
    ///   codes listed at ``produce(_:options:)``.
    public func produceBatch(_ records: [KafkaRecord], options: KafkaProduceOptions = .init()) async -> [Result<KafkaRecord, KafkaError>] {
        guard !records.isEmpty else { return [] }
        if tracesProduceCalls, let traced = await produceBatchInSpan(records, options: options) { return traced }
        let collector = ProducerResultCollector(count: records.count)
        let rejected = await submitToProducers(records, options: options) { .collector(collector, index: $0) }
        for (index, error) in rejected { collector.set(index, .failure(error)) }
        return await collector.results()
    }

    /// Hands one record to its producer and returns once it is buffered (waiting only while the producer's
    /// `maxBufferedBytes` is reached). `callback`, if given, gets the result later, on the event loop of
    /// the connection that carried the record: keep it short and never block in it (a blocking callback holds
    /// up that connection's requests); hand longer work to a task of your own.
    ///
    /// For many records whose results go to the same place, make the callback once and pass that value to
    /// every call: a closure literal that captures something, written in the call, allocates its context on
    /// every call, and the event loop frees it after delivery (in `klife bench produce`, 1M x 100 B records,
    /// that cost 6-24% of the producer's CPU).
    ///
    /// - Throws: ``KafkaError`` for a record that cannot be buffered: ``KafkaError/Code/clientNotRunning``,
    ///   ``KafkaError/Code/featureDisabled``, ``KafkaError/Code/unknownProducer``,
    ///   ``KafkaError/Code/unknownTopicOrPartition``, ``KafkaError/Code/invalidPartition``, ``KafkaError/Code/recordTooLarge``,
    ///   ``KafkaError/Code/invalidArgument`` (unknown partitioner, illegal topic name),
    ///   ``KafkaError/Code/cancelled``. The callback is then not called.
    ///
    /// The call runs on the caller's executor (`nonisolated(nonsending)`): a per-record call with no executor
    /// switch on entry.
    nonisolated(nonsending) public func produceAsync(
        _ record: consuming KafkaRecord, options: KafkaProduceOptions = .init(),
        callback: consuming (@Sendable (Result<KafkaRecord, KafkaError>) -> Void)? = nil
    ) async throws {
        if tracesProduceCalls,
           let traced = await produceAsyncInSpan(record, options: options, callback: callback) {
            return try traced.get()
        }
        // `record` and `callback` are the caller's to give (consuming): their key, value, headers and callback
        // move into the engine without reference counting per record.
        var completion = callback.take().map { ProducerCompletion.callback($0) } ?? .none
        // The usual case, buffered at once without suspending: no async call chain per record.
        switch submitNow(&record, options: options, completion: &completion) {
        case .buffered: return
        case .rejected(let error): throw error
        case .notNow: break
        }
        let rejected = await submitToProducers([record], options: options) { _ in completion }
        if let (_, error) = rejected.first { throw error }
    }

    /// Hands records to their producers and returns once all are buffered (waiting only for buffer space).
    /// `callback`, if given, gets all results in input order once every record is done, on the event loop of
    /// the connection that carried the last of them: keep it short and never block in it.
    ///
    /// A record that cannot be buffered gets its failure in the callback, as from
    /// ``produceBatch(_:options:)``: ``KafkaError/Code/clientNotRunning``, ``KafkaError/Code/featureDisabled``,
    /// ``KafkaError/Code/unknownProducer``, ``KafkaError/Code/unknownTopicOrPartition``,
    /// ``KafkaError/Code/invalidPartition``, ``KafkaError/Code/recordTooLarge``, ``KafkaError/Code/invalidArgument`` (unknown partitioner, illegal
    /// topic name), ``KafkaError/Code/cancelled``; a buffered record's delivery failure is one of those
    /// ``produce(_:options:)`` throws. Without a callback the results are not reported (fire and forget, as
    /// Klife's `produce_batch_async/3`), except that records which could not even be buffered are logged as a
    /// warning with their count and first error, so they do not vanish without a trace.
    public func produceBatchAsync(
        _ records: [KafkaRecord], options: KafkaProduceOptions = .init(),
        callback: (@Sendable ([Result<KafkaRecord, KafkaError>]) -> Void)? = nil
    ) async {
        guard !records.isEmpty else {
            callback?([])
            return
        }
        if tracesProduceCalls, await produceBatchAsyncInSpan(records, options: options, callback: callback) { return }
        if let callback {
            let collector = ProducerResultCollector(count: records.count, onDone: callback)
            let rejected = await submitToProducers(records, options: options) { .collector(collector, index: $0) }
            for (index, error) in rejected { collector.set(index, .failure(error)) }
        } else {
            let rejected = await submitToProducers(records, options: options) { _ in .none }
            if let (index, error) = rejected.first {
                logger.warning("produceBatchAsync without a callback: \(rejected.count) of \(records.count) records were not buffered (record \(index): \(error))")
            }
        }
    }

    /// Waits until every record buffered by any producer of this client is acknowledged or failed, and its
    /// result handed over (a ``produceAsync(_:options:callback:)`` or ``produceBatchAsync(_:options:callback:)``
    /// callback has returned); lingering batches are sent at once.
    public func flush() async {
        let producers = configuration.effectiveProducers.compactMap { try? producer(named: $0.name, create: false) }
        await withTaskGroup(of: Void.self) { group in
            for producer in producers { group.addTask { await producer.driver.flush() } }
        }
    }

    // MARK: Internals

    typealias NetworkProducer = Producer<ProducerNetworkBackend>
    typealias NetworkRoute = ProducerTopicRoute<ProducerNetworkBackend>

    /// The producer named `name`, created (and started in the client's task group) on first use.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/unknownProducer``, or
    ///   ``KafkaError/Code/featureDisabled`` for an idempotent producer (``KafkaProducerConfiguration/enableIdempotence``)
    ///   while the `idempotentProducer` feature is disabled or the broker lacks InitProducerId, or
    ///   ``KafkaError/Code/clientNotRunning`` when it does not exist yet and the client is shutting down.
    func producer(named name: String, create: Bool = true) throws -> NetworkProducer? {
        if let known = producerLookup.producer(named: name) { return known }
        // Not `effectiveProducers`: that builds an array, and this runs on every produce call.
        let configured = configuration.producers.first { $0.name == name }
            ?? (name == configuration.defaultProducer ? KafkaProducerConfiguration(name: name) : nil)
        guard let producerConfiguration = configured else {
            throw KafkaError(
                .unknownProducer,
                "no producer named \(name) is configured (configured: \(configuration.effectiveProducers.map(\.name).joined(separator: ", ")))")
        }
        // An idempotent producer without its feature would fail every batch at InitProducerId: refuse it here,
        // naming the option that lets it run without.
        if producerConfiguration.enableIdempotence, let error = idempotenceUnavailable(producer: name) { throw error }
        // A short key stays a small (inline) string: no allocation per call.
        let key = "p:\(name)"
        if !create {
            // `component` stores nothing when `make` throws: this returns the producer only if it exists.
            return try? component(key, as: NetworkProducer.self) { throw CancellationError() }
        }
        let producer = try component(key, as: NetworkProducer.self) {
            Producer(
                configuration: producerConfiguration,
                backend: ProducerNetworkBackend(
                    cluster: cluster, configuration: producerConfiguration,
                    clientID: producerConfiguration.effectiveClientID(connectionClientID: configuration.connection.clientID)),
                eventLoop: eventLoopGroup.next(), partitioning: ProducerPartitioning(configuration))
        }
        producerLookup.remember(producer, named: name)
        return producer
    }

    /// Why producer `name`, which is idempotent, cannot run; nil when the `idempotentProducer` feature is available.
    private func idempotenceUnavailable(producer name: String) -> KafkaError? {
        do {
            try requireFeature(.idempotentProducer)
            return nil
        } catch {
            let reason = (error as? KafkaError)?.message ?? "\(error)"
            return KafkaError(.featureDisabled, "producer \(name) is idempotent (enableIdempotence) but \(reason); set enableIdempotence to false for it")
        }
    }

    /// Buffers one record if that needs no waiting: the client runs, the topic is known, the producer
    /// exists and has buffer space. Otherwise ``ProducerSubmitNow/notNow`` (nothing was buffered and the
    /// completion will not be called): ``submitToProducers(_:options:completion:)`` then does it all,
    /// including the errors.
    /// When buffered, the record's key, value and headers and the completion have moved into the engine;
    /// otherwise both are as given.
    func submitNow(_ record: inout KafkaRecord, options: KafkaProduceOptions, completion: inout ProducerCompletion) -> ProducerSubmitNow {
        guard isRunning else { return .notNow }  // the general path reports why
        // The usual case: a route of the current metadata for this topic and call shape is remembered.
        let route = producerLookup.route(topic: record.topic, options: options, generation: cluster.metadataGeneration)
            ?? makeRoute(topic: record.topic, options: options)
        if let route {
            return route.producer.submitNow(&record, route: route, completion: &completion)
        }
        return submitNowWithoutRoute(record, options: options, completion: completion)
    }

    /// Builds and remembers the route of `topic` for calls with `options`; nil when there is none to take
    /// (feature unavailable, unknown producer or topic, no partitioner choice): the call then goes the
    /// general way, which reports the problem.
    private func makeRoute(topic: String, options: KafkaProduceOptions) -> NetworkRoute? {
        guard (try? requireFeature(.producer)) != nil else { return nil }
        let name = options.producer ?? configuration.producerName(forTopic: topic)
        guard let producer = try? producer(named: name), let partitioning = producer.partitioning else { return nil }
        let (metadata, generation) = cluster.metadataWithGeneration
        guard let route = ProducerTopicRoute(
            topic: topic, options: options, producer: producer, partitioning: partitioning, metadata: metadata,
            generation: generation)
        else { return nil }
        producerLookup.remember(route)
        return route
    }

    /// ``submitNow(_:options:completion:)`` for a record without a route: routed from a fresh snapshot.
    private func submitNowWithoutRoute(_ record: KafkaRecord, options: KafkaProduceOptions, completion: ProducerCompletion) -> ProducerSubmitNow {
        guard (try? requireFeature(.producer)) != nil else { return .notNow }
        let name = options.producer ?? configuration.producerName(forTopic: record.topic)
        guard let producer = try? producer(named: name) else { return .notNow }
        let outcome = producer.submitNow(
            record, metadata: cluster.metadata, partitionerOverride: options.partitioner, completion: completion)
        // An unknown topic may be created or just not fetched yet: the waiting path refreshes metadata.
        if case .rejected(let error) = outcome, error.code == .unknownTopicOrPartition, configuration.enableUnknownTopics {
            return .notNow
        }
        return outcome
    }

    /// Routes records to their producers (per-call, else per-topic, else default) and submits them.
    ///
    /// - Returns: the records that were not buffered, by input index, with why; their completions are
    ///   not called.
    func submitToProducers(
        _ records: [KafkaRecord], options: KafkaProduceOptions, completion: (Int) -> ProducerCompletion
    ) async -> [(Int, KafkaError)] {
        var rejected: [(Int, KafkaError)] = []
        func failAll(_ error: KafkaError, _ indices: some Sequence<Int>) {
            for index in indices { rejected.append((index, error)) }
        }
        do {
            try requireRunning()
            try requireFeature(.producer)
        } catch let error as KafkaError {
            failAll(error, records.indices)
            return rejected
        } catch {
            failAll(KafkaError(.clientNotRunning, "\(error)"), records.indices)
            return rejected
        }

        var metadata = cluster.metadata
        if configuration.enableUnknownTopics,
           records.contains(where: { metadata.topics[$0.topic] == nil && KafkaTopicConfiguration.isValidTopicName($0.topic) }) {
            // Illegal names are left to the router, which rejects them; asking the brokers about them is pointless.
            let unknownTopics = Set(records.lazy.map(\.topic).filter { metadata.partitionCount(of: $0) == nil && KafkaTopicConfiguration.isValidTopicName($0) })
            cluster.noteTopicsInUse(unknownTopics)
            if let refreshed = try? await cluster.refreshMetadata() { metadata = refreshed }
        }
        let router = ProducerRecordRouter(metadata: metadata, clientConfiguration: configuration, partitionerOverride: options.partitioner)

        // Usually every record goes to one producer: then no grouping at all.
        let firstName = options.producer ?? configuration.producerName(forTopic: records[0].topic)
        var oneProducer = true
        if options.producer == nil {
            var lastTopic = records[0].topic
            for record in records.dropFirst() where record.topic != lastTopic {
                lastTopic = record.topic
                if configuration.producerName(forTopic: lastTopic) != firstName {
                    oneProducer = false
                    break
                }
            }
        }
        func producer(_ name: String, orFail indices: @autoclosure () -> [Int]) -> NetworkProducer? {
            do {
                return try self.producer(named: name)
            } catch let error as KafkaError {
                failAll(error, indices())
            } catch {
                failAll(KafkaError(.unknownProducer, "\(error)"), indices())
            }
            return nil
        }
        if oneProducer {
            guard let producer = producer(firstName, orFail: Array(records.indices)) else { return rejected }
            return await producer.submit(records, router: router, completion: completion)
        }
        var groups: [String: [Int]] = [:]
        for index in records.indices {
            groups[configuration.producerName(forTopic: records[index].topic), default: []].append(index)
        }
        for (name, indices) in groups {
            guard let producer = producer(name, orFail: indices) else { continue }
            let groupRejected = await producer.submit(indices.map { records[$0] }, router: router) { completion(indices[$0]) }
            rejected += groupRejected.map { (indices[$0.0], $0.1) }
        }
        rejected.sort { $0.0 < $1.0 }
        return rejected
    }
}

