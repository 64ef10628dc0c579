import Testing

@testable import Klife

@Suite struct PartitionReaderStateTests {
    static let p0 = KafkaTopicPartition(topic: "t", partition: 0)
    static let p1 = KafkaTopicPartition(topic: "t", partition: 1)

    static func records(_ partition: Int32, _ offsets: ClosedRange<Int64>) -> [KafkaRecord] {
        offsets.map { offset in
            var record = KafkaRecord(topic: "t", partition: partition, value: "v\(offset)")
            record.offset = offset
            return record
        }
    }

    static func position(_ partition: Int32, _ offset: Int64, epoch: Int32? = nil) -> KafkaFetchPosition {
        KafkaFetchPosition(topic: "t", partition: partition, offset: offset, lastFetchedEpoch: epoch)
    }

    static func state(resets: Bool = false) -> PartitionReaderState {
        PartitionReaderState([position(0, 0), position(1, 10)], resetsOutOfRange: resets)
    }

    @Test func answersQueueBatchesAndMoveThePositions() {
        var state = Self.state()
        let outcome = state.apply([
            Self.position(0, 0): .success(KafkaFetchedPartition(records: Self.records(0, 0...2), nextOffset: 3, highWatermark: 9, lastFetchedEpoch: 4)),
            Self.position(1, 10): .success(KafkaFetchedPartition(records: [], nextOffset: 10)),
        ], now: .now)
        #expect(outcome.progressed && outcome.failure == nil && outcome.resets.isEmpty)
        #expect(state.positions[Self.p0] == .init(offset: 3, lastFetchedEpoch: 4))
        // Delivered positions stay at the batch waiting until it is taken.
        #expect(state.deliveryPositions == [Self.p0: 0, Self.p1: 10])
        let batch = state.nextBatch()
        #expect(batch?.records.map(\.offset) == [0, 1, 2])
        #expect(batch?.nextOffset == 3)
        #expect(batch?.highWatermark == 9)
        #expect(state.deliveryPositions == [Self.p0: 3, Self.p1: 10])
        #expect(state.nextBatch() == nil)
        #expect(state.fetchPositions(now: .now) == [Self.position(0, 3, epoch: 4), Self.position(1, 10)])
    }

    @Test func aSeekDropsThatPartitionsBatchesAndLaterAnswersToTheOldPosition() {
        var state = Self.state()
        _ = state.apply([
            Self.position(0, 0): .success(KafkaFetchedPartition(records: Self.records(0, 0...2), nextOffset: 3)),
            Self.position(1, 10): .success(KafkaFetchedPartition(records: Self.records(1, 10...11), nextOffset: 12)),
        ], now: .now)
        let moved = state.seek(Self.p0, to: 1)
        let unknown = state.seek(KafkaTopicPartition(topic: "other", partition: 0), to: 1)
        #expect(moved && !unknown)
        #expect(state.nextBatch()?.partition == 1)
        #expect(state.nextBatch() == nil)
        // An answer for the position before the seek is stale.
        let stale = state.apply([Self.position(0, 3): .success(KafkaFetchedPartition(records: Self.records(0, 3...4), nextOffset: 5))], now: .now)
        #expect(!stale.progressed)
        #expect(state.nextBatch() == nil)
        #expect(state.positions[Self.p0]?.offset == 1)
    }

    @Test func passingFailuresBackOffOthersFail() {
        var state = Self.state()
        let now = ContinuousClock.now
        let outcome = state.apply([
            Self.position(0, 0): .failure(KafkaError(.leaderNotAvailable, "moving", isRetriable: true)),
            Self.position(1, 10): .failure(KafkaError(.authorizationFailed, "no")),
        ], now: now)
        #expect(outcome.failure?.code == .authorizationFailed)
        #expect(state.fetchPositions(now: now) == [Self.position(1, 10)])
        #expect(state.fetchPositions(now: now + .milliseconds(150)).count == 2)
        #expect(state.earliestBackoffEnd == now + .milliseconds(100))
    }

    @Test func outOfRangeResetsOnlyWithAPolicy() {
        let error = KafkaError(.offsetOutOfRange, "gone", kafkaCode: 1)
        var without = Self.state()
        #expect(without.apply([Self.position(0, 0): .failure(error)], now: .now).failure?.code == .offsetOutOfRange)

        var with = Self.state(resets: true)
        let outcome = with.apply([Self.position(0, 0): .failure(error)], now: .now)
        #expect(outcome.failure == nil)
        #expect(outcome.resets.map(\.0) == [Self.p0])
        with.reset(Self.p0, to: 7, ifStillAt: 0)
        #expect(with.positions[Self.p0]?.offset == 7)
        // A reset found after a seek moved the partition is dropped.
        _ = with.seek(Self.p1, to: 20)
        with.reset(Self.p1, to: 0, ifStillAt: 10)
        #expect(with.positions[Self.p1]?.offset == 20)
    }

    @Test func aDivergenceMovesThePositionWithoutRecords() {
        var state = PartitionReaderState([Self.position(0, 50, epoch: 3)], resetsOutOfRange: false)
        _ = state.apply([
            Self.position(0, 50, epoch: 3): .success(KafkaFetchedPartition(
                records: [], nextOffset: 40, lastFetchedEpoch: 2, divergence: KafkaLogDivergence(epoch: 2, endOffset: 40))),
        ], now: .now)
        #expect(state.positions[Self.p0] == .init(offset: 40, lastFetchedEpoch: 2))
        #expect(state.nextBatch() == nil)
    }
}
