import KafkaProtocol

/// One record batch of a partition fetched with ``KafkaFetchDecompression/lazy``: checked when the fetch
/// returned, decompressed and decoded when ``records()`` is called.
///
/// ```swift
/// let options = KafkaFetchOptions(maxBytes: 1 << 20, decompression: .lazy)
/// let fetched = try await client.fetchPartitions([position], options: options)[position]!.get()
/// for batch in fetched.batches {
///     for record in try batch.records() { process(record) }
/// }
/// ```
public struct KafkaFetchedBatch: Sendable {
    /// The topic of the records.
    public let topic: String
    /// The partition of the records.
    public let partition: Int32
    /// The offset the fetch started at: ``records()`` leaves out the batch's records before it.
    public let fetchOffset: Int64
    let batch: RecordBatch
    let attributes: KafkaRecord.BatchAttributes
    /// The records of a batch that was not compressed, decoded by the fetch (slices of the fetched bytes, so
    /// decoding them later would save no memory); nil for a compressed batch.
    let decoded: [KafkaRecord]?

    /// - Throws: ``KafkaProtocolError`` when the records of a batch that is not compressed are malformed.
    init(topic: String, partition: Int32, fetchOffset: Int64, batch: RecordBatch) throws {
        self.topic = topic
        self.partition = partition
        self.fetchOffset = fetchOffset
        self.batch = batch
        let attributes = KafkaRecord.BatchAttributes(ofDeliveredBatch: batch)
        self.attributes = attributes
        if batch.isAwaitingDecompression {
            decoded = nil
        } else {
            var records: [KafkaRecord] = []
            records.reserveCapacity(Int(max(0, batch.recordCount)))
            try FetchedPartitionDecoder.appendRecords(
                of: batch, attributes: attributes, topic: topic, partition: partition, fetchOffset: fetchOffset, to: &records)
            decoded = records
        }
    }

    /// The offset of the batch's first record (its base offset; it can lie before ``fetchOffset``).
    public var baseOffset: Int64 { batch.baseOffset }
    /// The offset of the batch's last record (compaction may have removed it).
    public var lastOffset: Int64 { batch.lastOffset }
    /// How many records the batch holds, as its header says (records before ``fetchOffset`` included).
    public var recordCount: Int { Int(batch.recordCount) }
    /// The batch's compression codec.
    public var compression: KafkaCompression { attributes.compression }
    /// The batch's size as fetched (compressed), header included.
    public var sizeInBytes: Int { batch.sizeInBytes }

    /// Decompresses the batch and returns its records from ``fetchOffset`` on, in offset order; key, value and
    /// header values are slices of the decompressed bytes (of the fetched bytes when the batch was not
    /// compressed: such a batch was decoded by the fetch already). Each call decompresses again: keep the result
    /// while it is needed, drop it to free the decompressed bytes.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/corruptRecords`` naming the topic, partition and
    ///   the batch's base offset, when the batch cannot be decompressed or its records are malformed (its
    ///   checksum was verified by the fetch). ``KafkaFetchedPartition/nextOffset`` already lies past this
    ///   batch: to try it again, fetch from ``baseOffset``.
    public func records() throws -> [KafkaRecord] {
        if let decoded { return decoded }
        var output: [KafkaRecord] = []
        do {
            let decompressed = try batch.decompressed()
            output.reserveCapacity(Int(max(0, decompressed.recordCount)))
            try FetchedPartitionDecoder.appendRecords(
                of: decompressed, attributes: attributes, topic: topic, partition: partition, fetchOffset: fetchOffset,
                to: &output)
        } catch let error as KafkaProtocolError {
            throw KafkaError(
                .corruptRecords,
                "records of \(topic)/\(partition) in the batch at offset \(batch.baseOffset) could not be decoded: \(error)",
                underlying: error)
        }
        return output
    }
}
