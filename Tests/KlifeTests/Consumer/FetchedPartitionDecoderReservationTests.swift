import KafkaProtocol
import NIOCore
import Testing
@testable import Klife

/// The up-front size of the records array, read from batch headers before anything is decoded.
@Suite struct FetchedPartitionDecoderReservationTests {
    typealias Batches = FetchedPartitionDecoderTests

    @Test func sumsTheCountsOfCompleteBatches() throws {
        var buffer = ByteBuffer()
        try Batches.data(&buffer, base: 0, count: 3)
        try Batches.data(&buffer, base: 3, count: 40, codec: .lz4)
        try Batches.marker(&buffer, offset: 43, pid: 1, abort: false)
        #expect(FetchedPartitionDecoder.reservation(for: buffer) == 44)
        // A batch cut short by the broker's size limit is not counted.
        let cut = buffer.getSlice(at: buffer.readerIndex, length: buffer.readableBytes - 5)!
        #expect(FetchedPartitionDecoder.reservation(for: cut) == 43)
    }

    @Test func untrustedCountsAreCappedByTheBatchSize() throws {
        var buffer = ByteBuffer()
        try Batches.data(&buffer, base: 0, count: 2)
        let size = buffer.readableBytes
        buffer.setInteger(Int32.max, at: buffer.readerIndex + 57)  // recordsCount, before any CRC check
        #expect(FetchedPartitionDecoder.reservation(for: buffer) == size / 7)
        buffer.setInteger(Int32(-4), at: buffer.readerIndex + 57)
        #expect(FetchedPartitionDecoder.reservation(for: buffer) == 0)

        var compressed = ByteBuffer()
        try Batches.data(&compressed, base: 0, count: 2, codec: .zstd)
        compressed.setInteger(Int32.max, at: compressed.readerIndex + 57)
        #expect(FetchedPartitionDecoder.reservation(for: compressed) == compressed.readableBytes)
    }

    @Test func legacyMessagesStopTheScan() throws {
        var buffer = ByteBuffer()
        try Batches.data(&buffer, base: 0, count: 5)
        // A magic 0 message (offset 5, key "k", value "v0").
        buffer.writeBytes([0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0x11, 0x16, 0x57, 0x64, 0xb1, 0, 0, 0, 0, 0, 1, 0x6b, 0, 0, 0, 2, 0x76, 0x30])
        try Batches.data(&buffer, base: 6, count: 5)
        #expect(FetchedPartitionDecoder.reservation(for: buffer) == 5)
        // Decoding still reads everything (the array grows past the reservation).
        let decoder = FetchedPartitionDecoder(topic: "t", partition: 0, fetchOffset: 0, isolationLevel: .readUncommitted)
        #expect(try decoder.decode(records: buffer, abortedTransactions: []).records.map(\.offset) == Array(0...10))
    }
}
