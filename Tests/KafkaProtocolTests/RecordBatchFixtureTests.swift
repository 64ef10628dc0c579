import Foundation
import KafkaProtocol
import NIOCore
import Testing

/// Record batches written by librdkafka 2.16 and fetched back from a Tansu broker by
/// scripts/capture-record-batch-fixtures.py (see Fixtures/record-batches.json).
@Suite("RecordBatch fixtures from librdkafka")
struct RecordBatchFixtureTests {
    struct Manifest: Decodable {
        struct Batch: Decodable {
            var baseOffset: Int64
            var sizeInBytes: Int
            var partitionLeaderEpoch: Int32
            var crc: UInt32
            var attributes: Int16
            var lastOffsetDelta: Int32
            var baseTimestamp: Int64
            var maxTimestamp: Int64
            var producerId: Int64
            var producerEpoch: Int16
            var baseSequence: Int32
            var recordCount: Int32
        }
        struct Header: Decodable {
            var key: String
            var value: String?
        }
        struct Record: Decodable {
            var offset: Int64
            var timestamp: Int64
            var key: String?
            var value: String?
            var headers: [Header]
            var transaction: String?
        }
        struct Fixture: Decodable {
            var file: String
            var codec: String
            var idempotent: Bool
            var transactional: Bool
            var batches: [Batch]
            var records: [Record]
        }
        struct Murmur2Case: Decodable {
            var key: String
            var partitionCount: Int32
            var partition: Int32
        }
        var fixtures: [Fixture]
        var murmur2: [Murmur2Case]
    }

    static func fixtureURL(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
    }

    static func manifest() throws -> Manifest {
        let data = try Data(contentsOf: try fixtureURL("record-batches.json"))
        return try JSONDecoder().decode(Manifest.self, from: data)
    }

    static func load(_ name: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try Data(contentsOf: try fixtureURL(name)))
    }

    static func hex(_ buffer: ByteBuffer?) -> String? {
        buffer.map { $0.readableBytesView.map { String(format: "%02x", $0) }.joined() }
    }

    @Test("every fixture decodes with exactly the produced records and the captured batch headers",
          arguments: ["none", "gzip", "snappy", "lz4", "zstd", "transactional"])
    func fixture(name: String) throws {
        let manifest = try Self.manifest()
        let fixture = try #require(manifest.fixtures.first { $0.file == "librdkafka-\(name).bin" })
        let bytes = try Self.load(fixture.file)
        let decoded = try RecordBatchTestSupport.decodeAll(bytes)
        #expect(decoded.truncatedTailBytes == 0)
        #expect(decoded.batches.count == fixture.batches.count)
        for (batch, expected) in zip(decoded.batches, fixture.batches) {
            #expect(batch.magic == 2)
            #expect(batch.baseOffset == expected.baseOffset)
            #expect(batch.sizeInBytes == expected.sizeInBytes)
            #expect(batch.partitionLeaderEpoch == expected.partitionLeaderEpoch)
            #expect(batch.crc == expected.crc)
            #expect(batch.attributes.rawValue == expected.attributes)
            #expect(batch.lastOffsetDelta == expected.lastOffsetDelta)
            #expect(batch.baseTimestamp == expected.baseTimestamp)
            #expect(batch.maxTimestamp == expected.maxTimestamp)
            #expect(batch.producerId == expected.producerId)
            #expect(batch.producerEpoch == expected.producerEpoch)
            #expect(batch.baseSequence == expected.baseSequence)
            #expect(batch.recordCount == expected.recordCount)
            if !batch.isControlBatch {
                #expect(batch.compression.description == fixture.codec)
            }
            #expect(batch.isTransactional == fixture.transactional)
            if fixture.idempotent { #expect(batch.producerId >= 0) } else { #expect(batch.producerId == -1) }
        }
        let dataRecords = zip(decoded.batches, decoded.records).filter { !$0.0.isControlBatch }.flatMap(\.1)
        #expect(dataRecords.count == fixture.records.count)
        for (record, expected) in zip(dataRecords, fixture.records) {
            #expect(record.offset == expected.offset)
            #expect(record.timestamp == expected.timestamp)
            #expect(Self.hex(record.key) == expected.key)
            #expect(Self.hex(record.value) == expected.value)
            #expect(record.headers.map(\.key) == expected.headers.map(\.key))
            #expect(record.headers.map { Self.hex($0.value) } == expected.headers.map(\.value))
        }
    }

    @Test("the transactional fixture holds a commit marker after the committed records and an abort marker after the aborted ones")
    func transactionMarkers() throws {
        let decoded = try RecordBatchTestSupport.decodeAll(try Self.load("librdkafka-transactional.bin"))
        let shape = decoded.batches.map { ($0.isControlBatch, $0.recordCount) }
        #expect(shape.map(\.0) == [false, true, false, true])
        #expect(shape.map(\.1) == [3, 1, 2, 1])
        let commit = try decoded.batches[1].controlRecord()
        let abort = try decoded.batches[3].controlRecord()
        #expect(commit.type == .commit)
        #expect(abort.type == .abort)
        #expect(commit.keyVersion == 0)
        #expect(commit.valueVersion == 0)
        #expect(commit.coordinatorEpoch != nil)
        #expect(decoded.batches[1].baseOffset == 3)
        #expect(decoded.batches[3].baseOffset == 6)
        #expect(decoded.batches.allSatisfy { $0.producerId == decoded.batches[0].producerId })
    }

    @Test("fixtures cut at every byte decode the whole batches and report the rest as a truncated tail")
    func truncatedFixtures() throws {
        let bytes = try Self.load("librdkafka-transactional.bin")
        let full = try RecordBatchTestSupport.decodeAll(bytes)
        let boundaries = full.batches.reduce(into: [0]) { $0.append($0.last! + $1.sizeInBytes) }
        for cut in 0..<bytes.readableBytes {
            let decoded = try RecordBatchTestSupport.decodeAll(bytes.getSlice(at: 0, length: cut)!)
            let whole = boundaries.lastIndex { $0 <= cut }!
            #expect(decoded.batches.count == whole)
            #expect(decoded.truncatedTailBytes == cut - boundaries[whole])
        }
    }

    @Test("murmur2 partitions equal librdkafka's murmur2_random choices")
    func murmur2MatchesLibrdkafka() throws {
        let manifest = try Self.manifest()
        #expect(manifest.murmur2.count > 100)
        for entry in manifest.murmur2 {
            #expect(
                Murmur2.partition(forKey: ByteBuffer(string: entry.key), partitionCount: entry.partitionCount)
                    == entry.partition, "key \(entry.key) over \(entry.partitionCount)")
        }
    }
}
