extension KafkaError.Code {
    /// A produce call named a producer the client does not configure.
    public static let unknownProducer = Self("unknownProducer")
    /// A record named a partition the topic does not have (or a partitioner returned one).
    public static let invalidPartition = Self("invalidPartition")
    /// A record is larger than the producer's (or transactional pool's) `maxRecordBytes`; nothing of it was
    /// sent. The message names the record's topic, its estimated size and the limit.
    public static let recordTooLarge = Self("recordTooLarge")
    /// The record was not acknowledged within the producer's delivery timeout. When the last attempt's
    /// outcome was unknown the message says the record may have been written.
    public static let deliveryTimeout = Self("deliveryTimeout")
    /// The record may or may not be in the log: its last attempt had no answer and it could not be re-sent
    /// without risking a duplicate (after an idempotent sequence reset).
    public static let deliveryOutcomeUnknown = Self("deliveryOutcomeUnknown")
    /// KIP-467: the broker rejected this record of a batch (the other records were re-sent).
    public static let recordRejected = Self("recordRejected")
    /// The produce call was cancelled before the record was handed to the producer.
    public static let cancelled = Self("cancelled")
}

/// Carried as ``KafkaError/underlying`` of errors thrown by ``KafkaClient/produce(_:options:)``: the record
/// that failed, with ``KafkaRecord/error`` holding the full error (including its own underlying cause).
public struct KafkaFailedRecord: Error, Sendable, CustomStringConvertible {
    public var record: KafkaRecord

    public init(record: KafkaRecord) {
        self.record = record
    }

    public var description: String { "failed record: \(record)" }
}

extension KafkaError {
    /// The record a produce call failed with, when this error came from one.
    public var failedRecord: KafkaRecord? { (underlying as? KafkaFailedRecord)?.record }
}

extension ProducerFailure {
    /// The public error for a record that failed with this.
    func kafkaError(for record: KafkaRecord) -> KafkaError {
        let target = "\(record.topic)/\(record.partition.map(String.init) ?? "?")"
        switch self {
        case .broker(let code, let message):
            return KafkaError(
                .brokerError,
                "the broker rejected the record for \(target) with Kafka error code \(code)"
                    + (message.map { ": \($0)" } ?? ""),
                kafkaCode: code, isRetriable: ProducerErrorCodes.isRetriable(code))
        case .recordRejected(let code, let message):
            return KafkaError(
                .recordRejected,
                "the broker rejected this record for \(target) (Kafka error code \(code))" + (message.map { ": \($0)" } ?? ""),
                kafkaCode: code, isRetriable: false)
        case .deliveryTimeout(let code, let mayHaveBeenWritten):
            return KafkaError(
                .deliveryTimeout,
                "the record for \(target) was not acknowledged within the delivery timeout"
                    + (code.map { "; last Kafka error code \($0)" } ?? "")
                    + (mayHaveBeenWritten ? "; its last attempt had no answer, so it may have been written" : ""),
                kafkaCode: code, isRetriable: true)
        case .outcomeUnknown:
            return KafkaError(
                .deliveryOutcomeUnknown,
                "the record for \(target) may or may not have been written: its last attempt had no answer and "
                    + "re-sending it after the producer's sequence reset could duplicate it",
                isRetriable: false)
        case .shutdown:
            return KafkaError(.clientNotRunning, "the producer shut down before the record for \(target) was acknowledged")
        case .producerFenced(let code, let message):
            return KafkaError(.brokerError, "the producer cannot send to \(target): \(message)", kafkaCode: code)
        }
    }
}
