import KafkaProtocol
import NIOCore
import Testing

/// Thousands of truncated, bit-flipped and random inputs to the batch reader and the
/// decompressors (seeded, reproducible): every outcome is a value or a `KafkaProtocolError`.
@Suite("Robustness of the record batch reader and decompressors")
struct RobustnessTests {
    /// Outcome of decoding everything in `bytes`; a non-KafkaProtocolError fails the test.
    @discardableResult
    static func decodeFully(_ bytes: ByteBuffer, verifiesChecksums: Bool, maxDecompressedBytes: Int = 4 << 20) -> Bool {
        var reader = RecordBatchReader(
            records: bytes, verifiesChecksums: verifiesChecksums, maxDecompressedBytes: maxDecompressedBytes)
        do {
            var batches = 0
            while let batch = try reader.next() {
                batches += 1
                #expect(batches <= bytes.readableBytes / 12 + 1)
                var records = batch.makeRecordIterator()
                var count = 0
                while let record = try records.next() {
                    count += 1
                    _ = record.key?.readableBytes
                    #expect(count <= max(Int(batch.recordCount), 1 << 20))
                }
                if batch.isControlBatch { _ = try? batch.controlRecord() }
            }
            return true
        } catch {
            #expect(error is KafkaProtocolError, "unexpected error type: \(error)")
            return false
        }
    }

    static func corpus() throws -> [ByteBuffer] {
        var corpus: [ByteBuffer] = []
        let inputs = RecordBatchRoundTripTests.sampleInputs(count: 12, seed: 99)
        for codec in KafkaCompressionCodec.allCases {
            corpus.append(try RecordBatchRoundTripTests.encode(inputs, compression: codec, producerId: 5, producerEpoch: 1, baseSequence: 0))
        }
        var marker = RecordBatchWriter(producerId: 5, isTransactional: true, isControl: true)
        let control = ControlRecord(type: .commit, coordinatorEpoch: 3)
        marker.append(key: control.encodedKey, value: control.encodedValue, timestamp: 0)
        corpus.append(try marker.finish())
        var legacy = LegacyMessageBuilder.entry(offset: 3, magic: 0, key: ByteBuffer(string: "k"), value: ByteBuffer(string: "v"))
        var inner = ByteBuffer()
        for i in 0..<3 {
            inner.writeImmutableBuffer(LegacyMessageBuilder.entry(offset: Int64(i), magic: 1, timestamp: 7, key: nil, value: ByteBuffer(string: "x\(i)")))
        }
        var compressed = ByteBuffer()
        try KafkaCompression.compress(inner, codec: .gzip, into: &compressed)
        legacy.writeImmutableBuffer(LegacyMessageBuilder.entry(offset: 6, magic: 1, attributes: 1, timestamp: 7, key: nil, value: compressed))
        corpus.append(legacy)
        for name in ["none", "gzip", "snappy", "lz4", "zstd", "transactional"] {
            corpus.append(try RecordBatchFixtureTests.load("librdkafka-\(name).bin"))
        }
        return corpus
    }

    @Test("every truncation of every corpus entry decodes or fails with a typed error")
    func truncations() throws {
        for entry in try Self.corpus() {
            let step = max(1, entry.readableBytes / 600)
            for length in stride(from: 0, through: entry.readableBytes, by: step) {
                let cut = entry.getSlice(at: 0, length: length)!
                Self.decodeFully(cut, verifiesChecksums: true)
                Self.decodeFully(cut, verifiesChecksums: false)
            }
        }
    }

    @Test("bit flips with and without checksum verification")
    func bitFlips() throws {
        var rng = BatchTestRandom(seed: 0xB17F_11B5)
        let corpus = try Self.corpus()
        var failures = 0
        for round in 0..<FuzzBudget.iterations(6_000) {
            var entry = corpus[round % corpus.count]
            let flips = Int.random(in: 1...4, using: &rng)
            for _ in 0..<flips {
                let position = entry.readerIndex + Int.random(in: 0..<entry.readableBytes, using: &rng)
                let bit = UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                entry.setInteger(entry.getInteger(at: position, as: UInt8.self)! ^ bit, at: position)
            }
            if !Self.decodeFully(entry, verifiesChecksums: round % 3 == 0) { failures += 1 }
        }
        // Most flips must be caught (the CRC, lengths, or the codecs); this also proves the test can fail.
        #expect(failures > 1_000)
    }

    @Test("random bytes, also behind a plausible batch header")
    func randomInputs() {
        var rng = BatchTestRandom(seed: 12_345)
        for round in 0..<FuzzBudget.iterations(4_000) {
            let length = Int.random(in: 0...400, using: &rng)
            var bytes = ByteBuffer(bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) })
            if round % 2 == 0 && length >= 61 {
                // Valid magic and a batchLength that fits, so the decoder gets past the framing.
                bytes.setInteger(Int32(length - 12), at: 8, endianness: .big)
                bytes.setInteger(Int8(2 - Int8(round % 6 == 0 ? 1 : 0)), at: 16)
                bytes.setInteger(Int16.random(in: 0...7, using: &rng), at: 21, endianness: .big)
                bytes.setInteger(Int32.random(in: -1...8, using: &rng), at: 57, endianness: .big)
            }
            Self.decodeFully(bytes, verifiesChecksums: round % 4 == 0)
        }
    }

    @Test("decompressors survive random and mutated inputs", arguments: [KafkaCompressionCodec.gzip, .snappy, .lz4, .zstd])
    func decompressors(codec: KafkaCompressionCodec) throws {
        var rng = BatchTestRandom(seed: UInt64(codec.rawValue) * 1_000_003)
        var source = ByteBuffer()
        for i in 0..<3_000 { source.writeString("value \(i % 17) ") }
        var compressed = ByteBuffer()
        try KafkaCompression.compress(source, codec: codec, into: &compressed)
        var xerial = RecordBatchTestSupport.buffer(hex: "82534e4150505900 00000001 00000001")
        xerial.writeInteger(Int32(compressed.readableBytes), endianness: .big)
        xerial.writeImmutableBuffer(compressed)
        let seeds = codec == .snappy ? [compressed, xerial] : [compressed]
        for round in 0..<FuzzBudget.iterations(2_500) {
            var input: ByteBuffer
            switch round % 3 {
            case 0:
                input = ByteBuffer(bytes: (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
                // Give random data the codec's magic so that it reaches the frame decoders.
                let magic: [UInt8] =
                    switch codec {
                    case .gzip: [0x1F, 0x8B, 0x08]
                    case .lz4: [0x04, 0x22, 0x4D, 0x18]
                    case .zstd: [0x28, 0xB5, 0x2F, 0xFD]
                    default: [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
                    }
                if input.readableBytes > magic.count && round % 2 == 0 { input.setBytes(magic, at: 0) }
            case 1:
                input = seeds[round % seeds.count]
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let position = Int.random(in: 0..<input.readableBytes, using: &rng)
                    input.setInteger(UInt8.random(in: 0...255, using: &rng), at: position)
                }
            default:
                let seed = seeds[round % seeds.count]
                input = seed.getSlice(at: 0, length: Int.random(in: 0..<seed.readableBytes, using: &rng))!
            }
            do {
                let output = try KafkaCompression.decompress(input, codec: codec, maxOutputBytes: 256 * 1024)
                #expect(output.readableBytes <= 256 * 1024)
            } catch {
                #expect(error is KafkaProtocolError, "unexpected error type: \(error)")
            }
        }
    }

    @Test("forged huge lengths and counts fail fast with typed errors")
    func forgedLengths() throws {
        let base = try RecordBatchRoundTripTests.encode(RecordBatchRoundTripTests.sampleInputs(count: 3, seed: 2))
        func withCRC(_ bytes: ByteBuffer) -> ByteBuffer {
            var bytes = bytes
            let crc = bytes.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
            bytes.setInteger(crc, at: 17, endianness: .big)
            return bytes
        }
        // batchLength = Int32.max: the bytes are simply not all there (a truncated tail).
        var bytes = base
        bytes.setInteger(Int32.max, at: 8, endianness: .big)
        var reader = RecordBatchReader(records: bytes)
        #expect(try reader.next() == nil)
        #expect(reader.truncatedTailBytes == base.readableBytes)
        // batchLength negative or below the header size.
        bytes = base
        bytes.setInteger(Int32(-5), at: 8, endianness: .big)
        #expect(throws: KafkaProtocolError.invalidLength(field: "batchLength", length: -5)) {
            try RecordBatchTestSupport.decodeAll(bytes)
        }
        // recordsCount = Int32.max.
        bytes = base
        bytes.setInteger(Int32.max, at: 57, endianness: .big)
        #expect(throws: KafkaProtocolError.invalidLength(field: "recordsCount", length: Int64(Int32.max))) {
            try RecordBatchTestSupport.decodeAll(withCRC(bytes))
        }
        // First record's length varint = Int32.max (5-byte varint replaces the 1-2 byte one would
        // shift everything, so build a batch by hand instead).
        var forged = ByteBuffer()
        var writer = RecordBatchWriter()
        writer.append(key: nil, value: ByteBuffer(string: "v"), timestamp: 0)
        forged = try writer.finish()
        forged.setInteger(UInt8(0x7E), at: 61)  // record length 63 > bytes left
        #expect(throws: KafkaProtocolError.self) { try RecordBatchTestSupport.decodeAll(withCRC(forged)) }
        // A header count of 2^30 in an otherwise valid record.
        var record = ByteBuffer()
        record.writeInteger(UInt8(0))  // attributes
        record.writeKafkaVarlong(0)
        record.writeKafkaVarint(0)
        record.writeKafkaVarint(-1)
        record.writeKafkaVarint(-1)
        record.writeKafkaVarint(1 << 30)
        var batch = RecordBatchTestSupport.buffer(hex: """
            0000000000000000 00000000 ffffffff 02 00000000 0000 00000000
            0000000000000000 0000000000000000 ffffffffffffffff ffff ffffffff 00000001
            """)
        batch.writeKafkaVarint(Int32(record.readableBytes))
        batch.writeImmutableBuffer(record)
        batch.setInteger(Int32(batch.readableBytes - 12), at: 8, endianness: .big)
        #expect(throws: KafkaProtocolError.invalidLength(field: "record headersCount", length: 1 << 30)) {
            try RecordBatchTestSupport.decodeAll(withCRC(batch))
        }
    }
}
