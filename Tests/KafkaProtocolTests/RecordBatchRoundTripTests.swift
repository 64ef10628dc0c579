import KafkaProtocol
import NIOCore
import Testing

@Suite("RecordBatch round trips and reader behaviour")
struct RecordBatchRoundTripTests {
    struct Input: Equatable {
        var key: ByteBuffer?
        var value: ByteBuffer?
        var headers: [RecordHeader]
        var timestamp: Int64
    }

    static func sampleInputs(count: Int, seed: UInt64) -> [Input] {
        var rng = BatchTestRandom(seed: seed)
        func bytes(_ n: Int) -> ByteBuffer {
            ByteBuffer(bytes: (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        var inputs: [Input] = []
        for i in 0..<count {
            let key: ByteBuffer? =
                switch i % 4 {
                case 0: nil
                case 1: ByteBuffer()
                default: bytes(Int.random(in: 1...40, using: &rng))
                }
            let value: ByteBuffer? =
                switch i % 5 {
                case 0: nil
                case 1: ByteBuffer()
                default: bytes(Int.random(in: 1...300, using: &rng))
                }
            var headers: [RecordHeader] = []
            for h in 0..<(i % 4) {
                headers.append(RecordHeader(key: h == 2 ? "dup" : "h\(h)é", value: h == 1 ? nil : bytes(h * 3)))
            }
            if i % 4 == 3 { headers.append(RecordHeader(key: "dup", value: ByteBuffer(string: "second"))) }
            // Timestamps go up and down around the base: deltas can be negative.
            let timestamp = 1_700_000_000_000 + Int64(i * 7 % 50) - 20
            inputs.append(Input(key: key, value: value, headers: headers, timestamp: timestamp))
        }
        return inputs
    }

    static func encode(
        _ inputs: [Input], compression: KafkaCompressionCodec = .none, producerId: Int64 = -1,
        producerEpoch: Int16 = -1, baseSequence: Int32 = -1, isTransactional: Bool = false
    ) throws -> ByteBuffer {
        var writer = RecordBatchWriter(
            producerId: producerId, producerEpoch: producerEpoch, baseSequence: baseSequence,
            isTransactional: isTransactional, compression: compression)
        var expectedSize = RecordBatchWriter(compression: compression).encodedSize
        for input in inputs {
            expectedSize += writer.encodedSize(
                key: input.key, value: input.value, headers: input.headers, timestamp: input.timestamp)
            writer.append(key: input.key, value: input.value, headers: input.headers, timestamp: input.timestamp)
            #expect(writer.encodedSize == expectedSize)
        }
        return try writer.finish()
    }

    static func check(_ records: [RecordBatch.Record], against inputs: [Input], baseOffset: Int64 = 0) {
        #expect(records.count == inputs.count)
        for (i, (record, input)) in zip(records, inputs).enumerated() {
            #expect(record.offset == baseOffset + Int64(i))
            #expect(record.timestamp == input.timestamp)
            #expect(record.key == input.key)
            #expect(record.value == input.value)
            #expect(record.headers == input.headers)
        }
    }

    @Test("many records with null/empty keys and values, duplicate and null headers")
    func manyRecords() throws {
        let inputs = Self.sampleInputs(count: 2_000, seed: 7)
        let encoded = try Self.encode(inputs)
        let decoded = try RecordBatchTestSupport.decodeAll(encoded)
        #expect(decoded.batches.count == 1)
        let batch = decoded.batches[0]
        #expect(batch.recordCount == 2_000)
        #expect(batch.lastOffsetDelta == 1_999)
        #expect(batch.baseTimestamp == inputs[0].timestamp)
        #expect(batch.maxTimestamp == inputs.map(\.timestamp).max())
        Self.check(decoded.records[0], against: inputs)
    }

    /// Every record of every batch, read with the parts-handing `next(_:)`.
    static func decodeWithParts(_ encoded: ByteBuffer) throws -> [[RecordBatch.Record]] {
        var reader = RecordBatchReader(records: encoded)
        var batches: [[RecordBatch.Record]] = []
        while let batch = try reader.next() {
            var iterator = batch.makeRecordIterator()
            var records: [RecordBatch.Record] = []
            while let record = try iterator.next({ offset, timestamp, key, value, headers in
                RecordBatch.Record(offset: offset, timestamp: timestamp, key: key, value: value, headers: headers)
            }) {
                records.append(record)
            }
            batches.append(records)
        }
        return batches
    }

    @Test("next(_:) hands over the same records as next(), plain, compressed and legacy", arguments: [
        KafkaCompressionCodec.none, .lz4, .zstd,
    ])
    func partsMatchRecords(compression: KafkaCompressionCodec) throws {
        let inputs = Self.sampleInputs(count: 500, seed: 11)
        let encoded = try Self.encode(inputs, compression: compression)
        let parts = try Self.decodeWithParts(encoded)
        #expect(parts.count == 1)
        Self.check(parts[0], against: inputs)
        #expect(parts == (try RecordBatchTestSupport.decodeAll(encoded)).records)

        let legacy = RecordBatchTestSupport.buffer(hex: """
            0000000000000005 00000011 165764b1 00 00 00000001 6b 00000002 7630
            0000000000000006 00000018 6a5500fb 01 00 0000018bcfe56800 ffffffff 00000002 7631
            """)
        #expect(try Self.decodeWithParts(legacy) == (try RecordBatchTestSupport.decodeAll(legacy)).records)
    }

    @Test("next(_:) stops at the count and rejects bytes left after the last record")
    func partsRejectTrailingBytes() throws {
        var encoded = try Self.encode(Self.sampleInputs(count: 3, seed: 3))
        // recordsCount 3 -> 2: the third record's bytes are left over (CRC recomputed so it is not the error).
        encoded.setInteger(Int32(2), at: encoded.readerIndex + 57)
        let crc = encoded.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
        encoded.setInteger(crc, at: encoded.readerIndex + 17)
        #expect {
            try Self.decodeWithParts(encoded)
        } throws: { error in
            if case .invalidValue(field: "records", _) = error as? KafkaProtocolError { return true }
            return false
        }
    }

    @Test("uncompressed keys and values are slices of the input buffer")
    func zeroCopy() throws {
        let encoded = try Self.encode([Input(key: ByteBuffer(string: "key"), value: ByteBuffer(string: "value"), headers: [], timestamp: 1)])
        var reader = RecordBatchReader(records: encoded)
        let batch = try #require(try reader.next())
        var records = batch.makeRecordIterator()
        let record = try #require(try records.next())
        let inputStart = encoded.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let valueStart = try #require(record.value).withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(valueStart >= inputStart && valueStart < inputStart + UInt(encoded.readableBytes))
        #expect(try records.next() == nil)
    }

    @Test("idempotent/transactional fields survive; re-stamping rewrites them and the CRC")
    func producerFieldsAndRestamp() throws {
        let inputs = Self.sampleInputs(count: 10, seed: 3)
        var encoded = try Self.encode(inputs, producerId: 4242, producerEpoch: 7, baseSequence: 100, isTransactional: true)
        var batch = try #require(try RecordBatchTestSupport.decodeAll(encoded).batches.first)
        #expect(batch.producerId == 4242)
        #expect(batch.producerEpoch == 7)
        #expect(batch.baseSequence == 100)
        #expect(batch.isTransactional)
        try RecordBatchWriter.restamp(&encoded, producerId: 99, producerEpoch: 8, baseSequence: 0)
        let decoded = try RecordBatchTestSupport.decodeAll(encoded)
        batch = try #require(decoded.batches.first)
        #expect(batch.producerId == 99)
        #expect(batch.producerEpoch == 8)
        #expect(batch.baseSequence == 0)
        Self.check(decoded.records[0], against: inputs)
    }

    @Test("a writer appends after bytes already in its buffer")
    func writesIntoExistingBuffer() throws {
        var prefix = ByteBuffer(string: "prefix")
        prefix.moveReaderIndex(forwardBy: 2)
        var writer = RecordBatchWriter(buffer: prefix, baseOffset: 50)
        writer.append(key: nil, value: ByteBuffer(string: "v"), timestamp: 9)
        var out = try writer.finish()
        #expect(out.readString(length: 4) == "efix")
        let decoded = try RecordBatchTestSupport.decodeAll(out)
        #expect(decoded.records[0][0].offset == 50)
        #expect(RecordBatchTestSupport.string(decoded.records[0][0].value) == "v")
    }

    @Test("several batches, then a truncated tail reported as incomplete, not as corruption")
    func multipleBatchesAndTruncatedTail() throws {
        var all = ByteBuffer()
        var expected: [[Input]] = []
        for b in 0..<3 {
            let inputs = Self.sampleInputs(count: 5 + b, seed: UInt64(b))
            var writer = RecordBatchWriter(buffer: all, baseOffset: Int64(b * 100))
            for input in inputs {
                writer.append(key: input.key, value: input.value, headers: input.headers, timestamp: input.timestamp)
            }
            all = try writer.finish()
            expected.append(inputs)
        }
        let full = try RecordBatchTestSupport.decodeAll(all)
        #expect(full.batches.count == 3)
        #expect(full.truncatedTailBytes == 0)
        for b in 0..<3 { Self.check(full.records[b], against: expected[b], baseOffset: Int64(b * 100)) }

        let lastStart = full.batches[0].sizeInBytes + full.batches[1].sizeInBytes
        for cut in [1, 11, 12, 16, 17, 60, 61, full.batches[2].sizeInBytes - 1] {
            let truncated = all.getSlice(at: 0, length: lastStart + cut)!
            let partial = try RecordBatchTestSupport.decodeAll(truncated)
            #expect(partial.batches.count == 2, "cut \(cut)")
            #expect(partial.truncatedTailBytes == cut, "cut \(cut)")
        }
    }

    @Test("a flipped bit after the CRC field is a crcMismatch")
    func crcMismatch() throws {
        var encoded = try Self.encode(Self.sampleInputs(count: 3, seed: 1))
        let position = encoded.readableBytes - 2
        encoded.setInteger(encoded.getInteger(at: position, as: UInt8.self)! ^ 0x10, at: position)
        #expect {
            try RecordBatchTestSupport.decodeAll(encoded)
        } throws: { error in
            if case .crcMismatch = error as? KafkaProtocolError { return true }
            return false
        }
        // With verification off, the damage surfaces (or not) only in the records.
        _ = try? RecordBatchTestSupport.decodeAll(encoded, verifiesChecksums: false)
    }

    @Test("the partition leader epoch is outside the CRC")
    func leaderEpochOutsideCRC() throws {
        var encoded = try Self.encode(Self.sampleInputs(count: 3, seed: 1))
        encoded.setInteger(Int32(77), at: 12, endianness: .big)
        let decoded = try RecordBatchTestSupport.decodeAll(encoded)
        #expect(decoded.batches[0].partitionLeaderEpoch == 77)
    }

    @Test("an unknown magic is unsupportedMagic")
    func unknownMagic() throws {
        var encoded = try Self.encode(Self.sampleInputs(count: 1, seed: 1))
        encoded.setInteger(Int8(3), at: 16)
        #expect(throws: KafkaProtocolError.unsupportedMagic(3)) { try RecordBatchTestSupport.decodeAll(encoded) }
    }

    @Test("an empty writer finishes as a valid empty batch")
    func emptyBatch() throws {
        var writer = RecordBatchWriter(baseTimestamp: 123)
        let encoded = try writer.finish()
        let decoded = try RecordBatchTestSupport.decodeAll(encoded)
        #expect(decoded.batches[0].recordCount == 0)
        #expect(decoded.batches[0].baseTimestamp == 123)
        #expect(decoded.records[0].isEmpty)
    }

    @Test("log-append time replaces every record timestamp by maxTimestamp")
    func logAppendTime() throws {
        var encoded = try Self.encode(Self.sampleInputs(count: 4, seed: 5))
        // Set the timestamp-type bit and maxTimestamp as a broker would, then fix up the CRC.
        encoded.setInteger(Int16(0x08), at: 21, endianness: .big)
        encoded.setInteger(Int64(5_000), at: 35, endianness: .big)
        let crc = encoded.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
        encoded.setInteger(crc, at: 17, endianness: .big)
        let decoded = try RecordBatchTestSupport.decodeAll(encoded)
        #expect(decoded.batches[0].timestampType == .logAppendTime)
        #expect(decoded.records[0].allSatisfy { $0.timestamp == 5_000 })
    }

    @Test("legacy magic 0 and magic 1 messages decode with their CRC-32")
    func legacyMessages() throws {
        // offset 5, magic 0, key "k", value "v0"; offset 6, magic 1, timestamp 1700000000000, null key, value "v1".
        // CRCs computed with zlib.crc32 over magic..value.
        let bytes = RecordBatchTestSupport.buffer(hex: """
            0000000000000005 00000011 165764b1 00 00 00000001 6b 00000002 7630
            0000000000000006 00000018 6a5500fb 01 00 0000018bcfe56800 ffffffff 00000002 7631
            """)
        let decoded = try RecordBatchTestSupport.decodeAll(bytes)
        #expect(decoded.batches.map(\.magic) == [0, 1])
        #expect(decoded.batches.map(\.baseOffset) == [5, 6])
        #expect(decoded.batches.map(\.nextOffset) == [6, 7])
        let first = decoded.records[0][0]
        #expect(first.offset == 5)
        #expect(first.timestamp == -1)
        #expect(RecordBatchTestSupport.string(first.key) == "k")
        #expect(RecordBatchTestSupport.string(first.value) == "v0")
        let second = decoded.records[1][0]
        #expect(second.offset == 6)
        #expect(second.timestamp == 1_700_000_000_000)
        #expect(second.key == nil)
        #expect(RecordBatchTestSupport.string(second.value) == "v1")

        var corrupted = bytes
        corrupted.setInteger(UInt8(ascii: "w"), at: 27)
        #expect {
            try RecordBatchTestSupport.decodeAll(corrupted)
        } throws: { error in
            if case .crcMismatch = error as? KafkaProtocolError { return true }
            return false
        }
    }

    @Test("legacy compressed wrappers: magic 1 relative inner offsets, magic 0 absolute ones, log-append time")
    func legacyCompressedWrappers() throws {
        for codec in [KafkaCompressionCodec.gzip, .snappy, .lz4] {
            // Magic 1: inner offsets 0, 1, 2 relative; the wrapper carries the last absolute offset (102).
            var inner = ByteBuffer()
            for i in 0..<3 {
                inner.writeImmutableBuffer(LegacyMessageBuilder.entry(
                    offset: Int64(i), magic: 1, timestamp: 1_000 + Int64(i), key: ByteBuffer(string: "k\(i)"),
                    value: i == 1 ? nil : ByteBuffer(string: "v\(i)")))
            }
            var compressed = ByteBuffer()
            try KafkaCompression.compress(inner, codec: codec, into: &compressed)
            var wrapper = LegacyMessageBuilder.entry(
                offset: 102, magic: 1, attributes: codec.rawValue, timestamp: 1_002, key: nil, value: compressed)
            let records = try RecordBatchTestSupport.decodeAll(wrapper).records[0]
            #expect(records.map(\.offset) == [100, 101, 102], "\(codec)")
            #expect(records.map(\.timestamp) == [1_000, 1_001, 1_002])
            #expect(records.map { RecordBatchTestSupport.string($0.key) } == ["k0", "k1", "k2"])
            #expect(records.map { RecordBatchTestSupport.string($0.value) } == ["v0", nil, "v2"])

            // Log-append time on the wrapper (attribute bit 3) overrides the inner timestamps.
            wrapper = LegacyMessageBuilder.entry(
                offset: 102, magic: 1, attributes: codec.rawValue | 0x08, timestamp: 5_000, key: nil, value: compressed)
            let batch = try RecordBatchTestSupport.decodeAll(wrapper).batches[0]
            #expect(batch.timestampType == .logAppendTime)
            #expect(try batch.decodeRecords().map(\.timestamp) == [5_000, 5_000, 5_000])
        }
        // Magic 0: inner offsets are absolute.
        var inner = ByteBuffer()
        for i in 0..<2 {
            inner.writeImmutableBuffer(LegacyMessageBuilder.entry(
                offset: 40 + Int64(i), magic: 0, key: nil, value: ByteBuffer(string: "m\(i)")))
        }
        var compressed = ByteBuffer()
        try KafkaCompression.compress(inner, codec: .gzip, into: &compressed)
        let wrapper = LegacyMessageBuilder.entry(offset: 41, magic: 0, attributes: 1, key: nil, value: compressed)
        let decoded = try RecordBatchTestSupport.decodeAll(wrapper)
        #expect(decoded.batches[0].magic == 0)
        #expect(decoded.batches[0].baseOffset == 40)
        #expect(decoded.batches[0].nextOffset == 42)
        #expect(decoded.records[0].map(\.offset) == [40, 41])
        #expect(decoded.records[0].map(\.timestamp) == [-1, -1])
    }

    @Test("magic 0 lz4 wrappers with Kafka's old wrong frame header checksum (KAFKA-3160) decode")
    func legacyLZ4HeaderChecksum() throws {
        let inner = LegacyMessageBuilder.entry(offset: 0, magic: 0, key: nil, value: ByteBuffer(string: "old"))
        var compressed = ByteBuffer()
        try KafkaCompression.compress(inner, codec: .lz4, into: &compressed)
        // Corrupt the header checksum byte (after magic, FLG, BD) as the old Java writer did.
        compressed.setInteger(compressed.getInteger(at: 6, as: UInt8.self)! ^ 0x5A, at: 6)
        #expect(throws: (any Error).self) {
            try KafkaCompression.decompress(compressed, codec: .lz4, maxOutputBytes: 1000)
        }
        let wrapper = LegacyMessageBuilder.entry(offset: 0, magic: 0, attributes: 3, key: nil, value: compressed)
        let records = try RecordBatchTestSupport.decodeAll(wrapper).records[0]
        #expect(records.map { RecordBatchTestSupport.string($0.value) } == ["old"])
    }
}
