import KafkaProtocol
import NIOCore
import Testing
@testable import Klife

@Suite struct FetchedPartitionDecoderLazyTests {
    typealias Eager = FetchedPartitionDecoderTests

    /// What a user can see of a record, to compare the eager and the lazy path.
    struct Seen: Equatable {
        var topic: String, partition: Int32?, offset: Int64?, key: String?, value: String?
        var headers: [KafkaRecord.Header], timestamp: Int64?, leaderEpoch: Int32?, attributes: KafkaRecord.BatchAttributes?
        init(_ r: KafkaRecord) {
            topic = r.topic; partition = r.partition; offset = r.offset; key = r.keyString; value = r.valueString
            headers = r.headers; timestamp = r.timestamp; leaderEpoch = r.leaderEpoch; attributes = r.batchAttributes
        }
    }

    static func decoder(offset: Int64, _ isolation: KafkaIsolationLevel, _ decompression: KafkaFetchDecompression) -> FetchedPartitionDecoder {
        FetchedPartitionDecoder(topic: "t", partition: 2, fetchOffset: offset, isolationLevel: isolation, decompression: decompression)
    }

    /// The transactional log of the eager tests, then lz4, zstd and snappy batches (offsets 11-13, 14-18, 19-20)
    /// with headers.
    static func mixedLog() throws -> ByteBuffer {
        var b = try Eager.transactionalLog()
        let headers = [RecordHeader(key: "h", value: ByteBuffer(string: "x"))]
        try Eager.data(&b, base: 11, count: 3, codec: .lz4, headers: headers)
        try Eager.data(&b, base: 14, count: 5, codec: .zstd)
        try Eager.data(&b, base: 19, count: 2, codec: .snappy, headers: headers)
        return b
    }

    @Test(arguments: [
        (Int64(0), KafkaIsolationLevel.readCommitted), (0, .readUncommitted), (4, .readCommitted), (9, .readUncommitted),
        (12, .readCommitted), (16, .readUncommitted), (21, .readCommitted),
    ])
    func lazyBatchesYieldTheRecordsOfTheEagerDecoder(offset: Int64, isolation: KafkaIsolationLevel) throws {
        let aborted = isolation == .readCommitted ? Eager.aborted : []
        let eager = try Self.decoder(offset: offset, isolation, .eager).decode(records: Self.mixedLog(), abortedTransactions: aborted)
        let lazy = try Self.decoder(offset: offset, isolation, .lazy).decode(records: Self.mixedLog(), abortedTransactions: aborted)
        #expect(lazy.records.isEmpty)
        #expect(eager.batches.isEmpty)
        #expect(try lazy.batches.flatMap { try $0.records() }.map(Seen.init) == eager.records.map(Seen.init))
        #expect(try lazy.allRecords().map(Seen.init) == eager.records.map(Seen.init))
        #expect(lazy.nextOffset == eager.nextOffset)
        #expect(lazy.truncatedTailBytes == eager.truncatedTailBytes)
        if offset == 0 { #expect(eager.records.count == 13 || eager.records.count == 18) }
    }

    @Test func compressedBatchesStayCompressedUntilRead() throws {
        let lazy = try Self.decoder(offset: 12, .readCommitted, .lazy).decode(records: Self.mixedLog(), abortedTransactions: Eager.aborted)
        #expect(lazy.batches.map(\.baseOffset) == [11, 14, 19])
        #expect(lazy.batches.map(\.compression) == [.lz4, .zstd, .snappy])
        #expect(lazy.batches.allSatisfy { $0.batch.isAwaitingDecompression && $0.decoded == nil })
        // Batches that are not compressed are decoded by the fetch: their records are slices of the fetched bytes.
        let plain = try Self.decoder(offset: 0, .readUncommitted, .lazy).decode(records: Self.mixedLog(), abortedTransactions: [])
        #expect(plain.batches.map { $0.decoded != nil } == [true, true, true, false, false, false, false])
        // The batch straddling the fetch offset leaves out the records before it.
        #expect(try lazy.batches[0].records().map(\.offset) == [12, 13])
        #expect(lazy.batches[0].recordCount == 3)
    }

    @Test func checksumErrorStillFailsThePartition() throws {
        var b = try Self.mixedLog()
        let last = b.writerIndex - 2
        b.setInteger(b.getInteger(at: last, as: UInt8.self)! ^ 0xFF, at: last)
        #expect {
            try Self.decoder(offset: 0, .readCommitted, .lazy).decode(records: b, abortedTransactions: Eager.aborted)
        } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.code == .corruptRecords && error.message.contains("t/2")
        }
    }

    @Test func corruptCompressedBatchThrowsFromItsRecordsNamingPartitionAndOffset() throws {
        var b = ByteBuffer()
        try Eager.data(&b, base: 30, count: 4, codec: .zstd)
        var bad = ByteBuffer()
        try Eager.data(&bad, base: 34, count: 4, codec: .zstd)
        // Damage the compressed bytes (after the 61-byte header) but keep the checksum right.
        let start = bad.readerIndex
        bad.setInteger(UInt32(0xDEAD_BEEF), at: start + 61)
        bad.setInteger(CRC32C.checksum(bad.getSlice(at: start + 21, length: bad.readableBytes - 21)!), at: start + 17)
        b.writeBuffer(&bad)
        let lazy = try Self.decoder(offset: 30, .readCommitted, .lazy).decode(records: b, abortedTransactions: [])
        #expect(lazy.nextOffset == 38)
        #expect(try lazy.batches[0].records().map(\.offset) == [30, 31, 32, 33])
        #expect {
            try lazy.batches[1].records()
        } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.code == .corruptRecords && error.message.contains("t/2") && error.message.contains("offset 34")
        }
        #expect(throws: KafkaError.self) { try lazy.allRecords() }
        // The eager decoder fails the whole partition.
        #expect(throws: KafkaError.self) {
            try Self.decoder(offset: 30, .readCommitted, .eager).decode(records: b, abortedTransactions: [])
        }
    }

    @Test func theDecompressionParameterChoosesTheMode() throws {
        var b = ByteBuffer()
        try Eager.data(&b, base: 0, count: 2, codec: .lz4)
        let plain = FetchedPartitionDecoder(topic: "t", partition: 0, fetchOffset: 0, isolationLevel: .readCommitted)
        #expect(plain.decompression == .eager)
        #expect(try plain.decode(records: b, abortedTransactions: []).batches.isEmpty)
        let lazy = FetchedPartitionDecoder(topic: "t", partition: 0, fetchOffset: 0, isolationLevel: .readCommitted, decompression: .lazy)
        #expect(lazy.decompression == .lazy)
        #expect(try lazy.decode(records: b, abortedTransactions: []).batches.count == 1)
    }
}
