import NIOCore

// MARK: - Leaders

extension ProducerStateMachine {
    /// New leaders from metadata. Buffered and retrying batches follow the partition to its new leader's
    /// sink; batches still in flight on the old one are answered there first (a partition sends on one sink
    /// at a time).
    mutating func updateLeaders(_ leaders: some Sequence<(ProducerTopicPartition, Int32?)>) -> Output {
        var output = Output()
        for (topicPartition, leader) in leaders {
            guard let partition = partitions[topicPartition], partition.leader != leader || partition.sink == nil
            else { continue }
            if let sink = moveLeader(topicPartition, to: leader), !partitions[topicPartition]!.batches.isEmpty {
                wake(sink, into: &output, evenIfBusy: false)
            } else if leader == nil && !partition.batches.isEmpty {
                output.refreshMetadata = true
            }
        }
        return output
    }

    /// Partitions with buffered records but no known leader.
    var partitionsWithoutLeader: [ProducerTopicPartition] {
        partitions.compactMap { $0.value.sink == nil && !$0.value.batches.isEmpty ? $0.key : nil }
    }

    /// Moves a partition to the sink of `leader` (nil: no sink). Returns the new sink.
    mutating func moveLeader(_ topicPartition: ProducerTopicPartition, to leader: Int32?) -> ProducerSinkID? {
        if let oldSink = partitions[topicPartition]!.sink {
            sinks[oldSink]?.partitions.removeAll { $0 == topicPartition }
        }
        partitions[topicPartition]!.leader = leader
        guard let leader, leader >= 0 else {
            partitions[topicPartition]!.sink = nil
            return nil
        }
        let lane: Int
        if configuration.lanesPerBroker > 1 {
            lane = laneCounters[leader, default: 0] % configuration.lanesPerBroker
            laneCounters[leader, default: 0] += 1
        } else {
            lane = 0
        }
        let sinkID = ProducerSinkID(broker: leader, lane: lane)
        if sinks[sinkID] == nil {
            // A new sink has no drain loop yet; the executor starts one when told to wake it.
            sinks[sinkID] = Sink(parked: .idle(until: nil))
        }
        sinks[sinkID]!.partitions.append(topicPartition)
        partitions[topicPartition]!.sink = sinkID
        return sinkID
    }
}

// MARK: - Producer identity

extension ProducerStateMachine {
    /// InitProducerId answered ``producerIDRequest``. Sinks waiting for a first identity are woken;
    /// partitions waiting for a new one (KIP-360) reset onto it. An answer that is not newer than the
    /// identity a bump was asked for (a broker that ignored the bump) asks for a fresh producer id instead.
    mutating func producerIDReceived(id: Int64, epoch: Int16) -> Output {
        var output = Output()
        if case .bump(let oldID, let oldEpoch) = producerIDRequest, id == oldID, epoch <= oldEpoch {
            producerIDRequest = .fresh
            output.needsProducerID = true
            return output
        }
        producerIdentity = (id, epoch)
        producerIDRequest = nil
        for topicPartition in Array(partitions.keys) where partitions[topicPartition]!.needsSequenceReset {
            var partition = partitions.removeValue(forKey: topicPartition)!
            resetSequencesIfReady(&partition, topicPartition, into: &output)
            partitions[topicPartition] = partition
        }
        for sinkID in Array(sinks.keys) where sinks[sinkID]!.parked == .awaitingProducerID {
            wake(sinkID, into: &output, evenIfBusy: false)
        }
        finishEvent(into: &output)
        return output
    }

    /// InitProducerId failed (`errorCode` nil: no answer). The executor retries after the backoff; a bump
    /// the broker refused for good (e.g. INVALID_PRODUCER_EPOCH) becomes a request for a fresh producer id.
    ///
    /// A first InitProducerId refused for good (CLUSTER_AUTHORIZATION_FAILED, …) fails the records waiting
    /// for it with that refusal, instead of leaving them to time out without a code; none was sent, since
    /// nothing goes out before the producer has an id. Later records ask again.
    mutating func producerIDRequestFailed(errorCode: Int16?, message: String? = nil) -> Output {
        var output = Output()
        if case .bump = producerIDRequest, let errorCode, !configuration.isRetriable(errorCode) {
            producerIDRequest = .fresh
        } else if producerIdentity == nil, let errorCode, !configuration.isRetriable(errorCode) {
            for topicPartition in Array(partitions.keys) {
                var partition = partitions.removeValue(forKey: topicPartition)!
                for batch in partition.batches {
                    fail(batch, with: .broker(code: errorCode, message: message ?? "InitProducerId was refused"), into: &output)
                }
                partition.batches.removeAll()
                partition.retryAt = nil
                partitions[topicPartition] = partition
            }
        }
        finishEvent(into: &output)
        return output
    }

    /// Asks for an identity newer than the current one, unless a request is already pending (its answer
    /// will be newer than what the caller's partition used).
    mutating func requestNewProducerIdentity(into output: inout Output) {
        guard producerIDRequest == nil, let identity = producerIdentity else { return }
        producerIDRequest = identity.epoch < Int16.max ? .bump(id: identity.id, epoch: identity.epoch) : .fresh
        output.needsProducerID = true
    }
}

// MARK: - Time, flush, shutdown

extension ProducerStateMachine {
    /// Fails batches whose delivery timeout passed and that are not in flight (an in-flight batch waits
    /// for its answer, so that its outcome is known).
    mutating func expireBatches(now: NIODeadline) -> Output {
        var output = Output()
        for topicPartition in Array(partitions.keys) {
            guard let head = partitions[topicPartition]!.batches.first,
                  head.createdAt + configuration.deliveryTimeout <= now || partitions[topicPartition]!.batches.count > 1
            else { continue }
            var partition = partitions.removeValue(forKey: topicPartition)!
            var index = 0
            while index < partition.batches.count {
                let batch = partition.batches[index]
                guard batch.createdAt + configuration.deliveryTimeout <= now else { break }
                if batch.isInFlight {
                    index += 1
                    continue
                }
                partition.batches.remove(at: index)
                fail(batch, with: .deliveryTimeout(lastErrorCode: batch.lastErrorCode, mayHaveBeenWritten: batch.mayHaveBeenWritten),
                     into: &output)
                releaseSequences(of: batch, &partition, removedAt: index, definitelyNotWritten: !batch.mayHaveBeenWritten)
            }
            resetSequencesIfReady(&partition, topicPartition, into: &output)
            if partition.batches.isEmpty { partition.retryAt = nil }
            partitions[topicPartition] = partition
        }
        finishEvent(into: &output)
        return output
    }

    /// The earliest delivery deadline among buffered batches, for the executor's expiry timer.
    var nextExpiry: NIODeadline? {
        var earliest: NIODeadline?
        for partition in partitions.values {
            if let head = partition.batches.first {
                let deadline = head.createdAt + configuration.deliveryTimeout
                earliest = earliest.map { min($0, deadline) } ?? deadline
            }
        }
        return earliest
    }

    /// A flush: every batch becomes ready regardless of linger. Returns true when nothing is buffered (the
    /// caller need not wait); otherwise the waiter is resumed through ``Output/resumedFlushWaiters``.
    mutating func beginFlush(waiterID: UInt64) -> (done: Bool, output: Output) {
        var output = Output()
        if bufferedRecords == 0 { return (true, output) }
        flushWaiters.append(waiterID)
        for sinkID in Array(sinks.keys) { wake(sinkID, into: &output, evenIfBusy: false) }
        return (false, output)
    }

    /// A flush caller went away (cancelled).
    mutating func cancelFlush(waiterID: UInt64) {
        flushWaiters.removeAll { $0 == waiterID }
    }

    /// Fails everything buffered and not in flight, and all in-flight requests, with `failure`; wakes every
    /// waiter. Later appends still work (the executor decides whether to accept them).
    mutating func failAll(with failure: ProducerFailure, shutDown: Bool) -> Output {
        var output = Output()
        isShutDown = shutDown
        requests.removeAll()
        for topicPartition in Array(partitions.keys) {
            var partition = partitions.removeValue(forKey: topicPartition)!
            // A batch the broker may hold (in flight now, or an earlier attempt unanswered) is not reported
            // as unwritten: its outcome is unknown.
            for batch in partition.batches { fail(batch, with: batch.mayHaveBeenWritten ? .outcomeUnknown : failure, into: &output) }
            partition.batches.removeAll()
            partition.inFlight = 0
            partition.inFlightSink = nil
            partition.retryAt = nil
            partition.needsSequenceReset = partition.producerID >= 0
            partitions[topicPartition] = partition
        }
        for sinkID in Array(sinks.keys) {
            sinks[sinkID]!.inFlight.removeAll()
            wake(sinkID, into: &output, evenIfBusy: true)
        }
        output.resumedBufferWaiters.append(contentsOf: bufferWaiters.map(\.id))
        for waiter in bufferWaiters { bufferedBytes += waiter.bytes }
        reservedRecords += bufferWaiters.count
        bufferWaiters.removeAll()
        finishEvent(into: &output)
        return output
    }
}
