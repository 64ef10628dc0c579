/// The manual batches of a consumer group member (``KafkaConsumerGroup/batches``): an asynchronous sequence
/// that skips batches abandoned while they waited in it (their partition was revoked, lost or stopped), so
/// the caller only gets batches it can still answer.
public struct KafkaConsumerGroupBatches: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerGroupBatch
    public typealias Failure = any Error

    let stream: AsyncThrowingStream<KafkaConsumerGroupBatch, any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<KafkaConsumerGroupBatch, any Error>.AsyncIterator

        /// The next batch the caller can answer; nil when the member has stopped.
        ///
        /// - Throws: the member's ``KafkaConsumerGroup/failure`` when it failed.
        public mutating func next() async throws -> KafkaConsumerGroupBatch? {
            while let batch = try await base.next() {
                if batch.decision.markTaken() { return batch }
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator())
    }
}
