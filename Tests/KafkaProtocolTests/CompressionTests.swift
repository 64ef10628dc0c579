import CZstd
@testable import KafkaProtocol
import NIOCore
import Testing

@Suite("Compression codecs")
struct CompressionTests {
    static let compressible: ByteBuffer = {
        var buffer = ByteBuffer()
        for i in 0..<60_000 { buffer.writeString("record-\(i % 97) value \(i % 13);") }
        return buffer
    }()

    static func random(_ count: Int, seed: UInt64) -> ByteBuffer {
        var rng = BatchTestRandom(seed: seed)
        return ByteBuffer(bytes: (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static let codecs: [KafkaCompressionCodec] = [.gzip, .snappy, .lz4, .zstd]

    static func compress(_ input: ByteBuffer, _ codec: KafkaCompressionCodec, level: Int32? = nil) throws -> ByteBuffer {
        var output = ByteBuffer()
        try KafkaCompression.compress(input, codec: codec, level: level, into: &output)
        return output
    }

    static func isCompressionError(_ error: any Error) -> Bool {
        if case .compression = error as? KafkaProtocolError { return true }
        return false
    }

    @Test("round trip of empty, tiny, random and compressible inputs", arguments: codecs)
    func roundTrip(codec: KafkaCompressionCodec) throws {
        for input in [ByteBuffer(string: "x"), ByteBuffer(string: "hello kafka"), Self.random(100_000, seed: 1), Self.compressible] {
            let compressed = try Self.compress(input, codec)
            let output = try KafkaCompression.decompress(compressed, codec: codec, maxOutputBytes: 10 << 20)
            #expect(output == input)
        }
        #expect(Self.compressible.readableBytes > 1_000_000)
        #expect(try Self.compress(Self.compressible, codec).readableBytes < Self.compressible.readableBytes / 2)
    }

    @Test("compression levels are accepted", arguments: codecs)
    func levels(codec: KafkaCompressionCodec) throws {
        let level: Int32 = codec == .zstd ? 10 : 9
        let compressed = try Self.compress(Self.compressible, codec, level: level)
        #expect(try KafkaCompression.decompress(compressed, codec: codec, maxOutputBytes: 10 << 20) == Self.compressible)
    }

    @Test("written formats start with the expected magic bytes")
    func formats() throws {
        let input = ByteBuffer(string: "hello kafka")
        #expect(Array(try Self.compress(input, .gzip).readableBytesView.prefix(3)) == [0x1F, 0x8B, 0x08])
        #expect(Array(try Self.compress(input, .lz4).readableBytesView.prefix(4)) == [0x04, 0x22, 0x4D, 0x18])
        #expect(Array(try Self.compress(input, .zstd).readableBytesView.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])
        // Raw snappy: varint uncompressed length, then elements (no xerial framing).
        #expect(try Self.compress(input, .snappy).getInteger(at: 0, as: UInt8.self) == 11)
    }

    @Test("gzip and zlib streams written by Python's gzip/zlib modules")
    func gzipGolden() throws {
        let gzip = RecordBatchTestSupport.buffer(hex: "1f8b0800000000000203cb48cdc9c957c84e4ccb4e0400d175816c0b000000")
        let zlib = RecordBatchTestSupport.buffer(hex: "789ccb48cdc9c957c84e4ccb4e0400196e0433")
        #expect(String(buffer: try KafkaCompression.decompress(gzip, codec: .gzip, maxOutputBytes: 100)) == "hello kafka")
        #expect(String(buffer: try KafkaCompression.decompress(zlib, codec: .gzip, maxOutputBytes: 100)) == "hello kafka")
        var twoMembers = gzip
        twoMembers.writeImmutableBuffer(gzip)
        #expect(String(buffer: try KafkaCompression.decompress(twoMembers, codec: .gzip, maxOutputBytes: 100)) == "hello kafkahello kafka")
    }

    @Test("snappy: a raw block and the xerial framing Java clients write")
    func snappyFormats() throws {
        // Raw: varint length 5, literal tag ((5-1) << 2), "hello".
        let raw = RecordBatchTestSupport.buffer(hex: "05 10 68656c6c6f")
        #expect(String(buffer: try KafkaCompression.decompress(raw, codec: .snappy, maxOutputBytes: 100)) == "hello")
        let xerial = RecordBatchTestSupport.buffer(hex: """
            82 534e415050 59 00 | 00000001 | 00000001
            00000007 | 05 10 68656c6c6f
            00000007 | 05 10 776f726c64
            """)
        #expect(String(buffer: try KafkaCompression.decompress(xerial, codec: .snappy, maxOutputBytes: 100)) == "helloworld")
        // Xerial framing around our own raw blocks of a large input.
        var framed = RecordBatchTestSupport.buffer(hex: "82534e4150505900 00000001 00000001")
        var expected = ByteBuffer()
        for part in 0..<3 {
            let chunk = Self.compressible.getSlice(at: part * 32_768, length: 32_768)!
            let block = try Self.compress(chunk, .snappy)
            framed.writeInteger(Int32(block.readableBytes), endianness: .big)
            framed.writeImmutableBuffer(block)
            expected.writeImmutableBuffer(chunk)
        }
        #expect(try KafkaCompression.decompress(framed, codec: .snappy, maxOutputBytes: 1 << 20) == expected)
        var truncated = framed
        truncated.moveWriterIndex(to: framed.writerIndex - 1)
        #expect(throws: (any Error).self) { try KafkaCompression.decompress(truncated, codec: .snappy, maxOutputBytes: 1 << 20) }
    }

    @Test("lz4: a hand-made frame with one uncompressed block")
    func lz4Golden() throws {
        // Magic, FLG 0x60 (version 1, independent blocks), BD 0x40 (64 KiB), HC 0x82,
        // block size 5 with the "uncompressed" bit, "hello", end mark.
        let frame = RecordBatchTestSupport.buffer(hex: "04224d18 60 40 82 05000080 68656c6c6f 00000000")
        #expect(String(buffer: try KafkaCompression.decompress(frame, codec: .lz4, maxOutputBytes: 100)) == "hello")
        var badChecksum = frame
        badChecksum.setInteger(UInt8(0x00), at: 6)
        #expect(throws: (any Error).self) { try KafkaCompression.decompress(badChecksum, codec: .lz4, maxOutputBytes: 100) }
    }

    @Test("lz4: the output size bound is read from the frame's block headers")
    func lz4OutputSizeBound() throws {
        func bound(_ hex: String) -> Int? {
            RecordBatchTestSupport.buffer(hex: hex).withUnsafeReadableBytes { LZ4Codec.outputSizeBound($0) }
        }
        // A stored block (high bit) is its own size, whatever the frame's block maximum (BD 0x40: 64 KiB, 0x50: 256 KiB).
        #expect(bound("04224d18 60 40 82 05000080 68656c6c6f 00000000") == 5)
        #expect(bound("04224d18 60 50 82 05000080 68656c6c6f 00000000") == 5)
        // Two blocks, with block checksums (FLG 0x70) and a content checksum (FLG 0x74).
        #expect(bound("04224d18 70 40 82 01000080 61 11111111 01000080 62 22222222 00000000") == 2)
        #expect(bound("04224d18 74 40 82 01000080 61 11111111 00000000 33333333") == 1)
        // A compressed block yields at most 255 bytes per byte (plus slack), below the block maximum (BD 0x70:
        // 4 MiB): two 3-byte blocks cannot reserve 8 MiB.
        #expect(bound("04224d18 60 70 82 03000000 aabbcc 03000000 aabbcc 00000000") == 2 * (3 * 255 + 64))
        // A large compressed block is bounded by the maximum.
        #expect(bound("04224d18 60 40 82 2c010000 " + String(repeating: "00", count: 300) + " 00000000") == 64 << 10)
        // Not one well-formed frame: truncated, trailing bytes, a block size beyond the maximum, bad magic.
        #expect(bound("04224d18 60 40 82 05000080 68656c6c6f") == nil)
        #expect(bound("04224d18 60 40 82 05000080 68656c6c6f 00000000 00") == nil)
        #expect(bound("04224d18 60 40 82 01000100 00000000") == nil)
        #expect(bound("05224d18 60 40 82 05000080 68656c6c6f 00000000") == nil)
    }

    @Test("lz4: a 1,000,000-byte batch decompresses into a 1 MiB buffer, not 4x its compressed size")
    func lz4OutputIsSizedFromBlocks() throws {
        var input = ByteBuffer()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<1_000_000 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            input.writeInteger(UInt8(ascii: "a") + UInt8(state >> 60))
        }
        let compressed = try Self.compress(input, .lz4)
        let output = try KafkaCompression.decompress(compressed, codec: .lz4, maxOutputBytes: 1 << 24)
        #expect(output == input)
        #expect(output.capacity == 1 << 20, "compressed \(compressed.readableBytes) bytes")
    }

    @Test("zstd: a hand-made single-segment frame with one raw block")
    func zstdGolden() throws {
        // Magic, FHD 0x20 (single segment, 1-byte content size), size 5, block header
        // (last, raw, size 5) = 0x000029 little-endian, "hello".
        let frame = RecordBatchTestSupport.buffer(hex: "28b52ffd 20 05 290000 68656c6c6f")
        #expect(String(buffer: try KafkaCompression.decompress(frame, codec: .zstd, maxOutputBytes: 100)) == "hello")
    }

    /// The producer's contexts come from `klife_zstd_create_cctx` (workspace in huge pages): the output must be
    /// byte for byte what zstd's plain one-shot call at Kafka's default level writes.
    @Test("zstd: pooled contexts write the bytes of a plain ZSTD_compress at level 3")
    func zstdSameBytesAsPlainCompress() throws {
        // ~1.5 MB (a workspace above the 1 MiB huge-page threshold), ~30 KB and random bytes (smaller ones).
        for input in [Self.compressible, Self.compressible.getSlice(at: 0, length: 30_000)!, Self.random(200_000, seed: 5)] {
            for _ in 0..<2 {  // a fresh and a reused context
                let ours = try Self.compress(input, .zstd)
                let plain: [UInt8] = input.withUnsafeReadableBytes { source in
                    var output = [UInt8](repeating: 0, count: ZSTD_compressBound(source.count))
                    let written = ZSTD_compress(&output, output.count, source.baseAddress, source.count, 3)
                    return ZSTD_isError(written) == 0 ? Array(output.prefix(written)) : []
                }
                #expect(!plain.isEmpty)
                #expect(Array(ours.readableBytesView) == plain)
            }
        }
    }

    /// Java producers compress zstd as a stream of unknown size: at levels 21 and 22 (KIP-390) the frame
    /// announces a 64 or 128 MiB window. Kafka's Java consumer reads those (zstd's default limit, 2^27).
    @Test("zstd: a streamed frame announcing a 2^27-byte window (level 22 in Java) decompresses", arguments: [Int32(26), 27])
    func zstdLargeWindowFrame(windowLog: Int32) throws {
        let input = Self.compressible.getSlice(at: 0, length: 50_000)!
        let frame: [UInt8] = input.withUnsafeReadableBytes { source in
            let context = ZSTD_createCCtx()
            defer { ZSTD_freeCCtx(context) }
            ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 3)
            ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, windowLog)
            var output = [UInt8](repeating: 0, count: ZSTD_compressBound(source.count) + 64)
            return output.withUnsafeMutableBytes { destination in
                var inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
                var outBuffer = ZSTD_outBuffer(dst: destination.baseAddress, size: destination.count, pos: 0)
                // Fed as a stream (the size is not known when the frame starts): the header carries the
                // window descriptor instead of a content size.
                guard ZSTD_isError(ZSTD_compressStream2(context, &outBuffer, &inBuffer, ZSTD_e_continue)) == 0 else { return [] }
                var empty = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
                let left = ZSTD_compressStream2(context, &outBuffer, &empty, ZSTD_e_end)
                return left == 0 ? Array(destination.prefix(outBuffer.pos)) : []
            }
        }
        #expect(!frame.isEmpty)
        #expect(ZSTD_getFrameContentSize(frame, frame.count) == ZSTD_CONTENTSIZE_UNKNOWN)
        var header = ZSTD_frameHeader()
        #expect(ZSTD_getFrameHeader(&header, frame, frame.count) == 0)
        #expect(header.windowSize == 1 << UInt64(windowLog))
        #expect(try KafkaCompression.decompress(ByteBuffer(bytes: frame), codec: .zstd, maxOutputBytes: 1 << 20) == input)
    }

    @Test("output beyond maxOutputBytes is a typed error; output exactly at the limit is fine", arguments: codecs)
    func outputCap(codec: KafkaCompressionCodec) throws {
        let input = ByteBuffer(repeating: 0x41, count: 1 << 20)
        let compressed = try Self.compress(input, codec)
        #expect(try KafkaCompression.decompress(compressed, codec: codec, maxOutputBytes: 1 << 20) == input)
        #expect { try KafkaCompression.decompress(compressed, codec: codec, maxOutputBytes: (1 << 20) - 1) } throws: {
            Self.isCompressionError($0)
        }
        #expect { try KafkaCompression.decompress(compressed, codec: codec, maxOutputBytes: 1000) } throws: {
            Self.isCompressionError($0)
        }
    }

    @Test("forged sizes in headers are rejected without allocating them")
    func forgedSizes() throws {
        // Snappy announcing 2^31 - 1 bytes from a 6-byte input.
        let snappy = RecordBatchTestSupport.buffer(hex: "ffffffff07 00")
        #expect { try KafkaCompression.decompress(snappy, codec: .snappy, maxOutputBytes: Int(Int32.max)) } throws: {
            Self.isCompressionError($0)
        }
        // Zstd single-segment frame announcing 2^40 bytes (8-byte content size), then a tiny raw block.
        let zstd = RecordBatchTestSupport.buffer(hex: "28b52ffd e0 0000000000010000 290000 68656c6c6f")
        #expect { try KafkaCompression.decompress(zstd, codec: .zstd, maxOutputBytes: 1 << 30) } throws: {
            Self.isCompressionError($0)
        }
        // Zstd frame asking for a 2 GiB window.
        let window = RecordBatchTestSupport.buffer(hex: "28b52ffd 00 a8 290000 68656c6c6f")
        #expect { try KafkaCompression.decompress(window, codec: .zstd, maxOutputBytes: 1 << 30) } throws: {
            Self.isCompressionError($0)
        }
    }

    @Test("truncated and empty inputs are typed errors", arguments: codecs)
    func truncated(codec: KafkaCompressionCodec) throws {
        let compressed = try Self.compress(Self.compressible, codec)
        for length in [0, 1, compressed.readableBytes / 2, compressed.readableBytes - 1] {
            let cut = compressed.getSlice(at: 0, length: length)!
            #expect { try KafkaCompression.decompress(cut, codec: codec, maxOutputBytes: 10 << 20) } throws: {
                Self.isCompressionError($0)
            }
        }
    }

    @Test("compressed record batches round trip, also transactional", arguments: codecs)
    func compressedBatches(codec: KafkaCompressionCodec) throws {
        let inputs = RecordBatchRoundTripTests.sampleInputs(count: 500, seed: 11)
        let encoded = try RecordBatchRoundTripTests.encode(
            inputs, compression: codec, producerId: 12, producerEpoch: 1, baseSequence: 40, isTransactional: true)
        let decoded = try RecordBatchTestSupport.decodeAll(encoded)
        let batch = try #require(decoded.batches.first)
        #expect(batch.compression == codec)
        #expect(batch.isTransactional)
        #expect(batch.producerId == 12)
        #expect(batch.baseSequence == 40)
        #expect(batch.recordCount == 500)
        RecordBatchRoundTripTests.check(decoded.records[0], against: inputs)
        // Re-stamping a compressed batch keeps it valid.
        var restamped = encoded
        try RecordBatchWriter.restamp(&restamped, producerId: 13, producerEpoch: 2, baseSequence: 0)
        let again = try RecordBatchTestSupport.decodeAll(restamped)
        #expect(again.batches[0].producerId == 13)
        RecordBatchRoundTripTests.check(again.records[0], against: inputs)
    }

    @Test("the reader caps decompressed batches at maxDecompressedBytes")
    func readerCap() throws {
        var writer = RecordBatchWriter(compression: .zstd)
        for _ in 0..<100 { writer.append(key: nil, value: ByteBuffer(repeating: 0, count: 10_000), timestamp: 0) }
        let encoded = try writer.finish()
        var reader = RecordBatchReader(records: encoded, maxDecompressedBytes: 500_000)
        #expect { try reader.next() } throws: { Self.isCompressionError($0) }
    }
}
