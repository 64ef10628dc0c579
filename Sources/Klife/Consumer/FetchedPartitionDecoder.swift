import KafkaProtocol
import NIOCore

/// Turns the records of one Fetch response partition into the records a user sees.
///
/// Batches are read in order with ``KafkaProtocol/RecordBatchReader`` (records stay slices of the fetched
/// buffer unless the batch was compressed). Records before the requested offset are dropped (the broker
/// returns whole batches, which may start earlier); control batches never reach the user; under
/// `read_committed`, batches of aborted transactions are dropped using the partition's aborted-transactions
/// list (see ``AbortedTransactionFilter``). With ``KafkaFetchDecompression/lazy`` the deliverable batches are
/// handed out as ``KafkaFetchedBatch`` values, checksums verified, compressed ones not yet decompressed
/// (uncompressed ones decoded, their records being slices of the fetched bytes anyway).
struct FetchedPartitionDecoder {
    typealias Output = KafkaFetchedPartition

    var topic: String
    var partition: Int32
    var fetchOffset: Int64
    /// The requested position's epoch: the answer's ``KafkaFetchedPartition/lastFetchedEpoch`` when it reads
    /// no batch.
    var lastFetchedEpoch: Int32?
    var isolationLevel: KafkaIsolationLevel
    var decompression: KafkaFetchDecompression
    /// Decompressed bytes after which no further compressed batch is decompressed in this answer: decoding
    /// stops before it, and the next fetch starts there. Bounds what a few small batches that decompress to
    /// hundreds of megabytes each (written by any producer) can pin in memory at once; at least one batch is
    /// always delivered.
    var decompressedBytesBudget = Self.defaultDecompressedBytesBudget
    static let defaultDecompressedBytesBudget = 64 << 20

    init(
        topic: String, partition: Int32, fetchOffset: Int64, lastFetchedEpoch: Int32? = nil,
        isolationLevel: KafkaIsolationLevel, decompression: KafkaFetchDecompression = .eager
    ) {
        self.topic = topic
        self.partition = partition
        self.fetchOffset = fetchOffset
        self.lastFetchedEpoch = lastFetchedEpoch
        self.isolationLevel = isolationLevel
        self.decompression = decompression
    }

    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/corruptRecords`` when a batch fails its checksum,
    ///   cannot be decompressed or is malformed (lazy: when it fails its checksum, or its header or, uncompressed,
    ///   its records are malformed); ``KafkaError/Code/protocolViolation`` when the data holds only part of a
    ///   batch (no progress is possible).
    func decode(records: ByteBuffer?, abortedTransactions: [AbortedTransactionFilter.AbortedTransaction]) throws -> Output {
        guard let records, records.readableBytes > 0 else {
            return Output(records: [], nextOffset: fetchOffset, lastFetchedEpoch: lastFetchedEpoch, truncatedTailBytes: 0)
        }
        let lazy = decompression == .lazy
        var filter = AbortedTransactionFilter(isolationLevel: isolationLevel, abortedTransactions: abortedTransactions)
        // Batches are decompressed here, only once they are known to be delivered (not before the fetch offset,
        // not aborted) and while the budget lasts.
        var reader = RecordBatchReader(records: records, decompressesRecords: false)
        var decompressedBytes = 0
        var output: [KafkaRecord] = []
        var batches: [KafkaFetchedBatch] = []
        if !lazy { output.reserveCapacity(Self.reservation(for: records)) }
        var nextOffset = fetchOffset
        var lastEpoch = lastFetchedEpoch
        // The batch whose records are being read, for the error message (a throw from `reader.next()`
        // leaves the reader at the bad batch).
        var current: Int64?
        do {
            while var batch = try reader.next() {
                current = batch.baseOffset
                if !lazy, batch.isAwaitingDecompression, decompressedBytes >= decompressedBytesBudget, !output.isEmpty {
                    current = nil
                    break
                }
                if batch.nextOffset > nextOffset {
                    nextOffset = batch.nextOffset
                    // Every batch read counts, control batches and aborted ones too (their offsets are passed).
                    if batch.partitionLeaderEpoch >= 0 { lastEpoch = batch.partitionLeaderEpoch }
                }
                if batch.lastOffset < fetchOffset && !batch.isControlBatch { continue }
                var controlType: Int16? = nil
                if batch.isControlBatch {
                    // Control batches are written uncompressed; should one be compressed, read it anyway.
                    batch = try batch.decompressed()
                    // A marker that cannot be read fails the partition: taken for "not an abort", it would
                    // leave its producer's later committed records filtered out as aborted, silently.
                    controlType = try batch.controlType()?.rawValue
                }
                let header = AbortedTransactionFilter.BatchHeader(
                    lastOffset: batch.lastOffset, producerID: batch.producerId, isTransactional: batch.isTransactional,
                    isControl: batch.isControlBatch, controlType: controlType)
                guard filter.disposition(of: header) == .deliver, batch.lastOffset >= fetchOffset else { continue }
                if lazy {
                    batches.append(try KafkaFetchedBatch(topic: topic, partition: partition, fetchOffset: fetchOffset, batch: batch))
                    continue
                }
                if batch.isAwaitingDecompression {
                    batch = try batch.decompressed()
                    decompressedBytes += batch.recordsByteCount ?? 0
                }
                let attributes = KafkaRecord.BatchAttributes(ofDeliveredBatch: batch)
                // Room for every record was reserved up front (see reservation(for:)); should a batch hold
                // more than its header promised, grow geometrically, not per batch (quadratic copying).
                let needed = output.count + Int(max(0, batch.recordCount))
                if needed > output.capacity {
                    output.reserveCapacity(max(needed, output.capacity * 2))
                }
                try Self.appendRecords(
                    of: batch, attributes: attributes, topic: topic, partition: partition, fetchOffset: fetchOffset,
                    to: &output)
                current = nil
            }
        } catch let error as KafkaProtocolError {
            // Records decoded before the bad batch are still good, but handing out a prefix would make the
            // caller skip the bad batch silently; fail the partition, naming where the bad batch starts (a
            // caller that decides to skip it knows where to go on).
            let badBatch = (current ?? reader.upcomingBaseOffset).map { " (the batch at offset \($0))" } ?? ""
            throw KafkaError(
                .corruptRecords,
                "records of \(topic)/\(partition) from offset \(fetchOffset) could not be decoded\(badBatch): \(error)",
                underlying: error)
        }
        if nextOffset == fetchOffset, reader.truncatedTailBytes > 0 {
            // Only part of a batch and nothing whole: fetching again would get the same forever. A Kafka broker
            // always sends the first batch whole (KIP-74), however large; this one did not.
            throw KafkaError(
                .protocolViolation,
                "the broker sent only the first \(reader.truncatedTailBytes) bytes of the batch at offset \(fetchOffset) of \(topic)/\(partition) and no whole batch; fetching with a larger maxBytes may help")
        }
        return Output(
            records: output, batches: batches, nextOffset: nextOffset, lastFetchedEpoch: lastEpoch,
            truncatedTailBytes: reader.truncatedTailBytes)
    }

    /// Appends the records of a decoded (not compressed) batch from `fetchOffset` on to `output`.
    @inline(__always)
    static func appendRecords(
        of batch: RecordBatch, attributes: KafkaRecord.BatchAttributes, topic: String, partition: Int32, fetchOffset: Int64,
        to output: inout [KafkaRecord]
    ) throws {
        let leaderEpoch = batch.partitionLeaderEpoch >= 0 ? batch.partitionLeaderEpoch : nil
        var iterator = batch.makeRecordIterator()
        // The iterator hands over the key and value it sliced; they move into the record uncopied.
        while try iterator.next({ offset, timestamp, key, value, headers in
            guard offset >= fetchOffset else { return }
            output.append(KafkaRecord(
                fetchedFrom: topic, partition: partition, offset: offset, key: key, value: value,
                headers: headers.isEmpty ? [] : headers.map { KafkaRecord.Header(key: $0.key, value: $0.value) },
                timestamp: timestamp, batchAttributes: attributes, leaderEpoch: leaderEpoch))
        }) != nil {}
    }
}
