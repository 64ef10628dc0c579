import Klife
import NIOCore
import Testing

@Suite struct KafkaRecordTests {
    @Test func stringConvenience() {
        let record = KafkaRecord(topic: "t", key: "k", value: "hello", headers: [.init(key: "h", value: "1"), .init(key: "h", value: nil as String?)])
        #expect(record.topic == "t")
        #expect(record.partition == nil)
        #expect(record.keyString == "k")
        #expect(record.valueString == "hello")
        #expect(record.headers.map(\.key) == ["h", "h"])
        #expect(record.headers[0].valueString == "1")
        #expect(record.headers[1].value == nil)
        #expect(record.offset == nil && record.error == nil && record.timestamp == nil)
    }

    @Test func bytesConvenience() {
        let record = KafkaRecord(topic: "t", partition: 2, key: [1, 2], value: [0, 255], timestamp: 1_700_000_000_000)
        #expect(record.keyBytes == [1, 2])
        #expect(record.valueBytes == [0, 255])
        #expect(record.partition == 2)
        #expect(record.timestamp == 1_700_000_000_000)
    }

    @Test func tombstoneAndEmptyAreDifferent() {
        let tombstone = KafkaRecord(topic: "t", key: ByteBuffer(string: "k"), value: nil)
        let empty = KafkaRecord(topic: "t", key: ByteBuffer(string: "k"), value: ByteBuffer())
        #expect(tombstone.value == nil)
        #expect(empty.value?.readableBytes == 0)
        #expect(tombstone != empty)
        #expect(KafkaRecord(topic: "t", value: nil).key == nil)
    }

    @Test func equalityIncludesOutputFields() {
        var a = KafkaRecord(topic: "t", value: "v")
        var b = a
        #expect(a == b)
        a.offset = 4
        #expect(a != b)
        b.offset = 4
        b.error = KafkaError(.brokerError, "too large", kafkaCode: 10)
        #expect(a != b)
        #expect(b.errorCode == 10)
        #expect(b.isFailed)
        #expect(!a.isFailed)
    }

    @Test func verifyBatchAllOK() throws {
        var records = [KafkaRecord(topic: "a", value: "1"), KafkaRecord(topic: "b", value: "2")]
        records[0].offset = 1
        records[1].offset = 2
        #expect(try records.verifyBatch().get() == records)
        #expect(try records.verifiedBatch() == records)
    }

    @Test func verifyBatchKeepsOrderAndNamesFailures() {
        var records = [KafkaRecord(topic: "a", value: "1"), KafkaRecord(topic: "b", value: "2"), KafkaRecord(topic: "c", value: "3")]
        records[1].partition = 0
        records[1].error = KafkaError(.brokerError, "MESSAGE_TOO_LARGE", kafkaCode: 10)
        switch records.verifyBatch() {
        case .success:
            Issue.record("a failed record passed verification")
        case .failure(let failure):
            #expect(failure.records == records)
            #expect(failure.failedIndices == [1])
            #expect(failure.failedRecords.map(\.topic) == ["b"])
        }
        do {
            _ = try records.verifiedBatch()
            Issue.record("verifiedBatch did not throw")
        } catch let error as KafkaError {
            #expect(error.code == .batchVerificationFailed)
            #expect(error.kafkaCode == 10)
            #expect(error.message.contains("record 1 to b/0"))
            #expect(error.message.contains("MESSAGE_TOO_LARGE"))
            #expect((error.underlying as? KafkaBatchVerificationFailure)?.failedIndices == [1])
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
