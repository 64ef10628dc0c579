import DequeModule
import NIOCore

/// The producer engine: per-partition record buffers drained by per-broker sinks.
///
/// Pure value type, no I/O: callers feed it events (records appended, a sink asking what to do, a
/// response or transport failure, new leaders, a producer id, the clock) and execute the actions it
/// returns. It lives behind a lock in ``Producer``; side effects run after the lock is released.
///
/// - Records for all partitions led by one broker travel in one Produce request (Klife's per-broker
///   batching). Linger and batch size bound each partition's batch; while a sink's in-flight slots are
///   busy, new records pile into the next batch.
/// - Idempotence: batches are stamped with producer id, epoch and base sequence on first send and keep the
///   stamp across retries; per partition at most one batch per request, in sequence order; responses of a
///   sink are processed strictly in send order. A sequence gap (a discarded batch with later batches
///   already sent), OUT_OF_ORDER_SEQUENCE_NUMBER on the oldest batch or UNKNOWN_PRODUCER_ID resets the
///   partition (KIP-360) once nothing of it is in flight: the broker bumps our epoch (InitProducerId with
///   the current id and epoch; never a local bump the broker has not granted), then the partition restarts
///   at sequence 0 under the new identity and re-sends its batches in order.
/// - Retries follow the partition's *current* leader, so after a leader change a batch goes to the new one.
struct ProducerStateMachine<Entry> {
    struct Configuration: Sendable {
        /// -1 (all), 1 or 0.
        var acks: Int16 = -1
        var linger: TimeAmount = .zero
        var batchSizeBytes: Int = 512_000
        /// Cap on the estimated size of one Produce request (at least one batch always goes).
        var maxRequestBytes: Int = 16 << 20
        var deliveryTimeout: TimeAmount = .seconds(60)
        var retryBackoff: TimeAmount = .milliseconds(100)
        var maxInFlightRequests: Int = 5
        /// Drain lanes per broker (Klife's `batchers_count`).
        var lanesPerBroker: Int = 1
        var idempotent: Bool = true
        var maxBufferedBytes: Int = 64 << 20
        /// Bound on records accepted and not yet completed (plus records reserved by resumed buffer waiters):
        /// waiting entries cost memory beyond their wire bytes, which `maxBufferedBytes` does not see.
        var maxBufferedRecords: Int = 100_000
        var isRetriable: @Sendable (Int16) -> Bool = ProducerErrorCodes.isRetriable

        init() {}
    }

    struct Partition {
        var leader: Int32?
        var sink: ProducerSinkID?
        var batches: Deque<ProducerBatch<Entry>> = []
        var producerID: Int64 = -1
        var producerEpoch: Int16 = -1
        var nextSequence: Int32 = 0
        var inFlight = 0
        var inFlightSink: ProducerSinkID?
        var retryAt: NIODeadline?
        var needsSequenceReset = false
        /// Records in the partition's last sent batch: a new batch's record array starts with that
        /// capacity (no regrowth and copy while it fills like the last one; follows the traffic down too).
        var recentBatchRecords = 0
    }

    enum ParkReason: Equatable, Sendable {
        case idle(until: NIODeadline?)
        /// Linger-0 records wait until the sink's in-flight requests are answered (see `nextAction`); an
        /// append wakes the sink only when a batch becomes ready on its own (full).
        case gathering(until: NIODeadline?)
        case inFlightFull
        case awaitingProducerID
    }

    struct Sink {
        var partitions: [ProducerTopicPartition] = []
        var rotation = 0
        /// Request ids in send order; responses are applied in this order.
        var inFlight: Deque<UInt64> = []
        /// Set while the sink's drain loop waits; cleared when it is woken.
        var parked: ParkReason?
    }

    struct InFlightRequest {
        var sink: ProducerSinkID
        var batches: [(ProducerTopicPartition, UInt64)]
        var result: ProduceRequestResult?
    }

    enum AppendResult: Equatable {
        /// Appended; wake this sink's drain loop if non-nil.
        case appended(wake: ProducerSinkID?)
        /// Appended to a partition without a known leader: refresh metadata.
        case appendedWithoutLeader
        /// Not appended: over `maxBufferedBytes` or `maxBufferedRecords`. Register a buffer waiter and retry with `reserved: true`
        /// once it is resumed.
        case bufferFull
    }

    enum SinkAction {
        case send(ProduceRequestPlan<Entry>)
        /// Nothing to send now: wait until woken or until the deadline (linger, retry backoff).
        case wait(until: NIODeadline?)
    }

    let configuration: Configuration
    var partitions: [ProducerTopicPartition: Partition] = [:] {
        didSet { partitionsGeneration &+= 1 }  // any change may be a remove-and-reinsert: slots from before are void
    }
    var sinks: [ProducerSinkID: Sink] = [:] {
        didSet { sinkHint = nil }
    }
    /// Counts changes of `partitions`; a remembered slot is valid only at the count it was taken at (a
    /// dictionary index is not valid after a removal). An append that only changes a partition in place
    /// puts the count back, so appends alone keep every slot valid.
    private var partitionsGeneration: UInt64 = 0
    /// Dictionary slots of the partitions appends went to, by partition number (the key is compared on use:
    /// topics share the numbers). Records skip hashing the topic while nothing else changed `partitions`.
    private var partitionSlots: [(generation: UInt64, index: Dictionary<ProducerTopicPartition, Partition>.Index)?] =
        Array(repeating: nil, count: 64)
    /// The slot of the sink the last append looked at, kept while `sinks` is not modified.
    private var sinkHint: (id: ProducerSinkID, index: Dictionary<ProducerSinkID, Sink>.Index)?
    var requests: [UInt64: InFlightRequest] = [:]
    var nextRequestID: UInt64 = 1
    var nextBatchID: UInt64 = 1
    var laneCounters: [Int32: Int] = [:]

    /// The producer id and epoch from InitProducerId (idempotent producers only).
    var producerIdentity: (id: Int64, epoch: Int16)?
    /// The InitProducerId the executor should send (and is sending) next; nil when none is needed.
    var producerIDRequest: ProducerIDRequest?

    /// Estimated bytes of buffered records plus reservations handed to resumed buffer waiters.
    var bufferedBytes = 0
    /// Records appended and not yet completed.
    var bufferedRecords = 0
    /// Records reserved for resumed buffer waiters that have not appended yet (counted against
    /// `maxBufferedRecords` beside `bufferedRecords`).
    var reservedRecords = 0
    var bufferWaiters: Deque<(id: UInt64, bytes: Int)> = []
    var flushWaiters: [UInt64] = []
    var isShutDown = false
    /// Emptied record arrays of delivered batches (capacity kept) that new batches take before allocating
    /// (see ``recycleRecordArrays(_:)``).
    private(set) var spareRecordArrays: [[ProducerPendingRecord<Entry>]] = []

    init(configuration: Configuration) {
        var configuration = configuration
        configuration.maxInFlightRequests = max(1, configuration.maxInFlightRequests)
        if configuration.idempotent {
            // Brokers deduplicate the last 5 batches per producer and partition.
            configuration.maxInFlightRequests = min(configuration.maxInFlightRequests, 5)
        }
        configuration.lanesPerBroker = max(1, configuration.lanesPerBroker)
        self.configuration = configuration
        self.producerIDRequest = configuration.idempotent ? .fresh : nil
    }

    var isIdle: Bool { bufferedRecords == 0 }
    var knownPartitions: Dictionary<ProducerTopicPartition, Partition>.Keys { partitions.keys }
}

extension ProducerStateMachine: Sendable where Entry: Sendable {}
extension ProducerStateMachine.Partition: Sendable where Entry: Sendable {}
extension ProducerStateMachine.Sink: Sendable where Entry: Sendable {}
extension ProducerStateMachine.InFlightRequest: Sendable where Entry: Sendable {}
extension ProducerStateMachine.SinkAction: Sendable where Entry: Sendable {}

// MARK: - Appending records

extension ProducerStateMachine {
    /// Whether an unreserved ``append(_:size:to:leader:now:reserved:)`` of `size` bytes would be buffered now
    /// (not ``AppendResult/bufferFull``): lets a caller keep its record until it is sure to be taken.
    func hasBufferRoom(forBytes size: Int) -> Bool {
        bufferWaiters.isEmpty && !(bufferedBytes > 0 && bufferedBytes + size > configuration.maxBufferedBytes)
            && bufferedRecords + reservedRecords < configuration.maxBufferedRecords
    }

    /// Appends one record to its partition's buffer.
    ///
    /// - Parameters:
    ///   - size: the record's estimated encoded size, counted against `maxBufferedBytes` and the batch size.
    ///   - leader: the partition's leader per the caller's metadata (nil when unknown); a change moves the
    ///     partition to the new leader's sink.
    ///   - reserved: the bytes were reserved when this caller's buffer waiter was resumed.
    mutating func append(
        _ entry: consuming Entry, size: Int, to topicPartition: ProducerTopicPartition, leader: Int32?,
        now: @autoclosure () -> NIODeadline, reserved: Bool = false
    ) -> AppendResult {
        if !reserved {
            guard hasBufferRoom(forBytes: size) else { return .bufferFull }
            bufferedBytes += size
        } else {
            reservedRecords -= 1
        }
        bufferedRecords += 1

        // At most one hash lookup per record (none when the last append went to the same partition and
        // nothing changed `partitions` since): the partition is then modified in place through its index
        // (moving it to another sink changes its value, never the dictionary's layout).
        let index: Dictionary<ProducerTopicPartition, Partition>.Index
        let slotNumber = Int(topicPartition.partition)
        let hasSlot = slotNumber >= 0 && slotNumber < partitionSlots.count
        if hasSlot, let slot = partitionSlots[slotNumber], slot.generation == partitionsGeneration,
           partitions.keys[slot.index] == topicPartition {
            index = slot.index
        } else {
            var slot = partitions.index(forKey: topicPartition)
            if slot == nil {
                partitions[topicPartition] = Partition()
                slot = partitions.index(forKey: topicPartition)
            }
            index = slot!
            if hasSlot { partitionSlots[slotNumber] = (partitionsGeneration, index) }
        }
        // Everything below changes `partitions` in place only (never inserts or removes): slots stay valid.
        let generation = partitionsGeneration
        defer { partitionsGeneration = generation }
        var movedTo: ProducerSinkID?
        // Fields are read through inout access: reading `partitions.values[index]` would copy the partition.
        if Self.leaderChanges(&partitions.values[index], to: leader) {
            movedTo = moveLeader(topicPartition, to: leader)
        }
        var batchID = nextBatchID  // a local: `partitions` has an observer, so its access covers all of self
        var spares: [[ProducerPendingRecord<Entry>]] = []  // moved out and back for the same reason
        swap(&spares, &spareRecordArrays)
        let (becameReady, startedBatch, sink) = Self.appendRecord(
            ProducerPendingRecord(entry: entry, estimatedSize: size), to: &partitions.values[index],
            topicPartition: topicPartition,
            batchSize: configuration.batchSizeBytes, now: now, nextBatchID: &batchID, spareRecordArrays: &spares)
        swap(&spares, &spareRecordArrays)
        nextBatchID = batchID
        // The clock is read only when the answer depends on it (a new batch), not per record.

        guard let sinkID = sink else { return .appendedWithoutLeader }
        // Wake a parked drain loop only when this append can change its decision.
        let sinkIndex: Dictionary<ProducerSinkID, Sink>.Index
        if let hint = sinkHint, hint.id == sinkID {
            sinkIndex = hint.index
        } else {
            guard let found = sinks.index(forKey: sinkID) else { return .appended(wake: nil) }
            sinkIndex = found
        }
        defer { sinkHint = (sinkID, sinkIndex) }  // after the in-place changes below, which clear it
        guard let parked = Self.parkReason(&sinks.values[sinkIndex]) else { return .appended(wake: nil) }
        let wakes: Bool
        switch parked {
        case .idle(let until):
            wakes = becameReady || configuration.linger == .zero || flushWaiters.count > 0 || movedTo != nil
                || (startedBatch && (until == nil || until! > now() + configuration.linger))
        case .gathering:
            wakes = becameReady || flushWaiters.count > 0 || movedTo != nil
        case .inFlightFull, .awaitingProducerID:
            wakes = false
        }
        guard wakes else { return .appended(wake: nil) }
        sinks.values[sinkIndex].parked = nil
        return .appended(wake: sinkID)
    }

    private static func leaderChanges(_ partition: inout Partition, to leader: Int32?) -> Bool {
        partition.leader != leader || (leader != nil && partition.sink == nil)
    }

    private static func parkReason(_ sink: inout Sink) -> ParkReason? { sink.parked }

    /// Adds the record to the partition's open batch, or to a new batch when the open one cannot take it
    /// (full, already sent, or a retry). Returns whether a batch became ready to send and whether a new
    /// batch was started.
    private static func appendRecord(
        _ record: consuming ProducerPendingRecord<Entry>, to partition: inout Partition, topicPartition: ProducerTopicPartition,
        batchSize: Int, now: () -> NIODeadline,
        nextBatchID: inout UInt64, spareRecordArrays: inout [[ProducerPendingRecord<Entry>]]
    ) -> (becameReady: Bool, startedBatch: Bool, sink: ProducerSinkID?) {
        let size = record.estimatedSize
        var pending: ProducerPendingRecord<Entry>? = consume record
        // The usual case, the open batch takes the record: in place in the deque's storage while that is
        // contiguous. The deque's subscript `_modify` puts the element back with a copy (a retain and a release
        // of the batch's topic and record array per access, twice per record).
        let joined = partition.batches.withContiguousMutableStorageIfAvailable { batches -> Bool? in
            guard let last = batches.indices.last, Self.canJoin(&batches[last], size: size, batchSize: batchSize) else {
                return nil
            }
            return Self.add(pending.take()!, to: &batches[last], batchSize: batchSize)
        }
        if let joined, let filled = joined { return (filled, false, partition.sink) }

        // Otherwise the last batch is moved out of the deque and back in (no copy either).
        var becameReady = false
        var startedBatch = false
        var batch: ProducerBatch<Entry>
        if var last = partition.batches.popLast() {
            if Self.canJoin(&last, size: size, batchSize: batchSize) {
                batch = consume last
            } else {
                if Self.close(&last) { becameReady = true }
                partition.batches.append(consume last)
                batch = Self.newBatch(
                    for: topicPartition, recentRecords: partition.recentBatchRecords, now: now, nextBatchID: &nextBatchID,
                    spareRecordArrays: &spareRecordArrays)
                startedBatch = true
            }
        } else {
            batch = Self.newBatch(
                for: topicPartition, recentRecords: partition.recentBatchRecords, now: now, nextBatchID: &nextBatchID,
                spareRecordArrays: &spareRecordArrays)
            startedBatch = true
        }
        if Self.add(pending.take()!, to: &batch, batchSize: batchSize) { becameReady = true }
        partition.batches.append(consume batch)
        return (becameReady, startedBatch, partition.sink)
    }

    /// A new open batch, its record array a spare one if any, sized for the partition's last batch.
    private static func newBatch(
        for topicPartition: ProducerTopicPartition, recentRecords: Int, now: () -> NIODeadline, nextBatchID: inout UInt64,
        spareRecordArrays: inout [[ProducerPendingRecord<Entry>]]
    ) -> ProducerBatch<Entry> {
        var batch = ProducerBatch<Entry>(id: nextBatchID, topicPartition: topicPartition, createdAt: now())
        nextBatchID &+= 1
        if let spare = spareRecordArrays.popLast() { batch.records = spare }
        batch.records.reserveCapacity(recentRecords)
        return batch
    }

    /// Adds the record to the batch in place; returns whether that filled (closed) it.
    private static func add(_ record: consuming ProducerPendingRecord<Entry>, to batch: inout ProducerBatch<Entry>, batchSize: Int) -> Bool {
        batch.estimatedBytes += record.estimatedSize
        batch.records.append(record)
        guard batch.estimatedBytes >= batchSize else { return false }
        batch.isClosed = true
        return true
    }

    /// Closes the batch; returns whether it was open.
    private static func close(_ batch: inout ProducerBatch<Entry>) -> Bool {
        guard !batch.isClosed else { return false }
        batch.isClosed = true
        return true
    }

    /// Whether a record of `size` bytes may join `batch`. Takes the batch `inout` so that it is read in place:
    /// each read through the deque's subscript getter would copy the batch (and retain its record array).
    private static func canJoin(_ batch: inout ProducerBatch<Entry>, size: Int, batchSize: Int) -> Bool {
        !batch.isClosed && !batch.isInFlight && batch.attempts == 0
            && (batch.records.isEmpty || batch.estimatedBytes + size <= batchSize)
    }

    /// Takes emptied record arrays (delivered batches', capacity kept) for new batches to reuse, as many as
    /// fit ``maxSpareRecordArrays`` and one batch size of memory (those taken are left empty without capacity
    /// in `arrays`; the caller frees the rest).
    ///
    /// A batch's array is large (a 1 MB batch of 100-byte records holds ~8,000 entries, ~0.9 MB), and a
    /// fresh allocation of that size comes from new pages: a page fault per 4 KB on the first append into
    /// it (~2% of the producer's CPU on 100 B records), plus the allocation and the free. One batch size of
    /// spares covers one partition's next batch (the case that faults: smaller arrays of many partitions
    /// come back from the allocator's free lists) and bounds the memory kept.
    mutating func recycleRecordArrays(_ arrays: inout [[ProducerPendingRecord<Entry>]]) {
        let stride = MemoryLayout<ProducerPendingRecord<Entry>>.stride
        var bytes = spareRecordArrays.reduce(0) { $0 + $1.capacity * stride }
        for index in arrays.indices where spareRecordArrays.count < Self.maxSpareRecordArrays {
            let size = arrays[index].capacity * stride
            guard arrays[index].isEmpty, arrays[index].capacity >= Self.minSpareRecordCapacity,
                  bytes + size <= maxSpareRecordBytes
            else { continue }
            bytes += size
            spareRecordArrays.append([])
            swap(&spareRecordArrays[spareRecordArrays.count - 1], &arrays[index])
        }
    }

    /// At most this many spare record arrays are kept.
    static var maxSpareRecordArrays: Int { 16 }
    /// Spare record arrays' capacity is bounded by this many bytes: one batch size (the entries of a full
    /// batch take about as much memory as its records' bytes), at least 1 MiB.
    var maxSpareRecordBytes: Int { max(configuration.batchSizeBytes, 1 << 20) }
    /// Arrays smaller than this are not worth keeping (single-record completions, small batches).
    static var minSpareRecordCapacity: Int { 64 }

    /// Queues a caller that got ``AppendResult/bufferFull`` (call it under the same lock). It is resumed,
    /// with `bytes` and one record reserved for it, through ``Output/resumedBufferWaiters`` once space frees up; waiters are
    /// served in order so that a large record is not starved by small ones.
    mutating func registerBufferWaiter(id: UInt64, bytes: Int) {
        bufferWaiters.append((id, bytes))
    }

    /// Removes a waiter whose caller was cancelled. If it had already been resumed, pass the bytes reserved
    /// for it so they are given back.
    /// Whether waiter `id` still waits for buffer space (not granted, not cancelled).
    func hasBufferWaiter(id: UInt64) -> Bool { bufferWaiters.contains { $0.id == id } }

    mutating func cancelBufferWaiter(id: UInt64, reservedBytes: Int?) -> Output {
        var output = Output()
        if let reservedBytes {
            bufferedBytes -= reservedBytes
            reservedRecords -= 1
        } else {
            bufferWaiters.removeAll { $0.id == id }
        }
        releaseBufferWaiters(into: &output.resumedBufferWaiters)
        return output
    }

    /// Resumes waiters in order while both bounds allow (an empty buffer always takes the next one).
    mutating func releaseBufferWaiters(into resumed: inout [UInt64]) {
        while let head = bufferWaiters.first,
              (bufferedBytes == 0 || bufferedBytes + head.bytes <= configuration.maxBufferedBytes)
                  && bufferedRecords + reservedRecords < configuration.maxBufferedRecords || isShutDown {
            bufferWaiters.removeFirst()
            bufferedBytes += head.bytes
            reservedRecords += 1
            resumed.append(head.id)
        }
    }
}
