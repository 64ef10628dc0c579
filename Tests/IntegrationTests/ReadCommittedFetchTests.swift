import KafkaProtocol
import NIOCore
import Testing

@testable import Klife

/// read_committed through the fetch API end to end, against a scripted broker whose Fetch answers carry a
/// transaction's records, its ABORT marker and the aborted-transaction list. Neither test broker sends that
/// list (Tansu shows aborted records, librdkafka's mock cluster sends none), so this is where the client's
/// wiring of the list into the decoder is checked.
@Suite("read_committed fetch against a scripted broker")
struct ReadCommittedFetchTests {
    static func batch(_ buffer: inout ByteBuffer, base: Int64, values: [String], producerID: Int64 = -1, transactional: Bool = false) throws {
        var writer = RecordBatchWriter(
            baseOffset: base, producerId: producerID, producerEpoch: producerID < 0 ? -1 : 0, baseSequence: producerID < 0 ? -1 : 0,
            isTransactional: transactional, baseTimestamp: 1_000)
        for value in values { writer.append(key: nil, value: ByteBuffer(string: value), timestamp: 1_000) }
        var written = try writer.finish()
        buffer.writeBuffer(&written)
    }

    static func marker(_ buffer: inout ByteBuffer, offset: Int64, producerID: Int64, abort: Bool) throws {
        var writer = RecordBatchWriter(
            baseOffset: offset, producerId: producerID, producerEpoch: 0, isTransactional: true, isControl: true, baseTimestamp: 2_000)
        let control = ControlRecord(type: abort ? .abort : .commit, coordinatorEpoch: 0)
        writer.append(key: control.encodedKey, value: control.encodedValue, timestamp: 2_000)
        var written = try writer.finish()
        buffer.writeBuffer(&written)
    }

    /// Producer 7 aborts offsets 0-1 (marker 3), producer 8 commits offset 2 (marker 4), offset 5 is plain.
    static func log() throws -> BadInputBroker.FetchLog {
        var records = ByteBuffer()
        try batch(&records, base: 0, values: ["aborted-0", "aborted-1"], producerID: 7, transactional: true)
        try batch(&records, base: 2, values: ["committed-2"], producerID: 8, transactional: true)
        try marker(&records, offset: 3, producerID: 7, abort: true)
        try marker(&records, offset: 4, producerID: 8, abort: false)
        try batch(&records, base: 5, values: ["plain-5"])
        return BadInputBroker.FetchLog(records: records, abortedTransactions: [(producerID: 7, firstOffset: 0)], highWatermark: 6)
    }

    @Test func readCommittedHidesAbortedRecordsAndMarkers() async throws {
        let broker = try await BadInputBroker.start()
        broker.serveFetch(try Self.log())
        let configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let topic = BadInputBroker.topic
            let committed = try await client.fetch(topic: topic, partition: 0, offset: 0)
            #expect(committed.map(\.valueString) == ["committed-2", "plain-5"])
            #expect(committed.map(\.offset) == [2, 5])
            let uncommitted = try await client.fetch(
                topic: topic, partition: 0, offset: 0, options: KafkaFetchOptions(isolationLevel: .readUncommitted))
            #expect(uncommitted.map(\.valueString) == ["aborted-0", "aborted-1", "committed-2", "plain-5"])
            // From the middle of the aborted transaction: nothing of it, and the next offset skips the markers.
            let position = KafkaFetchPosition(topic: topic, partition: 0, offset: 1)
            let fetched = try await client.fetchPartitions([position])[position]!.get()
            #expect(fetched.records.map(\.offset) == [2, 5])
            #expect(fetched.nextOffset == 6)
            // Fetch requests name the fetcher, as produce requests name the producer.
            #expect(Set(broker.fetchClientIDs) == ["klife_fetcher.klife-tests.klife_default_fetcher"])
        }
        await broker.stop()
    }
}
