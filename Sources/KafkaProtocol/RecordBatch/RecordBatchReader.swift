import NIOCore

/// Iterates the record batches in the `records` bytes of a fetch response partition.
///
/// A fetch response may hold several batches per partition, and the broker may cut the last one
/// short at `max_bytes`: such a trailing partial batch is not an error; ``next()`` returns nil and
/// ``truncatedTailBytes`` tells how many bytes were left. Magic 2 batches are checked against their
/// CRC-32C, legacy magic 0/1 messages against their CRC-32.
///
/// ```swift
/// var reader = RecordBatchReader(records: partition.records)
/// while let batch = try reader.next() {
///     var records = batch.makeRecordIterator()
///     while let record = try records.next() { ... }
/// }
/// ```
public struct RecordBatchReader: Sendable {
    /// Default cap on the decompressed size of one batch (or legacy wrapper message).
    public static let defaultMaxDecompressedBytes = 256 * 1024 * 1024

    var remaining: ByteBuffer
    /// Whether ``next()`` verifies checksums (on by default).
    public var verifiesChecksums: Bool
    /// Whether ``next()`` decompresses magic 2 batches (on by default). Off, a compressed batch comes back
    /// with its checksum verified but its records still compressed (``RecordBatch/isAwaitingDecompression``),
    /// to be decompressed with ``RecordBatch/decompressed(maxOutputBytes:)`` when they are needed: a reader of
    /// many batches then holds one decompressed batch at a time instead of all. Legacy (magic 0/1) messages
    /// are always decompressed.
    public var decompressesRecords: Bool
    /// Decompressing a batch beyond this many bytes fails with
    /// ``KafkaProtocolError/compression(codec:reason:)``.
    public var maxDecompressedBytes: Int
    /// Bytes of a trailing partial batch that ``next()`` skipped (0 when the input ended on a batch
    /// boundary). Set once ``next()`` has returned nil.
    public private(set) var truncatedTailBytes = 0

    /// - Parameters:
    ///   - records: the record bytes (readable bytes of the buffer), e.g. a fetch partition's `records`.
    ///   - verifiesChecksums: check each batch's CRC.
    ///   - maxDecompressedBytes: cap on the decompressed size of one batch.
    ///   - decompressesRecords: decompress magic 2 batches in ``next()`` (see ``decompressesRecords``).
    public init(
        records: ByteBuffer, verifiesChecksums: Bool = true,
        maxDecompressedBytes: Int = RecordBatchReader.defaultMaxDecompressedBytes, decompressesRecords: Bool = true
    ) {
        self.remaining = records
        self.verifiesChecksums = verifiesChecksums
        self.maxDecompressedBytes = maxDecompressedBytes
        self.decompressesRecords = decompressesRecords
    }

    /// Bytes not yet consumed.
    public var remainingBytes: Int { remaining.readableBytes }

    /// The base offset of the batch ``next()`` reads next (after a throw: of the bad batch), nil when fewer
    /// than 8 bytes are left.
    public var upcomingBaseOffset: Int64? {
        remaining.getInteger(at: remaining.readerIndex, endianness: .big, as: Int64.self)
    }

    /// The next batch, or nil when no complete batch is left (see ``truncatedTailBytes``).
    /// - Throws: ``KafkaProtocolError``: `.crcMismatch` when a checksum does not match,
    ///   `.unsupportedMagic` for a magic other than 0, 1 and 2, `.compression` when a codec is
    ///   unknown or decompression fails or exceeds ``maxDecompressedBytes``, `.invalidLength`,
    ///   `.invalidValue` or `.truncated` for malformed batches. After a throw the reader stays
    ///   where the bad batch started.
    public mutating func next() throws -> RecordBatch? {
        let available = remaining.readableBytes
        if available == 0 { return nil }
        let start = remaining.readerIndex
        // baseOffset, batchLength, partitionLeaderEpoch, magic: the magic sits at byte 16 in every
        // format (legacy: offset, size, crc, magic), so it can be read before anything else.
        guard available > RecordBatchLayout.magic,
            let batchLength = remaining.getInteger(at: start + RecordBatchLayout.batchLength, endianness: .big, as: Int32.self),
            let magic = remaining.getInteger(at: start + RecordBatchLayout.magic, as: Int8.self)
        else {
            return endWithTruncatedTail()
        }
        let minimumLength: Int32
        switch magic {
        case 2: minimumLength = Int32(RecordBatchLayout.headerSize - RecordBatchLayout.logOverhead)
        case 0: minimumLength = LegacyMessage.minimumSize(magic: 0)
        case 1: minimumLength = LegacyMessage.minimumSize(magic: 1)
        default: throw KafkaProtocolError.unsupportedMagic(magic)
        }
        guard batchLength >= minimumLength else {
            throw KafkaProtocolError.invalidLength(field: "batchLength", length: Int64(batchLength))
        }
        let size = RecordBatchLayout.logOverhead + Int(batchLength)
        guard size <= available else { return endWithTruncatedTail() }
        let entry = remaining.getSlice(at: start, length: size)!
        let batch: RecordBatch
        if magic == 2 {
            batch = try decodeV2(entry)
        } else {
            batch = try LegacyMessage.decodeEntry(
                entry, verifiesChecksums: verifiesChecksums, maxDecompressedBytes: maxDecompressedBytes)
        }
        remaining.moveReaderIndex(forwardBy: size)
        return batch
    }

    private mutating func endWithTruncatedTail() -> RecordBatch? {
        truncatedTailBytes = remaining.readableBytes
        remaining.moveReaderIndex(forwardBy: remaining.readableBytes)
        return nil
    }

    private func decodeV2(_ entry: ByteBuffer) throws -> RecordBatch {
        var header = entry
        let baseOffset = try header.readKafkaInt64(field: "baseOffset")
        _ = try header.readKafkaInt32(field: "batchLength")
        let partitionLeaderEpoch = try header.readKafkaInt32(field: "partitionLeaderEpoch")
        let magic = try header.readKafkaInt8(field: "magic")
        let crc = try header.readKafkaUInt32(field: "crc")
        if verifiesChecksums {
            let computed = header.withUnsafeReadableBytes { CRC32C.checksum($0) }
            guard computed == crc else { throw KafkaProtocolError.crcMismatch(stored: crc, computed: computed) }
        }
        let attributes = RecordBatchAttributes(rawValue: try header.readKafkaInt16(field: "attributes"))
        let lastOffsetDelta = try header.readKafkaInt32(field: "lastOffsetDelta")
        let baseTimestamp = try header.readKafkaInt64(field: "baseTimestamp")
        let maxTimestamp = try header.readKafkaInt64(field: "maxTimestamp")
        let producerId = try header.readKafkaInt64(field: "producerId")
        let producerEpoch = try header.readKafkaInt16(field: "producerEpoch")
        let baseSequence = try header.readKafkaInt32(field: "baseSequence")
        let recordCount = try header.readKafkaInt32(field: "recordsCount")
        guard let codec = attributes.compression else {
            throw KafkaProtocolError.compression(
                codec: "codec \(attributes.compressionBits)", reason: "unknown compression codec")
        }
        guard recordCount >= 0 else {
            throw KafkaProtocolError.invalidLength(field: "recordsCount", length: Int64(recordCount))
        }
        let storage: RecordBatch.Storage
        if codec == .none {
            storage = .encoded(try Self.boundedRecords(header, recordCount: recordCount))
        } else if decompressesRecords {
            storage = .encoded(
                try Self.decompressRecords(
                    header, codec: codec, recordCount: recordCount, maxOutputBytes: maxDecompressedBytes))
        } else {
            storage = .compressed(header)
        }
        return RecordBatch(
            baseOffset: baseOffset, sizeInBytes: entry.readableBytes, partitionLeaderEpoch: partitionLeaderEpoch,
            magic: magic, crc: crc, attributes: attributes, lastOffsetDelta: lastOffsetDelta,
            baseTimestamp: baseTimestamp, maxTimestamp: maxTimestamp, producerId: producerId,
            producerEpoch: producerEpoch, baseSequence: baseSequence, recordCount: recordCount,
            storage: storage)
    }

    /// Decompresses a magic 2 batch's records and bounds its recordsCount by their size.
    static func decompressRecords(
        _ compressed: ByteBuffer, codec: KafkaCompressionCodec, recordCount: Int32, maxOutputBytes: Int
    ) throws -> ByteBuffer {
        try boundedRecords(
            KafkaCompression.decompress(compressed, codec: codec, maxOutputBytes: maxOutputBytes), recordCount: recordCount)
    }

    /// Every record takes at least 7 bytes, which bounds the count before anything trusts it.
    private static func boundedRecords(_ records: ByteBuffer, recordCount: Int32) throws -> ByteBuffer {
        guard Int(recordCount) <= records.readableBytes / 7 else {
            throw KafkaProtocolError.invalidLength(field: "recordsCount", length: Int64(recordCount))
        }
        return records
    }
}
