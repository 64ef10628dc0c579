import KafkaProtocol
import NIOCore
import Testing

@testable import Klife

/// The direct frame encoder must produce exactly the bytes of the generated `ProduceRequest` encoder.
@Suite("Produce frames written in place")
struct ProduceFrameEncoderTests {
    private func plan(compressible: Bool, estimatedBytes: Int) -> ProduceRequestPlan<ProducerEntry> {
        func batch(_ topic: String, _ partition: Int32, _ count: Int, sequence: Int32) -> ProduceRequestPlan<ProducerEntry>.Batch {
            let records = (0..<count).map { index -> ProducerPendingRecord<ProducerEntry> in
                var record = KafkaRecord(
                    topic: topic, partition: partition,
                    key: index % 3 == 0 ? nil : index % 7 == 2 ? ByteBuffer() : ByteBuffer(string: "key-\(index)"),
                    value: index % 5 == 4 ? nil : index % 11 == 3 ? ByteBuffer()
                        : ByteBuffer(string: String(repeating: compressible ? "a" : "v\(index)", count: 20 + index)))
                record.timestamp = 1_700_000_000_000 + Int64(index)
                if index % 4 == 1 {
                    record.headers = [.init(key: "h", value: ByteBuffer(string: "x")), .init(key: "null", value: ByteBuffer?.none)]
                }
                return ProducerPendingRecord(entry: ProducerEntry(record: record, completion: .none), estimatedSize: 10)
            }
            return .init(
                topicPartition: ProducerTopicPartition(topic, partition), producerID: 77, producerEpoch: 2,
                baseSequence: sequence, records: records, estimatedBytes: estimatedBytes, attempt: 1)
        }
        // Two topics interleaved, and a batch big enough for a 2-byte compact length.
        return ProduceRequestPlan(requestID: 1, sink: ProducerSinkID(broker: 1), acks: -1, batches: [
            batch("orders", 0, 3, sequence: 0),
            batch("t", 5, 1, sequence: 9),
            batch("orders", 2, 200, sequence: 40),
        ])
    }

    private func generated(
        _ plan: ProduceRequestPlan<ProducerEntry>, version: Int16, compression: KafkaCompressionCodec, compressionLevel: Int32? = nil
    ) throws -> ByteBuffer {
        var topics: [ProduceRequest.TopicProduceData] = []
        for batch in plan.batches {
            var writer = RecordBatchWriter(
                producerId: batch.producerID, producerEpoch: batch.producerEpoch, baseSequence: batch.baseSequence,
                compression: compression, compressionLevel: compressionLevel)
            for pending in batch.records {
                let record = pending.entry.record(in: batch.topicPartition)
                writer.append(
                    key: record.key, value: record.value,
                    headers: record.headers.map { RecordHeader(key: $0.key, value: $0.value) },
                    timestamp: record.timestamp ?? 0)
            }
            let partition = ProduceRequest.PartitionProduceData(index: batch.topicPartition.partition, records: try writer.finish())
            if let index = topics.firstIndex(where: { $0.name == batch.topicPartition.topic }) {
                topics[index].partitionData.append(partition)
            } else {
                topics.append(.init(name: batch.topicPartition.topic, partitionData: [partition]))
            }
        }
        var frame = ByteBuffer()
        try ProduceRequest(transactionalId: nil, acks: plan.acks, timeoutMs: 30_000, topicData: topics)
            .encodeFrame(into: &frame, version: version, correlationID: 0, clientID: "klife-test")
        return frame
    }

    @Test(arguments: [Int16(3), 7, 8, 9, 10, 11])
    func sameBytesAsTheGeneratedEncoder(version: Int16) throws {
        // Estimates far below and far above the real size: the batch moves right or left behind its length.
        let cases = [(KafkaCompressionCodec.none, false), (.none, true), (.gzip, true), (.lz4, true), (.zstd, true), (.snappy, false)]
        for (compression, compressible) in cases { for estimatedBytes in [10, 1_000_000] {
            let plan = plan(compressible: compressible, estimatedBytes: estimatedBytes)
            let direct = try ProduceFrameEncoder.encode(
                plan, version: version, timeoutMs: 30_000, clientID: "klife-test", compression: compression,
                allocator: ByteBufferAllocator())
            let expected = try generated(plan, version: version, compression: compression)
            #expect(direct == expected, "version \(version), \(compression), estimate \(estimatedBytes): \(direct.readableBytes) vs \(expected.readableBytes) bytes")
        } }
    }

    /// The configured level reaches the codec: each level gives the generated encoder's bytes at that level,
    /// and the fastest and strongest levels give different bytes.
    @Test(arguments: [(KafkaCompressionCodec.gzip, Int32(1), Int32(9)), (.lz4, 0, 12), (.zstd, -5, 19)])
    func theCompressionLevelReachesTheCodec(compression: KafkaCompressionCodec, fastest: Int32, strongest: Int32) throws {
        let plan = plan(compressible: false, estimatedBytes: 1_000)
        var frames: [ByteBuffer] = []
        for level in [fastest, strongest] {
            let direct = try ProduceFrameEncoder.encode(
                plan, version: 9, timeoutMs: 30_000, clientID: "klife-test", compression: compression, compressionLevel: level,
                allocator: ByteBufferAllocator())
            #expect(direct == (try generated(plan, version: 9, compression: compression, compressionLevel: level)), "\(compression) level \(level)")
            frames.append(direct)
        }
        #expect(frames[0] != frames[1], "\(compression): levels \(fastest) and \(strongest) wrote the same bytes")
    }

    /// Every batch is written into the frame buffer itself: were the frame shared at any write (copy-on-write),
    /// the result would live in a new buffer, not in the recycled one.
    @Test(arguments: [Int16(3), 9])
    func framesAreWrittenInPlaceIntoARecycledBuffer(version: Int16) throws {
        for compression in [KafkaCompressionCodec.none, .zstd, .lz4] {
            let recycler = FrameBufferRecycler(minimumCapacity: 64, maximumKept: 1)
            let kept = ByteBufferAllocator().buffer(capacity: 1 << 16)
            let address = kept.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
            recycler.recycle(consume kept)
            // A low estimate: flexible versions move a batch behind its grown length, also in place.
            let plan = plan(compressible: true, estimatedBytes: 100)
            let frame = try ProduceFrameEncoder.encode(
                plan, version: version, timeoutMs: 30_000, clientID: "klife-test", compression: compression,
                allocator: ByteBufferAllocator(), recycler: recycler)
            #expect(frame.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) } == address, "\(compression): the frame was copied")
            #expect(frame == (try generated(plan, version: version, compression: compression)))
        }
    }
}
