import KafkaProtocol
import NIOCore
import Testing

@Suite("RecordBatchReader with decompressesRecords off")
struct RecordBatchLazyDecompressionTests {
    /// Three batches: zstd (offsets 0-4), uncompressed (5-6), lz4 (7-9); record i has key "k<i>", value "v<i>".
    static func log() throws -> ByteBuffer {
        var log = ByteBuffer()
        for (base, count, codec) in [(Int64(0), 5, KafkaCompressionCodec.zstd), (5, 2, .none), (7, 3, .lz4)] {
            var writer = RecordBatchWriter(baseOffset: base, compression: codec, baseTimestamp: 1_000)
            for i in 0..<count {
                let offset = base + Int64(i)
                writer.append(
                    key: ByteBuffer(string: "k\(offset)"), value: ByteBuffer(string: "v\(offset)"),
                    headers: [RecordHeader(key: "h", value: ByteBuffer(string: "\(offset)"))], timestamp: 1_000 + offset)
            }
            var batch = try writer.finish()
            log.writeBuffer(&batch)
        }
        return log
    }

    static func records(_ reader: inout RecordBatchReader, decompressing: Bool) throws -> [RecordBatch.Record] {
        var records: [RecordBatch.Record] = []
        while var batch = try reader.next() {
            if decompressing { batch = try batch.decompressed() }
            records += try batch.decodeRecords()
        }
        return records
    }

    @Test func decompressedLaterYieldsTheRecordsOfTheEagerReader() throws {
        var eager = RecordBatchReader(records: try Self.log())
        var lazy = RecordBatchReader(records: try Self.log(), decompressesRecords: false)
        let expected = try Self.records(&eager, decompressing: false)
        #expect(expected.map(\.offset) == Array(0...9))
        #expect(try Self.records(&lazy, decompressing: true) == expected)
    }

    @Test func compressedBatchesAwaitDecompressionAndTheirIteratorThrows() throws {
        var reader = RecordBatchReader(records: try Self.log(), decompressesRecords: false)
        var awaiting: [Bool] = []
        while let batch = try reader.next() {
            awaiting.append(batch.isAwaitingDecompression)
            if batch.isAwaitingDecompression {
                var iterator = batch.makeRecordIterator()
                #expect(throws: KafkaProtocolError.self) { try iterator.next() }
                #expect(try !batch.decompressed().isAwaitingDecompression)
            }
        }
        #expect(awaiting == [true, false, true])
    }

    @Test func checksumIsStillVerifiedWhenReading() throws {
        var log = try Self.log()
        let last = log.writerIndex - 1
        log.setInteger(log.getInteger(at: last, as: UInt8.self)! ^ 0x55, at: last)
        var reader = RecordBatchReader(records: log, decompressesRecords: false)
        #expect(try reader.next()?.baseOffset == 0)
        #expect(try reader.next()?.baseOffset == 5)
        #expect {
            try reader.next()
        } throws: { error in
            if case .crcMismatch = error as? KafkaProtocolError { return true }
            return false
        }
    }

    @Test func corruptCompressedDataFailsWhenDecompressed() throws {
        // A zstd batch whose compressed bytes are damaged but whose checksum matches them (as a buggy producer
        // would write it): reading succeeds, decompressing fails.
        var writer = RecordBatchWriter(baseOffset: 0, compression: .zstd, baseTimestamp: 1_000)
        for i in 0..<20 { writer.append(key: nil, value: ByteBuffer(string: "value \(i) value \(i)"), timestamp: 1_000) }
        var batch = try writer.finish()
        let start = batch.readerIndex
        // Records start after the 61-byte header; damage the zstd frame's magic number.
        batch.setInteger(UInt32(0xDEAD_BEEF), at: start + 61)
        let crc = CRC32C.checksum(batch.getSlice(at: start + 21, length: batch.readableBytes - 21)!)
        batch.setInteger(crc, at: start + 17)
        var reader = RecordBatchReader(records: batch, decompressesRecords: false)
        let read = try #require(try reader.next())
        #expect(read.isAwaitingDecompression)
        #expect(throws: KafkaProtocolError.self) { try read.decompressed() }
        var eager = RecordBatchReader(records: batch)
        #expect(throws: KafkaProtocolError.self) { try eager.next() }
    }
}
