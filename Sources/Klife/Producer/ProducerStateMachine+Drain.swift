import NIOCore

extension ProducerStateMachine {
    /// Called by a sink's drain loop: the next request to send, or how long to wait.
    ///
    /// A request is built when at least one partition of the sink has a batch that is ready (full, closed,
    /// lingered long enough, a retry, or a flush is pending); every other partition with records then
    /// travels along, up to `maxRequestBytes`.
    ///
    /// At linger 0 a batch that is ready only because its (zero) linger elapsed goes at once while the
    /// sink has nothing in flight, and otherwise waits until the sink's requests are answered
    /// (``gathersBehindInFlight(_:)``): concurrent callers' records gather into one request per round trip
    /// instead of queueing at the broker as one tiny request each, while a lone record leaves immediately.
    mutating func nextAction(for sinkID: ProducerSinkID, now: NIODeadline) -> SinkAction {
        guard let sink = sinks[sinkID], !isShutDown else { return .wait(until: nil) }
        if sink.inFlight.count >= configuration.maxInFlightRequests {
            sinks[sinkID]!.parked = .inFlightFull
            return .wait(until: nil)
        }
        if configuration.idempotent && producerIdentity == nil {
            sinks[sinkID]!.parked = .awaitingProducerID
            return .wait(until: nil)
        }

        var earliest: NIODeadline?
        var anyReady = false
        var anyLingered = false
        var candidates: [(ProducerTopicPartition, Int)] = []
        let count = sink.partitions.count
        for step in 0..<count {
            let topicPartition = sink.partitions[(sink.rotation + step) % count]
            guard let partition = partitions[topicPartition],
                  let index = candidateIndex(partition, sink: sinkID, now: now, earliest: &earliest)
            else { continue }
            let batch = partition.batches[index]
            let lingerDeadline = batch.createdAt + configuration.linger
            if batch.isClosed || batch.attempts > 0 || !flushWaiters.isEmpty {
                anyReady = true
            } else if now >= lingerDeadline {
                anyLingered = true
            } else {
                earliest = earliest.map { min($0, lingerDeadline) } ?? lingerDeadline
            }
            candidates.append((topicPartition, index))
        }
        if !anyReady && anyLingered {
            if gathersBehindInFlight(sink) {
                sinks[sinkID]!.parked = .gathering(until: earliest)
                return .wait(until: earliest)
            }
            anyReady = true
        }
        guard anyReady else {
            sinks[sinkID]!.parked = .idle(until: earliest)
            return .wait(until: earliest)
        }

        let requestID = nextRequestID
        nextRequestID &+= 1
        var plan = ProduceRequestPlan<Entry>(requestID: requestID, sink: sinkID, acks: configuration.acks, batches: [])
        plan.batches.reserveCapacity(candidates.count)
        var sent: [(ProducerTopicPartition, UInt64)] = []
        sent.reserveCapacity(candidates.count)
        var totalBytes = 0
        for (topicPartition, index) in candidates {
            let bytes = partitions[topicPartition]!.batches[index].estimatedBytes
            if totalBytes > 0 && totalBytes + bytes > configuration.maxRequestBytes { continue }
            totalBytes += bytes
            plan.batches.append(stampForSend(topicPartition, index: index, requestID: requestID, sink: sinkID))
            sent.append((topicPartition, partitions[topicPartition]!.batches[index].id))
        }
        sinks[sinkID]!.rotation = count == 0 ? 0 : (sink.rotation + 1) % count
        sinks[sinkID]!.inFlight.append(requestID)
        sinks[sinkID]!.parked = nil
        requests[requestID] = InFlightRequest(sink: sinkID, batches: sent, result: nil)
        return .send(plan)
    }

    /// Whether open batches whose linger elapsed wait instead of going out now: at linger 0 while the sink
    /// has a request in flight (each answer wakes the drain loop to look again).
    ///
    /// Sent at once, they would put a request of one or two records behind each in-flight one: the
    /// broker's per-request cost then sets the pace and every caller waits behind the queue. Held, they
    /// leave together once the connection is free, one request per round trip, as a Kafka client's sender
    /// sends what gathered while it was busy. Full or closed batches, retries and flushes are not held
    /// (they pipeline up to `maxInFlightRequests`), nor is any batch at linger > 0, whose own deadline
    /// bounds its wait.
    private func gathersBehindInFlight(_ sink: Sink) -> Bool {
        configuration.linger == .zero && !sink.inFlight.isEmpty
    }

    /// Whether the sink has requests in flight besides the one it planned last.
    func hasEarlierRequestsInFlight(on sinkID: ProducerSinkID) -> Bool {
        (sinks[sinkID]?.inFlight.count ?? 0) > 1
    }

    /// The batch of `partition` that may go out on `sink` now, if any. In-flight batches form a prefix of
    /// the partition's queue; the next one may join them only if it is not a retry (a retry waits until
    /// nothing of the partition is in flight, so order holds) and all of them are on the same sink.
    private func candidateIndex(
        _ partition: Partition, sink: ProducerSinkID, now: NIODeadline, earliest: inout NIODeadline?
    ) -> Int? {
        if partition.needsSequenceReset { return nil }
        if let retryAt = partition.retryAt, retryAt > now {
            earliest = earliest.map { min($0, retryAt) } ?? retryAt
            return nil
        }
        if partition.inFlight > 0 && partition.inFlightSink != sink { return nil }
        guard let index = partition.batches.firstIndex(where: { !$0.isInFlight }) else { return nil }
        if partition.inFlight > 0 && partition.batches[index].attempts > 0 { return nil }
        return index
    }

    /// Closes the batch, stamps it (first send of an idempotent batch takes the next sequences) and marks
    /// it in flight.
    private mutating func stampForSend(
        _ topicPartition: ProducerTopicPartition, index: Int, requestID: UInt64, sink: ProducerSinkID
    ) -> ProduceRequestPlan<Entry>.Batch {
        var partition = partitions.removeValue(forKey: topicPartition)!
        defer { partitions[topicPartition] = partition }

        partition.batches[index].isClosed = true
        if configuration.idempotent && partition.batches[index].baseSequence == nil {
            if partition.producerID < 0, let identity = producerIdentity {
                partition.producerID = identity.id
                partition.producerEpoch = identity.epoch
            }
            partition.batches[index].producerID = partition.producerID
            partition.batches[index].producerEpoch = partition.producerEpoch
            partition.batches[index].baseSequence = partition.nextSequence
            partition.nextSequence = Self.incrementSequence(
                partition.nextSequence, by: partition.batches[index].recordCount)
        }
        if partition.batches[index].attempts == 0 { partition.recentBatchRecords = partition.batches[index].recordCount }
        partition.batches[index].attempts += 1
        partition.batches[index].inFlightRequest = requestID
        partition.batches[index].outcomeUnknown = true
        partition.inFlight += 1
        partition.inFlightSink = sink
        partition.retryAt = nil

        let batch = partition.batches[index]
        return ProduceRequestPlan<Entry>.Batch(
            topicPartition: topicPartition,
            producerID: batch.producerID,
            producerEpoch: batch.producerEpoch,
            baseSequence: batch.baseSequence ?? -1,
            records: batch.records,
            estimatedBytes: batch.estimatedBytes,
            attempt: batch.attempts)
    }

    /// Kafka's sequence arithmetic: sequences wrap from Int32.max to 0.
    static func incrementSequence(_ sequence: Int32, by increment: Int) -> Int32 {
        let next = Int64(sequence) + Int64(increment)
        return Int32(next % (Int64(Int32.max) + 1))
    }
}
