import CKlifeCRC32C
import NIOCore

/// Encodes one record batch (magic 2) record by record, straight into a `ByteBuffer`.
///
/// Create it with the batch-level fields, ``append(key:value:headers:timestamp:)`` records while
/// ``encodedSize`` stays under the producer's batch size, then ``finish()``: it compresses the
/// records if a codec is set and patches batchLength, lastOffsetDelta, the timestamps, the record
/// count and the CRC-32C. Uncompressed appends allocate nothing per record (the buffer grows
/// geometrically). With a codec, the records go to a reused scratch buffer and ``finish()`` compresses
/// them straight into the batch's buffer (no temporary output buffer, no copy of the compressed bytes).
///
/// ```swift
/// var writer = RecordBatchWriter(producerId: pid, producerEpoch: epoch, baseSequence: seq, compression: .lz4)
/// writer.append(key: key, value: value, headers: [], timestamp: nowMs)
/// let batch = try writer.finish()   // the batch bytes, ready for a Produce request
/// ```
public struct RecordBatchWriter: Sendable {
    @usableFromInline var buffer: ByteBuffer
    /// With a codec: the records, uncompressed, until ``finish()`` compresses them into `buffer`.
    @usableFromInline var uncompressed: ByteBuffer
    @usableFromInline let batchStart: Int
    /// The codec ``finish()`` applies.
    public let compression: KafkaCompressionCodec
    /// Codec-specific level passed to the compressor; nil for the codec default.
    public let compressionLevel: Int32?
    /// Records appended so far.
    public private(set) var recordCount: Int32 = 0
    /// The batch's baseTimestamp: given at creation or the first record's timestamp.
    public private(set) var baseTimestamp: Int64?
    /// The largest record timestamp so far (-1 when empty).
    public private(set) var maxTimestamp: Int64 = -1
    private var finished = false

    /// Starts a batch at the writer index of `buffer`.
    ///
    /// - Parameters:
    ///   - buffer: where the batch is written; bytes already in it stay in front of the batch.
    ///   - baseOffset: 0 for produce requests (the broker assigns offsets).
    ///   - partitionLeaderEpoch: -1 for produce requests.
    ///   - producerId, producerEpoch, baseSequence: -1 unless idempotent/transactional.
    ///   - isTransactional: attribute bit 4.
    ///   - isControl: attribute bit 5 (control batches: only for tests and tools).
    ///   - compression: codec applied by ``finish()``.
    ///   - compressionLevel: codec-specific level; nil for the default.
    ///   - baseTimestamp: the batch's baseTimestamp; nil takes the first record's timestamp.
    public init(
        buffer: consuming ByteBuffer = ByteBuffer(),
        baseOffset: Int64 = 0,
        partitionLeaderEpoch: Int32 = -1,
        producerId: Int64 = -1,
        producerEpoch: Int16 = -1,
        baseSequence: Int32 = -1,
        isTransactional: Bool = false,
        isControl: Bool = false,
        compression: KafkaCompressionCodec = .none,
        compressionLevel: Int32? = nil,
        baseTimestamp: Int64? = nil
    ) {
        self.batchStart = buffer.writerIndex
        // Moved in, not copied: a reference left with the caller would copy the buffer at the first write.
        self.buffer = consume buffer
        self.uncompressed = compression == .none ? ByteBuffer() : CompressionScratch.take()
        self.compression = compression
        self.compressionLevel = compressionLevel
        self.baseTimestamp = baseTimestamp
        let attributes = RecordBatchAttributes(
            compression: compression, isTransactional: isTransactional, isControl: isControl)
        self.buffer.reserveCapacity(minimumWritableBytes: RecordBatchLayout.headerSize)
        self.buffer.writeKafkaInt64(baseOffset)
        self.buffer.writeKafkaInt32(0)  // batchLength, patched by finish()
        self.buffer.writeKafkaInt32(partitionLeaderEpoch)
        self.buffer.writeKafkaInt8(2)  // magic
        self.buffer.writeKafkaUInt32(0)  // crc, patched by finish()
        self.buffer.writeKafkaInt16(attributes.rawValue)
        self.buffer.writeKafkaInt32(0)  // lastOffsetDelta
        self.buffer.writeKafkaInt64(0)  // baseTimestamp
        self.buffer.writeKafkaInt64(0)  // maxTimestamp
        self.buffer.writeKafkaInt64(producerId)
        self.buffer.writeKafkaInt16(producerEpoch)
        self.buffer.writeKafkaInt32(baseSequence)
        self.buffer.writeKafkaInt32(0)  // recordsCount
    }

    /// Bytes of the batch so far, uncompressed (header included). Compare with the producer's
    /// batch size before appending (see ``encodedSize(key:value:headers:timestamp:)``).
    public var encodedSize: Int { buffer.writerIndex - batchStart + uncompressed.readableBytes }

    /// Bytes ``append(key:value:headers:timestamp:)`` would add for this record.
    public func encodedSize(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64) -> Int {
        let body = Self.bodySize(
            key: key, value: value, headers: headers, timestampDelta: timestamp &- (baseTimestamp ?? timestamp),
            offsetDelta: recordCount)
        return ByteBuffer.kafkaVarintSize(Int64(body)) + body
    }

    /// Size of a record after its length varint.
    @inlinable
    static func bodySize(
        key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader], timestampDelta: Int64, offsetDelta: Int32
    ) -> Int {
        var size = 1  // attributes
        size += ByteBuffer.kafkaVarintSize(timestampDelta)
        size += ByteBuffer.kafkaVarintSize(Int64(offsetDelta))
        size += bytesFieldSize(key)
        size += bytesFieldSize(value)
        size += ByteBuffer.kafkaVarintSize(Int64(headers.count))
        for header in headers {
            let keyLength = header.key.utf8.count
            size += ByteBuffer.kafkaVarintSize(Int64(keyLength)) + keyLength
            size += bytesFieldSize(header.value)
        }
        return size
    }

    @inlinable
    static func bytesFieldSize(_ bytes: ByteBuffer?) -> Int {
        guard let bytes else { return 1 }
        return ByteBuffer.kafkaVarintSize(Int64(bytes.readableBytes)) + bytes.readableBytes
    }

    /// `timestamp`'s delta from the batch's baseTimestamp, which the first record's timestamp sets when none
    /// was given at creation.
    @inline(__always)
    private mutating func takeTimestampDelta(of timestamp: Int64) -> Int64 {
        guard let baseTimestamp else {
            baseTimestamp = timestamp
            return 0
        }
        return timestamp &- baseTimestamp
    }

    /// Appends a record with the next offset delta.
    /// - Parameters:
    ///   - key: nil for a null key.
    ///   - value: nil for a null value (a tombstone).
    ///   - headers: in order; keys may repeat, values may be nil.
    ///   - timestamp: milliseconds since the epoch (create time).
    public mutating func append(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64) {
        precondition(!finished, "RecordBatchWriter.append after finish()")
        let timestampDelta = takeTimestampDelta(of: timestamp)
        let bodySize = Self.bodySize(
            key: key, value: value, headers: headers, timestampDelta: timestampDelta, offsetDelta: recordCount)
        let total = ByteBuffer.kafkaVarintSize(Int64(bodySize)) + bodySize
        if compression == .none {
            Self.write(
                into: &buffer, total: total, bodySize: bodySize, timestampDelta: timestampDelta, offsetDelta: recordCount,
                key: key, value: value, headers: headers)
        } else {
            Self.write(
                into: &uncompressed, total: total, bodySize: bodySize, timestampDelta: timestampDelta,
                offsetDelta: recordCount, key: key, value: value, headers: headers)
        }
        recordCount &+= 1
        if timestamp > maxTimestamp { maxTimestamp = timestamp }
    }

    /// ``append(key:value:headers:timestamp:)`` for a record without headers whose key and value are given
    /// as the addresses of their bytes (nil: null), valid for the call.
    ///
    /// For a caller whose `ByteBuffer`s sit in storage it can only read through a pointer (a producer's
    /// pending records): passing such a buffer on copies it, a retain and a release per record; reading its
    /// address copies nothing.
    public mutating func append(keyBytes key: UnsafeRawBufferPointer?, valueBytes value: UnsafeRawBufferPointer?, timestamp: Int64) {
        precondition(!finished, "RecordBatchWriter.append after finish()")
        let timestampDelta = takeTimestampDelta(of: timestamp)
        // attributes, deltas, key, value, header count 0
        let bodySize = 1 + ByteBuffer.kafkaVarintSize(timestampDelta) + ByteBuffer.kafkaVarintSize(Int64(recordCount))
            + Self.bytesFieldSize(key) + Self.bytesFieldSize(value) + 1
        let total = ByteBuffer.kafkaVarintSize(Int64(bodySize)) + bodySize
        if compression == .none {
            Self.write(
                into: &buffer, total: total, bodySize: bodySize, timestampDelta: timestampDelta, offsetDelta: recordCount,
                key: key, value: value)
        } else {
            Self.write(
                into: &uncompressed, total: total, bodySize: bodySize, timestampDelta: timestampDelta,
                offsetDelta: recordCount, key: key, value: value)
        }
        recordCount &+= 1
        if timestamp > maxTimestamp { maxTimestamp = timestamp }
    }

    @inline(__always)
    private static func bytesFieldSize(_ bytes: UnsafeRawBufferPointer?) -> Int {
        guard let bytes else { return 1 }
        return ByteBuffer.kafkaVarintSize(Int64(bytes.count)) + bytes.count
    }

    /// A headerless record of `total` bytes from raw key and value bytes.
    @inline(__always)
    private static func write(
        into buffer: inout ByteBuffer, total: Int, bodySize: Int, timestampDelta: Int64, offsetDelta: Int32,
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?
    ) {
        _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            var p = RecordWireFormat.putRecordPrefix(
                out.baseAddress!, bodySize: bodySize, timestampDelta: timestampDelta, offsetDelta: offsetDelta)
            p = RecordWireFormat.putBytes(p, key)
            p = RecordWireFormat.putBytes(p, value)
            p.storeBytes(of: 0, as: UInt8.self)  // header count: zigzag(0)
            return total
        }
    }

    /// ``prefetch(key:value:)`` for bytes given by address (see ``append(keyBytes:valueBytes:timestamp:)``).
    public static func prefetch(keyBytes key: UnsafeRawBufferPointer?, valueBytes value: UnsafeRawBufferPointer?) {
        if let key { prefetch(raw: key) }
        if let value { prefetch(raw: value) }
    }

    /// Starts loading a record's key and value bytes into the CPU cache (a hint; no effect on the output).
    ///
    /// Call it a few records ahead of ``append(key:value:headers:timestamp:)`` when the records' bytes were
    /// written long before (a producer's linger): the copy into the batch otherwise waits on a cache miss
    /// per record. Values longer than 512 bytes get their first lines only (hardware prefetch follows).
    public static func prefetch(key: ByteBuffer?, value: ByteBuffer?) {
        prefetch(key)
        prefetch(value)
    }

    @inline(__always)
    private static func prefetch(_ bytes: ByteBuffer?) {
        guard let bytes, bytes.readableBytes > 0 else { return }
        bytes.withUnsafeReadableBytes { raw in prefetch(raw: raw) }
    }

    @inline(__always)
    private static func prefetch(raw: UnsafeRawBufferPointer) {
        guard raw.count > 0 else { return }
        let base = raw.baseAddress!
        var offset = 0
        while offset < min(raw.count, 512) {
            klife_prefetch(base + offset)
            offset += 64
        }
        klife_prefetch(base + raw.count - 1)  // the last line, when the bytes straddle one more
    }

    /// One record of `total` bytes: one capacity check, then raw stores.
    @inline(__always)
    private static func write(
        into buffer: inout ByteBuffer, total: Int, bodySize: Int, timestampDelta: Int64, offsetDelta: Int32,
        key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader]
    ) {
        _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            var p = RecordWireFormat.putRecordPrefix(
                out.baseAddress!, bodySize: bodySize, timestampDelta: timestampDelta, offsetDelta: offsetDelta)
            p = RecordWireFormat.putBytes(p, key)
            p = RecordWireFormat.putBytes(p, value)
            p = RecordWireFormat.putVarint(p, RecordWireFormat.zigzag(Int64(headers.count)))
            for header in headers {
                p = RecordWireFormat.putString(p, header.key, utf8Count: header.key.utf8.count)
                p = RecordWireFormat.putBytes(p, header.value)
            }
            return total
        }
    }

    /// Completes the batch: compresses the records if a codec is set, then patches batchLength,
    /// lastOffsetDelta (recordCount - 1), baseTimestamp, maxTimestamp, recordsCount and the CRC.
    /// The writer must not be used afterwards.
    ///
    /// - Returns: the buffer passed to ``init(buffer:baseOffset:partitionLeaderEpoch:producerId:producerEpoch:baseSequence:isTransactional:isControl:compression:compressionLevel:baseTimestamp:)``
    ///   with the batch appended.
    /// - Throws: ``KafkaProtocolError/compression(codec:reason:)`` when compression fails.
    public mutating func finish() throws -> ByteBuffer {
        precondition(!finished, "RecordBatchWriter.finish() called twice")
        finished = true
        if compression != .none {
            let records = uncompressed
            uncompressed = ByteBuffer()
            defer { CompressionScratch.give(records) }
            try KafkaCompression.compress(records, codec: compression, level: compressionLevel, into: &buffer)
        }
        let base = baseTimestamp ?? -1
        let max = recordCount == 0 ? base : maxTimestamp
        buffer.setInteger(Int32(truncatingIfNeeded: encodedSize - RecordBatchLayout.logOverhead),
                          at: batchStart + RecordBatchLayout.batchLength, endianness: .big)
        buffer.setInteger(recordCount &- 1, at: batchStart + RecordBatchLayout.lastOffsetDelta, endianness: .big)
        buffer.setInteger(base, at: batchStart + RecordBatchLayout.baseTimestamp, endianness: .big)
        buffer.setInteger(max, at: batchStart + RecordBatchLayout.maxTimestamp, endianness: .big)
        buffer.setInteger(recordCount, at: batchStart + RecordBatchLayout.recordCount, endianness: .big)
        Self.updateCRC(&buffer, batchStart: batchStart)
        // Hand over the only reference so the caller can modify the batch without a copy.
        let result = buffer
        buffer = ByteBuffer()
        return result
    }

    static func updateCRC(_ buffer: inout ByteBuffer, batchStart: Int) {
        let skip = batchStart + RecordBatchLayout.attributes - buffer.readerIndex
        let crc = buffer.withUnsafeReadableBytes { bytes in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[skip...]))
        }
        buffer.setInteger(crc, at: batchStart + RecordBatchLayout.crc, endianness: .big)
    }

    /// Rewrites the producer id, producer epoch and base sequence of the encoded batch at the reader
    /// index of `batch` and recomputes its CRC (the idempotent producer re-stamps batches after an
    /// epoch bump or a sequence reset).
    /// - Throws: ``KafkaProtocolError/unsupportedMagic(_:)`` when the batch is not magic 2,
    ///   ``KafkaProtocolError/truncated(field:needed:available:)`` when `batch` holds less than the
    ///   batch's length.
    public static func restamp(
        _ batch: inout ByteBuffer, producerId: Int64, producerEpoch: Int16, baseSequence: Int32
    ) throws {
        let start = batch.readerIndex
        guard batch.readableBytes >= RecordBatchLayout.headerSize else {
            throw KafkaProtocolError.truncated(
                field: "record batch", needed: RecordBatchLayout.headerSize, available: batch.readableBytes)
        }
        let magic = batch.getInteger(at: start + RecordBatchLayout.magic, as: Int8.self)!
        guard magic == 2 else { throw KafkaProtocolError.unsupportedMagic(magic) }
        let length = Int(batch.getInteger(at: start + RecordBatchLayout.batchLength, endianness: .big, as: Int32.self)!)
        let size = RecordBatchLayout.logOverhead + length
        guard length >= RecordBatchLayout.headerSize - RecordBatchLayout.logOverhead, size <= batch.readableBytes else {
            throw KafkaProtocolError.truncated(field: "record batch", needed: size, available: batch.readableBytes)
        }
        batch.setInteger(producerId, at: start + RecordBatchLayout.producerId, endianness: .big)
        batch.setInteger(producerEpoch, at: start + RecordBatchLayout.producerEpoch, endianness: .big)
        batch.setInteger(baseSequence, at: start + RecordBatchLayout.baseSequence, endianness: .big)
        let crc = batch.withUnsafeReadableBytes { bytes in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[RecordBatchLayout.attributes..<size]))
        }
        batch.setInteger(crc, at: start + RecordBatchLayout.crc, endianness: .big)
    }
}
