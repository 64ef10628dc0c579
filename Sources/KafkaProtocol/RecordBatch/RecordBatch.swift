import NIOCore

/// One decoded record batch: its header fields and its records.
///
/// Produced by ``RecordBatchReader``. Magic 2 batches keep their records encoded and decode them
/// lazily with ``makeRecordIterator()``; key, value and header values are slices of the fetched
/// buffer (uncompressed) or of the decompressed buffer. Legacy (magic 0/1) message sets appear as
/// batches with `magic` 0 or 1, one per outer message, with producer fields set to -1.
public struct RecordBatch: Sendable {
    public var baseOffset: Int64
    /// Encoded size including the 12 bytes of baseOffset and batchLength.
    public var sizeInBytes: Int
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    /// The stored CRC (CRC-32C for magic 2, CRC-32 of the outer message for magic 0/1).
    public var crc: UInt32
    public var attributes: RecordBatchAttributes
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    /// The recordsCount field.
    public var recordCount: Int32

    @usableFromInline
    enum Storage: Sendable {
        /// The encoded records (decompressed if the batch was compressed).
        case encoded(ByteBuffer)
        /// Records of a legacy message set, decoded up front.
        case decoded([Record])
        /// The still compressed records of a magic 2 batch read with
        /// ``RecordBatchReader/decompressesRecords`` off; ``RecordBatch/decompressed(maxOutputBytes:)`` turns
        /// them into `.encoded`.
        case compressed(ByteBuffer)
    }

    @usableFromInline var storage: Storage

    @usableFromInline
    init(
        baseOffset: Int64, sizeInBytes: Int, partitionLeaderEpoch: Int32, magic: Int8, crc: UInt32,
        attributes: RecordBatchAttributes, lastOffsetDelta: Int32, baseTimestamp: Int64, maxTimestamp: Int64,
        producerId: Int64, producerEpoch: Int16, baseSequence: Int32, recordCount: Int32, storage: Storage
    ) {
        self.baseOffset = baseOffset
        self.sizeInBytes = sizeInBytes
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.magic = magic
        self.crc = crc
        self.attributes = attributes
        self.lastOffsetDelta = lastOffsetDelta
        self.baseTimestamp = baseTimestamp
        self.maxTimestamp = maxTimestamp
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.recordCount = recordCount
        self.storage = storage
    }

    /// Offset of the last record (baseOffset + lastOffsetDelta). Compaction may have removed it, so
    /// the consumer's next fetch offset is ``nextOffset``, not the last record seen + 1.
    public var lastOffset: Int64 { baseOffset &+ Int64(lastOffsetDelta) }
    /// The offset after this batch.
    public var nextOffset: Int64 { lastOffset &+ 1 }
    public var compression: KafkaCompressionCodec { attributes.compression ?? .none }
    public var timestampType: KafkaTimestampType { attributes.timestampType }
    public var isTransactional: Bool { attributes.isTransactional }
    public var isControlBatch: Bool { attributes.isControl }
    /// The delete horizon set by compaction (baseTimestamp when attribute bit 6 is set).
    public var deleteHorizonMs: Int64? { attributes.hasDeleteHorizon ? baseTimestamp : nil }

    /// Whether the records are still compressed (the batch came from a ``RecordBatchReader`` with
    /// ``RecordBatchReader/decompressesRecords`` off): ``decompressed(maxOutputBytes:)`` must run before
    /// the records can be read.
    public var isAwaitingDecompression: Bool {
        if case .compressed = storage { return true }
        return false
    }

    /// The bytes of the encoded records (decompressed, or still compressed while
    /// ``isAwaitingDecompression``); nil for a legacy message set, whose records are decoded up front.
    public var recordsByteCount: Int? {
        switch storage {
        case .encoded(let bytes), .compressed(let bytes): bytes.readableBytes
        case .decoded: nil
        }
    }

    /// This batch with its records decompressed; the batch itself when they are not compressed (any more).
    ///
    /// The checksum was verified when the batch was read; this only decompresses and bounds the record count.
    /// - Throws: ``KafkaProtocolError/compression(codec:reason:)`` when the data is malformed or decompresses to
    ///   more than `maxOutputBytes`, ``KafkaProtocolError/invalidLength(field:length:)`` when recordsCount
    ///   cannot fit in the decompressed bytes.
    public func decompressed(
        maxOutputBytes: Int = RecordBatchReader.defaultMaxDecompressedBytes
    ) throws -> RecordBatch {
        guard case .compressed(let compressed) = storage else { return self }
        var batch = self
        batch.storage = .encoded(
            try RecordBatchReader.decompressRecords(
                compressed, codec: compression, recordCount: recordCount, maxOutputBytes: maxOutputBytes))
        return batch
    }

    /// An iterator over the records, decoding each on `next()`. A batch still awaiting decompression (see
    /// ``isAwaitingDecompression``) yields an iterator whose `next()` throws.
    public func makeRecordIterator() -> RecordIterator { RecordIterator(batch: self) }

    /// All records, decoded.
    /// - Throws: ``KafkaProtocolError`` when a record is malformed or the count does not match.
    public func decodeRecords() throws -> [Record] {
        var iterator = makeRecordIterator()
        var records: [Record] = []
        records.reserveCapacity(Int(max(0, min(recordCount, 1 << 16))))
        while let record = try iterator.next() { records.append(record) }
        return records
    }

    /// The control record of a control batch (its first record), decoded.
    /// - Throws: ``KafkaProtocolError/invalidValue(field:reason:)`` when this is not a control batch or
    ///   the record is malformed.
    public func controlRecord() throws -> ControlRecord {
        guard isControlBatch else {
            throw KafkaProtocolError.invalidValue(field: "control batch", reason: "batch is not a control batch")
        }
        var iterator = makeRecordIterator()
        guard let record = try iterator.next() else {
            throw KafkaProtocolError.invalidValue(field: "control batch", reason: "control batch has no record")
        }
        return try ControlRecord(record)
    }

    /// The type of a control batch's record, read from its key alone (what a reader filtering aborted
    /// transactions needs); nil when the batch holds no record.
    ///
    /// - Throws: ``KafkaProtocolError`` when the batch is not a control batch, or its first record is malformed
    ///   or has a key that is null or shorter than 4 bytes.
    public func controlType() throws -> ControlRecord.ControlType? {
        guard isControlBatch else {
            throw KafkaProtocolError.invalidValue(field: "control batch", reason: "batch is not a control batch")
        }
        var iterator = makeRecordIterator()
        guard let record = try iterator.next() else { return nil }
        guard var key = record.key else {
            throw KafkaProtocolError.unexpectedNull(field: "control record key", version: -1)
        }
        _ = try key.readKafkaInt16(field: "control record key version")
        return ControlRecord.ControlType(rawValue: try key.readKafkaInt16(field: "control record type"))
    }
}
