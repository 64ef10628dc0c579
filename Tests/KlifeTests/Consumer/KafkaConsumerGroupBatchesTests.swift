import Testing

@testable import Klife

/// The manual batch sequence and the answer of one manual batch, without a network.
@Suite("KafkaConsumerGroupBatches")
struct KafkaConsumerGroupBatchesTests {
    static func batch(_ partition: Int32) -> KafkaConsumerGroupBatch {
        KafkaConsumerGroupBatch(
            KafkaConsumerBatch(topic: "t", partition: partition, records: [KafkaRecord(topic: "t", partition: partition, value: "v")]),
            decision: ConsumerBatchDecision())
    }

    @Test func batchesAbandonedWhileBufferedAreNeverHandedOut() async throws {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: KafkaConsumerGroupBatch.self)
        let batches = (0..<3).map { Self.batch($0) }
        for batch in batches { continuation.yield(batch) }
        continuation.finish()
        // Partition 1 is revoked while its batch waits: the worker abandons it (not taken yet).
        #expect(!batches[1].decision.abandonUnlessTaken())
        var seen: [Int32] = []
        for try await batch in KafkaConsumerGroupBatches(stream: stream) {
            seen.append(batch.partition)
            #expect(batch.isOpen)
        }
        #expect(seen == [0, 2])
        #expect(!batches[1].isOpen)
        #expect(throws: KafkaError.self) { try batches[1].commit() }
    }

    @Test func aTakenBatchStaysOpenUntilAnswered() async throws {
        let batch = Self.batch(0)
        #expect(batch.decision.markTaken())
        // The partition stops while the caller holds the batch: it stays open for the caller's answer.
        #expect(batch.decision.abandonUnlessTaken())
        #expect(batch.isOpen)
        try batch.commit()
        #expect(!batch.isOpen)
        #expect(await batch.decision.wait() != nil)
        #expect(throws: KafkaError.self) { try batch.retry() }
    }

    @Test func anAbandonedBatchCannotBeTaken() {
        let batch = Self.batch(0)
        batch.decision.resolve(nil)
        #expect(!batch.decision.markTaken())
    }
}
