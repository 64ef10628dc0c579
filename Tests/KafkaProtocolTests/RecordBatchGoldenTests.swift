import KafkaProtocol
import NIOCore
import Testing

/// Record batch bytes written out field by field from Kafka's implementation docs (§5.3.1 record
/// batch, §5.3.2 record, §5.3.1.1 control batches). The CRC-32C values were computed with a separate
/// bit-by-bit implementation of the Castagnoli polynomial, not with this library.
@Suite("RecordBatch golden bytes")
struct RecordBatchGoldenTests {
    static let baseTimestamp: Int64 = 1_700_000_000_000  // 0x0000018BCFE56800

    /// Two records: key "k", null value, headers [("h", "v"), ("h", null)] at delta 0; null key,
    /// empty value, no headers at timestamp delta 5 and offset delta 1.
    static let smallBatch = """
        0000000000000000 | 00000047 | ffffffff | 02 | 99de874e
        0000 | 00000001 | 0000018bcfe56800 | 0000018bcfe56805
        ffffffffffffffff | ffff | ffffffff | 00000002
        1c 00 00 00 02 6b 01 04 02 68 02 76 02 68 01
        0c 00 0a 02 01 00 00
        """

    /// A commit marker: baseOffset 10, leader epoch 3, attributes transactional|control (0x30),
    /// producer 1000 epoch 2; key = version 0, type 1; value = version 0, coordinator epoch 5.
    static let commitMarker = """
        000000000000000a | 00000042 | 00000003 | 02 | a7d9b82a
        0030 | 00000000 | 0000018bcfe56800 | 0000018bcfe56800
        00000000000003e8 | 0002 | ffffffff | 00000001
        20 00 00 00 08 00000001 0c 000000000005 00
        """

    @Test("writer produces the documented bytes for a small uncompressed batch")
    func encodeSmallBatch() throws {
        var writer = RecordBatchWriter()
        writer.append(
            key: ByteBuffer(string: "k"), value: nil,
            headers: [RecordHeader(key: "h", value: ByteBuffer(string: "v")), RecordHeader(key: "h", value: nil)],
            timestamp: Self.baseTimestamp)
        writer.append(key: nil, value: ByteBuffer(), timestamp: Self.baseTimestamp + 5)
        #expect(writer.encodedSize == 83)
        let batch = try writer.finish()
        #expect(Array(batch.readableBytesView) == Array(RecordBatchTestSupport.buffer(hex: Self.smallBatch).readableBytesView))
    }

    @Test("raw-bytes append writes the documented bytes of a headerless record")
    func encodeSmallBatchWithRawBytes() throws {
        var writer = RecordBatchWriter()
        writer.append(
            key: ByteBuffer(string: "k"), value: nil,
            headers: [RecordHeader(key: "h", value: ByteBuffer(string: "v")), RecordHeader(key: "h", value: nil)],
            timestamp: Self.baseTimestamp)
        let empty = ByteBuffer()
        empty.withUnsafeReadableBytes { emptyValue in
            writer.append(keyBytes: nil, valueBytes: emptyValue, timestamp: Self.baseTimestamp + 5)
        }
        #expect(writer.encodedSize == 83)
        let batch = try writer.finish()
        #expect(Array(batch.readableBytesView) == Array(RecordBatchTestSupport.buffer(hex: Self.smallBatch).readableBytesView))
    }

    @Test("raw-bytes append and ByteBuffer append write the same batch", arguments: [KafkaCompressionCodec.none, .lz4])
    func rawBytesAppendMatchesBufferAppend(compression: KafkaCompressionCodec) throws {
        // Lengths on both sides of the one/two/three-byte varint boundaries; null, empty and filled fields.
        let sizes = [0, 1, 63, 64, 65, 8191, 8192, 8193, 100]
        var byBuffer = RecordBatchWriter(producerId: 5, producerEpoch: 1, baseSequence: 3, compression: compression)
        var byAddress = RecordBatchWriter(producerId: 5, producerEpoch: 1, baseSequence: 3, compression: compression)
        for (index, size) in sizes.enumerated() {
            let key: ByteBuffer? = index % 3 == 0 ? nil : ByteBuffer(repeating: UInt8(index), count: sizes[(index + 4) % sizes.count])
            let value: ByteBuffer? = index == 5 ? nil : ByteBuffer(repeating: 0x61 &+ UInt8(index), count: size)
            let timestamp = Self.baseTimestamp + Int64(index) * 1_000_003 - 7
            byBuffer.append(key: key, value: value, timestamp: timestamp)
            func address(_ buffer: ByteBuffer?, _ body: (UnsafeRawBufferPointer?) -> Void) {
                if let buffer { buffer.withUnsafeReadableBytes { body($0) } } else { body(nil) }
            }
            address(key) { keyBytes in address(value) { valueBytes in
                byAddress.append(keyBytes: keyBytes, valueBytes: valueBytes, timestamp: timestamp)
            } }
            #expect(byAddress.encodedSize == byBuffer.encodedSize, "record \(index)")
        }
        #expect(try byAddress.finish() == (try byBuffer.finish()))
    }

    @Test("reader decodes every field of the small batch")
    func decodeSmallBatch() throws {
        var reader = RecordBatchReader(records: RecordBatchTestSupport.buffer(hex: Self.smallBatch))
        let batch = try #require(try reader.next())
        #expect(try reader.next() == nil)
        #expect(reader.truncatedTailBytes == 0)
        #expect(batch.baseOffset == 0)
        #expect(batch.sizeInBytes == 83)
        #expect(batch.partitionLeaderEpoch == -1)
        #expect(batch.magic == 2)
        #expect(batch.crc == 0x99DE_874E)
        #expect(batch.attributes.rawValue == 0)
        #expect(batch.compression == .none)
        #expect(batch.timestampType == .createTime)
        #expect(!batch.isTransactional)
        #expect(!batch.isControlBatch)
        #expect(batch.lastOffsetDelta == 1)
        #expect(batch.nextOffset == 2)
        #expect(batch.baseTimestamp == Self.baseTimestamp)
        #expect(batch.maxTimestamp == Self.baseTimestamp + 5)
        #expect(batch.producerId == -1)
        #expect(batch.producerEpoch == -1)
        #expect(batch.baseSequence == -1)
        #expect(batch.recordCount == 2)
        let records = try batch.decodeRecords()
        #expect(records.count == 2)
        #expect(records[0].offset == 0)
        #expect(records[0].timestamp == Self.baseTimestamp)
        #expect(RecordBatchTestSupport.string(records[0].key) == "k")
        #expect(records[0].value == nil)
        #expect(records[0].headers == [
            RecordHeader(key: "h", value: ByteBuffer(string: "v")), RecordHeader(key: "h", value: nil),
        ])
        #expect(records[1].offset == 1)
        #expect(records[1].timestamp == Self.baseTimestamp + 5)
        #expect(records[1].key == nil)
        #expect(records[1].value == ByteBuffer())
        #expect(records[1].headers.isEmpty)
    }

    @Test("writer produces the documented control batch bytes")
    func encodeCommitMarker() throws {
        let marker = ControlRecord(type: .commit, coordinatorEpoch: 5)
        var writer = RecordBatchWriter(
            baseOffset: 10, partitionLeaderEpoch: 3, producerId: 1000, producerEpoch: 2,
            isTransactional: true, isControl: true)
        writer.append(key: marker.encodedKey, value: marker.encodedValue, timestamp: Self.baseTimestamp)
        let batch = try writer.finish()
        #expect(Array(batch.readableBytesView) == Array(RecordBatchTestSupport.buffer(hex: Self.commitMarker).readableBytesView))
    }

    @Test("reader decodes a commit marker")
    func decodeCommitMarker() throws {
        var reader = RecordBatchReader(records: RecordBatchTestSupport.buffer(hex: Self.commitMarker))
        let batch = try #require(try reader.next())
        #expect(batch.baseOffset == 10)
        #expect(batch.partitionLeaderEpoch == 3)
        #expect(batch.attributes.rawValue == 0x30)
        #expect(batch.isTransactional)
        #expect(batch.isControlBatch)
        #expect(batch.producerId == 1000)
        #expect(batch.producerEpoch == 2)
        let control = try batch.controlRecord()
        #expect(control.type == .commit)
        #expect(control.keyVersion == 0)
        #expect(control.valueVersion == 0)
        #expect(control.coordinatorEpoch == 5)
        #expect(control.isTransactionMarker)
        let record = try #require(try batch.decodeRecords().first)
        #expect(record.offset == 10)
    }

    @Test("an abort marker key has type 0")
    func abortMarker() throws {
        let record = RecordBatch.Record(
            offset: 0, timestamp: 0, key: RecordBatchTestSupport.buffer(hex: "0000 0000"),
            value: RecordBatchTestSupport.buffer(hex: "0000 0000002a"))
        let control = try ControlRecord(record)
        #expect(control.type == .abort)
        #expect(control.coordinatorEpoch == 42)
    }

    @Test("attribute bits: codec 0-2, timestamp type 3, transactional 4, control 5, delete horizon 6")
    func attributes() {
        let all = RecordBatchAttributes(
            compression: .zstd, timestampType: .logAppendTime, isTransactional: true, isControl: true,
            hasDeleteHorizon: true)
        #expect(all.rawValue == 0b0111_1100)
        #expect(RecordBatchAttributes(rawValue: 0x0B).compression == .lz4)
        #expect(RecordBatchAttributes(rawValue: 0x0B).timestampType == .logAppendTime)
        #expect(RecordBatchAttributes(rawValue: 0x07).compression == nil)
        #expect(RecordBatchAttributes(rawValue: 0x40).hasDeleteHorizon)
    }

    /// Zigzag varints as in protobuf: 0→00, -1→01, 1→02, -64→7f, 64→80 01, 300→d8 04, and the
    /// 32/64-bit extremes.
    @Test("zigzag varint and varlong golden bytes", arguments: [
        (Int64(0), "00"), (-1, "01"), (1, "02"), (63, "7e"), (-64, "7f"), (64, "8001"), (300, "d804"),
        (Int64(Int32.max), "feffffff0f"), (Int64(Int32.min), "ffffffff0f"),
    ])
    func varints(value: Int64, hex: String) throws {
        var buffer = ByteBuffer()
        buffer.writeKafkaVarint(Int32(value))
        #expect(buffer == RecordBatchTestSupport.buffer(hex: hex))
        #expect(try buffer.readKafkaVarint() == Int32(value))
        buffer.clear()
        buffer.writeKafkaVarlong(value)
        #expect(buffer == RecordBatchTestSupport.buffer(hex: hex))
        #expect(ByteBuffer.kafkaVarintSize(value) == hex.count / 2)
    }

    @Test("varlong extremes")
    func varlongExtremes() throws {
        var buffer = ByteBuffer()
        buffer.writeKafkaVarlong(Int64.min)
        #expect(buffer == RecordBatchTestSupport.buffer(hex: "ffffffffffffffffff01"))
        #expect(try buffer.readKafkaVarlong() == Int64.min)
        buffer.writeKafkaVarlong(Int64.max)
        #expect(buffer == RecordBatchTestSupport.buffer(hex: "feffffffffffffffff01"))
    }
}
