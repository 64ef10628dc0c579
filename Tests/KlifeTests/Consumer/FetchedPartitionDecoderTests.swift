import KafkaProtocol
import NIOCore
import Testing
@testable import Klife

@Suite struct FetchedPartitionDecoderTests {
    /// Writes a data batch of `count` records at `baseOffset`; record i has value "v<offset>".
    static func data(
        _ buffer: inout ByteBuffer, base: Int64, count: Int, pid: Int64 = -1, txn: Bool = false,
        codec: KafkaCompressionCodec = .none, headers: [RecordHeader] = [], epoch: Int32 = 4
    ) throws {
        var writer = RecordBatchWriter(
            baseOffset: base, partitionLeaderEpoch: epoch, producerId: pid, producerEpoch: pid < 0 ? -1 : 0,
            baseSequence: pid < 0 ? -1 : 0, isTransactional: txn, compression: codec, baseTimestamp: 1_000)
        for i in 0..<count {
            writer.append(
                key: ByteBuffer(string: "k\(base + Int64(i))"), value: ByteBuffer(string: "v\(base + Int64(i))"),
                headers: headers, timestamp: 1_000 + Int64(i))
        }
        var batch = try writer.finish()
        buffer.writeBuffer(&batch)
    }

    static func marker(_ buffer: inout ByteBuffer, offset: Int64, pid: Int64, abort: Bool) throws {
        var writer = RecordBatchWriter(
            baseOffset: offset, producerId: pid, producerEpoch: 0, isTransactional: true, isControl: true, baseTimestamp: 2_000)
        let control = ControlRecord(type: abort ? .abort : .commit, coordinatorEpoch: 0)
        writer.append(key: control.encodedKey, value: control.encodedValue, timestamp: 2_000)
        var batch = try writer.finish()
        buffer.writeBuffer(&batch)
    }

    /// Producer 1 aborts offsets 0-2 (marker 5) and 8-9 (gzip, marker 10); producer 2 commits 3-4 (marker 6);
    /// offset 7 is a plain record.
    static func transactionalLog() throws -> ByteBuffer {
        var b = ByteBuffer()
        try data(&b, base: 0, count: 3, pid: 1, txn: true)
        try data(&b, base: 3, count: 2, pid: 2, txn: true)
        try marker(&b, offset: 5, pid: 1, abort: true)
        try marker(&b, offset: 6, pid: 2, abort: false)
        try data(&b, base: 7, count: 1)
        try data(&b, base: 8, count: 2, pid: 1, txn: true, codec: .gzip)
        try marker(&b, offset: 10, pid: 1, abort: true)
        return b
    }
    static let aborted: [AbortedTransactionFilter.AbortedTransaction] = [.init(producerID: 1, firstOffset: 0), .init(producerID: 1, firstOffset: 8)]

    static func decoder(offset: Int64, _ isolation: KafkaIsolationLevel) -> FetchedPartitionDecoder {
        FetchedPartitionDecoder(topic: "t", partition: 2, fetchOffset: offset, isolationLevel: isolation)
    }

    @Test func readCommittedDropsAbortedTransactionsAndControlRecords() throws {
        let out = try Self.decoder(offset: 0, .readCommitted).decode(records: Self.transactionalLog(), abortedTransactions: Self.aborted)
        #expect(out.records.map(\.offset) == [3, 4, 7])
        #expect(out.records.map(\.valueString) == ["v3", "v4", "v7"])
        #expect(out.nextOffset == 11)
        #expect(out.truncatedTailBytes == 0)
        #expect(out.records[0].batchAttributes == KafkaRecord.BatchAttributes(isTransactional: true))
        #expect(out.records[2].batchAttributes == KafkaRecord.BatchAttributes(isTransactional: false))
    }

    /// A marker whose key cannot be read fails the partition: taken for "not an abort", it would have kept
    /// producer 1 in the aborted set, and its committed records after it would have been dropped silently.
    /// A marker value that is too short does not matter (only the key's type is read, as Kafka's consumer does).
    @Test func anUnreadableMarkerFailsThePartition() throws {
        func log(markerKey: ByteBuffer?, markerValue: ByteBuffer?) throws -> ByteBuffer {
            var b = ByteBuffer()
            try Self.data(&b, base: 0, count: 1, pid: 1, txn: true)
            var writer = RecordBatchWriter(
                baseOffset: 1, producerId: 1, producerEpoch: 0, isTransactional: true, isControl: true, baseTimestamp: 2_000)
            writer.append(key: markerKey, value: markerValue, timestamp: 2_000)
            var batch = try writer.finish()
            b.writeBuffer(&batch)
            try Self.data(&b, base: 2, count: 1, pid: 1, txn: true)
            try Self.marker(&b, offset: 3, pid: 1, abort: false)
            return b
        }
        let abortKey = ControlRecord(type: .abort, coordinatorEpoch: 0).encodedKey
        let aborted: [AbortedTransactionFilter.AbortedTransaction] = [.init(producerID: 1, firstOffset: 0)]
        // A short value: the abort is still read, and the committed record 2 is delivered.
        let shortValue = try Self.decoder(offset: 0, .readCommitted)
            .decode(records: log(markerKey: abortKey, markerValue: ByteBuffer(bytes: [0])), abortedTransactions: aborted)
        #expect(shortValue.records.map(\.offset) == [2])
        for key in [nil, ByteBuffer(bytes: [0, 0, 0])] {
            #expect(throws: KafkaError.self) {
                try Self.decoder(offset: 0, .readCommitted).decode(records: log(markerKey: key, markerValue: nil), abortedTransactions: aborted)
            }
        }
    }

    /// Batches that decompress to far more than they take on the wire: decoding stops before the compressed
    /// batch that would pass the budget (the next fetch starts there), and always delivers the first batch.
    @Test func decompressionStopsAtTheBudget() throws {
        var b = ByteBuffer()
        // Four zstd batches of 2 records with 300 KB values of zeros each (600 KB decompressed, a few hundred bytes compressed).
        for base in stride(from: Int64(0), to: 8, by: 2) {
            var writer = RecordBatchWriter(baseOffset: base, compression: .zstd, baseTimestamp: 1_000)
            for _ in 0..<2 { writer.append(key: nil, value: ByteBuffer(repeating: 0, count: 300_000), timestamp: 1_000) }
            var batch = try writer.finish()
            #expect(batch.readableBytes < 10_000)
            b.writeBuffer(&batch)
        }
        var decoder = Self.decoder(offset: 0, .readCommitted)
        decoder.decompressedBytesBudget = 1_000_000
        let out = try decoder.decode(records: b, abortedTransactions: [])
        // 600 KB after the first batch, 1.2 MB after the second: the third is left for the next fetch.
        #expect(out.records.map(\.offset) == [0, 1, 2, 3])
        #expect(out.nextOffset == 4)
        // A budget smaller than one batch still delivers one.
        decoder.decompressedBytesBudget = 1
        let one = try decoder.decode(records: b, abortedTransactions: [])
        #expect(one.records.map(\.offset) == [0, 1])
        #expect(one.nextOffset == 2)
        // Reading on from there gets the rest, batch by batch.
        var next = Self.decoder(offset: 2, .readCommitted)
        next.decompressedBytesBudget = 1
        #expect(try next.decode(records: b, abortedTransactions: []).nextOffset == 4)
    }

    /// A compressed batch that is not delivered (before the fetch offset, or aborted) is not decompressed: a
    /// broken one there does not fail the partition.
    @Test func batchesNotDeliveredAreNotDecompressed() throws {
        var broken = ByteBuffer()
        try Self.data(&broken, base: 0, count: 2, codec: .zstd)
        // Garble the compressed records (past the 61-byte header) and fix the CRC so the batch reads as intact.
        let start = broken.readerIndex
        for index in (start + 61)..<(start + broken.readableBytes) { broken.setInteger(UInt8(0xAB), at: index) }
        let crc = CRC32C.checksum(broken.getSlice(at: start + 21, length: broken.readableBytes - 21)!)
        broken.setInteger(crc, at: start + 17)
        var b = broken
        try Self.data(&b, base: 2, count: 1)
        let out = try Self.decoder(offset: 2, .readCommitted).decode(records: b, abortedTransactions: [])
        #expect(out.records.map(\.offset) == [2])
        #expect(throws: KafkaError.self) { try Self.decoder(offset: 0, .readCommitted).decode(records: b, abortedTransactions: []) }
    }

    @Test func readUncommittedKeepsAbortedDataButNotMarkers() throws {
        let out = try Self.decoder(offset: 0, .readUncommitted).decode(records: Self.transactionalLog(), abortedTransactions: [])
        #expect(out.records.map(\.offset) == [0, 1, 2, 3, 4, 7, 8, 9])
        #expect(out.records.last?.batchAttributes?.compression == .gzip)
        #expect(out.records.last?.valueString == "v9")
    }

    @Test func recordsBeforeTheRequestedOffsetAreDropped() throws {
        let out = try Self.decoder(offset: 4, .readCommitted).decode(records: Self.transactionalLog(), abortedTransactions: Self.aborted)
        #expect(out.records.map(\.offset) == [4, 7])
        let late = try Self.decoder(offset: 9, .readUncommitted).decode(records: Self.transactionalLog(), abortedTransactions: [])
        #expect(late.records.map(\.offset) == [9])
    }

    @Test func recordCarriesEveryField() throws {
        var b = ByteBuffer()
        try Self.data(&b, base: 40, count: 1, codec: .zstd, headers: [RecordHeader(key: "h", value: ByteBuffer(string: "x")), RecordHeader(key: "n", value: nil)])
        let out = try Self.decoder(offset: 40, .readCommitted).decode(records: b, abortedTransactions: [])
        let r = try #require(out.records.first)
        #expect(r.topic == "t" && r.partition == 2 && r.offset == 40)
        #expect(r.keyString == "k40" && r.valueString == "v40")
        #expect(r.headers == [KafkaRecord.Header(key: "h", value: "x"), KafkaRecord.Header(key: "n", value: nil as ByteBuffer?)])
        #expect(r.timestamp == 1_000)
        #expect(r.leaderEpoch == 4)
        #expect(r.batchAttributes == KafkaRecord.BatchAttributes(compression: .zstd, timestampType: .createTime, isTransactional: false, isControl: false))
    }

    @Test func emptyOrNullRecordsGiveNothingAtTheRequestedOffset() throws {
        let none = try Self.decoder(offset: 12, .readCommitted).decode(records: nil, abortedTransactions: [])
        #expect(none.records.isEmpty && none.nextOffset == 12)
        let empty = try Self.decoder(offset: 12, .readCommitted).decode(records: ByteBuffer(), abortedTransactions: [])
        #expect(empty.records.isEmpty && empty.nextOffset == 12)
    }

    @Test func partialTrailingBatchIsNotAnError() throws {
        var b = ByteBuffer()
        try Self.data(&b, base: 0, count: 2)
        var second = ByteBuffer()
        try Self.data(&second, base: 2, count: 5)
        b.writeBytes(second.readableBytesView.prefix(30))
        let out = try Self.decoder(offset: 0, .readCommitted).decode(records: b, abortedTransactions: [])
        #expect(out.records.map(\.offset) == [0, 1])
        #expect(out.truncatedTailBytes == 30)
        #expect(out.nextOffset == 2)
    }

    /// Part of a batch and nothing whole: no progress is possible, so it is an error, not "no records yet".
    @Test func onlyPartOfABatchIsAnError() throws {
        var whole = ByteBuffer()
        try Self.data(&whole, base: 4, count: 5)
        let part = ByteBuffer(bytes: whole.readableBytesView.prefix(40))
        #expect {
            try Self.decoder(offset: 4, .readCommitted).decode(records: part, abortedTransactions: [])
        } throws: { error in
            let error = error as? KafkaError
            return error?.code == .protocolViolation && error?.message.contains("offset 4") == true
        }
    }

    @Test func corruptBatchFailsThePartition() throws {
        var b = ByteBuffer()
        try Self.data(&b, base: 0, count: 3)
        let index = b.readerIndex + b.readableBytes - 3
        b.setInteger(b.getInteger(at: index, as: UInt8.self)! ^ 0xFF, at: index)
        #expect {
            try Self.decoder(offset: 0, .readCommitted).decode(records: b, abortedTransactions: [])
        } throws: { error in
            (error as? KafkaError)?.code == .corruptRecords
        }
    }

    /// The error names where the bad batch starts, so a caller that decides to skip it knows where to go on.
    @Test func theErrorNamesTheBadBatchsOffset() throws {
        var b = ByteBuffer()
        try Self.data(&b, base: 0, count: 3)
        var second = ByteBuffer()
        try Self.data(&second, base: 3, count: 2)
        let index = second.readerIndex + second.readableBytes - 3
        second.setInteger(second.getInteger(at: index, as: UInt8.self)! ^ 0xFF, at: index)
        b.writeImmutableBuffer(second)
        #expect {
            try Self.decoder(offset: 1, .readCommitted).decode(records: b, abortedTransactions: [])
        } throws: { error in
            let message = (error as? KafkaError)?.message ?? ""
            return message.contains("from offset 1") && message.contains("the batch at offset 3")
        }
    }

    @Test func theLastFetchedEpochIsTheLastBatchReads() throws {
        var log = ByteBuffer()
        try Self.data(&log, base: 0, count: 3, epoch: 4)
        try Self.data(&log, base: 3, count: 2, epoch: 6)
        try Self.data(&log, base: 5, count: 1, epoch: -1)  // an unstamped batch leaves the epoch as it was
        let decoded = try Self.decoder(offset: 1, .readUncommitted).decode(records: log, abortedTransactions: [])
        #expect(decoded.nextOffset == 6)
        #expect(decoded.lastFetchedEpoch == 6)
        // A batch that ends before the fetch offset is not read; nothing read keeps the requested epoch.
        var old = ByteBuffer()
        try Self.data(&old, base: 0, count: 3, epoch: 9)
        var decoder = Self.decoder(offset: 3, .readUncommitted)
        decoder.lastFetchedEpoch = 2
        #expect(try decoder.decode(records: old, abortedTransactions: []).lastFetchedEpoch == 2)
        #expect(try decoder.decode(records: nil, abortedTransactions: []).lastFetchedEpoch == 2)
        // Aborted batches and markers are read past too: their epoch counts.
        let transactional = try Self.decoder(offset: 0, .readCommitted).decode(records: Self.transactionalLog(), abortedTransactions: Self.aborted)
        #expect(transactional.nextOffset == 11 && transactional.lastFetchedEpoch == 4)
    }
}
