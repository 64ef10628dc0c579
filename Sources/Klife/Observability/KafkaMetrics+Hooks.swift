import KafkaProtocol
import NIOCore

// The calls the client's components make: each a single line at its call site, all logic here.

extension KafkaClient {
    /// This client's metrics (see ``KafkaMetricLabel``).
    var metrics: KafkaMetrics { KafkaMetrics.forClient(configuration.connection.clientID) }
}

extension ClusterManager {
    var metrics: KafkaMetrics { KafkaMetrics.forClient(configuration.connection.clientID) }
}

extension KafkaMetrics {
    /// Settled records of one producer: successes counted per topic (records and payload bytes), failures
    /// per error code. One cached lookup per run of records of one topic (completions come batch by batch),
    /// not per record.
    func recordCompletions(producer: String, _ completions: [ProducerStateMachineOutput<ProducerEntry>.Completion]) {
        guard isEnabled, !completions.isEmpty else { return }
        var topic: String?
        var records = 0
        var bytes = 0
        var failures: [String: (error: KafkaError, records: Int)] = [:]
        for completion in completions {
            switch completion.result {
            case .success:
                let completionTopic = completion.topicPartition.topic
                if topic != completionTopic {
                    if let topic, records > 0 { recordProducedBatch(producer: producer, topic: topic, records: records, bytes: bytes) }
                    topic = completionTopic
                    records = 0
                    bytes = 0
                }
                records += completion.records.count
                for pending in completion.records { bytes += pending.entry.payloadBytes }
            case .failure(let failure):
                guard let first = completion.records.first else { continue }
                let error = failure.kafkaError(for: first.entry.record(in: completion.topicPartition))
                failures[Self.codeLabel(error), default: (error, 0)].records += completion.records.count
            }
        }
        if let topic, records > 0 { recordProducedBatch(producer: producer, topic: topic, records: records, bytes: bytes) }
        for (_, failure) in failures { recordProduceFailure(producer: producer, error: failure.error, records: failure.records) }
    }

    /// One batch encoded into a Produce request; attempts after the first count as retries.
    func recordEncodedBatch(producer: String, attempt: Int, records: Int, bytes: Int) {
        guard isEnabled else { return }
        recordSentBatch(producer: producer, records: records, bytes: bytes)
        if attempt > 0 { recordRetry(producer: producer) }
    }

    /// One partition's fetch answer: records and bytes per topic, and the partition's lag.
    func recordFetchedPartition(_ position: KafkaFetchPosition, records: Int, bytes: Int, highWatermark: Int64) {
        recordFetched(topic: position.topic, records: records, bytes: bytes)
        if highWatermark >= 0 {
            recordLag(topic: position.topic, partition: position.partition, highWatermark: highWatermark, fetchOffset: position.offset)
        }
    }

    /// Runs a consumer-group handler on `batch` in a `process` span, timing it.
    func processConsumerBatch<Result>(
        _ batch: KafkaConsumerBatch, group: String, _ body: () async throws -> Result
    ) async throws -> Result {
        let start = ContinuousClock.now
        defer { consumerBatchTimer(group: group, topic: batch.topic).recordNanoseconds((ContinuousClock.now - start).klifeNanoseconds) }
        return try await KafkaTracing.withConsumerBatchSpan(batch, group: group, clientID: clientID, body)
    }
}

extension KafkaConnection {
    /// The `broker` dimension: the node id, or `host:port` for a bootstrap connection.
    var metricsBrokerLabel: String { brokerID.map(String.init) ?? address.description }

    /// Times the request in `frame` (its API key is at bytes 4..<6) around `body`, counting failures.
    func timedRequest<T>(_ frame: ByteBuffer, _ body: () async throws -> T) async throws -> T {
        let apiKey = frame.getInteger(at: frame.readerIndex + 4, endianness: .big, as: Int16.self) ?? -1
        guard metrics.isEnabled else { return try await body() }
        let target = metrics.requestTarget(apiKey: apiKey, broker: metricsBrokerLabel)
        let start = target.start()
        do {
            let result = try await body()
            target.finish(startedAt: start)
            return result
        } catch {
            target.finish(startedAt: start)
            metrics.recordRequestFailure(apiKey: apiKey, broker: metricsBrokerLabel, error: ClusterManager.asKafkaError(error))
            throw error
        }
    }

    /// Times the request in `frame` until `response` completes (requests enqueued without suspending).
    func trackRequest(_ frame: ByteBuffer, _ response: EventLoopFuture<ByteBuffer>) -> EventLoopFuture<ByteBuffer> {
        let apiKey = frame.getInteger(at: frame.readerIndex + 4, endianness: .big, as: Int16.self) ?? -1
        let metrics = self.metrics
        guard metrics.isEnabled else { return response }
        let broker = metricsBrokerLabel
        let target = metrics.requestTarget(apiKey: apiKey, broker: broker)
        let start = target.start()
        response.whenComplete { result in
            target.finish(startedAt: start)
            if case .failure(let error) = result {
                metrics.recordRequestFailure(apiKey: apiKey, broker: broker, error: ClusterManager.asKafkaError(error))
            }
        }
        return response
    }
}

extension ProducerDriverBackend {
    func observeBufferedBytes(_ bytes: Int) {}
}

extension ProducerNetworkBackend {
    func observeBufferedBytes(_ bytes: Int) {
        metrics.recordBufferedBytes(producer: configuration.name, bytes)
    }
}
