import KafkaProtocol
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Encodes a planned Produce request as one frame, writing every record batch straight into the frame
/// buffer (no intermediate batch buffer, no copy of the records).
///
/// The bytes are exactly what `ProduceRequest.encodeFrame` produces for the same request (a unit test
/// checks this for every version the producer uses); batches of one topic are grouped under it in the
/// order of their first appearance in the plan.
enum ProduceFrameEncoder {
    /// The frame (size prefix, header v1/v2, body) for `plan` at `version` (3 or later).
    ///
    /// - Parameters:
    ///   - recycler: where the frame buffer comes from when one of a past frame fits (else `allocator`).
    ///   - encoded: called after each batch with its encoded size in bytes (for metrics).
    /// - Throws: ``KafkaProtocolError`` when compressing a batch fails.
    static func encode(
        _ plan: ProduceRequestPlan<ProducerEntry>, version: Int16, timeoutMs: Int32, clientID: String?,
        compression: KafkaCompressionCodec, compressionLevel: Int32? = nil, allocator: ByteBufferAllocator,
        recycler: FrameBufferRecycler? = nil, encoded: (ProduceRequestPlan<ProducerEntry>.Batch, Int) -> Void = { _, _ in }
    ) throws -> ByteBuffer {
        let flexible = ProduceRequest.isFlexible(version: version)
        // Topics in order of first appearance, each with the positions of its batches.
        var topics: [(name: String, batches: [Int])] = []
        for (position, batch) in plan.batches.enumerated() {
            if let index = topics.firstIndex(where: { $0.name == batch.topicPartition.topic }) {
                topics[index].batches.append(position)
            } else {
                topics.append((batch.topicPartition.topic, [position]))
            }
        }
        let capacity = plan.batches.reduce(64 + (clientID?.utf8.count ?? 0)) {
            $0 + $1.estimatedBytes + $1.topicPartition.topic.utf8.count + 24
        }
        var frame = recycler?.buffer(capacity: capacity, allocator: allocator) ?? allocator.buffer(capacity: capacity)
        frame.writeInteger(Int32(0))  // size, patched at the end
        KafkaRequestHeader(apiKey: ProduceRequest.apiKey, apiVersion: version, correlationID: 0, clientID: clientID)
            .encode(into: &frame, headerVersion: ProduceRequest.requestHeaderVersion(for: version))
        // transactionalId: null
        if flexible { frame.writeKafkaUnsignedVarint(0) } else { frame.writeInteger(Int16(-1)) }
        frame.writeInteger(plan.acks)
        frame.writeInteger(timeoutMs)
        frame.writeKafkaLength(topics.count, compact: flexible, wide: true)
        for topic in topics {
            frame.writeKafkaString(topic.name, compact: flexible)
            frame.writeKafkaLength(topic.batches.count, compact: flexible, wide: true)
            for position in topic.batches {
                let batch = plan.batches[position]
                frame.writeInteger(batch.topicPartition.partition)
                let length = try writeRecords(
                    of: batch, into: &frame, flexible: flexible, compression: compression, compressionLevel: compressionLevel)
                encoded(batch, length)
                if flexible { frame.writeKafkaEmptyTaggedFields() }  // PartitionProduceData
            }
            if flexible { frame.writeKafkaEmptyTaggedFields() }  // TopicProduceData
        }
        if flexible { frame.writeKafkaEmptyTaggedFields() }  // ProduceRequest
        frame.setInteger(Int32(frame.writerIndex - frame.readerIndex - 4), at: frame.readerIndex)
        return frame
    }

    /// How many records ahead of the one being copied the encoder prefetches values.
    private static let prefetchDistance = 8

    private static func varintSize(_ value: UInt32) -> Int {
        value < 1 << 7 ? 1 : value < 1 << 14 ? 2 : value < 1 << 21 ? 3 : value < 1 << 28 ? 4 : 5
    }

    /// The address of `buffer`'s readable bytes (nil for nil), for as long as the caller keeps the buffer.
    @inline(__always)
    private static func bytes(of buffer: borrowing ByteBuffer?) -> UnsafeRawBufferPointer? {
        switch buffer {
        case .some(let bytes): bytes.withUnsafeReadableBytes { $0 }
        case .none: nil
        }
    }

    /// Appends the `records` field (length, then the batch) to `frame` and returns the batch's encoded
    /// length. The frame is moved into the batch writer and back, never shared while written: a second
    /// reference at a write would copy the whole frame (it did, twice per batch: ~10% of the producer's
    /// CPU with page faults, before session 4).
    private static func writeRecords(
        of batch: ProduceRequestPlan<ProducerEntry>.Batch, into frame: inout ByteBuffer, flexible: Bool,
        compression: KafkaCompressionCodec, compressionLevel: Int32?
    ) throws -> Int {
        // Room for the length: an INT32, or (flexible) an unsigned varint whose size is only known once the
        // batch is written; sized from the batch's estimate, which is usually right (else the batch moves).
        let lengthIndex = frame.writerIndex
        let reserved = flexible ? varintSize(UInt32(clamping: batch.estimatedBytes + 1)) : 4
        frame.writeRepeatingByte(0, count: reserved)
        let batchStart = frame.writerIndex
        let moved = frame
        frame = ByteBuffer()  // `moved` is now the only reference
        var writer = RecordBatchWriter(
            buffer: consume moved, producerId: batch.producerID, producerEpoch: batch.producerEpoch,
            baseSequence: batch.baseSequence, compression: compression, compressionLevel: compressionLevel)
        // Elements are read in place (a `for pending in` loop would copy each one, with its reference counts),
        // and a headerless record's key and value go to the writer as the addresses of their bytes: passing
        // the `ByteBuffer`s on would copy them (a retain and a release each, twice with the prefetch). The
        // addresses stay valid while `batch` (which holds the buffers) is borrowed here.
        batch.records.withUnsafeBufferPointer { records in
            for position in records.indices {
                // The values were written milliseconds ago (linger): start loading a later record's bytes now
                // so that its copy below does not wait on a cache miss (the copy was 15% of p1 CPU, ~85% of it
                // stalled on the first load of the value).
                let ahead = position &+ Self.prefetchDistance
                if ahead < records.count {
                    RecordBatchWriter.prefetch(
                        keyBytes: Self.bytes(of: records[ahead].entry.key), valueBytes: Self.bytes(of: records[ahead].entry.value))
                }
                if records[position].entry.headers.isEmpty {
                    writer.append(
                        keyBytes: Self.bytes(of: records[position].entry.key),
                        valueBytes: Self.bytes(of: records[position].entry.value), timestamp: records[position].entry.timestamp)
                } else {
                    writer.append(
                        key: records[position].entry.key, value: records[position].entry.value,
                        headers: records[position].entry.headers.map { RecordHeader(key: $0.key, value: $0.value) },
                        timestamp: records[position].entry.timestamp)
                }
            }
        }
        frame = try writer.finish()
        let length = frame.writerIndex - batchStart
        if !flexible {
            frame.setInteger(Int32(length), at: lengthIndex)
            return length
        }
        // Compact bytes: varint(length + 1). If its size differs from the reserved room, move the batch.
        var varint = ByteBuffer()
        varint.writeKafkaUnsignedVarint(UInt32(length + 1))
        let shift = varint.readableBytes - reserved
        if shift != 0 {
            // Grow first when moving right; shrink after moving left (the move stays within readable bytes).
            if shift > 0 { frame.writeRepeatingByte(0, count: shift) }
            let offset = batchStart - frame.readerIndex
            frame.withUnsafeMutableReadableBytes { bytes in
                let start = bytes.baseAddress! + offset
                _ = memmove(start + shift, start, length)
            }
            if shift < 0 { frame.moveWriterIndex(to: frame.writerIndex + shift) }
        }
        frame.setBuffer(varint, at: lengthIndex)
        return length
    }
}
