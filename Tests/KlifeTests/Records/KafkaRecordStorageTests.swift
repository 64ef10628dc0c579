import NIOCore
import Testing

@testable import Klife

/// KafkaRecord keeps its optionals in compact storage (presence bits, a boxed error): every public
/// property must read back exactly what was set, including nil and extreme values.
@Suite struct KafkaRecordStorageTests {
    @Test func strideStaysWithin128Bytes() {
        #expect(MemoryLayout<KafkaRecord>.stride <= 128, "stride \(MemoryLayout<KafkaRecord>.stride)")
    }

    @Test func newRecordHasNoOutputFields() {
        let record = KafkaRecord(topic: "t", value: "v")
        #expect(record.partition == nil)
        #expect(record.timestamp == nil)
        #expect(record.offset == nil)
        #expect(record.error == nil)
        #expect(record.errorCode == nil)
        #expect(!record.isFailed)
        #expect(record.batchAttributes == nil)
        #expect(record.leaderEpoch == nil)
        #expect(record.consumerAttempts == 0)
    }

    @Test(arguments: [Int64.min, -1, 0, 1, Int64.max])
    func int64PropertiesRoundTrip(_ value: Int64) {
        var record = KafkaRecord(topic: "t", value: "v", timestamp: value)
        #expect(record.timestamp == value)
        record.offset = value
        #expect(record.offset == value)
        #expect(record.timestamp == value)
        record.timestamp = nil
        #expect(record.timestamp == nil)
        #expect(record.offset == value)
        record.offset = nil
        #expect(record.offset == nil)
        record.timestamp = value
        #expect(record.timestamp == value)
    }

    @Test(arguments: [Int32.min, -1, 0, 1, Int32.max])
    func int32PropertiesRoundTrip(_ value: Int32) {
        var record = KafkaRecord(topic: "t", partition: value, value: "v")
        #expect(record.partition == value)
        record.leaderEpoch = value
        #expect(record.leaderEpoch == value)
        record.partition = nil
        #expect(record.partition == nil)
        #expect(record.leaderEpoch == value)
        record.leaderEpoch = nil
        #expect(record.leaderEpoch == nil)
        record.partition = value
        #expect(record.partition == value)
    }

    @Test func batchAttributesRoundTripEveryCombination() {
        var record = KafkaRecord(topic: "t", value: "v")
        for compression in KafkaCompression.allCases {
            for timestampType in [KafkaRecord.TimestampType.createTime, .logAppendTime] {
                for isTransactional in [false, true] {
                    for isControl in [false, true] {
                        let attributes = KafkaRecord.BatchAttributes(
                            compression: compression, timestampType: timestampType, isTransactional: isTransactional, isControl: isControl)
                        record.batchAttributes = attributes
                        #expect(record.batchAttributes == attributes)
                    }
                }
            }
        }
        record.batchAttributes = nil
        #expect(record.batchAttributes == nil)
    }

    @Test func errorRoundTrips() {
        var record = KafkaRecord(topic: "t", partition: 3, value: "v")
        let error = KafkaError(.brokerError, "not leader", kafkaCode: 6, isRetriable: true)
        record.error = error
        #expect(record.error?.code == .brokerError)
        #expect(record.error?.message == "not leader")
        #expect(record.errorCode == 6)
        #expect(record.isFailed)
        var copy = record
        copy.error = nil
        #expect(copy.error == nil)
        #expect(!copy.isFailed)
        #expect(record.error?.message == "not leader", "clearing a copy's error leaves the original's")
        #expect(copy.partition == 3)
    }

    @Test func consumerAttemptsRoundTripsAndClamps() {
        var record = KafkaRecord(topic: "t", value: "v")
        record.consumerAttempts += 1
        #expect(record.consumerAttempts == 1)
        record.consumerAttempts = Int(Int32.max)
        #expect(record.consumerAttempts == Int(Int32.max))
        record.consumerAttempts = 0
        #expect(record.consumerAttempts == 0)
    }

    @Test func fetchedRecordSetsEveryOutputField() {
        let attributes = KafkaRecord.BatchAttributes(compression: .zstd, timestampType: .logAppendTime, isTransactional: true)
        let record = KafkaRecord(
            fetchedFrom: "t", partition: 7, offset: 42, key: ByteBuffer(string: "k"), value: nil, headers: [.init(key: "h", value: nil as String?)],
            timestamp: -1, batchAttributes: attributes, leaderEpoch: nil)
        #expect(record.topic == "t")
        #expect(record.partition == 7)
        #expect(record.offset == 42)
        #expect(record.timestamp == -1)
        #expect(record.keyString == "k")
        #expect(record.value == nil)
        #expect(record.headers.count == 1)
        #expect(record.batchAttributes == attributes)
        #expect(record.leaderEpoch == nil)
        #expect(record.error == nil)
        #expect(record.consumerAttempts == 0)
        let withEpoch = KafkaRecord(
            fetchedFrom: "t", partition: 0, offset: 0, key: nil, value: nil, headers: [], timestamp: 0, batchAttributes: .init(), leaderEpoch: 5)
        #expect(withEpoch.leaderEpoch == 5)
    }
}
