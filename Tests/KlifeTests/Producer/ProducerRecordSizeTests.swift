import KafkaProtocol
import NIOCore
import Testing

@testable import Klife

/// The engine's batch sizes against the encoder's bytes: a batch counted smaller than it encodes could pass
/// the batch size (and the broker's max message bytes). The estimate overcounts (24 bytes of framing per
/// record against 6 to 22 written): an exact one was measured and did not pay (docs/benchmarks/producer.md,
/// "Session 6").
@Suite struct ProducerRecordSizeTests {
    private typealias Machine = ProducerStateMachine<ProducerEntry>
    private let topicPartition = ProducerTopicPartition("t", 0)
    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func machine(batchSize: Int) -> Machine {
        var configuration = Machine.Configuration()
        configuration.idempotent = false
        configuration.batchSizeBytes = batchSize
        configuration.maxBufferedBytes = 1 << 30
        configuration.maxBufferedRecords = 1 << 20
        return Machine(configuration: configuration)
    }

    /// Records of varied shape: null and empty keys, values from none to 10 KB (length varints of 1 to 2
    /// bytes), headers, timestamps before and after the batch's first one, up to deltas of 2^40 ms.
    private func record(_ number: Int, base: Int64) -> KafkaRecord {
        let key: ByteBuffer? = switch number % 4 {
        case 0: nil
        case 1: ByteBuffer()
        case 2: ByteBuffer(repeating: 1, count: 5)
        default: ByteBuffer(repeating: 2, count: 70)
        }
        let value: ByteBuffer? = number % 97 == 0 ? nil : ByteBuffer(repeating: 3, count: [100, 0, 63, 64, 8191, 8192][number % 6])
        let headers: [KafkaRecord.Header] = number % 5 == 0
            ? [.init(key: "h", value: ByteBuffer(repeating: 4, count: 3)), .init(key: String(repeating: "k", count: 70), value: nil as ByteBuffer?)]
            : []
        let delta: Int64 = switch number % 11 {
        case 0: 1 << 40
        case 1: -(1 << 20)
        case 2: -65
        case 3: 64
        default: Int64(number)  // ms after the first record: 1-, 2- and 3-byte deltas
        }
        return KafkaRecord(topic: "t", partition: 0, key: key, value: value, headers: headers, timestamp: base + delta)
    }

    private func append(_ records: [KafkaRecord], to machine: inout Machine) {
        for record in records {
            let entry = ProducerEntry(record: record, completion: .none)
            let result = machine.append(
                entry, size: ProducerEntry.estimatedSize(of: record), to: topicPartition, leader: 1, now: t0)
            #expect(result == .appended(wake: nil) || result == .appended(wake: ProducerSinkID(broker: 1)))
        }
    }

    /// Each batch's bytes as ``RecordBatchWriter`` (the frame encoder's writer) encodes them, uncompressed.
    private func encodedSizes(_ batch: ProducerBatch<ProducerEntry>) -> (batch: Int, records: [Int]) {
        var writer = RecordBatchWriter()
        var sizes: [Int] = []
        for pending in batch.records {
            let before = writer.encodedSize
            writer.append(
                key: pending.entry.key, value: pending.entry.value,
                headers: pending.entry.headers.map { RecordHeader(key: $0.key, value: $0.value) },
                timestamp: pending.entry.timestamp)
            sizes.append(writer.encodedSize - before)
        }
        return (writer.encodedSize, sizes)
    }

    @Test func batchEstimatesNeverUndercountTheEncodedSizes() throws {
        var machine = machine(batchSize: 64 << 20)
        let base: Int64 = 1_700_000_000_000
        // Offset deltas past 63 and 8191 (2- and 3-byte varints), first record at the base timestamp.
        append([KafkaRecord(topic: "t", partition: 0, value: ByteBuffer(repeating: 0, count: 100), timestamp: base)]
            + (1..<9_000).map { record($0, base: base) }, to: &machine)
        let batches = try #require(machine.partitions[topicPartition]).batches
        #expect(batches.count == 1)
        for batch in batches {
            let encoded = encodedSizes(batch)
            #expect(encoded.batch <= batch.estimatedBytes)
            for (written, pending) in zip(encoded.records, batch.records) {
                #expect(written <= pending.estimatedSize, "record of \(written) bytes counted as \(pending.estimatedSize)")
            }
        }
    }

    @Test func batchesNeverEncodeLargerThanTheBatchSize() throws {
        for batchSize in [1_000, 16_384, 100_000] {
            var machine = machine(batchSize: batchSize)
            let base: Int64 = 1_700_000_000_000
            append((0..<3_000).map { record($0, base: base) }, to: &machine)
            let batches = try #require(machine.partitions[topicPartition]).batches
            #expect(batches.count > 1)
            for batch in batches {
                let encoded = encodedSizes(batch)
                #expect(encoded.batch <= batch.estimatedBytes)
                // A batch holds more than one record only while it fits; a lone record may be larger.
                if batch.records.count > 1 { #expect(encoded.batch <= batchSize, "batch of \(batch.records.count) records") }
            }
        }
    }

    @Test func theHeaderOverheadIsTheBatchHeader() {
        // Magic 2 batch header: baseOffset 8, batchLength 4, partitionLeaderEpoch 4, magic 1, crc 4,
        // attributes 2, lastOffsetDelta 4, baseTimestamp 8, maxTimestamp 8, producerId 8, producerEpoch 2,
        // baseSequence 4, records count 4.
        var writer = RecordBatchWriter()
        #expect(writer.encodedSize == ProducerBatch<ProducerEntry>.overheadBytes)
        _ = try? writer.finish()
    }
}
