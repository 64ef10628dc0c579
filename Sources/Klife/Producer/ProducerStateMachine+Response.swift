import NIOCore

extension ProducerStateMachine {
    /// A request ended. Results are applied strictly in the order the sink sent its requests (a later
    /// response is held until the earlier ones are in), which keeps sequence bookkeeping and completion
    /// order per partition right.
    mutating func requestCompleted(_ requestID: UInt64, result: ProduceRequestResult, now: NIODeadline) -> Output {
        var output = Output()
        guard requests[requestID] != nil else { return output }
        requests[requestID]!.result = result
        let sinkID = requests[requestID]!.sink
        while let head = sinks[sinkID]?.inFlight.first, let headResult = requests[head]?.result {
            sinks[sinkID]!.inFlight.removeFirst()
            let request = requests.removeValue(forKey: head)!
            apply(headResult, of: request, now: now, into: &output)
        }
        // A drain loop parked idle with no batch on any of its partitions gets nothing from the answer:
        // woken, it would plan nothing and park again (a wake-up, a hop and a planning pass for every
        // lone sync produce). Records appended later wake it themselves.
        var idleWithNothingToSend = false
        if case .idle = sinks[sinkID]?.parked { idleWithNothingToSend = !carriesBatches(sinkID) }
        if !idleWithNothingToSend { wake(sinkID, into: &output, evenIfBusy: true) }
        finishEvent(into: &output)
        return output
    }

    /// Whether any partition the sink sends for holds a batch (buffered, in flight or awaiting a retry).
    func carriesBatches(_ sinkID: ProducerSinkID) -> Bool {
        guard let sink = sinks[sinkID] else { return false }
        return sink.partitions.contains { partitions[$0]?.batches.isEmpty == false }
    }

    /// Up to this many partition answers in a response are looked up by a linear search, not a dictionary.
    static var answersSearchedInPlace: Int { 8 }

    private mutating func apply(
        _ result: ProduceRequestResult, of request: InFlightRequest, now: NIODeadline, into output: inout Output
    ) {
        // A few answers are searched in place: hashing topic names costs more than comparing a handful.
        var byPartition: [ProducerTopicPartition: ProducePartitionResult] = [:]
        if case .response(let results) = result, results.count > Self.answersSearchedInPlace {
            byPartition.reserveCapacity(results.count)
            for partitionResult in results { byPartition[partitionResult.topicPartition] = partitionResult }
        }
        for (topicPartition, batchID) in request.batches {
            guard var partition = partitions.removeValue(forKey: topicPartition) else { continue }
            defer { partitions[topicPartition] = partition }
            guard let index = partition.batches.firstIndex(where: { $0.id == batchID }) else { continue }
            partition.inFlight -= 1
            partition.batches[index].inFlightRequest = nil
            if partition.inFlight == 0 { partition.inFlightSink = nil }

            switch result {
            case .sentWithoutResponse:
                complete(&partition, at: index, baseOffset: -1, logAppendTime: -1, into: &output)
            case .transportFailure:
                retry(&partition, at: index, errorCode: nil, outcomeUnknown: true, staleMetadata: true,
                      now: now, into: &output)
            case .notSent:
                retry(&partition, at: index, errorCode: nil, outcomeUnknown: false, staleMetadata: true,
                      now: now, into: &output)
            case .response(let results):
                let partitionResult = !byPartition.isEmpty
                    ? byPartition[topicPartition]
                    : results.first {
                        $0.topicPartition.partition == topicPartition.partition
                            && $0.topicPartition.topic == topicPartition.topic
                    }
                if let partitionResult {
                    handle(partitionResult, &partition, at: index, now: now, into: &output)
                } else {
                    // The broker must answer for every partition; treat a missing one as no answer.
                    retry(&partition, at: index, errorCode: nil, outcomeUnknown: true, staleMetadata: false,
                          now: now, into: &output)
                }
            }
            resetSequencesIfReady(&partition, topicPartition, into: &output)
            // The partition may have moved to another sink while this request was out; that sink skipped
            // it then (a partition sends on one sink at a time) and must look again now.
            if let current = partition.sink, current != request.sink, !partition.batches.isEmpty {
                wake(current, into: &output, evenIfBusy: false)
            }
        }
    }

    private mutating func handle(
        _ result: ProducePartitionResult, _ partition: inout Partition, at index: Int, now: NIODeadline,
        into output: inout Output
    ) {
        let code = result.errorCode
        switch code {
        case ProducerErrorCodes.none, ProducerErrorCodes.duplicateSequenceNumber:
            complete(&partition, at: index, baseOffset: result.baseOffset, logAppendTime: result.logAppendTime,
                     into: &output)
            return
        default:
            break
        }
        partition.batches[index].lastErrorCode = code
        // Only when the listed records are in the batch: otherwise nothing would be dropped and the same batch
        // re-sent at once, in a loop; the batch then fails with the code as any other.
        let recordCount = partition.batches[index].records.count
        if result.recordErrors.contains(where: { $0.batchIndex >= 0 && Int($0.batchIndex) < recordCount }) {
            dropRejectedRecords(result, &partition, at: index, now: now, into: &output)
            return
        }
        // Split only a batch no earlier attempt may have written (brokers' limits can differ, and change),
        // and that is still within its delivery timeout; otherwise it fails below like any refused batch.
        if code == ProducerErrorCodes.messageTooLarge || code == ProducerErrorCodes.recordListTooLarge,
           partition.batches[index].records.count > 1, !partition.batches[index].mayBeInLogFromEarlierAttempt,
           now < partition.batches[index].createdAt + configuration.deliveryTimeout {
            splitTooLargeBatch(&partition, at: index)
            return
        }
        if configuration.idempotent {
            switch code {
            case ProducerErrorCodes.outOfOrderSequenceNumber:
                let firstSequenced = partition.batches.firstIndex { $0.baseSequence != nil }
                if firstSequenced != index {
                    // An earlier batch is not in yet (it failed or is being retried): not this batch's fault.
                    // The broker checked this batch's sequence and found it absent.
                    partition.batches[index].mayBeInLogFromEarlierAttempt = false
                    retry(&partition, at: index, errorCode: code, outcomeUnknown: false, staleMetadata: false,
                          now: now, into: &output)
                    return
                }
                fallthrough
            case ProducerErrorCodes.unknownProducerID, ProducerErrorCodes.invalidProducerEpoch:
                // The broker's view of our sequence is not ours: reset the partition and re-send this batch
                // under a new epoch, once. The broker rejected it, so re-sending cannot duplicate it.
                if partition.batches[index].outOfOrderResets == 0 {
                    partition.batches[index].outOfOrderResets += 1
                    partition.batches[index].mayBeInLogFromEarlierAttempt = false
                    partition.needsSequenceReset = true
                    retry(&partition, at: index, errorCode: code, outcomeUnknown: false, staleMetadata: false,
                          now: now, into: &output)
                    return
                }
            default:
                break
            }
        }
        if configuration.isRetriable(code) {
            retry(&partition, at: index, errorCode: code,
                  outcomeUnknown: ProducerErrorCodes.leavesOutcomeUnknown(code),
                  staleMetadata: ProducerErrorCodes.meansStaleMetadata(code), now: now, into: &output)
        } else {
            let batch = partition.batches.remove(at: index)
            // An earlier attempt that went unanswered may have appended it: then its outcome is unknown, and
            // its sequences are not given to another batch.
            let mayBeInLog = batch.mayBeInLogFromEarlierAttempt
            fail(batch, with: mayBeInLog ? .outcomeUnknown : .broker(code: code, message: result.errorMessage), into: &output)
            releaseSequences(of: batch, &partition, removedAt: index, definitelyNotWritten: !mayBeInLog)
        }
    }

    /// KIP-467: the broker dropped the batch because of the listed records. Those fail; the others are
    /// re-sent in a new batch (with fresh sequences) as Kafka's clients do.
    private mutating func dropRejectedRecords(
        _ result: ProducePartitionResult, _ partition: inout Partition, at index: Int, now: NIODeadline,
        into output: inout Output
    ) {
        var rejected: [Int32: String?] = [:]
        for recordError in result.recordErrors { rejected[recordError.batchIndex] = recordError.message }
        var batch = partition.batches[index]
        var kept: [ProducerPendingRecord<Entry>] = []
        kept.reserveCapacity(batch.records.count)
        for (position, record) in batch.records.enumerated() {
            if let message = rejected[Int32(position)] {
                output.completions.append(.init(
                    topicPartition: batch.topicPartition, records: [record],
                    result: .failure(.recordRejected(code: result.errorCode, message: message ?? result.errorMessage))))
                releaseBufferedRecord(bytes: record.estimatedSize)
            } else {
                kept.append(record)
            }
        }
        if kept.isEmpty {
            partition.batches.remove(at: index)
            releaseSequences(of: batch, &partition, removedAt: index, definitelyNotWritten: true)
            return
        }
        let oldSequence = batch.baseSequence
        batch.records = kept
        batch.estimatedBytes = ProducerBatch<Entry>.overheadBytes + kept.reduce(0) { $0 + $1.estimatedSize }
        // The broker answered for this batch's records: an earlier attempt did not append it.
        batch.outcomeUnknown = false
        batch.mayBeInLogFromEarlierAttempt = false
        batch.baseSequence = nil
        partition.batches[index] = batch
        if configuration.idempotent, let oldSequence {
            let laterSequenced = partition.batches[(index + 1)...].contains { $0.baseSequence != nil }
            if laterSequenced || partition.needsSequenceReset {
                partition.needsSequenceReset = true
            } else {
                partition.nextSequence = oldSequence
            }
        }
        partition.retryAt = nil
    }

    /// MESSAGE_TOO_LARGE (or RECORD_LIST_TOO_LARGE) for a batch of several records: the topic's
    /// `max.message.bytes` is below the batch, not below each record. The batch is split in two halves that are
    /// sent again in its place, in order; a sequenced batch's halves share its sequence range (the first keeps
    /// its base sequence, the second follows), under its producer id and epoch, as Java's producer splits such a
    /// batch, so batches sequenced after it stay valid. A half still too large is split again; a single record
    /// too large fails with the code.
    private mutating func splitTooLargeBatch(_ partition: inout Partition, at index: Int) {
        let original = partition.batches[index]
        let half = original.records.count / 2
        var first = original
        var second = ProducerBatch<Entry>(id: nextBatchID, topicPartition: original.topicPartition, createdAt: original.createdAt)
        nextBatchID += 1
        second.records = Array(original.records[half...])
        first.records.removeSubrange(half...)
        Self.prepareSplitHalf(&first, from: original, baseSequence: original.baseSequence)
        Self.prepareSplitHalf(&second, from: original, baseSequence: original.baseSequence.map { Self.sequence($0, plus: half) })
        partition.batches.replaceSubrange(index...index, with: [first, second])
    }

    /// `sequence` advanced by `count`, wrapping past Int32.max to 0 as Kafka's sequences do.
    private static func sequence(_ sequence: Int32, plus count: Int) -> Int32 {
        Int32(truncatingIfNeeded: (Int64(sequence) + Int64(count)) & Int64(Int32.max))
    }

    /// A half of a split batch: closed, its size counted anew, its part of the original's sequence range, the
    /// original's producer id, epoch and history kept.
    private static func prepareSplitHalf(_ half: inout ProducerBatch<Entry>, from original: ProducerBatch<Entry>, baseSequence: Int32?) {
        half.estimatedBytes = ProducerBatch<Entry>.overheadBytes + half.records.reduce(0) { $0 + $1.estimatedSize }
        half.isClosed = true
        half.producerID = original.producerID
        half.producerEpoch = original.producerEpoch
        half.baseSequence = baseSequence
        half.outcomeUnknown = false
        half.mayBeInLogFromEarlierAttempt = false
        half.attempts = original.attempts
        half.outOfOrderResets = original.outOfOrderResets
        half.lastErrorCode = original.lastErrorCode
    }

    /// Success: each record's offset is the base offset plus its position.
    private mutating func complete(
        _ partition: inout Partition, at index: Int, baseOffset: Int64, logAppendTime: Int64,
        into output: inout Output
    ) {
        let batch = partition.batches.remove(at: index)
        bufferedBytes -= batch.estimatedBytes - ProducerBatch<Entry>.overheadBytes
        bufferedRecords -= batch.records.count
        output.completions.append(.init(
            topicPartition: batch.topicPartition, records: batch.records,
            result: .success(ProducedRecordInfo(offset: baseOffset >= 0 ? baseOffset : -1, logAppendTime: logAppendTime))))
    }

    /// Schedules a retry after the backoff, unless that would pass the delivery timeout.
    private mutating func retry(
        _ partition: inout Partition, at index: Int, errorCode: Int16?, outcomeUnknown: Bool, staleMetadata: Bool,
        now: NIODeadline, into output: inout Output
    ) {
        if let errorCode { partition.batches[index].lastErrorCode = errorCode }
        if outcomeUnknown { partition.batches[index].mayBeInLogFromEarlierAttempt = true }
        partition.batches[index].outcomeUnknown = outcomeUnknown
        if staleMetadata { output.refreshMetadata = true }
        let retryAt = now + configuration.retryBackoff
        if retryAt >= partition.batches[index].createdAt + configuration.deliveryTimeout {
            let batch = partition.batches.remove(at: index)
            fail(batch, with: .deliveryTimeout(lastErrorCode: batch.lastErrorCode, mayHaveBeenWritten: batch.mayHaveBeenWritten),
                 into: &output)
            releaseSequences(of: batch, &partition, removedAt: index, definitelyNotWritten: !batch.mayHaveBeenWritten)
            return
        }
        partition.retryAt = max(partition.retryAt ?? retryAt, retryAt)
    }
}

// MARK: - Shared bookkeeping

extension ProducerStateMachine {
    /// Fails every record of a batch (already removed from its partition).
    mutating func fail(_ batch: ProducerBatch<Entry>, with failure: ProducerFailure, into output: inout Output) {
        guard !batch.records.isEmpty else { return }
        bufferedBytes -= batch.estimatedBytes - ProducerBatch<Entry>.overheadBytes
        bufferedRecords -= batch.records.count
        output.completions.append(.init(topicPartition: batch.topicPartition, records: batch.records, result: .failure(failure)))
    }

    mutating func releaseBufferedRecord(bytes: Int) {
        bufferedBytes -= bytes
        bufferedRecords -= 1
    }

    /// A sequenced batch left the partition without being appended. If nothing after it was sent yet, its
    /// sequences are simply reused; otherwise the broker would see a gap, so the partition needs a reset.
    mutating func releaseSequences(
        of batch: ProducerBatch<Entry>, _ partition: inout Partition, removedAt index: Int, definitelyNotWritten: Bool
    ) {
        guard configuration.idempotent, let baseSequence = batch.baseSequence else { return }
        let laterSequenced = partition.batches[index...].contains { $0.baseSequence != nil }
        if !laterSequenced && definitelyNotWritten && !partition.needsSequenceReset {
            partition.nextSequence = baseSequence
        } else {
            partition.needsSequenceReset = true
        }
    }

    /// KIP-360 reset, done once nothing of the partition is in flight: the partition moves to a producer
    /// identity (id and epoch) newer than the one its sequences were issued under, which the broker granted
    /// through InitProducerId, and restarts at sequence 0. If there is no newer identity yet, one is
    /// requested and the partition stays parked until it arrives. A batch with an attempt of unknown outcome
    /// (``ProducerBatch/mayHaveBeenWritten``) may already be in the log, unless an earlier batch was definitely rejected (the broker appends
    /// a producer's batches only in sequence order); such a batch cannot be re-sent safely and fails with
    /// ``ProducerFailure/outcomeUnknown``.
    mutating func resetSequencesIfReady(
        _ partition: inout Partition, _ topicPartition: ProducerTopicPartition, into output: inout Output
    ) {
        guard configuration.idempotent, partition.needsSequenceReset, partition.inFlight == 0,
              let identity = producerIdentity
        else { return }
        if identity.id == partition.producerID && identity.epoch == partition.producerEpoch {
            requestNewProducerIdentity(into: &output)
            return
        }
        partition.producerID = identity.id
        partition.producerEpoch = identity.epoch
        var earlierRejected = false
        var index = 0
        while index < partition.batches.count {
            if partition.batches[index].baseSequence != nil {
                if partition.batches[index].mayHaveBeenWritten && !earlierRejected {
                    let batch = partition.batches.remove(at: index)
                    fail(batch, with: .outcomeUnknown, into: &output)
                    continue
                }
                earlierRejected = true
                partition.batches[index].baseSequence = nil
                partition.batches[index].outcomeUnknown = false
                partition.batches[index].mayBeInLogFromEarlierAttempt = false
            }
            index += 1
        }
        partition.nextSequence = 0
        partition.needsSequenceReset = false
        if let sink = partition.sink, !partition.batches.isEmpty { wake(sink, into: &output, evenIfBusy: false) }
    }

    /// Adds the sink to the wake list if its drain loop is parked (and, unless `evenIfBusy`, parked for a
    /// reason this event can lift).
    mutating func wake(_ sinkID: ProducerSinkID, into output: inout Output, evenIfBusy: Bool) {
        guard let parked = sinks[sinkID]?.parked else { return }
        if !evenIfBusy, parked == .inFlightFull { return }
        sinks[sinkID]!.parked = nil
        output.wake.append(sinkID)
    }

    /// Resumes buffer waiters that now fit and flush waiters once everything is done.
    mutating func finishEvent(into output: inout Output) {
        releaseBufferWaiters(into: &output.resumedBufferWaiters)
        if bufferedRecords == 0 && !flushWaiters.isEmpty {
            output.resumedFlushWaiters.append(contentsOf: flushWaiters)
            flushWaiters.removeAll()
        }
    }
}
